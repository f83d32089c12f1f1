"""Minari datasets from the local store (optionally downloaded first), as ``Transitions``."""

from __future__ import annotations

import contextlib
import io
import warnings
from typing import Sequence

import gymnasium as gym
import minari
import numpy as np
from gymnasium.envs.registration import EnvSpec
from minari.dataset.minari_dataset import parse_dataset_id
from minari.storage import get_dataset_path

from cep_lightning.data.goals import MazeGoal
from cep_lightning.data.observations import flat_space, flatten_observation
from cep_lightning.data.transitions import Transitions
from cep_lightning.errors import DataError

GOAL_KEYS = ("achieved_goal", "desired_goal")  # the Dict observation of a goal-conditioned data set


def _how_to_get(dataset_id: str) -> str:
    """The advice on fetching ``dataset_id`` into the local Minari store."""
    return (
        f"Download it by running with data.download=true, or beforehand with `minari download {dataset_id}` "
        f"(the store is MINARI_DATASETS_PATH, default ~/.minari/datasets)."
    )


def _open_dataset(dataset_id: str, download: bool) -> minari.MinariDataset:
    """Open ``dataset_id`` from the local store, downloading it first if it is missing and ``download``."""
    try:
        parse_dataset_id(dataset_id)
    except ValueError as exc:
        raise DataError(f"Malformed Minari dataset id '{dataset_id}': use the form namespace/env/name-vN.") from exc
    data_path = get_dataset_path(dataset_id) / "data"
    if not data_path.exists():
        if not download:
            raise DataError(
                f"Minari dataset '{dataset_id}' is not in the local store (looked in '{data_path.parent}'). "
                + _how_to_get(dataset_id)
            )
        try:
            minari.download_dataset(dataset_id)
        except Exception as exc:  # network, missing hub client, unknown id: all reported the same way
            raise DataError(
                f"Could not download Minari dataset '{dataset_id}': {type(exc).__name__}: {exc}. "
                + _how_to_get(dataset_id)
            ) from exc
    try:
        return minari.load_dataset(dataset_id)
    except Exception as exc:  # a broken folder or an unsupported format version
        raise DataError(
            f"'{data_path}' is not a readable Minari dataset ({type(exc).__name__}: {exc}). "
            f"Delete that folder and get '{dataset_id}' again."
        ) from exc


def _check_flat_box(space: gym.Space, what: str, dataset_id: str) -> None:
    """Raise ``DataError`` unless ``space`` is a one-dimensional ``Box``."""
    if isinstance(space, gym.spaces.Dict):
        raise DataError(
            f"Minari dataset '{dataset_id}' has a Dict {what} space with keys {sorted(space.spaces)}; "
            f"only flat Box {what}s are supported."
        )
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
        raise DataError(
            f"Minari dataset '{dataset_id}' has {what} space {space}; only flat (1-D) Box {what}s are supported."
        )


def is_goal_conditioned(space: gym.Space) -> bool:
    """True for Dict observations with ``achieved_goal`` and ``desired_goal`` (Minari's AntMaze/PointMaze sets)."""
    return isinstance(space, gym.spaces.Dict) and all(k in space.spaces for k in GOAL_KEYS)


def load_minari_transitions(
    dataset_id: str, download: bool = False, observation_keys: Sequence[str] | None = None, goal: MazeGoal | None = None
) -> Transitions:
    """All episodes of a local Minari dataset, concatenated in order, as transitions.

    Per episode: s = observations[:-1], s' = observations[1:], terminals = terminations,
    timeouts = truncations. Dict observations become flat vectors: ``observation_keys`` concatenated in order.

    Goal-conditioned data (``achieved_goal``/``desired_goal`` observations) are relabelled to ``goal``, the
    evaluation goal, as D4RL's AntMaze v2 files were: r_t = terminal_t = 1{||achieved_goal_{t+1} - goal|| <= radius}
    (the stored rewards belong to each episode's own goal). Without a ``goal`` such data are refused.
    """
    dataset = _open_dataset(dataset_id, download)
    _check_flat_box(flat_space(dataset.observation_space, observation_keys), "observation", dataset_id)
    _check_flat_box(dataset.action_space, "action", dataset_id)
    relabel = is_goal_conditioned(dataset.observation_space)
    if relabel and goal is None:
        raise DataError(
            f"Minari dataset '{dataset_id}' is goal-conditioned (observations {list(GOAL_KEYS)}): its rewards belong "
            f"to each episode's own goal and must be relabelled to the evaluation goal, but the evaluation environment "
            f"has no goal. Evaluate it in a maze with one goal cell (eval.env_id=null takes the data set's own)."
        )
    parts: dict[str, list[np.ndarray]] = {key: [] for key in Transitions.__dataclass_fields__}
    for episode in dataset.iterate_episodes():
        observations = flatten_observation(episode.observations, observation_keys)
        parts["observations"].append(observations[:-1])
        parts["next_observations"].append(observations[1:])
        parts["actions"].append(np.reshape(episode.actions, (len(episode.rewards), -1)))
        if relabel:
            reached = goal.reached(episode.observations["achieved_goal"][1:])  # type: ignore[union-attr]
            parts["rewards"].append(reached)
            parts["terminals"].append(reached)
        else:
            parts["rewards"].append(episode.rewards)
            parts["terminals"].append(episode.terminations)
        parts["timeouts"].append(episode.truncations)
    if not parts["rewards"]:
        raise DataError(f"Minari dataset '{dataset_id}' has no episodes.")
    dtypes = {"terminals": bool, "timeouts": bool}
    return Transitions(**{key: np.concatenate(v).astype(dtypes.get(key, np.float32)) for key, v in parts.items()})


def minari_eval_env_spec(dataset_id: str, download: bool = False) -> EnvSpec:
    """The environment the data set's authors meant it to be evaluated in: Minari's
    ``recover_environment(eval_env=True)`` (its stored ``eval_env_spec``, else the environment it was collected in)."""
    dataset = _open_dataset(dataset_id, download)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")  # no eval_env_spec stored; "out of date" env versions
            env = dataset.recover_environment(eval_env=True)
    except Exception as exc:  # no stored environment, or one this installation cannot make
        raise DataError(
            f"The evaluation environment of Minari dataset '{dataset_id}' cannot be made "
            f"({type(exc).__name__}: {exc}); name it with eval.env_id=... (and eval.env_kwargs)."
        ) from None
    spec = env.spec
    env.close()
    if spec is None:
        raise DataError(
            f"Minari dataset '{dataset_id}' stores no environment spec; name the evaluation environment "
            f"with eval.env_id=... (and eval.env_kwargs)."
        )
    return spec


def minari_reference_returns(dataset_id: str) -> tuple[float | None, float | None]:
    """The dataset's reference returns ``(ref_min_score, ref_max_score)`` from its metadata (None if absent)."""
    metadata = _open_dataset(dataset_id, download=False).storage.metadata
    low, high = metadata.get("ref_min_score"), metadata.get("ref_max_score")
    return (None if low is None else float(low), None if high is None else float(high))
