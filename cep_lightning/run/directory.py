"""The run directory: its layout, what makes a stage finished, and reading and writing its files.

Layout of ``<run>/``::

    config.yaml            the run's settings (the last command that ran a stage); a rerun starts from them
    <stage>/record.json    what produced the finished stage: its settings and the ids of its inputs
    <stage>/pending.json   the record of a stage that started and has not finished (what a rerun resumes)
    <stage>/model.ckpt     the finished model (behavior, critic, energy)
    <stage>/checkpoints/   last.ckpt, the resume point of a training stage
    <stage>/logs/          TensorBoard
    support/               the support actions (owned by ``data.support.SupportStore``)
    results.json           the evaluation's results (its record is eval/record.json)
    timings.json           seconds per stage

A stage counts as finished only through its ``record.json``, written after its outputs; a stage is
*current* when its record matches the settings a command asks for and the records of its inputs.
"""

from __future__ import annotations

import json
import os
import pickle
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import lightning as L

from cep_lightning.config.schema import STAGES
from cep_lightning.errors import DataError, MissingStageError, StorageError

CONFIG = "config.yaml"
MODEL = "model.ckpt"
RECORD = "record.json"
PENDING = "pending.json"
RESULTS = "results.json"
TIMINGS = "timings.json"
CHECKPOINTS = "checkpoints"
LAST = "last.ckpt"


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` under a temporary name, then rename: readers see the old file or the new one, never half."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(
            f"Cannot write {path}: {exc.strerror or exc}. Free space there or choose another run.dir."
        ) from None


@dataclass(frozen=True)
class RunDir:
    """One run directory; every path and record of the layout above goes through it."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    # paths
    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def results(self) -> Path:
        return self.path / RESULTS

    @property
    def timings(self) -> Path:
        return self.path / TIMINGS

    def stage_dir(self, stage: str) -> Path:
        return self.path / stage

    def model(self, stage: str) -> Path:
        return self.path / stage / MODEL

    def checkpoints(self, stage: str) -> Path:
        return self.path / stage / CHECKPOINTS

    def last_checkpoint(self, stage: str) -> Path:
        return self.checkpoints(stage) / LAST

    # records
    def record(self, stage: str) -> dict[str, Any] | None:
        """The finished stage's record, or None."""
        return _read_json(self.path / stage / RECORD)

    def record_id(self, stage: str) -> str | None:
        """The id of the finished stage's record (what the stages that read it record as their input)."""
        return (self.record(stage) or {}).get("id")

    def pending(self, stage: str) -> dict[str, Any] | None:
        """The record of a stage that started and did not finish, or None."""
        return _read_json(self.path / stage / PENDING)

    def start(self, stage: str, settings: dict[str, Any], inputs: dict[str, str]) -> None:
        """Mark ``stage`` as started with these settings and inputs; its old record stops counting."""
        directory = self.stage_dir(stage)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / RECORD).unlink(missing_ok=True)
        atomic_write(directory / PENDING, json.dumps({"settings": settings, "inputs": inputs}, indent=2))

    def finish(self, stage: str, seconds: float) -> dict[str, Any]:
        """Turn the stage's pending record into its record (after its outputs are on disk); returns it."""
        pending = self.pending(stage)
        if pending is None:
            raise RuntimeError(f"{self.path / stage} has no {PENDING}: finish() without start()")
        record = {
            "stage": stage,
            "id": uuid.uuid4().hex,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "seconds": round(seconds, 2),
            **pending,
        }
        atomic_write(self.path / stage / RECORD, json.dumps(record, indent=2))
        (self.path / stage / PENDING).unlink()
        return record

    def finished_stages(self) -> list[str]:
        return [stage for stage in STAGES if (self.path / stage / RECORD).is_file()]

    # models
    def load(self, cls: type[L.LightningModule], stage: str, map_location: str = "cpu") -> L.LightningModule:
        """The finished stage's module; a stage without a record is a MissingStageError."""
        if self.record(stage) is None or not self.model(stage).is_file():
            raise MissingStageError(
                f"{self.path} has no finished '{stage}' stage ({stage}/{RECORD}). "
                f"Run it first: python train.py stage={stage} run.dir={self.path}  (or stage=all)."
            )
        try:  # tensors and plain values only: a checkpoint from elsewhere cannot run code while it loads
            return cls.load_from_checkpoint(self.model(stage), map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as exc:
            raise DataError(
                f"{self.model(stage)} holds objects other than tensors and plain values, so it was not written by "
                f"cep_lightning and is not loaded (torch.load(weights_only=True) refused: "
                f"{str(exc).splitlines()[0]}). Retrain the stage: python train.py stage={stage} run.dir={self.path}"
            ) from None

    def load_checked(
        self, cls: type[L.LightningModule], stage: str, state_dim: int, action_dim: int
    ) -> L.LightningModule:
        """``load``, refused when the stage was trained on observations/actions of other sizes."""
        module = self.load(cls, stage)
        trained = (module.hparams.state_dim, module.hparams.action_dim)
        if trained != (state_dim, action_dim):
            raise DataError(
                f"{self.model(stage)} was trained on (state, action) sizes {trained}, but the data set has "
                f"{(state_dim, action_dim)}. Use the run directory made for this data (run.dir=...)."
            )
        return module


def runs_of(task_dir: Path) -> Iterator[RunDir]:
    """Run directories under ``<root>/<task>/`` with at least one finished stage."""
    for path in task_dir.glob("*"):
        run = RunDir(path)
        if path.is_dir() and run.finished_stages():
            yield run


def latest_run(task_dir: Path) -> RunDir | None:
    """The run under ``task_dir`` whose last stage finished most recently (None: no run has a finished stage)."""

    def last_finished(run: RunDir) -> float:
        return max((run.path / stage / RECORD).stat().st_mtime for stage in run.finished_stages())

    return max(runs_of(task_dir), key=last_finished, default=None)


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None
