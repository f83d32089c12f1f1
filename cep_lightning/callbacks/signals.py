"""Stopping a stage on SIGTERM or SIGINT through Lightning's own machinery: ``SIGTERMException`` at the end of
the current batch (what the Trainer raises on SIGTERM) and the training stage's resume point saved in
Lightning's ``on_exception`` hook when it does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.exceptions import SIGTERMException


class CheckpointOnSigterm(Callback):
    """``path`` (the stage's last.ckpt) when a SIGTERM ends the stage at the end of a batch, a consistent state;
    other exceptions (a non-finite loss, a crash mid-step) leave the last periodic checkpoint as it is.

    Lightning's ``OnExceptionCheckpoint`` saves on every exception and makes every later ``fit`` without a
    ``ckpt_path`` resume from it; the pipeline decides itself when a stage resumes (``run.plan``)."""

    def __init__(self, path: Path):
        self.path = path

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException):
            trainer.save_checkpoint(self.path)


class StopAtBatchEnd(Callback):
    """``SIGTERMException`` at the end of any batch once ``request.signum`` is set (the command's SIGTERM or SIGINT,
    noted by its handler, ``run.interrupts.StopRequest``): Lightning's own stop, also for SIGINT (which Lightning
    would turn into an exit mid-step) and for the prediction loop (which Lightning does not check). Under DDP
    every process stops at the same batch once any has the signal (srun and torchrun signal each process on its
    own, a batch apart at worst), so that all of them save the same step."""

    def __init__(self, request: Any):
        self.request = request

    def _check(self, trainer: L.Trainer) -> None:
        stop = self.request.signum is not None
        if trainer.world_size > 1:
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if stop:
            raise SIGTERMException

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self._check(trainer)

    def on_predict_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self._check(trainer)

    def on_test_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self._check(trainer)


class SaveLogsWithCheckpoints(Callback):
    """Every logger writes out what it holds whenever a checkpoint is saved (the CSV logger keeps up to
    ``flush_logs_every_n_steps`` rows in memory): a stage killed later resumes from that checkpoint with its
    curves complete up to it, not with the rows since the last flush lost."""

    def on_save_checkpoint(self, trainer: L.Trainer, *args: Any) -> None:
        for logger in trainer.loggers:
            logger.save()
