"""The stages' optimizer: Adam, as one fused kernel where the device has one, optionally with the learning rate
decayed linearly to zero over the stage's budget."""

from __future__ import annotations

from typing import Any, Iterable

import lightning as L
import torch
from torch.optim.optimizer import _get_foreach_kernels_supported_devices, _get_fused_kernels_supported_devices

ADAM_IMPLEMENTATIONS = ("fused", "foreach", "for-loop")


def adam_options(implementation: str, device: torch.device) -> dict[str, bool]:
    """torch.optim.Adam's ``fused`` / ``foreach`` flags for ``implementation``:

    - ``fused``: one kernel updates every tensor, and the step counts stay on the device (no ``.item()`` per
      tensor and step); where the device has no fused kernel, ``foreach``;
    - ``foreach``: one kernel per operation over all tensors (the step counts are still read on the host);
    - ``for-loop``: a Python loop over the tensors, torch's default on a CPU (the paper's code runs it there).
    The three compute the same update; they round differently in the last bits."""
    if implementation not in ADAM_IMPLEMENTATIONS:
        raise ValueError(f"Adam implementation '{implementation}' is not one of {', '.join(ADAM_IMPLEMENTATIONS)}.")
    if implementation == "fused" and device.type in _get_fused_kernels_supported_devices():
        return {"fused": True}
    if implementation in ("fused", "foreach") and device.type in _get_foreach_kernels_supported_devices():
        return {"foreach": True}
    return {"foreach": False}


def adam(
    module: L.LightningModule,
    params: Iterable[torch.nn.Parameter],
    lr: float,
    decay_to_zero: bool = False,
    implementation: str = "fused",
) -> Any:
    """Adam(lr) of ``implementation`` (``adam_options``) on the module's device; with ``decay_to_zero`` the rate
    at step k is lr · (1 - k / max_steps) (the 2-D toys' recipe)."""
    optimizer = torch.optim.Adam(params, lr=lr, **adam_options(implementation, module.device))
    if not decay_to_zero:
        return optimizer
    total = max(1, module.trainer.max_steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1.0 - step / total))
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
