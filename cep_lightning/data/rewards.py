"""Episode structure of a transition table and the paper's reward preprocessing."""

from __future__ import annotations

import numpy as np

from cep_lightning.data.transitions import Transitions
from cep_lightning.errors import DataError

PAPER_MAX_EPISODE_STEPS = 1000  # the paper's return_range(dataset, 1000)


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


def paper_episode_returns(data: Transitions, max_steps: int = PAPER_MAX_EPISODE_STEPS) -> np.ndarray:
    """The returns the paper's ``return_range(qlearning_dataset(env), 1000)`` takes min and max of.

    D4RL's ``qlearning_dataset`` drops every time-out row and the file's last row; over the rows left, a counter
    ends an "episode" at a terminal or after ``max_steps`` rows (whichever comes first; it restarts after each), so a
    time-out-ended episode of T rows gives T - 1 rows that run on into the next one; a trailing part is not counted.
    Exact for a table that holds every row of its file (D4RL's v2 files store ``next_observations``).
    """
    keep = ~data.timeouts
    keep[-1] = False
    rewards, terminals = data.rewards[keep], data.terminals[keep]
    cumulative = np.concatenate([[0.0], np.cumsum(rewards, dtype=np.float64)])
    returns, start = [], 0
    for end in [*(np.flatnonzero(terminals) + 1), None]:  # rows start .. end - 1, the last one a terminal
        stop = len(rewards) if end is None else end
        for first in range(start, stop, max_steps):
            last = min(first + max_steps, stop)
            if end is not None or last - first == max_steps:  # the trailing part counts only when full
                returns.append(cumulative[last] - cumulative[first])
        start = stop
    return np.asarray(returns)


def reward_scale(data: Transitions, returns: str = "episodes") -> float:
    """1000 / (max R - min R) over the returns R of ``episode_returns`` (returns="episodes") or of
    ``paper_episode_returns`` (returns="paper")."""
    values = paper_episode_returns(data) if returns == "paper" else episode_returns(data)
    if len(values) == 0:
        raise DataError(
            "data.reward_scale=paper counts no episode in these transitions: the paper's return range sees only "
            f"episodes that end in a terminal or run {PAPER_MAX_EPISODE_STEPS} rows, and this data set has none. "
            "Use data.reward_scale=episodes (the true episodes' returns)."
        )
    return 1000.0 / max(float(values.max() - values.min()), 1e-6)


def transform_rewards(data: Transitions, transform: str, returns: str = "episodes") -> np.ndarray:
    """Rewards as the paper trains on them.

    locomotion: r · 1000 / (max episode return - min episode return), the returns as ``reward_scale``
    computes them;  antmaze: r - 1;  none: r.
    """
    if transform == "locomotion":
        return (data.rewards * reward_scale(data, returns)).astype(np.float32)
    if transform == "antmaze":
        return (data.rewards - 1.0).astype(np.float32)
    return data.rewards.astype(np.float32)
