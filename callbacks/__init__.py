"""Your own Lightning callbacks: put a module here (e.g. ``callbacks/grad_clip_log.py`` with a ``Callback`` subclass)
and switch it on with ``callbacks.custom.NAME.target=callbacks.grad_clip_log.MyCallback``
(``callbacks.custom.NAME.args.KEY=VALUE``, ``callbacks.custom.NAME.stages=[critic]``).

``python train.py`` run from the repository root finds this folder; an installed ``cep-train`` finds it with
``PYTHONPATH=.`` (or put your callbacks in any importable package). The project's own callbacks (EMA,
periodic evaluation) live in ``cep_lightning.callbacks`` and are switched on from the ``callbacks`` config group.
"""
