"""Stop a stage on a non-finite loss, before the bad step reaches a checkpoint."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from cep_lightning.errors import CepError


class NonFiniteLossError(CepError):
    """The training loss became NaN or inf."""


class NonFiniteLossGuard(Callback):
    """Raises NonFiniteLossError naming the stage and step before the backward pass of a non-finite loss,
    so that step never updates the weights or reaches a checkpoint; the last checkpoint on disk stays."""

    def __init__(self, stage: str, checkpoint_dir: Path):
        self.stage, self.checkpoint_dir = stage, checkpoint_dir

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor) -> None:
        if not torch.isfinite(loss.detach()).all():
            last = self.checkpoint_dir / "last.ckpt"
            kept = f"The last good checkpoint is {last}." if last.is_file() else "No checkpoint had been written yet."
            raise NonFiniteLossError(
                f"Stage '{self.stage}' stopped at step {trainer.global_step + 1}: the loss is {loss.item()}. {kept} "
                f"Lower {self.stage}.lr, check the data for extreme values, or try trainer.precision=32-true."
            )
