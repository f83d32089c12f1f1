"""The CEP training step: one diffusion time per contrastive set, softmax over the set's candidates."""

from __future__ import annotations

import pytest
import torch

import cep_lightning.stages.energy as energy_stage
from cep_lightning.nets import TwinQ
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
    module = EnergyModule(3, 2, ScoredSupport(TwinQ(3, 2, 8, 1)), hidden=8, depth=2)
    batch = {"s": torch.randn(5, 3), "a": torch.randn(5, 2), "support": torch.randn(5, 6, 2), "r": torch.rand(5)}
    loss = module.training_step(batch, 0)
    (t,) = perturb_times
    assert t.shape == (5, 6) and torch.equal(t, t[:, :1].expand(-1, 6)) and len(set(t[:, 0].tolist())) == 5
    assert torch.isfinite(loss)
