"""The built-in Pendulum data set, the Minari source, and their agreement with the D4RL HDF5 source."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import gymnasium as gym
import minari
import numpy as np
import pytest
from minari.data_collector import EpisodeBuffer

from cep_lightning.data import builtin
from cep_lightning.data.builtin import (
    BUILTIN_DATASET_ID,
    PENDULUM_EXPERT_RETURN,
    PENDULUM_RANDOM_RETURN,
    ensure_builtin_dataset,
    expert_action,
)
from cep_lightning.data.hdf5 import load_d4rl_hdf5, write_d4rl_hdf5
from cep_lightning.data.minari_source import load_minari_transitions, minari_reference_returns
from cep_lightning.data.transitions import Transitions
from cep_lightning.errors import DataError

EPISODES = 12


STEPS = 200


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty local Minari store for one test (minari reads MINARI_DATASETS_PATH at each call)."""
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


def _episode_returns(data: Transitions) -> np.ndarray:
    return data.rewards.reshape(-1, STEPS).sum(axis=1)


def _assert_same(a: Transitions, b: Transitions) -> None:
    for field in dataclasses.fields(Transitions):
        x, y = getattr(a, field.name), getattr(b, field.name)
        assert x.dtype == y.dtype, field.name
        np.testing.assert_array_equal(x, y, err_msg=field.name)


def test_expert_controller_is_near_optimal_and_random_is_poor() -> None:
    expert = builtin.policy_returns(expert_action, 8, seed=0)
    random = builtin.policy_returns(builtin.random_policy(seed=0), 8, seed=0)
    assert expert.mean() > -300, expert
    assert random.mean() < -900, random
    actions = expert_action(np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.5], [0.0, 1.0, -8.0]], dtype=np.float32))
    assert actions.shape == (3, 1) and np.all(np.abs(actions) <= 2.0)
    assert actions[0, 0] == 0.0  # upright and at rest: no torque needed


def test_builtin_dataset_is_mixed_and_well_formed(store: Path) -> None:
    data = load_minari_transitions(ensure_builtin_dataset(num_episodes=EPISODES, seed=0))
    assert len(data) == EPISODES * STEPS
    assert data.observations.shape == (EPISODES * STEPS, 3) and data.actions.shape == (EPISODES * STEPS, 1)
    assert np.all(np.abs(data.actions) <= 2.0)
    np.testing.assert_array_equal(data.timeouts, np.arange(len(data)) % STEPS == STEPS - 1)
    assert not data.terminals.any()
    inside = ~data.timeouts[:-1]  # s'_i is s_{i+1} within an episode
    np.testing.assert_array_equal(data.next_observations[:-1][inside], data.observations[1:][inside])
    returns = _episode_returns(data)
    assert returns.max() > -300
    assert returns.mean() < (PENDULUM_RANDOM_RETURN + PENDULUM_EXPERT_RETURN) / 2
    assert minari_reference_returns(BUILTIN_DATASET_ID) == (PENDULUM_RANDOM_RETURN, PENDULUM_EXPERT_RETURN)


def test_ensure_builtin_dataset_is_idempotent(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert ensure_builtin_dataset(num_episodes=EPISODES) == BUILTIN_DATASET_ID
    files = {p: p.stat().st_mtime_ns for p in store.rglob("*")}

    def regenerate(*args: object, **kwargs: object) -> None:
        raise AssertionError("the existing dataset was regenerated")

    monkeypatch.setattr(builtin, "generate_pendulum_episodes", regenerate)
    assert ensure_builtin_dataset(num_episodes=EPISODES) == BUILTIN_DATASET_ID
    assert {p: p.stat().st_mtime_ns for p in store.rglob("*")} == files
    assert list(minari.list_local_datasets()) == [BUILTIN_DATASET_ID]


def test_builtin_dataset_is_deterministic_for_a_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / name))
        loaded.append(load_minari_transitions(ensure_builtin_dataset(num_episodes=EPISODES, seed=seed)))
    _assert_same(loaded[0], loaded[1])
    assert not np.array_equal(loaded[0].actions, loaded[2].actions)


def test_interrupted_creation_leaves_no_dataset(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(self: object, episodes: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr("minari.dataset._storages.hdf5_storage.HDF5Storage.update_episodes", crash)
        with pytest.raises(KeyboardInterrupt):
            ensure_builtin_dataset(num_episodes=EPISODES)
    assert minari.list_local_datasets() == {}
    assert not (store / BUILTIN_DATASET_ID).exists()
    assert not [p for p in store.iterdir() if p.name.startswith(".")]  # the temporary store is gone
    assert ensure_builtin_dataset(num_episodes=EPISODES) == BUILTIN_DATASET_ID
    assert len(load_minari_transitions(BUILTIN_DATASET_ID)) == EPISODES * STEPS


def test_broken_folder_is_reported(store: Path) -> None:
    (store / BUILTIN_DATASET_ID).mkdir(parents=True)
    with pytest.raises(DataError, match="not a readable Minari dataset"):
        ensure_builtin_dataset(num_episodes=EPISODES)


def test_minari_and_hdf5_sources_agree(store: Path, tmp_path: Path) -> None:
    data = load_minari_transitions(ensure_builtin_dataset(num_episodes=EPISODES))
    with_next = load_d4rl_hdf5(write_d4rl_hdf5(data, tmp_path / "with_next.hdf5", with_next_observations=True))
    _assert_same(with_next, data)
    # Without next_observations, an episode's last row (a time-out: s' unknown) is dropped.
    without_next = load_d4rl_hdf5(write_d4rl_hdf5(data, tmp_path / "without.hdf5", with_next_observations=False))
    keep = ~data.timeouts
    expected = Transitions(**{f.name: getattr(data, f.name)[keep] for f in dataclasses.fields(Transitions)})
    _assert_same(without_next, expected)
    assert len(without_next) == EPISODES * (STEPS - 1)


def test_missing_dataset_without_download_says_how_to_get_it(store: Path) -> None:
    with pytest.raises(DataError, match="not in the local store") as info:
        load_minari_transitions("cep_lightning/pendulum/absent-v0")
    assert "data.download=true" in str(info.value)
    assert "minari download cep_lightning/pendulum/absent-v0" in str(info.value)


def test_failed_download_is_a_data_error(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(dataset_id: str, force_download: bool = False) -> None:
        raise ConnectionError("no network")

    monkeypatch.setattr(minari, "download_dataset", offline)
    with pytest.raises(DataError, match="Could not download.*no network") as info:
        load_minari_transitions("cep_lightning/pendulum/absent-v0", download=True)
    assert "data.download=true" in str(info.value)


def test_dict_observations_are_flattened_by_the_named_keys(store: Path) -> None:
    obs_space = gym.spaces.Dict({"goal": gym.spaces.Box(-9, 9, (2,)), "state": gym.spaces.Box(-9, 9, (3,))})
    act_space = gym.spaces.Box(-1, 1, (1,))
    goal, state = np.arange(6, dtype=np.float32).reshape(3, 2), -np.arange(9, dtype=np.float32).reshape(3, 3)
    episode = EpisodeBuffer(
        observations={"goal": goal, "state": state},
        actions=np.zeros((2, 1), np.float32),
        rewards=np.zeros(2),
        terminations=np.array([False, True]),
        truncations=np.zeros(2, bool),
    )
    with pytest.warns(UserWarning):  # minari warns about the missing author, description, ...
        minari.create_dataset_from_buffers(
            "test/dict-v0", [episode], observation_space=obs_space, action_space=act_space
        )
    with pytest.raises(
        DataError, match=r"Dictionary observations \(keys \['goal', 'state'\]\) need data.observation_keys"
    ):
        load_minari_transitions("test/dict-v0")
    with pytest.raises(DataError, match=r"names \['velocity'\], which the observations do not have"):
        load_minari_transitions("test/dict-v0", observation_keys=["state", "velocity"])
    data = load_minari_transitions("test/dict-v0", observation_keys=["state", "goal"])
    np.testing.assert_array_equal(data.observations, np.concatenate([state, goal], axis=1)[:-1])
    np.testing.assert_array_equal(data.next_observations, np.concatenate([state, goal], axis=1)[1:])
