"""python -m benchmarks.paper_parity --paper <checkout> --data <D4RL HDF5> [--mode steps|scores] [--steps 200]

Steps mode prints, per stage, the largest relative weight difference after N steps (per tensor
||w_ours - w_paper|| / ||w_paper||; for the sampling stages max |a_ours - a_paper| / max |a_paper|), both codes'
wall time, and the loss of each every 20th step; then the reward scale each code's data loading gives. It exits
with 1 when a stage differs by more than --tolerance, or when the reward scale does unless the difference is
the named deliberate deviation ``data.reward_scale=episodes`` (and ``paper`` agrees).

Scores mode (``benchmarks.paper_parity.scores``) trains both codes end to end at one budget (--behavior-steps,
--critic-steps, --energy-steps, default --steps; --behavior-batch, --batch, --M, --solver-steps, the first
--max-transitions or the last --last-transitions rows) for seeds 0 .. --seeds - 1, evaluates both by the same
protocol (--episodes, --scales) and prints per scale each code's normalized score mean ± std and ours - paper
with a 95 % bootstrap interval, and each stage's wall time. Results per (code, seed) go to --out; a killed
comparison continues where it stopped.
"""

from __future__ import annotations

import argparse
import sys
import types
import warnings
from pathlib import Path

import torch

from benchmarks.paper_parity.rewards import RewardScaleCheck, reward_scale_check
from benchmarks.paper_parity.scores import Budget, run_scores
from benchmarks.paper_parity.shims import OldGymEnv, import_paper
from benchmarks.paper_parity.slices import tail_file
from benchmarks.paper_parity.steps import Problem, StageResult, run_steps
from cep_lightning.config.loading import load_config
from cep_lightning.envs.evaluation import EnvMaker


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paper", type=Path, required=True, help="checkout of the paper's code (holds Offline_RL_2D)")
    parser.add_argument("--data", type=Path, required=True, help="D4RL-format HDF5 file")
    parser.add_argument("--task", default="hopper-medium-replay-v2", help="our preset of the data set (its env)")
    parser.add_argument("--mode", choices=("steps", "scores"), default="steps")
    parser.add_argument("--steps", type=int, default=200, help="steps of each training stage")
    parser.add_argument("--behavior-steps", type=int, help="scores: behaviour steps (default --steps)")
    parser.add_argument("--critic-steps", type=int, help="scores: critic steps (default --steps)")
    parser.add_argument("--energy-steps", type=int, help="scores: energy steps (default --steps)")
    parser.add_argument("--solver-steps", type=int, default=15, help="scores: DPM-Solver steps (support, actions)")
    parser.add_argument("--max-transitions", type=int, help="scores: only the first N transitions (both codes)")
    parser.add_argument(
        "--last-transitions", type=int, help="scores: only the last N rows of --data (a copy in --out, both codes)"
    )
    parser.add_argument("--seeds", type=int, default=1, help="scores: seeds 0 .. K-1 of each code")
    parser.add_argument(
        "--codes",
        nargs="+",
        choices=("paper", "ours"),
        default=["paper", "ours"],
        help="scores: train only these codes' pending seeds (two processes on one --out, one per code, in parallel)",
    )
    parser.add_argument("--episodes", type=int, default=10, help="scores: episodes per scale (the same seeds)")
    parser.add_argument("--scales", type=float, nargs="+", default=[0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 10.0])
    parser.add_argument("--out", type=Path, help="scores: the directory of the results per (code, seed)")
    parser.add_argument("--behavior-batch", type=int, default=1024, help="behaviour batch (the paper's: 4096)")
    parser.add_argument("--batch", type=int, default=256, help="critic and energy batch (the paper's)")
    parser.add_argument("--M", type=int, default=16, help="support actions per state")
    parser.add_argument("--sample-states", type=int, default=256, help="states of the sampling stages")
    parser.add_argument("--scale", type=float, default=3.0, help="guidance scale of the guided actions")
    parser.add_argument("--tolerance", type=float, default=1e-5, help="largest relative difference accepted")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.data.is_file():
        parser.error(f"--data {args.data}: no such file")
    if min(args.steps, args.behavior_batch, args.batch, args.M, args.sample_states) < 1:
        parser.error("--steps, --behavior-batch, --batch, --M and --sample-states must be at least 1")
    for name in ("behavior_steps", "critic_steps", "energy_steps"):
        if getattr(args, name) is None:
            setattr(args, name, args.steps)
    counts = (args.behavior_steps, args.critic_steps, args.energy_steps, args.solver_steps, args.seeds, args.episodes)
    if min(counts) < 1 or (args.max_transitions is not None and args.max_transitions < 1):
        parser.error("the step counts, --solver-steps, --seeds, --episodes and --max-transitions must be at least 1")
    if args.mode == "scores" and args.out is None:
        parser.error("--mode scores needs --out (where the results per code and seed are kept)")
    if args.last_transitions is not None:
        if args.mode != "scores" or args.max_transitions is not None:
            parser.error("--last-transitions is a scores option and replaces --max-transitions")
        try:
            args.data = tail_file(args.data, args.last_transitions, args.out)
        except ValueError as error:
            parser.error(str(error))
    return args


def print_stage(result: StageResult, tolerance: float) -> bool:
    """One stage's lines; True when it agrees."""
    ok = result.difference <= tolerance
    t = result.seconds
    print(
        f"{result.name:<26} {result.difference:>10.2e} {t['paper']:>8.1f} {t['ours']:>8.1f}  "
        f"{'ok' if ok else 'DIFFERS'}  ({result.worst or 'bit for bit'})"
    )
    for name, value in result.invariant.items():
        print(f"    {name}: {value:.2e}, not compared (the loss does not depend on it)")
    for k, theirs, mine in result.losses[::20]:
        print(f"    step {k:>4}  loss paper {theirs:.7g}  ours {mine:.7g}")
    return ok


def print_rewards(check: RewardScaleCheck, tolerance: float) -> bool:
    """The reward scale lines; True when ours with data.reward_scale=paper agrees (episodes is the named deviation)."""
    print(f"reward scale 1000/(max R - min R): paper {check.paper:.7g}")
    agrees = {name: abs(value - check.paper) <= tolerance * abs(check.paper) for name, value in check.ours.items()}
    for name, value in check.ours.items():
        note = "ok" if agrees[name] else "DIFFERS"
        if name == "episodes" and not agrees[name] and agrees["paper"]:
            note = "deliberate deviation (data.reward_scale=paper agrees)"
        print(f"    ours, data.reward_scale={name:<8} {value:.7g}  ({(value / check.paper - 1) * 100:+.3f} %)  {note}")
    return agrees["paper"]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    # the paper's marginal_prob_std calls torch.tensor(t) on a tensor, which warns at every call
    warnings.filterwarnings("ignore", message="To copy construct from a tensor")
    cfg = load_config([f"task={args.task}"])
    paper = import_paper(args.paper, lambda name: OldGymEnv(EnvMaker.from_config(cfg)(), args.data))
    if args.mode == "scores":
        print(run_scores(paper, scores_budget(args), args.seeds, args.out, args.codes))
        return 0
    data = paper.dataset.D4RL_dataset(paper_args(args))
    problem = Problem(
        data,
        args.steps,
        args.behavior_batch,
        args.batch,
        args.M,
        args.sample_states,
        cfg.support.solver_steps,
        args.scale,
        cfg.energy.beta,
        cfg.critic.beta_q,
        args.seed,
    )
    print(
        f"{args.data.name}: {len(data.states)} transitions (the paper's loading), {args.steps} steps a stage, "
        f"behaviour batch {args.behavior_batch}, batch {args.batch}, M {args.M}, torch {torch.__version__}, 1 thread"
    )
    print(f"{'stage':<26} {'max rel':>10} {'paper s':>8} {'ours s':>8}")
    ok = all([print_stage(result, args.tolerance) for result in run_steps(paper, problem)])
    ok &= print_rewards(reward_scale_check(paper, args.data), args.tolerance)
    print("agree" if ok else "DISAGREE")
    return 0 if ok else 1


def scores_budget(args: argparse.Namespace) -> Budget:
    return Budget(
        task=args.task,
        data=str(args.data.resolve()),
        behavior_steps=args.behavior_steps,
        critic_steps=args.critic_steps,
        energy_steps=args.energy_steps,
        behavior_batch=args.behavior_batch,
        batch=args.batch,
        M=args.M,
        solver_steps=args.solver_steps,
        max_transitions=args.max_transitions,
        episodes=args.episodes,
        scales=tuple(args.scales),
    )


def paper_args(args: argparse.Namespace) -> types.SimpleNamespace:
    """The attributes of the paper's ``get_args()`` its D4RL_dataset reads."""
    return types.SimpleNamespace(env=args.task, device="cpu")


if __name__ == "__main__":
    sys.exit(main())
