"""Tensor helpers shared by the stages and the maths (no Lightning here)."""

from __future__ import annotations

from torch import Tensor


def expand_states(s: Tensor, M: int) -> Tensor:
    """[B, S] -> [B, M, S]: one (view, not copy) of each state per candidate action a_j, j = 1..M."""
    return s.unsqueeze(1).expand(-1, M, -1)
