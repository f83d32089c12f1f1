"""One entry point for the three data sources: the built-in data set, D4RL HDF5 files, Minari ids."""

from __future__ import annotations

import numpy as np
from omegaconf import DictConfig

from cep_lightning.data.builtin import BUILTIN_DATASET_ID, ensure_builtin_dataset
from cep_lightning.data.d4rl_antmaze import load_d4rl_antmaze, uses_d4rl_antmaze_frame
from cep_lightning.data.download import ensure_file
from cep_lightning.data.goals import MazeGoal
from cep_lightning.data.hdf5 import load_d4rl_hdf5
from cep_lightning.data.minari_source import load_minari_transitions
from cep_lightning.data.toy_datasets import TOYS
from cep_lightning.data.transitions import Transitions
from cep_lightning.errors import DataError

DEFAULT_BUILTIN_EPISODES = 200


def builtin_dataset_id(num_episodes: int) -> str:
    """The Minari id of the built-in data set with ``num_episodes`` episodes."""
    if num_episodes == DEFAULT_BUILTIN_EPISODES:
        return BUILTIN_DATASET_ID
    return BUILTIN_DATASET_ID.replace("mixed-", f"mixed{num_episodes}-")


def prepare_source(cfg: DictConfig) -> None:
    """Once per machine: create the built-in data set in the local Minari store, or fetch a missing HDF5 file from
    ``data.url`` (with ``data.download=true``), if it is not there yet."""
    if cfg.source == "builtin":
        ensure_builtin_dataset(builtin_dataset_id(cfg.builtin_episodes), num_episodes=cfg.builtin_episodes)
    if cfg.source == "hdf5" and cfg.path:
        ensure_file(cfg.path, cfg.url, cfg.download)


def describe_source(cfg: DictConfig) -> str:
    """The data set as a user named it, for messages."""
    return {
        "builtin": "the built-in data set",
        "hdf5": f"'{cfg.path}'",
        "minari": f"Minari dataset '{cfg.minari_id}'",
        "toy": f"toy '{cfg.toy}'",
        "images": f"image set '{cfg.images}'",
    }[cfg.source]


def load_source(cfg: DictConfig, goal: MazeGoal | None = None) -> Transitions:
    """The raw transitions that ``data.source`` names (goal-conditioned Minari data relabelled to ``goal``; an HDF5
    file in D4RL's AntMaze frame moved into the frame of ``goal``'s maze)."""
    if cfg.source == "builtin":
        return load_minari_transitions(
            ensure_builtin_dataset(builtin_dataset_id(cfg.builtin_episodes), num_episodes=cfg.builtin_episodes)
        )
    if cfg.source == "toy":
        return toy_transitions(cfg.toy, cfg.toy_size)
    if cfg.source == "images":
        raise DataError(
            f"data.source=images ({describe_source(cfg)}) is compared by python -m cep_lightning.images, which makes "
            "one bandit per energy of the same images; it is not a data set of transitions."
        )
    if cfg.source == "hdf5":
        if not cfg.path:
            raise DataError(
                "data.source=hdf5 needs the file: pass data.path=/path/to/<dataset>.hdf5 (a D4RL-format file)."
            )
        path = ensure_file(cfg.path, cfg.url, cfg.download)
        return load_d4rl_antmaze(path, goal) if uses_d4rl_antmaze_frame(cfg) else load_d4rl_hdf5(path)
    if not cfg.minari_id:
        raise DataError("data.source=minari needs a dataset id: pass data.minari_id=<namespace/env/name-vN>.")
    return load_minari_transitions(
        cfg.minari_id, download=cfg.download, observation_keys=cfg.observation_keys, goal=goal
    )


def toy_transitions(name: str, size: int, seed: int = 0) -> Transitions:
    """A 2-D toy as a bandit: empty states [N, 0], actions = points, rewards = labels e(x)."""
    if name not in TOYS:
        raise DataError(f"Unknown toy '{name}' (data.toy); valid: {', '.join(TOYS)}.")
    x, e = TOYS[name].generate(size, np.random.default_rng(seed))
    empty = np.zeros((size, 0), dtype=np.float32)
    done = np.ones(size, dtype=bool)
    return Transitions(
        observations=empty, actions=x, rewards=e, next_observations=empty, terminals=done, timeouts=~done
    )
