"""Small AntMaze data sets made the way Minari's D4RL/antmaze/*-v1 were (minari-dataset-generation-scripts,
scripts/antmaze/create_antmaze_dataset.py), with random actions instead of the waypoint controller:

- a continuing task (continuing_task=True, reset_target=False): reaching the goal ends nothing, only the time
  limit cuts an episode; every reset draws the episode's own goal (the maps without a fixed goal), and the
  stored reward is 1 within 0.45 of that goal;
- written with Minari (create_dataset_from_buffers with the collection env and the evaluation env spec; its
  DataCollector needs jax for Dict observations);
- the collection env is the script's (umaze: a map with its goal at row 1 and start at row 3; umaze-diverse,
  medium-play, large-play: the registered maps; the diverse medium/large: the *_Diverse_GR maps);
- the stored evaluation env is the collection env's spec with the script's evaluation map. Its umaze map is
  D4RL's U_MAZE_EVAL, a maze with other walls than the one collected in (Minari issue #304), as in Minari's sets.
"""

from __future__ import annotations

import warnings
from copy import deepcopy
from typing import Sequence

import gymnasium as gym
import minari
import numpy as np
from minari.data_collector import EpisodeBuffer

from cep_lightning.envs.evaluation import register_robotics_envs

R, G = "r", "g"
EVAL_MAPS = {  # the generation script's EVAL_ENV_MAPS
    "umaze": [[1, 1, 1, 1, 1], [1, 0, 0, R, 1], [1, 0, 1, 1, 1], [1, 0, 0, G, 1], [1, 1, 1, 1, 1]],
    "medium": [
        [1, 1, 1, 1, 1, 1, 1, 1],
        [1, R, 0, 1, 1, 0, 0, 1],
        [1, 0, 0, 1, 0, 0, 0, 1],
        [1, 1, 0, 0, 0, 1, 1, 1],
        [1, 0, 0, 1, 0, 0, 0, 1],
        [1, 0, 1, 0, 0, 1, 0, 1],
        [1, 0, 0, 0, 1, 0, G, 1],
        [1, 1, 1, 1, 1, 1, 1, 1],
    ],
    "large": [
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
        [1, R, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1],
        [1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1],
        [1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1],
        [1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 1],
        [1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1],
        [1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 1],
        [1, 0, 0, 1, 0, 0, 0, 1, 0, G, 0, 1],
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    ],
}
UMAZE_COLLECTION_MAP = [
    [1, 1, 1, 1, 1],  # the script's map for umaze (not diverse)
    [1, G, 0, 0, 1],
    [1, 1, 1, 0, 1],
    [1, R, 0, 0, 1],
    [1, 1, 1, 1, 1],
]
COLLECTION_ENVS = {
    "umaze": "AntMaze_UMaze-v4",
    "umaze-diverse": "AntMaze_UMaze-v4",
    "medium-play": "AntMaze_Medium-v4",
    "medium-diverse": "AntMaze_Medium_Diverse_GR-v4",
    "large-play": "AntMaze_Large-v4",
    "large-diverse": "AntMaze_Large_Diverse_GR-v4",
}


def antmaze_dataset(
    dataset_id: str,
    name: str,
    episodes: int = 3,
    steps: int = 25,
    seed: int = 0,
    cells: Sequence[dict[str, tuple[int, int]]] = (),
) -> str:
    """Collect ``episodes`` random-action episodes of ``steps`` steps for AntMaze data set ``name`` (e.g. medium-play)
    into the local Minari store as ``dataset_id``. ``cells``: per-episode reset options (``reset_cell``/``goal_cell``),
    cycled; a test uses them to start episodes near a chosen cell."""
    if dataset_id in minari.list_local_datasets():
        return dataset_id
    env_id = COLLECTION_ENVS[name]
    register_robotics_envs(env_id)
    kwargs = {"maze_map": UMAZE_COLLECTION_MAP} if name == "umaze" else {}
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # AntMaze_*-v4 is "out of date"; minari wants an author, a description, ...
        env = gym.make(env_id, continuing_task=True, reset_target=False, max_episode_steps=steps, **kwargs)
        rng = np.random.default_rng(seed)
        buffers = [
            _episode(env, rng, seed + e, cells[e % len(cells)] if cells else None) for e in range(episodes)
        ]
        eval_spec = deepcopy(env.spec)
        eval_spec.kwargs["maze_map"] = EVAL_MAPS[name.split("-")[0]]
        eval_spec.max_episode_steps = gym.spec(
            env_id
        ).max_episode_steps  # the script kept the registered time limit
        minari.create_dataset_from_buffers(
            dataset_id, buffers, env=env, eval_env=eval_spec, algorithm_name="random actions"
        )
    env.close()
    return dataset_id


def _episode(
    env: gym.Env, rng: np.random.Generator, seed: int, cells: dict[str, tuple[int, int]] | None
) -> EpisodeBuffer:
    """One random-action episode of a continuing maze task: only the time limit ends it."""
    obs, _ = env.reset(seed=seed, options={k: np.array(v) for k, v in cells.items()} if cells else None)
    steps: dict[str, list] = {
        "observations": [obs],
        "actions": [],
        "rewards": [],
        "terminations": [],
        "truncations": [],
    }
    truncated = False
    while not truncated:
        action = rng.uniform(-1.0, 1.0, size=8).astype(np.float32)
        obs, reward, terminated, truncated, _ = env.step(action)
        for key, value in zip(steps, (obs, action, reward, terminated, truncated)):
            steps[key].append(value)
    visited = steps.pop("observations")
    observations = {key: np.stack([o[key] for o in visited]) for key in obs}
    return EpisodeBuffer(observations=observations, **{key: np.asarray(v) for key, v in steps.items()})
