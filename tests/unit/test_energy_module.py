"""The CEP training step: one diffusion time per contrastive set, softmax over the set's candidates."""

from __future__ import annotations

import pytest
import torch

import cep_lightning.stages.energy as energy_stage
from cep_lightning.maths.losses import cep_loss
from cep_lightning.maths.nets import TwinQ
from cep_lightning.stages.candidates import LabelledGroups, ScoredSupport
from cep_lightning.stages.energy import EnergyModule


@pytest.fixture
def perturb_times(monkeypatch: pytest.MonkeyPatch) -> list[torch.Tensor]:
    """The t of every perturb call the energy step makes."""
    seen: list[torch.Tensor] = []
    real = energy_stage.perturb

    def spy(x: torch.Tensor, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        seen.append(t.detach().clone())
        return real(x, t, z)

    monkeypatch.setattr(energy_stage, "perturb", spy)
    return seen


def test_toy_batch_splits_into_sets_that_share_one_t(perturb_times: list[torch.Tensor]) -> None:
    module = EnergyModule(0, 2, LabelledGroups(M=4), hidden=8, depth=2)
    batch = {"s": torch.zeros(13, 0), "a": torch.randn(13, 2), "r": torch.rand(13)}
    module.training_step(batch, 0)
    (t,) = perturb_times
    assert t.shape == (3, 4)  # 13 points -> 3 sets of 4 (the remainder is left out)
    assert torch.equal(t, t[:, :1].expand(-1, 4)) and len(set(t[:, 0].tolist())) == 3


def test_each_states_support_actions_share_one_t(perturb_times: list[torch.Tensor]) -> None:
    """One t per state, and the loss is CEP's against the critic's values of that state's support actions."""
    torch.manual_seed(0)
    critic = TwinQ(3, 2, 8, 1)
    torch.nn.init.normal_(critic.q1[0].weight, std=3.0)  # values that differ across actions
    torch.nn.init.normal_(critic.q2[0].weight, std=3.0)
    module = EnergyModule(3, 2, ScoredSupport(critic), hidden=8, depth=2)
    with torch.no_grad():
        module.energy.net[-1].weight.mul_(30.0)  # logits that differ across actions
    batch = {"s": torch.randn(5, 3), "a": torch.randn(5, 2), "support": torch.randn(5, 6, 2), "r": torch.rand(5)}
    logits: list[torch.Tensor] = []
    module.energy.register_forward_hook(lambda _m, _i, out: logits.append(out.detach()))
    loss = module.training_step(batch, 0)
    (t,) = perturb_times
    assert t.shape == (5, 6) and torch.equal(t, t[:, :1].expand(-1, 6)) and len(set(t[:, 0].tolist())) == 5
    (f,) = logits
    q = module.candidates.q(batch["s"], batch["support"])
    assert q.std(dim=1).min() > 0.05
    torch.testing.assert_close(loss, cep_loss(f, q, module.hparams.beta))
    assert abs(loss.item() - cep_loss(f, torch.zeros_like(q), module.hparams.beta).item()) > 1e-2  # the labels matter


def test_toy_groups_pair_each_point_with_its_own_label() -> None:
    """LabelledGroups: group g holds points g·M .. g·M + M − 1 of the batch, each valued by its own label."""
    a = torch.arange(24, dtype=torch.float32).reshape(12, 2)
    batch = {"s": torch.zeros(12, 0), "a": a, "r": a[:, 0] * 10}
    s, candidates, values = LabelledGroups(M=4).sets(batch)
    assert s.shape == (3, 0) and candidates.shape == (3, 4, 2)
    torch.testing.assert_close(candidates[1, 2], a[6])
    torch.testing.assert_close(values, candidates[..., 0] * 10)
    whole = LabelledGroups(M=0).sets(batch)
    assert whole[1].shape == (1, 12, 2) and torch.equal(whole[2][0], batch["r"])
