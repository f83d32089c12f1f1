"""Dictionary observations as the flat vectors the models see: the named keys concatenated in order.

AntMaze is the case in point. gymnasium-robotics' ``AntMaze_*-v4`` observes
``{"achieved_goal": (x, y), "observation": qpos[2:] ++ qvel, "desired_goal": goal}``, while D4RL's flat
29-vector is ``qpos ++ qvel`` = ``(x, y) ++ qpos[2:] ++ qvel``: ``keys=[achieved_goal, observation]``
rebuilds it (the goal is fixed per task and is not observed, as in D4RL).
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import gymnasium as gym
import numpy as np

from cep_lightning.errors import DataError


def check_keys(available: Iterable[str], keys: Sequence[str] | None) -> Sequence[str]:
    """``keys``, when every one of them is among the ``available`` keys of a Dict observation."""
    available = sorted(available)
    if not keys:
        raise DataError(
            f"Dictionary observations (keys {available}) need data.observation_keys: the keys to concatenate, "
            f"in order (AntMaze: [achieved_goal,observation])."
        )
    missing = [k for k in keys if k not in available]
    if missing:
        raise DataError(
            f"data.observation_keys names {missing}, which the observations do not have (keys: {available})."
        )
    return keys


def flatten_observation(obs: np.ndarray | Mapping[str, np.ndarray], keys: Sequence[str] | None) -> np.ndarray:
    """obs[keys[0]] ++ obs[keys[1]] ++ ... along the last axis for a dict (batched or not); an array as it is."""
    if not isinstance(obs, Mapping):
        return np.asarray(obs)
    return np.concatenate([np.asarray(obs[k], dtype=np.float64) for k in check_keys(obs, keys)], axis=-1)


def flat_space(space: gym.Space, keys: Sequence[str] | None) -> gym.spaces.Box:
    """The Box that ``flatten_observation`` maps a (Dict) observation space to."""
    if not isinstance(space, gym.spaces.Dict):
        return space  # type: ignore[return-value]
    parts = [space.spaces[k] for k in check_keys(space.spaces, keys)]
    low = np.concatenate([np.broadcast_to(p.low, p.shape) for p in parts])  # type: ignore[attr-defined]
    high = np.concatenate([np.broadcast_to(p.high, p.shape) for p in parts])  # type: ignore[attr-defined]
    return gym.spaces.Box(low, high, dtype=np.result_type(*[p.dtype for p in parts]))
