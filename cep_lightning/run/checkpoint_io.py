"""Checkpoints written atomically inside the run directory, and a damaged resume point set aside.

Lightning's ``TorchCheckpointIO`` writes a checkpoint in place, so a full disk or a kill mid-write leaves a
truncated file that every later resume trips over. ``AtomicCheckpointIO`` writes ``<file>.tmp`` beside the
target (the same filesystem), fsyncs it and renames it over the target: readers see the old file or the new one.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from cep_lightning.errors import StorageError


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose save is temp file, fsync, rename; a failed write is a one-line StorageError."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except (OSError, RuntimeError) as exc:  # torch.save reports a failed write as RuntimeError from an OSError
            cause = exc if isinstance(exc, OSError) else exc.__cause__ or exc.__context__
            if not isinstance(cause, OSError):
                raise
            tmp.unlink(missing_ok=True)
            raise StorageError(
                f"Cannot write the checkpoint {path}: {cause.strerror or cause}. Free space there or choose another "
                f"run.dir; the run resumes from its last complete checkpoint."
            ) from None


def intact(path: Path) -> bool:
    """True when ``path`` is a whole checkpoint: a zip archive whose every member matches its checksum."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (zipfile.BadZipFile, OSError, EOFError):
        return False


def set_aside(path: Path) -> Path:
    """Move a truncated or corrupt resume checkpoint out of its checkpoints/ folder (which a fresh start clears)
    to ``<stage>/<name>.damaged``, saying so."""
    damaged = path.parent.parent / (path.name + ".damaged")
    os.replace(path, damaged)
    print(f"[cep_lightning] {path} is truncated or corrupt: set aside as {damaged.name}; the stage starts again.")
    return damaged
