"""``python -m cep_lightning.bench``: the time of each stage's real step, measured with the project's modules.

For every combination of the chosen sizes, M, threads, precision, compile setting (and compiled, steps per
Lightning batch) and device it prints one
JSON line with
  behavior_ms, critic_ms, energy_ms    one training step (forward, backward, Adam; the critic's Polyak update;
                                       the energy step as the pipeline runs it, with cached critic values);
                                       compiled: the whole step as one graph (``compile=true``)
  plain_loop_ms                        per stage: the same step as a plain PyTorch loop would run it (eager,
                                       torch's default Adam), the reference for both, timed in rounds
                                       alternating with the bare step (their ratio holds on a drifting machine)
  in_loop_ms, trainer_overhead_ms      per stage: a step inside ``Trainer.fit`` (support: a batch of
                                       ``Trainer.predict``), and what the loop adds to it: eager, that minus the
                                       bare step; compiled, the time outside the compiled step calls, measured
                                       within each batch (``--steps-per-batch`` K: per optimizer step)
  loop_floor_ms                        a step of ``Trainer.fit`` that does nothing, on the behaviour batches: the
                                       cost of Lightning's loop and the data path by themselves (K steps a batch:
                                       per step)
  paper_budget_hours                   the paper's 600k behaviour + 500k critic + 1M energy steps at in_loop_ms
  support_actions_per_s                support sampling (``SupportSampler.predict_step``, seeded noise included)
  act_ms                               ``QGPOPolicy.act`` for 10 states, one guided action each
  gflop                                floating-point operations per step (torch's FlopCounterMode)
  gflops, fraction_of_fp32_peak, fraction_of_bf16_peak
                                       achieved rate, and its share of the measured matrix-product rate
  matmul_gflops                        the machine's measured fp32 and bf16 matrix-product rate (n = 1024)
Synthetic data of the chosen sizes stands in for a data set: the cost of a step does not depend on the values.
``--overhead`` measures the floor instead: every stage at tiny sizes, eager and compiled, then a table.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import itertools
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Iterator

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger
from torch import Tensor
from torch.utils.data import DataLoader, RandomSampler
from torch.utils.flop_counter import FlopCounterMode

from cep_lightning.config.compiling import compile_mode
from cep_lightning.config.precision import flush_denormals, resolve_precision
from cep_lightning.config.schema import COMPILE_MODES, TRAINING_STAGES
from cep_lightning.data.datamodule import StateDataset, TransitionDataset
from cep_lightning.data.support import SupportStore
from cep_lightning.data.support_values import support_values
from cep_lightning.data.transitions import Transitions
from cep_lightning.policy import QGPOPolicy
from cep_lightning.stages.behavior import BehaviorModule
from cep_lightning.stages.candidates import ScoredSupport
from cep_lightning.stages.compiled_step import CompiledStep, count_optimizer_steps
from cep_lightning.stages.critic import CriticModule
from cep_lightning.stages.energy import EnergyModule
from cep_lightning.stages.optimizers import adam_options
from cep_lightning.stages.support import SupportSampler, SupportWriter


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], Any], device: torch.device, warmup: int, repeats: int) -> float:
    """Median seconds of ``fn`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_alternating(
    fns: list[Callable[[], Any]], device: torch.device, warmup: int, repeats: int, rounds: int = 5
) -> list[float]:
    """Median seconds of each of ``fns``, timed in ``rounds`` alternating rounds of ``repeats // rounds`` calls: a
    drift of the machine's speed during the measurement affects all of them alike, so their ratios hold."""
    per_round = max(1, repeats // rounds)
    times: list[list[float]] = [[] for _ in fns]
    for r in range(rounds):
        for fn, kept in zip(fns, times):
            kept.append(time_call(fn, device, warmup if r == 0 else 1, per_round))
    return [statistics.median(kept) for kept in times]


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The autocast Lightning's ``precision`` applies around a step."""
    if precision == "bf16-mixed":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision == "16-mixed":
        return torch.autocast(device.type, dtype=torch.float16)
    return contextlib.nullcontext()


def matmul_gflops(device: torch.device, dtype: torch.dtype, n: int = 1024, seconds: float = 0.5) -> float:
    """Measured rate of an n × n × n matrix product (2 n³ flop) in ``dtype``, over about ``seconds``."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    first = time_call(lambda: a @ b, device, warmup=0, repeats=1)
    repeats = max(2, int(seconds / max(first, 1e-6)))
    return 2 * n**3 / time_call(lambda: a @ b, device, warmup=0, repeats=repeats) / 1e9


def synthetic_transitions(num: int, state_dim: int, action_dim: int, seed: int = 0) -> Transitions:
    """Random transitions in one long episode (s'_i = s_{i+1}), actions in [-1, 1]."""
    rng = np.random.default_rng(seed)
    states = rng.standard_normal((num + 1, state_dim)).astype(np.float32)
    terminals = np.zeros(num, dtype=bool)
    return Transitions(
        observations=states[:-1],
        actions=rng.uniform(-1, 1, (num, action_dim)).astype(np.float32),
        rewards=rng.standard_normal(num).astype(np.float32),
        next_observations=states[1:],
        terminals=terminals,
        timeouts=terminals.copy(),
    )


class Workload:
    """The modules and batches of one configuration, on its device, with synthetic data of its sizes."""

    def __init__(self, args: argparse.Namespace, device: torch.device, support_dir: Path):
        s_dim, a_dim, M = args.state_dim, args.action_dim, args.M
        self.device, self.args = device, args
        self.data = synthetic_transitions(args.transitions, s_dim, a_dim)
        states = np.concatenate([self.data.observations, self.data.next_observations[-1:]])
        next_index = np.arange(1, args.transitions + 1)
        store = SupportStore.create(support_dir, len(states), M, a_dim, next_index)
        store.actions[:] = np.random.default_rng(1).uniform(-1, 1, store.actions.shape)
        self.behavior = BehaviorModule(s_dim, a_dim, widths=args.behavior_widths).to(device)
        self.critic = CriticModule(s_dim, a_dim, hidden=args.critic_hidden).to(device)
        frozen = copy.deepcopy(self.critic.q_target)
        self.energy = EnergyModule(s_dim, a_dim, ScoredSupport(frozen), hidden=args.energy_hidden).to(device)
        store.q = support_values(self.critic.q_target, states, np.asarray(store.actions))
        self.store = store
        self.dataset = TransitionDataset(self.data, self.data.rewards, store)
        self.states = torch.as_tensor(states)

    def batch(self, size: int) -> dict[str, Tensor]:
        rows = np.random.default_rng(size).integers(0, len(self.dataset), size).tolist()
        return {k: v.to(self.device) for k, v in self.dataset.__getitems__(rows).items()}

    def loader(self, size: int, steps: int, steps_per_batch: int = 1) -> DataLoader:
        """``steps`` steps' batches of ``size`` rows, ``steps_per_batch`` steps' rows to a loader batch."""
        sampler = RandomSampler(
            self.dataset, replacement=True, num_samples=size * steps, generator=torch.Generator().manual_seed(0)
        )
        return DataLoader(self.dataset, batch_size=size * steps_per_batch, sampler=sampler, collate_fn=lambda b: b)

    def module(self, stage: str) -> L.LightningModule:
        return {"behavior": self.behavior, "critic": self.critic, "energy": self.energy}[stage]

    def batch_size(self, stage: str) -> int:
        return self.args.behavior_batch if stage == "behavior" else self.args.batch


PAPER_BUDGET = {"behavior": 600_000, "critic": 500_000, "energy": 1_000_000}  # the paper's steps per stage


def training_step_fn(
    module: L.LightningModule, batch: dict[str, Tensor], precision: str, plain: bool = False
) -> Callable[[], None]:
    """One optimisation step as Lightning's automatic optimisation runs it (the module's Adam), without the loop;
    ``plain``: as a plain PyTorch loop would (torch's default Adam). After a compiled ``Trainer.fit`` the module's
    compiled step itself (the same graph, no new compilation)."""
    device = next(module.parameters()).device
    if module.compiled is not None and not plain:
        return lambda: module.compiled(batch)
    optimizer = module.configure_optimizers() if not plain else torch.optim.Adam(module.parameters(), lr=1e-4)
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
    params = [p for group in optimizer.param_groups for p in group["params"]]

    def step() -> None:
        with autocast(device, precision):
            loss = module.loss(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        module.after_update(params)

    return step


def count_gflop(fn: Callable[[], Any]) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


def act_gflop(policy: QGPOPolicy, obs: np.ndarray, solver_steps: int) -> float:
    """The unguided sampler's count plus ``solver_steps`` energy gradients (FlopCounterMode cannot see inside
    ``autograd.grad``, so the gradient is counted through ``backward`` on the same rows)."""
    unguided = count_gflop(lambda: policy.act(obs, guidance_scale=0.0))
    device = next(policy.energy.parameters()).device
    a = torch.zeros(len(obs), policy.behavior.out.out_features, device=device, requires_grad=True)
    s, t = torch.as_tensor(obs, device=device), torch.full((len(obs),), 0.5, device=device)
    return unguided + solver_steps * count_gflop(lambda: policy.energy(a, t, s).sum().backward())


class StepClock(Callback):
    """The wall time between the starts of consecutive training batches (loop, data and step together), and for a
    compiled stage the time inside its compiled step calls in each batch (``TimedStep``)."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.inside: list[float] = []

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if getattr(pl_module, "compiled", None) is not None and not isinstance(pl_module.compiled, TimedStep):
            pl_module.compiled = TimedStep(pl_module.compiled, self, pl_module.device)
        synchronize(pl_module.device)
        self.starts.append(time.perf_counter())
        self.inside.append(0.0)

    def per_step(self, skip: int, steps_per_batch: int = 1) -> float:
        """The median gap between batches after the first ``skip`` steps, per optimizer step."""
        gaps = np.diff(self.starts[skip // steps_per_batch :])
        return float(np.median(gaps)) / steps_per_batch

    def outside_per_step(self, skip: int, steps_per_batch: int = 1) -> float:
        """The median over batches of (gap - time inside the compiled steps), per optimizer step: what the loop,
        the data and the callbacks add to the step, measured within each batch (so slow drifts of the machine's
        speed cancel)."""
        first = skip // steps_per_batch
        gaps = np.diff(self.starts[first:]) - np.asarray(self.inside[first:-1])
        return float(np.median(gaps)) / steps_per_batch


class TimedStep:
    """A compiled step that adds the seconds of each call to the current batch's entry of ``clock.inside``."""

    def __init__(self, step: CompiledStep, clock: StepClock, device: torch.device):
        self.step, self.clock, self.device = step, clock, device

    def __call__(self, batch: dict[str, Tensor]) -> Tensor:
        start = time.perf_counter()
        loss = self.step(batch)
        synchronize(self.device)
        self.clock.inside[-1] += time.perf_counter() - start
        return loss


def trainer_step_seconds(
    work: Workload, stage: str, args: argparse.Namespace, precision: str, root: Path
) -> tuple[float, float, float | None]:
    """Median seconds per step of ``Trainer.fit`` with the pipeline's logger and logging interval, the seconds of
    its first step (which compiles, when compiled) and, compiled, the seconds per step outside the compiled step."""
    clock = StepClock()
    steps, module = args.warmup + args.trainer_steps, work.module(stage)
    per_batch = module.steps_per_batch
    trainer = timing_trainer(work, args, precision, root, stage, clock)
    trainer.fit(module, train_dataloaders=work.loader(work.batch_size(stage), steps, per_batch))
    outside = None
    if isinstance(module.compiled, TimedStep):
        module.compiled = module.compiled.step
        outside = clock.outside_per_step(args.warmup, per_batch)
    return clock.per_step(args.warmup, per_batch), clock.starts[1] - clock.starts[0], outside


def timing_trainer(
    work: Workload, args: argparse.Namespace, precision: str, root: Path, name: str, clock: Callback
) -> L.Trainer:
    """A Trainer of ``warmup + trainer_steps`` steps with the pipeline's logger and logging interval, timed by
    ``clock``, writing nothing else."""
    return L.Trainer(
        accelerator=work.device.type,
        devices=1,
        precision=precision,
        max_steps=args.warmup + args.trainer_steps,
        max_epochs=-1,
        logger=TensorBoardLogger(save_dir=root, name=name, version="logs", default_hp_metric=False),
        callbacks=[clock],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=args.log_every_n_steps,
        default_root_dir=root,
    )


class NoStep(L.LightningModule):
    """A stage whose step does nothing but count (``steps_per_batch`` optimizer steps of one scalar a batch, by
    manual optimisation, the way ``CompilableStep`` takes them)."""

    def __init__(self, steps_per_batch: int = 1) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.steps_per_batch = steps_per_batch

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        count_optimizer_steps(self.trainer, self.steps_per_batch - 1)  # as CompilableStep counts them
        self.optimizers().step()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD([self.w], lr=0.0)


def loop_floor_seconds(work: Workload, args: argparse.Namespace, root: Path, steps_per_batch: int = 1) -> float:
    """Median seconds per step of ``Trainer.fit`` around a step that does nothing, on the behaviour stage's
    batches (``steps_per_batch`` steps' to a batch): what Lightning's loop and the data path cost by themselves."""
    clock = StepClock()
    steps = args.warmup + args.trainer_steps
    trainer = timing_trainer(work, args, "32-true", root, "floor", clock)
    loader = work.loader(work.batch_size("behavior"), steps, steps_per_batch)
    trainer.fit(NoStep(steps_per_batch), train_dataloaders=loader)
    return clock.per_step(args.warmup, steps_per_batch)


class PredictClock(Callback):
    """Batch start times and the last batch's end (after the writer, which runs first) of ``Trainer.predict``."""

    def __init__(self) -> None:
        self.marks: list[float] = []

    def on_predict_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        synchronize(pl_module.device)
        self.marks.append(time.perf_counter())

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.marks.append(time.perf_counter())


def support_trainer_seconds(
    work: Workload, sampler: SupportSampler, args: argparse.Namespace, precision: str, root: Path
) -> float:
    """Median seconds per batch of the support stage's ``Trainer.predict`` with its writer (memmap writes,
    statistics)."""
    clock = PredictClock()
    rows = np.arange(min(len(work.states), 3 * args.support_states))
    table = SimpleNamespace(states=work.states, next_index=work.store.next_index)
    writer = SupportWriter(root / "support_bench", table)
    trainer = L.Trainer(
        accelerator=work.device.type,
        devices=1,
        precision=precision,
        enable_progress_bar=False,
        logger=TensorBoardLogger(save_dir=root, name="support", version="logs", default_hp_metric=False),
        callbacks=[writer, clock],
        enable_model_summary=False,
        default_root_dir=root,
    )
    loader = DataLoader(StateDataset(work.states.numpy(), rows), batch_size=args.support_states, collate_fn=lambda b: b)
    trainer.predict(sampler, dataloaders=loader, return_predictions=False)
    return float(np.median(np.diff(clock.marks)))


def measure(
    args: argparse.Namespace, threads: int, precision: str, compiled: bool, device_name: str, steps_per_batch: int = 1
) -> dict[str, Any]:
    torch.set_num_threads(threads)
    device = torch.device(device_name)
    precision = resolve_precision(precision, device.type)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        work = Workload(args, device, Path(tmp) / "support")
        result: dict[str, Any] = {
            "state_dim": args.state_dim,
            "action_dim": args.action_dim,
            "M": args.M,
            "threads": threads,
            "precision": precision,
            "compile": compiled,
            "steps_per_batch": steps_per_batch,
            "device": device_name,
            "behavior_batch": args.behavior_batch,
            "behavior_widths": args.behavior_widths,
            "critic_hidden": args.critic_hidden,
            "energy_hidden": args.energy_hidden,
            "batch": args.batch,
            "support_states": args.support_states,
            "solver_steps": args.solver_steps,
        }
        in_loop: dict[str, float] = {}
        outside: dict[str, float] = {}  # compiled: the time outside the compiled step calls, within each batch
        if compiled:  # the Trainer's run compiles each step once; the bare timing below reuses that graph
            for stage in TRAINING_STAGES:
                work.module(stage).compile_step(
                    mode=compile_mode(args.compile_mode, device), steps_per_batch=steps_per_batch
                )
            first: dict[str, float] = {}
            for stage in TRAINING_STAGES:
                in_loop[stage], first[stage], outside[stage] = trainer_step_seconds(
                    work, stage, args, precision, Path(tmp)
                )
            result["first_step_s"] = first
        gflop, seconds, plain = {}, {}, {}
        for stage in TRAINING_STAGES:
            module, batch = work.module(stage), work.batch(work.batch_size(stage))
            if compiled and module.compiled is None:
                adam = torch.optim.Adam(module.parameters(), lr=1e-4, **adam_options("fused", device))
                module.compiled = CompiledStep(module, module.loss, adam, module.after_update)
            step = training_step_fn(module, batch, precision)
            plain_step = training_step_fn(module, batch, precision, plain=True)
            seconds[stage], plain[stage] = time_alternating([step, plain_step], device, args.warmup, args.repeats)
            gflop[stage] = count_gflop(training_step_fn(module, batch, precision, plain=True))
            result[f"{stage}_ms"] = 1e3 * seconds[stage]
        result["plain_loop_ms"] = {stage: 1e3 * t for stage, t in plain.items()}
        sampler = SupportSampler(work.behavior.net, args.M, args.solver_steps, seed=0).to(device)
        rows = torch.arange(args.support_states)
        support_batch = {"index": rows, "s": work.states[rows].to(device)}
        with torch.no_grad(), autocast(device, precision):
            support_fn = lambda: sampler.predict_step(support_batch, 0)  # noqa: E731
            seconds["support"] = time_call(support_fn, device, 1, max(1, args.repeats // 2))
            gflop["support"] = count_gflop(support_fn)
        result["support_actions_per_s"] = args.support_states * args.M / seconds["support"]
        policy = QGPOPolicy(work.behavior.net.eval(), work.energy.energy.eval(), solver_steps=args.solver_steps)
        obs = work.states[:10].numpy()
        with autocast(device, precision):
            act_fn = lambda: policy.act(obs, guidance_scale=3.0)  # noqa: E731
            seconds["act"] = time_call(act_fn, device, 2, args.repeats)
            gflop["act"] = act_gflop(policy, obs, args.solver_steps)
        result["act_ms"] = 1e3 * seconds["act"]
        work.behavior.net.train()
        work.energy.energy.train()
        if args.trainer_steps > 0:
            if not compiled:
                for stage in TRAINING_STAGES:
                    in_loop[stage] = trainer_step_seconds(work, stage, args, precision, Path(tmp))[0]
            in_loop["support"] = support_trainer_seconds(work, sampler, args, precision, Path(tmp))
            result["loop_floor_ms"] = 1e3 * loop_floor_seconds(work, args, Path(tmp), steps_per_batch)
            result["in_loop_ms"] = {stage: 1e3 * t for stage, t in in_loop.items()}
            result["trainer_overhead_ms"] = {
                stage: 1e3 * outside.get(stage, t - seconds[stage]) for stage, t in in_loop.items()
            }
        per_step = {stage: in_loop.get(stage, seconds[stage]) for stage in TRAINING_STAGES}
        result["paper_budget_hours"] = sum(PAPER_BUDGET[stage] * per_step[stage] for stage in TRAINING_STAGES) / 3600
    peaks = {
        kind: matmul_gflops(device, dtype, args.matmul_size)
        for kind, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))
    }
    result["gflop"] = gflop
    result["gflops"] = {k: gflop[k] / seconds[k] for k in gflop}
    result["matmul_gflops"] = peaks
    for kind, peak in peaks.items():
        result[f"fraction_of_{kind}_peak"] = {k: v / peak for k, v in result["gflops"].items()}
    return result


def rounded(value: Any, digits: int = 4) -> Any:
    """Floats to ``digits`` significant digits, inside dicts and lists too."""
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    if isinstance(value, float) and np.isfinite(value):
        return float(f"{value:.{digits}g}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m cep_lightning.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--state-dim", type=int, default=11)
    parser.add_argument("--action-dim", type=int, default=3)
    parser.add_argument("--M", type=int, default=16, help="support actions per state")
    parser.add_argument("--threads", type=int, nargs="+", default=[torch.get_num_threads()], help="one or more")
    parser.add_argument(
        "--precision", nargs="+", default=["32-true"], help="one or more: 32-true, bf16-mixed, auto, ..."
    )
    parser.add_argument("--compile", nargs="+", default=["false"], choices=["true", "false"], help="one or more")
    parser.add_argument(
        "--steps-per-batch",
        type=int,
        nargs="+",
        default=[1],
        help="one or more: compiled optimizer steps per Lightning batch (steps_per_batch; eager: always 1)",
    )
    parser.add_argument("--device", nargs="+", default=["cpu"], help="one or more: cpu, cuda")
    parser.add_argument("--behavior-batch", type=int, default=4096)
    parser.add_argument("--behavior-widths", type=int, nargs=3, default=[512, 256, 128])
    parser.add_argument("--batch", type=int, default=256, help="critic and energy batch")
    parser.add_argument("--critic-hidden", type=int, default=256)
    parser.add_argument("--energy-hidden", type=int, default=256)
    parser.add_argument(
        "--compile-mode", default="auto", choices=COMPILE_MODES, help="torch.compile mode (compile=true)"
    )
    parser.add_argument(
        "--overhead",
        action="store_true",
        help="the overhead floor: " + " ".join(OVERHEAD) + " (options given after it override), then a table",
    )
    parser.add_argument("--support-states", type=int, default=256, help="states per support batch")
    parser.add_argument("--solver-steps", type=int, default=15)
    parser.add_argument("--transitions", type=int, default=4096, help="size of the synthetic data set")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--trainer-steps", type=int, default=20, help="timed Trainer.fit steps per stage (0: skip)")
    parser.add_argument("--log-every-n-steps", type=int, default=50)
    parser.add_argument(
        "--matmul-size", type=int, default=1024, help="n of the n × n × n products that measure the peak"
    )
    argv = list(argv) if argv is not None else None
    if argv is not None and "--overhead" in argv:
        at = argv.index("--overhead")
        argv = [*argv[:at], *OVERHEAD, *argv[at:]]
    args = parser.parse_args(argv)
    steps = args.warmup + args.trainer_steps
    for per_batch in args.steps_per_batch if "true" in args.compile else []:
        if per_batch < 1 or (args.trainer_steps > 0 and steps % per_batch):
            parser.error(
                f"--steps-per-batch {per_batch} must be positive and divide --warmup + --trainer-steps ({steps}): "
                "each Lightning batch holds that many steps."
            )
    return args


# --overhead: every stage at tiny sizes, where a step is nearly all overhead (launches, autograd, optimizer loop)
OVERHEAD = [
    "--behavior-widths", "16", "16", "16", "--behavior-batch", "64", "--batch", "64", "--M", "4",
    "--critic-hidden", "16", "--energy-hidden", "16", "--support-states", "16", "--transitions", "1024",
    "--compile", "false", "true", "--steps-per-batch", "1", "10", "--warmup", "20", "--repeats", "300",
    "--trainer-steps", "300",
]  # fmt: skip


def overhead_table(lines: list[dict[str, Any]]) -> str:
    """Per configuration and training stage: the bare step, in Trainer.fit, Lightning's share, a plain PyTorch loop,
    and the paper's budget in hours at the in-loop time."""
    rows = [
        "| device | precision | compiled | steps a batch | stage | bare step ms | in Trainer.fit ms "
        "| Lightning adds ms | plain PyTorch loop ms | bare / plain | paper budget h |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for line in lines:
        where = f"| {line['device']} | {line['precision']} | {line['compile']} | {line.get('steps_per_batch', 1)}"
        for stage in TRAINING_STAGES:
            bare, plain = line[f"{stage}_ms"], line["plain_loop_ms"][stage]
            in_loop = line.get("in_loop_ms", {}).get(stage, float("nan"))
            added = line.get("trainer_overhead_ms", {}).get(stage, float("nan"))
            hours = PAPER_BUDGET[stage] * in_loop / 3.6e6
            rows.append(
                f"{where} | {stage} | {bare:.3g} | {in_loop:.3g} | {added:.2g} | {plain:.3g} | {bare / plain:.2f} "
                f"| {hours:.3g} |"
            )
        rows.append(f"{where} | all (paper budget) | | | | | | {line['paper_budget_hours']:.3g} |")
        if "loop_floor_ms" in line:
            rows.append(
                f"{where} | a step doing nothing | 0 | {line['loop_floor_ms']:.3g} | {line['loop_floor_ms']:.2g} "
                "| | | |"
            )
    return "\n".join(rows)


def configurations(args: argparse.Namespace) -> Iterator[tuple[int, str, bool, str, int]]:
    """(threads, precision, compiled, device, steps per batch) of every combination; eager: one step a batch."""
    combinations = itertools.product(args.device, args.threads, args.precision, args.compile)
    for device, threads, precision, compiled in combinations:
        for per_batch in args.steps_per_batch if compiled == "true" else [1]:
            yield threads, precision, compiled == "true", device, per_batch


def main(argv: list[str] | None = None) -> None:
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    args = parse_args(argv if argv is not None else sys.argv[1:])
    flush_denormals()  # as every command of the project does
    lines = []
    for threads, precision, compiled, device, per_batch in configurations(args):
        lines.append(measure(args, threads, precision, compiled, device, per_batch))
        print(json.dumps(rounded(lines[-1])), flush=True)
    if args.overhead:
        print(overhead_table(lines))


if __name__ == "__main__":
    main()
