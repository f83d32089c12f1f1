"""The reward scale of locomotion data, 1000 / (max R - min R), as each code's data loading computes it."""

from __future__ import annotations

import types
from dataclasses import dataclass
from pathlib import Path

from benchmarks.paper_parity.shims import get_dataset, qlearning_dataset
from cep_lightning.data.hdf5 import load_d4rl_hdf5
from cep_lightning.data.rewards import reward_scale

RETURNS = ("episodes", "paper")  # the values of data.reward_scale


@dataclass(frozen=True)
class RewardScaleCheck:
    paper: float  # the paper's D4RL_dataset: 1000 / (max - min) of return_range(qlearning_dataset(env), 1000)
    ours: dict[str, float]  # data.reward_scale -> cep_lightning's 1000 / (max - min)


def paper_reward_scale(paper: types.SimpleNamespace, path: Path) -> float:
    """The paper's own ``return_range`` on D4RL's ``qlearning_dataset`` of the file (the shims' d4rl)."""
    low, high = paper.dataset.return_range(qlearning_dataset(None, get_dataset(path)), 1000)
    return 1000.0 / (high - low)


def reward_scale_check(paper: types.SimpleNamespace, path: Path) -> RewardScaleCheck:
    data = load_d4rl_hdf5(path)
    return RewardScaleCheck(paper_reward_scale(paper, path), {name: reward_scale(data, name) for name in RETURNS})
