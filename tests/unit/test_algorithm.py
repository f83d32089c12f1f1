"""The algorithm pinned by hand on tiny batches: the critic's target and its Polyak update, the energy
losses, the support actions' pairing with their states, the CEP labels' source, and the critic the energy
stage is given.

Each test builds its networks with known weights (a Q that is linear in (s, a), a behaviour model whose
samples are their state) so that the expected numbers are computed here with plain arithmetic, not with the
code under test. ``benchmarks/algorithm_mutations.sh`` breaks the code in the ways these tests must catch.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from cep_lightning.data.datamodule import QGPODataModule, StateDataset, TransitionDataset
from cep_lightning.data.hdf5 import write_d4rl_hdf5
from cep_lightning.data.support import SupportStore, state_table
from cep_lightning.data.support_values import support_values
from cep_lightning.maths.diffusion import vp_alpha_sigma
from cep_lightning.maths.losses import emse_energy_loss, mse_energy_loss
from cep_lightning.maths.nets import TwinQ
from cep_lightning.run import pipeline
from cep_lightning.run.directory import RunDir
from cep_lightning.run.locate import load_command
from cep_lightning.run.pipeline import run_critic, run_energy, stage_trainer
from cep_lightning.stages.candidates import ScoredSupport
from cep_lightning.stages.critic import CriticModule
from cep_lightning.stages.energy import EnergyModule
from cep_lightning.stages.support import SupportSampler, SupportWriter
from tests.helpers import two_episodes

Linear = tuple[float, tuple[float, ...], float]


def set_linear_twin(twin: TwinQ, heads: tuple[Linear, Linear]) -> None:
    """Weights that make each head of a one-hidden-unit TwinQ (depth 1, hidden 1) the linear function given.

    The hidden unit gets a bias of 100 so that its ReLU is the identity on the small inputs used here."""
    for net, (c, w, b) in zip((twin.q1, twin.q2), heads):
        with torch.no_grad():
            net[0].weight.copy_(torch.tensor([[c, *w]]))  # the network's input is [a, s]
            net[0].bias.fill_(100.0)
            net[2].weight.fill_(1.0)
            net[2].bias.fill_(b - 100.0)


def linear_q(heads: tuple[Linear, Linear], s: list[float], a: float) -> float:
    """min_k (c_k a + w_k · s + b_k) in plain Python."""
    return min(c * a + sum(wi * si for wi, si in zip(w, s)) + b for c, w, b in heads)


ONLINE: tuple[Linear, Linear] = ((1.0, (0.5, -0.25), 0.0), (0.5, (0.5, 0.25), 0.5))


TARGET: tuple[Linear, Linear] = ((2.0, (1.0, -0.5), 0.25), (1.5, (1.0, 0.5), 0.0))


def critic_batch() -> dict[str, Tensor]:
    """3 transitions (the second terminal); states, next states and both sets of support actions differ."""
    return {
        "s": torch.tensor([[0.1, 0.2], [0.3, -0.1], [-0.2, 0.4]]),
        "a": torch.tensor([[0.5], [-0.5], [0.25]]),
        "r": torch.tensor([1.0, -2.0, 0.5]),
        "s_next": torch.tensor([[0.4, 0.1], [-0.3, 0.2], [0.6, -0.4]]),
        "terminal": torch.tensor([0.0, 1.0, 0.0]),
        "support": torch.tensor([[0.9, -0.9, 0.1, 0.0], [0.7, 0.2, -0.3, 0.5], [-0.8, 0.6, 0.3, 0.9]])[..., None],
        "support_next": torch.tensor([[0.2, -0.6, 0.8, 0.4], [-0.1, 0.5, -0.9, 0.3], [0.6, -0.2, 0.1, -0.7]])[
            ..., None
        ],
    }


def critic_with_known_networks(gamma: float, beta_q: float, tau: float = 0.005) -> CriticModule:
    module = CriticModule(2, 1, hidden=1, depth=1, gamma=gamma, tau=tau, beta_q=beta_q)
    set_linear_twin(module.q, ONLINE)
    set_linear_twin(module.q_target, TARGET)
    return module


def expected_target(batch: dict[str, Tensor], gamma: float, beta_q: float) -> list[float]:
    """y_i = r_i + gamma (1 - d_i) Σ_j softmax_j(beta_Q q'_ij) q'_ij, q'_ij = Q_target(s'_i, a'_ij), the a'_ij
    the support actions of s'_i."""
    ys = []
    for i in range(len(batch["r"])):
        s_next = batch["s_next"][i].tolist()
        q = [linear_q(TARGET, s_next, a[0]) for a in batch["support_next"][i].tolist()]
        weights = [math.exp(beta_q * v) for v in q]
        value = sum(w * v for w, v in zip(weights, q)) / sum(weights)
        ys.append(batch["r"][i].item() + gamma * (1.0 - batch["terminal"][i].item()) * value)
    return ys


class ListOfBatches(L.LightningDataModule):
    def __init__(self, batches: list[dict[str, Tensor]]):
        super().__init__()
        self.batches = batches

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.batches, batch_size=None)


def quiet_trainer(**kwargs) -> L.Trainer:
    return L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )


class StateIsTheSample(nn.Module):
    """A stand-in behaviour model whose samples are their state: its noise prediction
    eps = (a_t - alpha_t s) / sigma_t makes the denoised action D(a_t, t) = s at every step, so DPM-Solver ends
    at s (+ sigma_end · noise, about 1e-2)."""

    def __init__(self, action_dim: int):
        super().__init__()
        self.out = nn.Linear(1, action_dim)  # the support stage reads the action size from ``net.out``

    def forward(self, a_t: Tensor, t: Tensor, s: Tensor) -> Tensor:
        alpha, sigma = vp_alpha_sigma(t.float())
        return (a_t - alpha[..., None] * s[..., : a_t.shape[-1]]) / sigma[..., None]


def energy_with_known_critic(loss: str = "cep", beta: float = 1.5) -> EnergyModule:
    torch.manual_seed(0)
    critic = TwinQ(2, 1, 1, 1)
    set_linear_twin(critic, TARGET)
    module = EnergyModule(2, 1, ScoredSupport(critic), hidden=8, depth=2, beta=beta, loss=loss)
    with torch.no_grad():
        module.energy.net[-1].weight.mul_(30.0)  # logits that differ by units across a state's actions
    return module


def run_energy_step(module: EnergyModule, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    """(the step's loss, the energy network's output in that step) for one training step, seeded."""
    seen: list[Tensor] = []
    hook = module.energy.register_forward_hook(lambda _m, _i, out: seen.append(out.detach()))
    torch.manual_seed(1)
    loss = module.training_step(batch, 0)
    hook.remove()
    (logits,) = seen
    return loss, logits


def hand_cep_loss(logits: Tensor, q: list[list[float]], beta: float) -> float:
    """-mean_i Σ_j softmax_j(beta q_ij) log_softmax_j(f_ij) in plain Python."""
    total = 0.0
    for f_row, q_row in zip(logits.tolist(), q):
        p = [math.exp(beta * v) for v in q_row]
        log_z = math.log(sum(math.exp(v) for v in f_row))
        total -= sum(pi / sum(p) * (fi - log_z) for pi, fi in zip(p, f_row))
    return total / len(q)


def support_q_by_hand(batch: dict[str, Tensor], heads: tuple[Linear, Linear]) -> list[list[float]]:
    return [
        [linear_q(heads, batch["s"][i].tolist(), a[0]) for a in batch["support"][i].tolist()]
        for i in range(len(batch["s"]))
    ]


def test_critic_target_with_gamma_zero_is_the_reward() -> None:
    batch = critic_batch()
    y, _ = critic_with_known_networks(gamma=0.0, beta_q=1.0).target(batch)
    torch.testing.assert_close(y, batch["r"], rtol=0, atol=1e-6)


def test_critic_target_by_hand_uses_the_target_network_on_the_support_of_s_next() -> None:
    """A terminal cuts the bootstrap; the value is the in-support softmax value under the target network."""
    batch = critic_batch()
    gamma, beta_q = 0.9, 2.0
    y, q_next = critic_with_known_networks(gamma, beta_q).target(batch)
    torch.testing.assert_close(y, torch.tensor(expected_target(batch, gamma, beta_q)), rtol=0, atol=1e-5)
    assert y[1].item() == pytest.approx(batch["r"][1].item(), abs=1e-6)  # terminal: y = r
    by_hand = [
        [linear_q(TARGET, batch["s_next"][i].tolist(), a[0]) for a in batch["support_next"][i].tolist()]
        for i in range(3)
    ]
    torch.testing.assert_close(q_next, torch.tensor(by_hand), rtol=0, atol=1e-5)


def test_critic_loss_regresses_both_online_heads_at_the_data_action() -> None:
    batch = critic_batch()
    gamma, beta_q = 0.9, 2.0
    loss = critic_with_known_networks(gamma, beta_q).training_step(batch, 0)
    y = expected_target(batch, gamma, beta_q)
    errors = []
    for c, w, b in ONLINE:
        q = [
            c * batch["a"][i, 0].item() + sum(wi * si for wi, si in zip(w, batch["s"][i].tolist())) + b
            for i in range(3)
        ]
        errors.append(sum((qi - yi) ** 2 for qi, yi in zip(q, y)) / 3)
    assert loss.item() == pytest.approx(0.5 * (errors[0] + errors[1]), abs=1e-5)


def test_one_polyak_step_by_hand() -> None:
    """After one Trainer step: theta'_1 = tau theta_1 + (1 - tau) theta'_0, theta_1 the online weights after
    the Adam step."""
    torch.manual_seed(0)
    tau = 0.2
    module = CriticModule(2, 1, hidden=8, depth=2, tau=tau, lr=0.05)
    with torch.no_grad():
        for p in module.q_target.parameters():
            p.add_(torch.randn_like(p))  # a target network away from the online one
    online_before = [p.detach().clone() for p in module.q.parameters()]
    target_before = [p.detach().clone() for p in module.q_target.parameters()]
    quiet_trainer(max_steps=1).fit(module, datamodule=ListOfBatches([critic_batch()]))
    online_after = [p.detach() for p in module.q.parameters()]
    assert max((a - b).abs().max().item() for a, b in zip(online_after, online_before)) > 0.01  # Adam moved it
    for target, online, old in zip(module.q_target.parameters(), online_after, target_before):
        torch.testing.assert_close(target.detach(), tau * online + (1 - tau) * old, rtol=0, atol=1e-6)


def test_mse_energy_loss_by_hand() -> None:
    f, q = torch.tensor([0.5, -1.0, 2.0]), torch.tensor([0.25, 0.5, -1.0])
    beta = 2.0  # beta q = 0.5, 1, -2: errors 0, -2, 4
    assert mse_energy_loss(f, q, beta).item() == pytest.approx((0.0 + 4.0 + 16.0) / 3, abs=1e-6)


def test_emse_energy_loss_by_hand() -> None:
    """(exp f - exp(beta (Q - Q_base)))², f clipped above at 4.5, the target's exponent to [-100, 4.5]."""
    f = torch.tensor([0.0, 1.0, 6.0, -0.5])
    q = torch.tensor([1.0, 2.0, 5.0, -80.0])
    baseline = torch.tensor([2.0, 2.0, 1.0, 0.0])
    beta = 1.5  # exponents -1.5, 0, 6 -> 4.5, -120 -> -100
    terms = [
        (math.exp(0.0) - math.exp(-1.5)) ** 2,
        (math.exp(1.0) - 1.0) ** 2,
        (math.exp(4.5) - math.exp(4.5)) ** 2,
        (math.exp(-0.5) - math.exp(-100.0)) ** 2,
    ]
    assert emse_energy_loss(f, q, beta, baseline).item() == pytest.approx(sum(terms) / 4, rel=1e-6)


def test_support_actions_are_drawn_for_their_own_state(tmp_path: Path) -> None:
    """The support stage's sampler and writer, on the state table in a shuffled order and uneven batches: the
    M actions of row i are samples for state i; a training batch pairs s with its support and s' with the
    support of s'."""
    data = two_episodes()  # 1-D states 0, 1, 2, 10, 11 (+ next states 3, 12 in extra rows)
    states, next_index = state_table(data)
    m = 3
    rows = np.random.default_rng(0).permutation(len(states))
    writer = SupportWriter(tmp_path, SimpleNamespace(states=states, next_index=next_index))
    loader = DataLoader(StateDataset(states, rows), batch_size=3, collate_fn=lambda b: b)
    sampler = SupportSampler(StateIsTheSample(1), m, 4, seed=0)
    quiet_trainer(callbacks=[writer]).predict(sampler, loader, return_predictions=False)
    store = SupportStore.open(tmp_path)
    assert store.written.all()
    np.testing.assert_allclose(store.actions[..., 0], np.repeat(states, m, axis=1), atol=0.05)
    assert store.actions.std(axis=1).min() > 1e-4  # M distinct draws per state, not one copied

    batch = TransitionDataset(data, data.rewards, store).__getitems__([4, 0, 2, 3, 1])
    torch.testing.assert_close(batch["support"][..., 0], batch["s"].expand(-1, m), rtol=0, atol=0.05)
    torch.testing.assert_close(batch["support_next"][..., 0], batch["s_next"].expand(-1, m), rtol=0, atol=0.05)


def test_cep_labels_are_the_critics_values_of_the_states_support_actions() -> None:
    batch, beta = critic_batch(), 1.5
    module = energy_with_known_critic(beta=beta)
    loss, logits = run_energy_step(module, batch)
    assert logits.shape == (3, 4)
    expected = hand_cep_loss(logits, support_q_by_hand(batch, TARGET), beta)
    assert loss.item() == pytest.approx(expected, abs=1e-5)

    values = support_values(module.candidates.critic, batch["s"].numpy(), batch["support"].numpy())  # the cache
    cached_loss, cached_logits = run_energy_step(module, {**batch, "support_q": torch.from_numpy(values)})
    torch.testing.assert_close(cached_logits, logits)
    assert cached_loss.item() == pytest.approx(loss.item(), abs=1e-6)

    set_linear_twin(module.candidates.critic, ONLINE)  # another critic: other labels, another loss for the same logits
    other_loss, other_logits = run_energy_step(module, batch)
    torch.testing.assert_close(other_logits, logits)
    expected_other = hand_cep_loss(logits, support_q_by_hand(batch, ONLINE), beta)
    assert other_loss.item() == pytest.approx(expected_other, abs=1e-5)
    assert abs(other_loss.item() - loss.item()) > 1e-3


@pytest.mark.parametrize("loss_name", ["mse", "emse"])
def test_regression_baselines_use_the_critics_value_of_the_data_action(loss_name: str) -> None:
    """mse: (f - beta Q(s, a))²; emse: baseline Q_base = the best value among the state's support actions."""
    batch, beta = critic_batch(), 1.5
    loss, f = run_energy_step(energy_with_known_critic(loss_name, beta), batch)
    assert f.shape == (3,)
    q = [linear_q(TARGET, batch["s"][i].tolist(), batch["a"][i, 0].item()) for i in range(3)]
    if loss_name == "mse":
        expected = sum((fi - beta * qi) ** 2 for fi, qi in zip(f.tolist(), q)) / 3
    else:
        best = [max(row) for row in support_q_by_hand(batch, TARGET)]
        expected = (
            sum(
                (math.exp(min(fi, 4.5)) - math.exp(min(max(beta * (qi - bi), -100.0), 4.5))) ** 2
                for fi, qi, bi in zip(f.tolist(), q, best)
            )
            / 3
        )
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_energy_stage_is_given_the_critic_stages_target_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pipeline's critic stage then energy stage: the energy model's frozen critic is the trained critic's
    target network (exactly), which differs from its online network, and the cached labels are its values."""
    data_file = write_d4rl_hdf5(two_episodes(), tmp_path / "data.hdf5")
    cfg = load_command(
        [
            "data.source=hdf5",
            f"data.path={data_file}",
            f"run.dir={tmp_path / 'run'}",
            "support.M=3",
            "critic.steps=3",
            "critic.batch_size=4",
            "critic.hidden=8",
            "critic.lr=0.05",
            "critic.tau=0.3",
            "energy.steps=1",
            "energy.batch_size=4",
            "energy.hidden=8",
            "trainer.enable_progress_bar=false",
            "trainer.log_every_n_steps=1",  # fewer steps than the preset's interval would log nothing
            "checkpoint.every_n_steps=1000",
        ]
    )
    data = QGPODataModule(cfg.data)
    data.prepare_data()
    data.setup()
    run = RunDir(tmp_path / "run")
    store = SupportStore.create(run.path / "support", len(data.states), 3, 1, data.next_index)
    store.actions[:] = np.random.default_rng(0).uniform(-1, 1, store.actions.shape)
    store.actions.flush()
    given_to_energy: list[ScoredSupport] = []

    class Recorded(ScoredSupport):
        def __init__(self, critic: torch.nn.Module):
            super().__init__(critic)
            given_to_energy.append(self)

    monkeypatch.setattr(pipeline, "ScoredSupport", Recorded)
    for stage, runner in (("critic", run_critic), ("energy", run_energy)):
        run.start(stage, {}, {})
        runner(cfg, stage_trainer(cfg, stage, run), run, data, fresh=True)
        run.finish(stage, 0.0)

    critic = CriticModule.load_from_checkpoint(run.model("critic"), map_location="cpu", weights_only=True)
    (candidates,) = given_to_energy
    target, online, given = (critic.q_target.state_dict(), critic.q.state_dict(), candidates.critic.state_dict())
    assert target.keys() == given.keys()
    assert all(torch.equal(given[k], target[k]) for k in target)
    assert max((target[k] - online[k]).abs().max().item() for k in target) > 1e-3  # the test tells them apart
    stored = SupportStore.open(run.path / "support").q
    expected = support_values(critic.q_target, data.states, np.asarray(store.actions))
    np.testing.assert_allclose(stored, expected, rtol=1e-6, atol=1e-6)
