"""``compile=true``: each training stage's whole step (loss, gradient, Adam update) as one compiled graph
(``stages/compiled_step.py``); weights and checkpoints are the same as eager ones.

Compiling costs time once per stage (on a 2-core CPU about a minute for each of the three stages), so it pays
for long budgets; ``python -m cep_lightning.bench --overhead`` measures both sides.
"""

from __future__ import annotations

import torch


def compile_mode(requested: str, device: torch.device) -> str | None:
    """torch.compile's ``mode``: ``auto`` is ``reduce-overhead`` on CUDA (the step replayed as a CUDA graph: one
    launch for the whole step) and inductor's default elsewhere."""
    if requested == "auto":
        return "reduce-overhead" if device.type == "cuda" else None
    return None if requested == "default" else requested
