"""Episode bookkeeping, reward preprocessing, the support state table and what a batch carries."""

from __future__ import annotations

import numpy as np
import torch

from cep_lightning.data.datamodule import TransitionDataset
from cep_lightning.data.rewards import episode_returns, transform_rewards
from cep_lightning.data.support import SupportStore, state_table
from cep_lightning.stages.support import seeded_noise
from tests.helpers import two_episodes


def test_episode_returns_and_locomotion_scaling() -> None:
    data = two_episodes()
    np.testing.assert_allclose(episode_returns(data), [6.0, 10.0])
    np.testing.assert_allclose(transform_rewards(data, "locomotion"), data.rewards * 1000 / 4.0)
    np.testing.assert_allclose(transform_rewards(data, "antmaze"), data.rewards - 1)


def test_state_table_reuses_next_rows_and_adds_only_missing_next_states() -> None:
    data = two_episodes()
    states, next_index = state_table(data)
    np.testing.assert_array_equal(next_index, [1, 2, 5, 4, 6])  # s'_2 = 3 and s'_4 = 12 are new slots
    np.testing.assert_array_equal(states[:, 0], [0, 1, 2, 10, 11, 3, 12])
    np.testing.assert_array_equal(states[next_index], data.next_observations)


def test_batch_carries_support_of_s_and_of_s_next(tmp_path) -> None:
    data = two_episodes()
    states, next_index = state_table(data)
    store = SupportStore.create(tmp_path, len(states), 3, 1, next_index)
    store.actions[:] = (
        states[:, None, :] + np.arange(3, dtype=np.float32)[None, :, None] / 100
    )  # action encodes its state
    dataset = TransitionDataset(data, data.rewards, SupportStore.open(tmp_path))
    batch = dataset.__getitems__([4, 0, 2])
    torch.testing.assert_close(batch["support"][:, 0, 0], batch["s"][:, 0])
    torch.testing.assert_close(batch["support_next"][:, 0, 0], batch["s_next"][:, 0])
    torch.testing.assert_close(batch["terminal"], torch.tensor([0.0, 0.0, 1.0]))
    torch.testing.assert_close(batch["r"], torch.tensor([6.0, 1.0, 3.0]))


def test_support_noise_depends_on_state_index_not_on_batching() -> None:
    whole = seeded_noise(torch.arange(10), 4, 2, seed=3)
    parts = torch.cat([seeded_noise(torch.arange(0, 3), 4, 2, seed=3), seeded_noise(torch.arange(3, 10), 4, 2, seed=3)])
    torch.testing.assert_close(whole, parts)
    assert not torch.allclose(whole, seeded_noise(torch.arange(10), 4, 2, seed=4))
    assert not torch.allclose(whole[0], whole[1])
