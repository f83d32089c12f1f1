"""Both codes take the same N steps of each stage from the same weights, on the same batches and random draws.

Per stage the two start from one set of weights (ours, copied into the paper's network by ``weights``), and before
step k both reseed torch's global generator with seed + k: the paper's ``loss_fn`` and ``update_qt`` and our
``training_step``s draw t ~ U(1e-3, 1) and then z ~ N(0, I) from it, in that order. Our steps run as Lightning's
automatic optimisation does (``training_step`` inside the closure of ``LightningModule.optimizer_step``, so the
critic's Polyak update is included). The sampling stages draw a_1 ~ N(0, I) once and give both the same.
The critic and energy steps score support actions drawn uniformly in [-1, 1] (the same for both): where they
come from is the support stage's business, compared on its own.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import time
import types
from dataclasses import dataclass, field
from typing import Any, Iterator

import lightning as L
import numpy as np
import torch
from torch import Tensor

from benchmarks.paper_parity import weights
from cep_lightning.data.support_values import support_values
from cep_lightning.maths.guidance import GuidedPolicy
from cep_lightning.stages.behavior import BehaviorModule
from cep_lightning.stages.candidates import ScoredSupport
from cep_lightning.stages.critic import CriticModule
from cep_lightning.stages.energy import EnergyModule
from cep_lightning.stages.support import sample_support


@dataclass
class Problem:
    """The paper's data set (``D4RL_dataset``: its rewards scaled its way) and the sizes of the comparison."""

    data: Any  # the paper's D4RL_dataset
    steps: int = 200
    behavior_batch: int = 4096
    batch: int = 256
    M: int = 16
    sample_states: int = 256
    solver_steps: int = 15
    scale: float = 3.0
    beta: float = 3.0
    beta_q: float = 1.0
    seed: int = 0

    @property
    def dims(self) -> tuple[int, int]:
        return self.data.states.shape[1], self.data.actions.shape[1]

    def indices(self, stage: int, batch: int) -> Tensor:
        """[steps, batch] row indices, the same for both codes (one generator per stage)."""
        rng = np.random.default_rng([self.seed, stage])
        return torch.as_tensor(rng.integers(0, len(self.data.states), (self.steps, batch)))

    def support(self, stage: int, rows: int) -> Tensor:
        """Uniform support actions [steps, rows, M, A] (see the module's docstring)."""
        rng = np.random.default_rng([self.seed, stage, 1])
        shape = (self.steps, rows, self.M, self.dims[1])
        return torch.as_tensor(rng.uniform(-1, 1, shape).astype(np.float32))


@dataclass
class StageResult:
    """One stage's comparison. ``difference``: the largest per-tensor relative weight difference, or for the sampling
    stages max |a_ours - a_paper| / max |a_paper|; ``worst``: the tensor (or "actions") where it is largest;
    ``losses``: (step, paper's, ours); ``seconds``: each code's wall time; ``invariant``: the difference of the
    tensors the loss does not depend on, left out of ``difference``."""

    name: str
    difference: float
    worst: str
    losses: list[tuple[int, float, float]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    invariant: dict[str, float] = field(default_factory=dict)


class Clock:
    """Wall time per code, summed over the calls timed."""

    def __init__(self) -> None:
        self.seconds = {"paper": 0.0, "ours": 0.0}

    @contextlib.contextmanager
    def __call__(self, who: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[who] += time.perf_counter() - start


def lightning_step(
    module: L.LightningModule, optimizer: torch.optim.Optimizer, batch: dict[str, Tensor], k: int
) -> float:
    """One step of Lightning's automatic optimisation: ``optimizer_step`` with the closure
    zero_grad → training_step → backward; returns the loss."""
    losses: list[Tensor] = []

    def closure() -> Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = module.training_step(batch, k)
        loss.backward()
        losses.append(loss.detach())
        return loss

    module.optimizer_step(0, k, optimizer, closure)
    return float(losses[0])


def compare(
    result: StageResult, pairs: list[tuple[torch.nn.Module, torch.nn.Module, str, str]], invariant: tuple[str, ...] = ()
) -> StageResult:
    """Sets the largest per-tensor relative difference over (ours, paper's, kind, label) networks and where it is;
    the tensors named in ``invariant`` (labelled paper names) are reported apart."""
    for ours, theirs, kind, label in pairs:
        for name, value in weights.relative_differences(ours, theirs, kind).items():
            where = f"{label}.{name}"
            if where in invariant:
                result.invariant[where] = value
            elif value > result.difference:
                result.difference, result.worst = value, where
    return result


def paper_score_net(paper: types.SimpleNamespace, problem: Problem) -> torch.nn.Module:
    """The paper's ScoreNet (with its QGPO_Critic in ``.q[0]``) of the problem's sizes."""
    s_dim, a_dim = problem.dims
    args = types.SimpleNamespace(device="cpu", alpha=problem.beta, q_alpha=problem.beta_q, method="CEP")
    std = functools.partial(paper.schedule.marginal_prob_std, device="cpu")
    return paper.model.ScoreNet(input_dim=s_dim + a_dim, output_dim=a_dim, marginal_prob_std=std, args=args)


def behavior_steps(paper: types.SimpleNamespace, problem: Problem, ours: BehaviorModule) -> StageResult:
    """train_behavior.py's step (loss_fn, Adam 1e-4 on every ScoreNet parameter) against BehaviorModule's."""
    score = paper_score_net(paper, problem)
    weights.copy_to_paper(ours.net, score, "score")
    paper_opt, ours_opt = torch.optim.Adam(score.parameters(), lr=1e-4), ours.configure_optimizers()
    data, clock, result = problem.data, Clock(), StageResult("behaviour step", 0.0, "")
    for k, idx in enumerate(problem.indices(0, problem.behavior_batch)):
        s, a = data.states[idx], data.actions[idx]
        torch.manual_seed(problem.seed + k)
        with clock("paper"):
            score.condition = s
            loss = paper.loss.loss_fn(score, a, score.marginal_prob_std)
            paper_opt.zero_grad()
            loss.backward()
            paper_opt.step()
            score.condition = None
        torch.manual_seed(problem.seed + k)
        with clock("ours"):
            ours_loss = lightning_step(ours, ours_opt, {"s": s, "a": a}, k)
        result.losses.append((k, loss.item(), ours_loss))
    result.seconds = clock.seconds
    return compare(result, [(ours.net, score, "score", "net")])


@contextlib.contextmanager
def recorded_mse(module: types.ModuleType) -> Iterator[list[Tensor]]:
    """The values of ``F.mse_loss`` that code of ``module`` computes while inside (the paper's update_q0 returns
    no loss: its q_loss is the mean of the two it computes)."""
    values: list[Tensor] = []
    original = module.F

    def mse_loss(*args: Any, **kwargs: Any) -> Tensor:
        values.append(original.mse_loss(*args, **kwargs))
        return values[-1]

    module.F = types.SimpleNamespace(**{**vars(original), "mse_loss": mse_loss})
    try:
        yield values
    finally:
        module.F = original


def critic_steps(paper: types.SimpleNamespace, problem: Problem, ours: CriticModule) -> StageResult:
    """QGPO_Critic.update_q0 (its twin Q, target and Adam 3e-4) against CriticModule's step."""
    critic = paper_score_net(paper, problem).q[0]
    weights.copy_to_paper(ours.q, critic.q0, "twin_q")
    weights.copy_to_paper(ours.q_target, critic.q0_target, "twin_q")
    ours_opt = ours.configure_optimizers()
    data, clock, result = problem.data, Clock(), StageResult("critic step", 0.0, "")
    support_next = problem.support(2, problem.batch)
    for k, idx in enumerate(problem.indices(2, problem.batch)):
        batch = {
            "s": data.states[idx],
            "a": data.actions[idx],
            "r": data.rewards[idx],
            "s_": data.next_states[idx],
            "d": data.is_finished[idx],
            "fake_a": support_next[k],
            "fake_a_": support_next[k],
        }
        with clock("paper"), recorded_mse(paper.model) as mse:
            critic.update_q0(batch)
        ours_batch = {
            "s": batch["s"],
            "a": batch["a"],
            "r": batch["r"][:, 0],
            "s_next": batch["s_"],
            "terminal": batch["d"][:, 0],
            "support_next": support_next[k],
        }
        with clock("ours"):
            ours_loss = lightning_step(ours, ours_opt, ours_batch, k)
        result.losses.append((k, (sum(mse) / len(mse)).item(), ours_loss))
    result.seconds = clock.seconds
    return compare(
        result, [(ours.q, critic.q0, "twin_q", "q"), (ours.q_target, critic.q0_target, "twin_q", "q_target")]
    )


def energy_steps(
    paper: types.SimpleNamespace, problem: Problem, ours: EnergyModule, frozen_q: torch.nn.Module
) -> StageResult:
    """QGPO_Critic.update_qt (CEP, labels from its q0_target) against EnergyModule's step, both scoring the
    support with the same frozen critic (the pipeline's values, computed once by ``support_values``)."""
    critic = paper_score_net(paper, problem).q[0]
    weights.copy_to_paper(ours.energy, critic.qt, "energy")
    weights.copy_to_paper(frozen_q, critic.q0_target, "twin_q")
    ours_opt = ours.configure_optimizers()
    data, clock, result = problem.data, Clock(), StageResult("energy step", 0.0, "")
    support = problem.support(3, problem.batch)
    for k, idx in enumerate(problem.indices(3, problem.batch)):
        batch = {"s": data.states[idx], "a": data.actions[idx], "fake_a": support[k]}
        torch.manual_seed(problem.seed + k)
        with clock("paper"):
            loss = critic.update_qt(batch)
        q = torch.as_tensor(support_values(frozen_q, batch["s"].numpy(), support[k].numpy()))
        torch.manual_seed(problem.seed + k)
        with clock("ours"):
            ours_loss = lightning_step(
                ours, ours_opt, {"s": batch["s"], "a": batch["a"], "support": support[k], "support_q": q}, k
            )
        result.losses.append((k, float(loss), ours_loss))
    result.seconds = clock.seconds
    # softmax is shift-invariant: the CEP loss does not depend on the output bias, whose gradient is rounding noise
    # that Adam scales up to ±lr a step in either code
    last_bias = f"energy.qt.{len(ours.energy.net) - 1}.bias"
    return compare(result, [(ours.energy, critic.qt, "energy", "energy")], invariant=(last_bias,))


def action_difference(ours: np.ndarray, theirs: np.ndarray) -> float:
    """max |a_ours - a_paper| / max |a_paper|."""
    return float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-30))


def support_sampling(paper: types.SimpleNamespace, problem: Problem, behavior: BehaviorModule) -> StageResult:
    """ScoreNet.sample (15-step DPM-Solver, guidance scale 0 as in train_critic.py) against ``sample_support``,
    both from the same a_1 (the paper's, drawn from the seeded global generator)."""
    score = paper_score_net(paper, problem)
    weights.copy_to_paper(behavior.net, score, "score")
    score.q[0].guidance_scale = 0.0
    states = problem.data.states[: problem.sample_states]
    n, (_, a_dim), clock = len(states), problem.dims, Clock()
    with clock("paper"):
        torch.manual_seed(problem.seed)
        theirs = score.sample(states.numpy(), sample_per_state=problem.M, diffusion_steps=problem.solver_steps)
    torch.manual_seed(problem.seed)
    noise = torch.randn(n * problem.M, a_dim).reshape(n, problem.M, a_dim)
    with clock("ours"), torch.no_grad():
        mine = sample_support(behavior.net.eval(), states, noise, problem.solver_steps).numpy()
    return StageResult("support sampling", action_difference(mine, theirs), "actions", seconds=clock.seconds)


def guided_actions(
    paper: types.SimpleNamespace, problem: Problem, behavior: BehaviorModule, energy: EnergyModule
) -> StageResult:
    """ScoreNet.select_actions at the guidance scale against GuidedPolicy.act, from the same a_1."""
    score = paper_score_net(paper, problem)
    weights.copy_to_paper(behavior.net, score, "score")
    weights.copy_to_paper(energy.energy, score.q[0].qt, "energy")
    score.q[0].guidance_scale = problem.scale
    states = problem.data.states[: problem.sample_states].numpy()
    policy, clock = GuidedPolicy(behavior.net.eval(), energy.energy.eval(), problem.solver_steps), Clock()
    with clock("paper"):
        torch.manual_seed(problem.seed)
        theirs = np.stack(score.select_actions(states, diffusion_steps=problem.solver_steps))
    with clock("ours"):
        torch.manual_seed(problem.seed)
        mine = policy.act(states, problem.scale)
    name = f"guided actions, scale {problem.scale:g}"
    return StageResult(name, action_difference(mine, theirs), "actions", seconds=clock.seconds)


def run_steps(paper: types.SimpleNamespace, problem: Problem) -> list[StageResult]:
    """Every stage in pipeline order; the sampling stages use the weights our training steps reached."""
    s_dim, a_dim = problem.dims
    torch.manual_seed(problem.seed)
    # the paper's code runs torch's default Adam, on a CPU its per-tensor loop: the same here, for the same bits
    behavior = BehaviorModule(s_dim, a_dim, adam="for-loop")
    critic = CriticModule(s_dim, a_dim, beta_q=problem.beta_q, adam="for-loop")
    results = [behavior_steps(paper, problem, behavior), support_sampling(paper, problem, behavior)]
    results.append(critic_steps(paper, problem, critic))
    frozen_q = copy.deepcopy(critic.q_target)
    energy = EnergyModule(
        s_dim, a_dim, candidates=ScoredSupport(copy.deepcopy(frozen_q)), beta=problem.beta, adam="for-loop"
    )
    results.append(energy_steps(paper, problem, energy, frozen_q))
    results.append(guided_actions(paper, problem, behavior, energy))
    return results
