"""The offline data set as one typed container, and what is derived from its episode structure."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Transitions:
    """D4RL-style transitions; row i is (s_i, a_i, r_i, s'_i) with episode flags."""

    observations: np.ndarray  # [N, S] float32
    actions: np.ndarray  # [N, A] float32
    rewards: np.ndarray  # [N] float32
    next_observations: np.ndarray  # [N, S] float32
    terminals: np.ndarray  # [N] bool, true environment terminations only
    timeouts: np.ndarray  # [N] bool, episode cut by a time limit (not a terminal)

    def __len__(self) -> int:
        return len(self.rewards)
