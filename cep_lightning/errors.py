"""Errors a user can act on: each message says what is wrong, where, and how to fix it."""


class CepError(Exception):
    """Base class: ``train.py`` prints these as one message instead of a stack trace."""


class ConfigError(CepError):
    """A config key, value, task or stage that the schema does not accept."""


class DataError(CepError):
    """A data set that cannot be read or does not have the expected content."""


class MissingStageError(CepError):
    """A stage needs the output of an earlier stage that is not in the run directory."""


class StorageError(CepError):
    """A file of the run directory cannot be written (a full disk, a read-only folder)."""


class GridError(CepError):
    """A grid command (``python -m cep_lightning.grid``) whose tasks, seeds or launcher options cannot run."""
