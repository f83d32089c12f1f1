"""SIGTERM (a scheduler's preemption notice) and SIGINT (Ctrl-C): stop at the end of the current batch,
keep what the stage has done, and say how to resume."""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path
from types import FrameType
from typing import Any, Iterator

import lightning as L
from lightning.pytorch.callbacks import Callback

from cep_lightning.errors import CepError

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StageInterrupted(CepError):
    """A stage stopped on a signal after saving its progress; ``exit_code`` is 128 + the signal number."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum


class StopRequest:
    """The signal received (if any). Inside a stage the first signal only sets it, so the stage stops at the
    end of its batch; outside a stage, or on a second signal, the command stops at once."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.in_stage = False

    def handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.signum is None
        self.signum = signum
        if not (first and self.in_stage):
            raise StageInterrupted(
                f"stopped by {signal.Signals(signum).name} before the stage saved anything.", signum
            )

    @contextlib.contextmanager
    def installed(self) -> Iterator["StopRequest"]:
        """Route SIGTERM and SIGINT here for the duration of the command (main thread only)."""
        self.signum = None
        previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
        for sig in SIGNALS:
            signal.signal(sig, self.handle)
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @contextlib.contextmanager
    def stage(self) -> Iterator[None]:
        self.in_stage = True
        try:
            yield
        finally:
            self.in_stage = False


class StopOnSignal(Callback):
    """Ends a stage at the end of the batch during which a signal arrived: a training stage saves its resume
    checkpoint first; the support stage's rows are already on disk (its writer runs before this callback)."""

    def __init__(self, request: StopRequest, stage: str, resume_command: str, checkpoint: Path | None = None):
        self.request, self.stage, self.resume_command, self.checkpoint = (
            request,
            stage,
            resume_command,
            checkpoint,
        )

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if self.request.signum is not None:
            assert self.checkpoint is not None
            trainer.save_checkpoint(self.checkpoint)
            self._stop(f"at step {trainer.global_step} of {trainer.max_steps}; saved {self.checkpoint}")

    def on_predict_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if self.request.signum is not None:
            self._stop("with the support actions written so far kept on disk")

    def on_test_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if self.request.signum is not None:
            self._stop("before the evaluation finished (it starts again on resume)")

    def _stop(self, where: str) -> None:
        name = signal.Signals(self.request.signum).name
        raise StageInterrupted(
            f"{self.stage}: stopped by {name} {where}. Resume with: {self.resume_command}",
            self.request.signum,
        )  # type: ignore[arg-type]
