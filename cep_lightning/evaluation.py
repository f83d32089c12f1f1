"""Policy evaluation in a gymnasium vector env: every episode of a batch stepped together."""

from __future__ import annotations

from typing import Callable, Sequence

import gymnasium as gym
import numpy as np

ActFn = Callable[[np.ndarray], np.ndarray]


def make_vector_env(env_id: str, num_envs: int) -> gym.vector.SyncVectorEnv:
    """num_envs copies of env_id, stepped in one process."""
    return gym.vector.SyncVectorEnv([lambda: gym.make(env_id) for _ in range(num_envs)])


def evaluate(envs: gym.vector.VectorEnv, act_fn: ActFn, seeds: Sequence[int]) -> np.ndarray:
    """Run exactly one episode in each sub-environment (env i reset with seeds[i]); returns [num_envs] returns.

    Each environment counts only its own first episode, so short episodes are not over-represented.
    """
    obs, _ = envs.reset(seed=[int(s) for s in seeds])
    low, high = envs.single_action_space.low, envs.single_action_space.high
    returns = np.zeros(envs.num_envs)
    done = np.zeros(envs.num_envs, dtype=bool)
    while not done.all():
        actions = np.clip(np.asarray(act_fn(obs), dtype=np.float64), low, high)
        obs, rewards, terminated, truncated, _ = envs.step(actions.astype(envs.single_action_space.dtype))
        returns += np.where(done, 0.0, rewards)
        done |= terminated | truncated
    return returns


def normalized_score(returns: np.ndarray | float, ref_min: float | None, ref_max: float | None) -> np.ndarray | float | None:
    """D4RL normalized score 100 · (R - R_random) / (R_expert - R_random); None without references."""
    if ref_min is None or ref_max is None:
        return None
    score = 100.0 * (np.asarray(returns, dtype=np.float64) - ref_min) / (ref_max - ref_min)
    return float(score) if score.ndim == 0 else score
