"""The frozen critic's values of the support actions, computed once, equal the values each energy step computed."""

from __future__ import annotations

import json

import numpy as np
import torch

from cep_lightning.data.datamodule import TransitionDataset
from cep_lightning.data.sources import load_source
from cep_lightning.data.support import SupportStore, state_table
from cep_lightning.data.support_values import ensure_support_values
from cep_lightning.maths.nets import TwinQ
from cep_lightning.run.locate import load_command
from cep_lightning.stages.candidates import ScoredSupport
from cep_lightning.stages.critic import CriticModule
from cep_lightning.stages.energy import EnergyModule
from tests.helpers import TINY, two_episodes


def store_with_actions(tmp_path, m: int = 4) -> tuple[np.ndarray, SupportStore]:
    data = two_episodes()
    states, next_index = state_table(data)
    store = SupportStore.create(tmp_path, len(states), m, 1, next_index)
    store.actions[:] = np.random.default_rng(0).uniform(-1, 1, store.actions.shape).astype(np.float32)
    store.actions.flush()
    return states, store


def test_cached_labels_equal_per_step_labels(tmp_path) -> None:
    states, _ = store_with_actions(tmp_path)
    critic = TwinQ(1, 1, 16, 2)
    module = EnergyModule(1, 1, ScoredSupport(critic), hidden=16, depth=2)
    torch.nn.init.normal_(critic.q1[0].weight)  # values that differ across actions
    assert ensure_support_values(tmp_path, critic, states)
    dataset = TransitionDataset(two_episodes(), two_episodes().rewards, SupportStore.open(tmp_path))
    batch = dataset.__getitems__([4, 0, 2, 1])
    per_step = module.candidates.q(batch["s"], batch["support"])
    assert per_step.std() > 0.01
    torch.testing.assert_close(batch["support_q"], per_step, rtol=1e-6, atol=1e-6)

    uncached = {k: v for k, v in batch.items() if k != "support_q"}
    losses = []
    for b in (batch, uncached):  # the same step (same t and noise) with cached and with per-step labels
        torch.manual_seed(5)
        losses.append(module.training_step(b, 0))
    torch.testing.assert_close(losses[0], losses[1])


def test_values_are_recomputed_only_for_another_critic_or_other_actions(tmp_path) -> None:
    states, store = store_with_actions(tmp_path)
    critic = TwinQ(1, 1, 8, 1)
    candidates = ScoredSupport(critic)
    assert ensure_support_values(tmp_path, critic, states)
    assert not ensure_support_values(tmp_path, critic, states)  # same critic, same actions: kept
    with torch.no_grad():
        critic.q1[0].bias.add_(1.0)
    assert ensure_support_values(tmp_path, critic, states)
    store.actions[0, 0, 0] += 0.5
    store.actions.flush()
    assert ensure_support_values(tmp_path, critic, states)
    expected = candidates.q(torch.as_tensor(states), torch.from_numpy(np.array(store.actions))).numpy()
    np.testing.assert_allclose(SupportStore.open(tmp_path).q, expected, rtol=1e-6, atol=1e-6)


def test_a_run_stores_its_critics_values_of_the_support_actions(finished_run) -> None:
    store = SupportStore.open(finished_run / "support")
    critic = CriticModule.load_from_checkpoint(
        finished_run / "critic" / "model.ckpt", map_location="cpu", weights_only=True
    )
    assert store.q is not None and store.q.shape == store.actions.shape[:2]
    data = load_source(load_command(TINY).data)
    states, _ = state_table(data)
    expected = ScoredSupport(critic.q_target).q(
        torch.as_tensor(states),
        torch.from_numpy(np.array(store.actions)),  # a writable copy of the memmap
    )
    np.testing.assert_allclose(store.q, expected.numpy(), rtol=1e-5, atol=1e-5)
    assert json.loads((finished_run / "timings.json").read_text())["share"]["support"] > 0
