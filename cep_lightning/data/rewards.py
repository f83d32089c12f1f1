"""Episode structure of a transition table and the paper's reward preprocessing."""

from __future__ import annotations

import numpy as np

from cep_lightning.data.transitions import Transitions


def episode_ends(data: Transitions) -> np.ndarray:
    """[N] bool: row i ends an episode (terminal, time-out, s'_i ≠ s_{i+1}, or the last row)."""
    ends = data.terminals | data.timeouts
    ends[:-1] |= np.any(data.next_observations[:-1] != data.observations[1:], axis=1)
    ends[-1] = True
    return ends


def episode_returns(data: Transitions) -> np.ndarray:
    """Undiscounted return of every episode, in order."""
    ends = np.flatnonzero(episode_ends(data))
    cumulative = np.concatenate([[0.0], np.cumsum(data.rewards, dtype=np.float64)])
    return cumulative[ends + 1] - cumulative[np.concatenate([[0], ends[:-1] + 1])]


def transform_rewards(data: Transitions, transform: str) -> np.ndarray:
    """Rewards as the paper trains on them.

    locomotion: r · 1000 / (max episode return - min episode return);  antmaze: r - 1;  none: r.
    """
    if transform == "locomotion":
        returns = episode_returns(data)
        return (data.rewards * (1000.0 / max(returns.max() - returns.min(), 1e-6))).astype(np.float32)
    if transform == "antmaze":
        return (data.rewards - 1.0).astype(np.float32)
    return data.rewards.astype(np.float32)
