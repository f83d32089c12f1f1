"""Stop a stage on a non-finite loss, before the bad step reaches a checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from cep_lightning.errors import CepError


class NonFiniteLossError(CepError):
    """The training loss became NaN or inf."""


class NonFiniteLossGuard(Callback):
    """Raises NonFiniteLossError naming the stage and step; runs before the checkpoint callback, so the
    last checkpoint on disk is the last good one."""

    def __init__(self, stage: str, checkpoint_dir: Path):
        self.stage, self.checkpoint_dir = stage, checkpoint_dir

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None and not torch.isfinite(loss.detach()).all():
            last = self.checkpoint_dir / "last.ckpt"
            kept = f"The last good checkpoint is {last}." if last.is_file() else "No checkpoint had been written yet."
            raise NonFiniteLossError(
                f"Stage '{self.stage}' stopped at step {trainer.global_step}: the loss is {loss.item()}. {kept} "
                f"Lower {self.stage}.lr, check the data for extreme values, or try trainer.precision=32-true.")
