"""The paper's code against the same work done with cep_lightning's modules, in one process, interleaved.

    git clone https://github.com/ChenDRAG/CEP-energy-guided-diffusion /tmp/CEP   # never into this repository
    PYTHONPATH=$PWD python benchmarks/paper_speed.py --paper /tmp/CEP [--data hopper-medium-replay.hdf5]

1 thread, fp32, Hopper sizes (state 11, action 3, M 16), the paper's networks and batches:
  behaviour step, batch 4096   paper: loss_fn + Adam on its ScoreNet   ours: BehaviorModule step + Adam
  critic + energy, batch 256   paper: update_q0 + update_qt (CEP; the critic scores the M support actions
                               of every state in every step)             ours: CriticModule step + EnergyModule
                               step with the critic's values cached once (the pipeline's energy step)
  support sampling             paper: ScoreNet.sample (15 steps; the guidance term is still evaluated at
                               scale 0, as in its train_critic.py)        ours: SupportSampler.predict_step
  guided action, 10 states     paper: select_actions at scale 3           ours: QGPOPolicy.act at scale 3
Each pair is timed in alternation (paper, ours, paper, ours, ...) and the median of each is kept, so both
see the same machine load. Support per transition: the paper samples s and s' separately (2M actions per
transition); cep_lightning samples each distinct state once, (N + K) / N × M actions per transition, where
K counts the next states that are not the next row's state (from --data, else one per 1000 transitions).
The paper's code is imported by ``benchmarks.paper_parity.shims.import_paper`` (stand-ins for the packages it imports
that are not installed; its schedule's default device "cuda" set to "cpu"); nothing else of it is changed.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
import types
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from benchmarks.paper_parity.shims import import_paper
from cep_lightning.bench import synthetic_transitions, training_step_fn
from cep_lightning.data.support_values import support_values
from cep_lightning.policy import QGPOPolicy
from cep_lightning.stages.behavior import BehaviorModule
from cep_lightning.stages.candidates import ScoredSupport
from cep_lightning.stages.critic import CriticModule
from cep_lightning.stages.energy import EnergyModule
from cep_lightning.stages.support import SupportSampler

S, A, M = 11, 3, 16


def alternate(fns: dict[str, Callable[[], object]], warmup: int, repeats: int) -> dict[str, float]:
    """Median seconds per call of each function, calls interleaved."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def reuse_factor(path: str | None) -> float:
    """(N + K) / N of a data set: support rows drawn per transition."""
    if path is None:
        return 1.001
    from cep_lightning.data.hdf5 import load_d4rl_hdf5
    from cep_lightning.data.support import next_state_index

    data = load_d4rl_hdf5(path)
    _, extra = next_state_index(data)
    return (len(data) + len(extra)) / len(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--paper", type=Path, default=Path("/tmp/CEP"), help="clone of ChenDRAG/CEP-energy-guided-diffusion"
    )
    parser.add_argument(
        "--data", default=None, help="D4RL HDF5 file for the next-state reuse factor (e.g. hopper-medium-replay)"
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    paper = import_paper(args.paper)
    paper_args = types.SimpleNamespace(device="cpu", alpha=3.0, q_alpha=1.0, method="CEP")
    std_fn = functools.partial(paper.schedule.marginal_prob_std, device="cpu")
    score = paper.model.ScoreNet(input_dim=S + A, output_dim=A, marginal_prob_std=std_fn, args=paper_args)
    critic = score.q[0]

    data = synthetic_transitions(4096, S, A)
    rng = np.random.default_rng(0)
    fake = torch.as_tensor(rng.uniform(-1, 1, (4096, M, A)).astype(np.float32))
    fake_next = torch.as_tensor(rng.uniform(-1, 1, (4096, M, A)).astype(np.float32))
    s, a = torch.as_tensor(data.observations), torch.as_tensor(data.actions)
    r, s_next = torch.as_tensor(data.rewards)[:, None], torch.as_tensor(data.next_observations)
    d = torch.zeros(4096, 1)

    # behaviour step, batch 4096
    paper_opt = torch.optim.Adam(score.parameters(), lr=1e-4)

    def paper_behavior() -> None:
        score.condition = s
        loss = paper.loss.loss_fn(score, a, std_fn)
        paper_opt.zero_grad()
        loss.backward()
        paper_opt.step()
        score.condition = None

    behavior = BehaviorModule(S, A, widths=[512, 256, 128])
    ours_behavior = training_step_fn(behavior, {"s": s, "a": a}, "32-true")

    # critic + energy step, batch 256
    b = 256
    paper_batch = {
        "s": s[:b],
        "a": a[:b],
        "r": r[:b],
        "s_": s_next[:b],
        "d": d[:b],
        "fake_a": fake[:b],
        "fake_a_": fake_next[:b],
    }

    def paper_critic_energy() -> None:
        critic.update_q0(paper_batch)
        critic.update_qt(paper_batch)

    critic_module = CriticModule(S, A)
    energy_module = EnergyModule(S, A, candidates=ScoredSupport(critic_module.q_target))
    q_cached = torch.as_tensor(support_values(critic_module.q_target, data.observations[:b], fake[:b].numpy()))
    critic_step = training_step_fn(
        critic_module,
        {
            "s": s[:b],
            "a": a[:b],
            "r": r[:b, 0],
            "s_next": s_next[:b],
            "terminal": d[:b, 0],
            "support_next": fake_next[:b],
        },
        "32-true",
    )
    energy_step = training_step_fn(
        energy_module, {"s": s[:b], "a": a[:b], "support": fake[:b], "support_q": q_cached}, "32-true"
    )

    def ours_critic_energy() -> None:
        critic_step()
        energy_step()

    # support sampling, 256 states × M
    states_np = data.observations[:256]
    critic.guidance_scale = 0.0
    sampler = SupportSampler(behavior.net.eval(), M, 15, seed=0)
    support_batch = {"index": torch.arange(256), "s": s[:256]}

    def ours_support() -> None:
        with torch.no_grad():
            sampler.predict_step(support_batch, 0)

    # guided action, 10 states
    obs = data.observations[:10]
    policy = QGPOPolicy(behavior.net.eval(), energy_module.energy.eval(), solver_steps=15)

    def paper_act() -> None:
        critic.guidance_scale = 3.0
        score.select_actions(obs, diffusion_steps=15)

    rows = [
        (
            "behaviour step, batch 4096 (ms)",
            alternate({"paper": paper_behavior, "ours": ours_behavior}, 2, args.repeats),
            1e3,
        ),
        (
            "critic + energy step, batch 256 (ms)",
            alternate({"paper": paper_critic_energy, "ours": ours_critic_energy}, 3, 4 * args.repeats),
            1e3,
        ),
        (
            "support sampling, 15 steps (actions/s)",
            alternate({"paper": lambda: score.sample(states_np, M, 15), "ours": ours_support}, 1, args.repeats),
            None,
        ),
        (
            "guided action, 10 states (ms)",
            alternate({"paper": paper_act, "ours": lambda: policy.act(obs, 3.0)}, 2, 4 * args.repeats),
            1e3,
        ),
    ]
    print(f"threads {args.threads}, fp32, state {S}, action {A}, M {M}, torch {torch.__version__}")
    print(f"{'work':<42} {'paper':>10} {'ours':>10} {'ours faster by':>15}")
    for name, t, scale in rows:
        if scale is None:  # a rate: actions per second
            paper_v, ours_v = 256 * M / t["paper"], 256 * M / t["ours"]
            print(f"{name:<42} {paper_v:>10.0f} {ours_v:>10.0f} {ours_v / paper_v:>14.2f}x")
            factor = reuse_factor(args.data)
            paper_tr, ours_tr = paper_v / (2 * M), ours_v / (factor * M)
            print(
                f"{'support, transitions/s (reuse ' + f'{factor:.4f})':<42} {paper_tr:>10.1f} {ours_tr:>10.1f} "
                f"{ours_tr / paper_tr:>14.2f}x"
            )
        else:
            print(f"{name:<42} {t['paper'] * scale:>10.1f} {t['ours'] * scale:>10.1f} {t['paper'] / t['ours']:>14.2f}x")


if __name__ == "__main__":
    main()
