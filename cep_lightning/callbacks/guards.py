"""Stop a stage on a non-finite loss, before weights it touched reach a checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor

from cep_lightning.errors import CepError
from cep_lightning.stages.log_steps import writes_logs_now


class NonFiniteLossError(CepError):
    """The training loss became NaN or inf."""


class NonFiniteLossGuard(Callback):
    """Raises NonFiniteLossError naming the stage, the first step whose loss was not finite and that loss.

    Every step only records on the device whether its loss is finite (``first_bad``: the first such step, -1 while
    there is none; a batch of K optimizer steps brings K losses); the host reads that record on the steps whose
    metrics are written, at the end of the stage and before any checkpoint is written, so a step waits for the
    device only where it would anyway.
    A checkpoint therefore never holds weights a non-finite loss has updated: the last one on disk stays."""

    def __init__(self, stage: str, checkpoint_dir: Path):
        self.stage, self.checkpoint_dir = stage, checkpoint_dir
        self.first_bad: Tensor | None = None
        self.bad_loss: Tensor | None = None

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is None:
            return
        losses = loss.detach().float().reshape(-1)  # one per optimizer step of the batch, the last at global_step
        if self.first_bad is None:
            self.first_bad = torch.full((), -1, dtype=torch.long, device=losses.device)
            self.bad_loss = torch.zeros((), device=losses.device)
        bad = ~torch.isfinite(losses)
        index = bad.int().argmax()  # the batch's first non-finite loss (0 when none is)
        first = bad.any() & (self.first_bad < 0)
        self.first_bad = torch.where(first, trainer.global_step - len(losses) + 1 + index, self.first_bad)
        self.bad_loss = torch.where(first, losses.gather(0, index[None])[0], self.bad_loss)  # (a tensor index: no read)
        if writes_logs_now(pl_module, done=True):
            self.check(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.check(trainer)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        self.check(trainer)

    def check(self, trainer: L.Trainer) -> None:
        if self.first_bad is None or int(self.first_bad) < 0:
            return
        last = self.checkpoint_dir / "last.ckpt"
        kept = f"The last good checkpoint is {last}." if last.is_file() else "No checkpoint had been written yet."
        raise NonFiniteLossError(
            f"Stage '{self.stage}' stopped at step {int(self.first_bad)}: the loss is {self.bad_loss.item()}. {kept} "
            f"Lower {self.stage}.lr, check the data for extreme values, or try trainer.precision=32-true."
        )
