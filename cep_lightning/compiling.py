"""``torch.compile`` of a stage's networks (``compile=true``), weights and checkpoints unchanged."""

from __future__ import annotations

from torch import nn


def compile_networks(module: nn.Module) -> nn.Module:
    """Compile every direct child network in place (``nn.Module.compile``: the state dict keeps its keys,
    so checkpoints load with or without compilation); returns ``module``."""
    for child in module.children():
        child.compile()
    return module
