"""The stages' optimizer: Adam, optionally with the learning rate decayed linearly to zero over the stage's budget."""

from __future__ import annotations

from typing import Any, Iterable

import lightning as L
import torch


def adam(module: L.LightningModule, params: Iterable[torch.nn.Parameter], lr: float, decay_to_zero: bool) -> Any:
    """Adam(lr); with ``decay_to_zero`` the rate at step k is lr · (1 - k / max_steps) (the 2-D toys' recipe)."""
    optimizer = torch.optim.Adam(params, lr=lr)
    if not decay_to_zero:
        return optimizer
    total = max(1, module.trainer.max_steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1.0 - step / total))
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
