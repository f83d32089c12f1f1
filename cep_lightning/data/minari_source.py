"""Minari datasets from the local store (optionally downloaded first), as ``Transitions``."""

from __future__ import annotations

from typing import Sequence

import gymnasium as gym
import minari
import numpy as np
from minari.dataset.minari_dataset import parse_dataset_id
from minari.storage import get_dataset_path

from cep_lightning.data.transitions import Transitions
from cep_lightning.errors import DataError
from cep_lightning.observations import flat_space, flatten_observation


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


def load_minari_transitions(dataset_id: str, download: bool = False, observation_keys: Sequence[str] | None = None) -> Transitions:
    """All episodes of a local Minari dataset, concatenated in order, as transitions.

    Per episode: s = observations[:-1], s' = observations[1:], terminals = terminations,
    timeouts = truncations. Dict observations become flat vectors: ``observation_keys`` concatenated in order.
    """
    dataset = _open_dataset(dataset_id, download)
    _check_flat_box(flat_space(dataset.observation_space, observation_keys), "observation", dataset_id)
    _check_flat_box(dataset.action_space, "action", dataset_id)
    parts: dict[str, list[np.ndarray]] = {key: [] for key in Transitions.__dataclass_fields__}
    for episode in dataset.iterate_episodes():
        observations = flatten_observation(episode.observations, observation_keys)
        parts["observations"].append(observations[:-1])
        parts["next_observations"].append(observations[1:])
        parts["actions"].append(np.reshape(episode.actions, (len(episode.rewards), -1)))
        parts["rewards"].append(episode.rewards)
        parts["terminals"].append(episode.terminations)
        parts["timeouts"].append(episode.truncations)
    if not parts["rewards"]:
        raise DataError(f"Minari dataset '{dataset_id}' has no episodes.")
    dtypes = {"terminals": bool, "timeouts": bool}
    return Transitions(**{key: np.concatenate(v).astype(dtypes.get(key, np.float32)) for key, v in parts.items()})


def minari_reference_returns(dataset_id: str) -> tuple[float | None, float | None]:
    """The dataset's reference returns ``(ref_min_score, ref_max_score)`` from its metadata (None if absent)."""
    metadata = _open_dataset(dataset_id, download=False).storage.metadata
    low, high = metadata.get("ref_min_score"), metadata.get("ref_max_score")
    return (None if low is None else float(low), None if high is None else float(high))
