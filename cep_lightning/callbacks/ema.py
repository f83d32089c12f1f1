"""Exponential moving average of a stage's weights: Lightning's ``EMAWeightAveraging``, updated on the device only."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import EMAWeightAveraging
from torch.optim.swa_utils import AveragedModel


class DeviceEMA(EMAWeightAveraging):
    """``EMAWeightAveraging`` whose per-step update reads nothing on the host.

    Lightning's update (``AveragedModel.update_parameters``) reads its update count twice a step
    (``bool(n_averaged == 0)``, ``n_averaged > 0``) and so waits for the device every step. Here the host knows
    whether the average has been started (it reads the count once, on the first update after a start or
    resume), and the update is the same arithmetic over all tensors at once (parameters and buffers):
    W_avg ← decay · W_avg + (1 - decay) · W, the first update a copy; the count advances on the device.
    Checkpoints, the swap of the averaged weights at the stage's end, and the saved model are Lightning's."""

    def __init__(self, decay: float = 0.999, **kwargs: Any):
        super().__init__(decay=decay, **kwargs)
        self.decay = decay
        self._started: bool | None = None

    @property
    def state_key(self) -> str:
        """Lightning's key, so that checkpoints written with ``EMAWeightAveraging`` resume here and back."""
        return EMAWeightAveraging.__qualname__

    def after_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """After every optimizer step, also those inside a batch of several (``CompilableStep.steps_per_batch``)."""
        if trainer.global_step > self._latest_update_step and self.should_update(step_idx=trainer.global_step - 1):
            self._update(self._average_model, pl_module)
            self._latest_update_step = trainer.global_step

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.after_optimizer_step(trainer, pl_module)  # a step Lightning's own optimisation took (else done already)

    @torch.no_grad()
    def _update(self, average: AveragedModel, model: torch.nn.Module) -> None:
        averaged = [*average.module.parameters(), *average.module.buffers()]
        current = [t.detach().to(a.device) for a, t in zip(averaged, [*model.parameters(), *model.buffers()])]
        if self._started is None:
            self._started = bool(average.n_averaged > 0)
        if self._started:
            scaled = torch._foreach_mul(current, 1 - self.decay)
            torch._foreach_mul_(averaged, self.decay)
            torch._foreach_add_(averaged, scaled)
        else:
            torch._foreach_copy_(averaged, current)
            self._started = True
        average.n_averaged.add_(1)
