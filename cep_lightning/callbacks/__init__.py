"""cep_lightning's own Lightning callbacks, switched on from the ``callbacks`` config group (users' own
callbacks: the repository's top-level ``callbacks/`` folder, or any importable module)."""
