"""Every Lightning callback the project owns (resume checkpoints and generator state, the non-finite-loss guard,
the stop at a batch's end on a signal, monitoring, progress, periodic evaluation) and ``factory``, which builds
a stage's callbacks from the config (users' own callbacks, by import path, too: the repository's top-level
``callbacks/`` folder is for those). Imports ``stages`` and the layers below it, never ``run``."""
