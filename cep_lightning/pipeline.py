"""The multi-stage trainer: checks, the plan (what runs, resumes, is redone or skipped), and one Trainer per stage."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_info
from omegaconf import DictConfig

from cep_lightning.checkpointing import RNGStateCheckpoint
from cep_lightning.compiling import compile_networks
from cep_lightning.config import RUN_DIR_ENV, run_settings_yaml
from cep_lightning.data.datamodule import QGPODataModule
from cep_lightning.data.support import SupportStore
from cep_lightning.data.support_values import ensure_support_values
from cep_lightning.data.validate import check_against_env
from cep_lightning.errors import ConfigError
from cep_lightning.evaluation import EnvMaker, normalized_score
from cep_lightning.guards import NonFiniteLossGuard
from cep_lightning.interrupts import StopOnSignal, StopRequest
from cep_lightning.loggers import check_loggers, make_loggers
from cep_lightning.monitoring import monitors
from cep_lightning.plan import Plan, current_results, input_ids, make_plan, stage_settings
from cep_lightning.policy import QGPOPolicy
from cep_lightning.progress import progress_bar
from cep_lightning.rundir import MODEL, STAGES, RunDir, atomic_write, is_rank_zero
from cep_lightning.stage_callbacks import build_callbacks, check_callbacks
from cep_lightning.stage_timings import record_timing
from cep_lightning.stages.behavior import BehaviorModule
from cep_lightning.stages.candidates import ScoredSupport
from cep_lightning.stages.critic import CriticModule
from cep_lightning.stages.energy import EnergyModule
from cep_lightning.stages.evaluate import EvaluationModule, summarize
from cep_lightning.stages.support import SupportSampler, SupportWriter
from cep_lightning.summary import describe_start
from cep_lightning.sweep_plot import log_sweep
from cep_lightning.trainer_options import check_trainer_options, stage_options

__all__ = [
    "run",
    "check_command",
    "fit_stage",
    "train_once",
    "behavior_module",
    "prepare_run_dir",
    "resolve_run_dir",
    "results_table",
]

STOP = StopRequest()  # the command's SIGTERM/SIGINT state, seen by every stage's StopOnSignal callback


def resolve_run_dir(cfg: DictConfig) -> Path:
    """The run directory ``load_config`` located (run.dir, <root>/<task>/<name>, the latest run, or a new one)."""
    return Path(cfg.run.dir)


def prepare_run_dir(cfg: DictConfig, run_dir: Path) -> None:
    """Create the run directory and keep the run's settings in config.yaml (rewritten only when they change)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    text = run_settings_yaml(cfg)
    run = RunDir(run_dir)
    if is_rank_zero() and (not run.config.is_file() or run.config.read_text() != text):
        atomic_write(run.config, text)


def make_trainer(
    cfg: DictConfig,
    stage: str,
    run_dir: Path,
    callbacks: list[Callback],
    max_steps: int = -1,
    name: str | None = None,
    **pipeline_options: Any,
) -> L.Trainer:
    """A Trainer with the stage's options (``trainer.*`` and ``<stage>.trainer.*``, checked up front by
    ``check_trainer_options``), its loggers (``logger``) under <run>/<name>/ (``name`` defaults to the stage),
    the monitoring callbacks, and the options the pipeline owns."""
    name = name or stage
    options = stage_options(cfg, stage)
    return L.Trainer(
        default_root_dir=run_dir / name,
        logger=make_loggers(cfg, run_dir, name),
        callbacks=[
            *callbacks,
            *monitors(cfg, stage, name, options.get("log_every_n_steps", 50)),
            *progress_bar(cfg, name, options.get("enable_progress_bar", True)),
            StopOnSignal(STOP, name, resume_command(run_dir), RunDir(run_dir).last_checkpoint(name)),
        ],
        max_steps=max_steps,
        max_epochs=-1 if max_steps > 0 else None,
        enable_model_summary=False,
        **pipeline_options,
        **options,
    )


def resume_command(run_dir: Path) -> str:
    return f"python train.py run.dir={run_dir}"


def fit_stage(
    cfg: DictConfig,
    stage: str,
    run_dir: Path,
    module: L.LightningModule,
    data: QGPODataModule,
    fresh: bool,
    name: str | None = None,
) -> L.Trainer:
    """Trainer.fit with periodic checkpoints into <run>/<name>/ (default: the stage), then <name>/model.ckpt;
    resumes from <name>/checkpoints/last.ckpt unless ``fresh``. Returns the Trainer (its strategy's barrier
    ends the stage once its record is written)."""
    name = name or stage
    if cfg.compile:
        compile_networks(module)
    run = RunDir(run_dir)
    ckpt_dir, last = run.checkpoints(name), run.last_checkpoint(name)
    if fresh and ckpt_dir.exists() and is_rank_zero():
        shutil.rmtree(ckpt_dir)
    checkpoint = ModelCheckpoint(
        dirpath=ckpt_dir, every_n_train_steps=cfg.checkpoint.every_n_steps, save_top_k=0, save_last=True
    )
    callbacks = [
        NonFiniteLossGuard(name, ckpt_dir),
        checkpoint,
        RNGStateCheckpoint(),
        *build_callbacks(cfg, stage, run_dir),
    ]
    trainer = make_trainer(
        cfg, stage, run_dir, callbacks, max_steps=cfg[stage].steps, name=name, use_distributed_sampler=False
    )  # each process draws its own seeded batches
    trainer.fit(module, datamodule=data, ckpt_path=last if not fresh and last.is_file() else None)
    tmp = run.stage_dir(name) / (MODEL + ".tmp")
    trainer.save_checkpoint(tmp)
    if trainer.is_global_zero:
        os.replace(tmp, run.model(name))
    return trainer


def train_once(
    cfg: DictConfig,
    stage: str,
    run_dir: Path,
    data: QGPODataModule,
    settings: dict[str, Any],
    build: Callable[[], L.LightningModule],
    name: str | None = None,
) -> Path:
    """<run>/<name>/model.ckpt, trained by ``fit_stage`` from ``build()`` on ``data`` under a record of
    ``settings`` (``RunDir.start``/``finish``): a finished model with these settings is kept as it is, one that
    started with them resumes from its last checkpoint, any other is trained afresh. For models trained outside
    the five-stage plan, such as the toys' comparison (one energy model per method and β)."""
    run, name = RunDir(run_dir), name or stage
    record = run.record(name)
    if record is None or record["settings"] != settings:
        pending = run.pending(name)
        fresh = pending is None or pending["settings"] != settings
        run.start(name, settings, {})
        start = time.time()
        fit_stage(cfg, stage, run_dir, build(), data, fresh, name)
        run.finish(name, time.time() - start)
    return run.model(name)


def behavior_module(
    cfg: DictConfig, state_dim: int, action_dim: int, lr_decay: bool = False
) -> BehaviorModule:
    """The behaviour model of ``cfg.behavior``, untrained."""
    c = cfg.behavior
    return BehaviorModule(
        state_dim, action_dim, lr=c.lr, widths=list(c.widths), cond_dim=c.cond_dim, lr_decay=lr_decay
    )


def run_behavior(cfg: DictConfig, run_dir: Path, data: QGPODataModule, fresh: bool) -> L.Trainer:
    c = cfg.behavior
    module = behavior_module(cfg, data.state_dim, data.action_dim)
    return fit_stage(cfg, "behavior", run_dir, module, data.use(c.batch_size, c.steps), fresh)


def run_support(cfg: DictConfig, run_dir: Path, data: QGPODataModule, fresh: bool) -> L.Trainer:
    c = cfg.support
    behavior = RunDir(run_dir).load_checked(BehaviorModule, "behavior", data.state_dim, data.action_dim).net
    directory = run_dir / "support"
    if fresh and is_rank_zero():
        SupportStore.clear(directory)
    pending = (
        np.arange(len(data.states)) if fresh else SupportStore.pending(directory, len(data.states))
    )  # resume: what is left
    writer = SupportWriter(directory, len(data.states), c.M, data.action_dim, data.next_index)
    trainer = make_trainer(cfg, "support", run_dir, [writer, *build_callbacks(cfg, "support", run_dir)])
    sampler = SupportSampler(behavior, c.M, c.solver_steps, cfg.seed)
    trainer.predict(sampler, datamodule=data.use(c.batch_size, state_rows=pending), return_predictions=False)
    return trainer


def run_critic(cfg: DictConfig, run_dir: Path, data: QGPODataModule, fresh: bool) -> L.Trainer:
    c = cfg.critic
    module = CriticModule(
        data.state_dim,
        data.action_dim,
        lr=c.lr,
        hidden=c.hidden,
        depth=c.depth,
        gamma=c.gamma,
        tau=c.tau,
        beta_q=c.beta_q,
    )
    return fit_stage(
        cfg, "critic", run_dir, module, data.use(c.batch_size, c.steps, run_dir / "support"), fresh
    )


def run_energy(cfg: DictConfig, run_dir: Path, data: QGPODataModule, fresh: bool) -> L.Trainer:
    c = cfg.energy
    critic = RunDir(run_dir).load_checked(CriticModule, "critic", data.state_dim, data.action_dim).q_target
    ensure_support_values(run_dir / "support", critic, data.states)  # the CEP labels' Q, once, not per step
    module = EnergyModule(
        data.state_dim,
        data.action_dim,
        ScoredSupport(critic),
        lr=c.lr,
        hidden=c.hidden,
        depth=c.depth,
        beta=c.beta,
        loss=c.loss,
        time_scale=c.time_scale,
    )
    return fit_stage(
        cfg, "energy", run_dir, module, data.use(c.batch_size, c.steps, run_dir / "support"), fresh
    )


def run_eval(cfg: DictConfig, run_dir: Path, data: QGPODataModule, fresh: bool) -> L.Trainer:
    c = cfg.eval
    policy = QGPOPolicy.from_run(run_dir, solver_steps=c.solver_steps)
    make_env = EnvMaker.from_config(cfg)
    module = EvaluationModule(
        policy,
        make_env,
        list(c.scales),
        c.episodes,
        c.seed,
        c.reported_scale,
        c.ref_min_return,
        c.ref_max_return,
        c.envs_per_batch,
    )
    trainer = make_trainer(
        cfg, "eval", run_dir, build_callbacks(cfg, "eval", run_dir), inference_mode=False
    )  # guidance needs ∇_a f
    trainer.test(module, verbose=False)
    goal = make_env.goal  # a maze: every episode's return is its success (0 or 1), see ReachGoal
    results = {
        "task": cfg.task,
        "seed": cfg.seed,
        "env_id": make_env.env_id,
        "checkpoint": "last (the end of each stage's budget)",
        **({"goal": goal.describe()} if goal is not None else {}),
        "dataset_mean_return": data.dataset_mean_return(),
        "dataset_normalized_score": normalized_score(
            data.dataset_mean_return(), c.ref_min_return, c.ref_max_return
        ),
        **summarize(
            module.returns, c.reported_scale, c.ref_min_return, c.ref_max_return, success=goal is not None
        ),
    }
    if trainer.is_global_zero:
        log_sweep(trainer, module.returns, c.reported_scale, run_dir)
        atomic_write(RunDir(run_dir).results, json.dumps(results, indent=2))
    return trainer


RUNNERS = {
    "behavior": run_behavior,
    "support": run_support,
    "critic": run_critic,
    "energy": run_energy,
    "eval": run_eval,
}


@dataclass
class Command:
    """A checked command: its run directory, the data, every stage's wanted settings, and the plan."""

    run: RunDir
    data: QGPODataModule
    wanted: dict[str, dict[str, Any]]
    plan: Plan


def check_command(cfg: DictConfig) -> Command:
    """Every check a command needs before it may write anything: the Trainer options and the callbacks
    (before any data is loaded), then the data against the evaluation environment; then the plan."""
    if cfg.data.source == "toy":
        raise ConfigError(
            f"task={cfg.task} is a 2-D toy (no environment to act in): run its comparison with "
            f"python -m cep_lightning.toys task={cfg.task} [key=value ...]"
        )
    check_trainer_options(cfg)
    check_loggers(cfg)
    check_callbacks(cfg)
    make_env = EnvMaker.from_config(cfg)  # goal-conditioned data are relabelled to its goal
    data = QGPODataModule(cfg.data, seed=cfg.seed, goal=make_env.goal)
    data.prepare_data()
    data.setup()
    check_against_env(data.transitions, make_env)
    run = RunDir(resolve_run_dir(cfg))
    wanted = {stage: stage_settings(cfg, stage, data.fingerprint) for stage in STAGES}
    return Command(run, data, wanted, make_plan(run, cfg.stage, wanted))


def run(cfg: DictConfig) -> Path:
    """Check everything, print the plan, then run, resume or redo the stages it names into ``cfg.run.dir``.

    Nothing is written before the config, the Trainer options, the callbacks and the data have passed their
    checks; a command with nothing to do writes nothing.
    """
    command = check_command(cfg)
    if is_rank_zero():
        print(describe_start(cfg, command.data, command.plan), flush=True)
        print(command.plan.describe(command.run), flush=True)
    if command.plan.to_run:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = bool(cfg.tf32)
        prepare_run_dir(cfg, command.run.path)
        os.environ[RUN_DIR_ENV] = str(command.run.path.resolve())
        try:
            with STOP.installed():
                _run_plan(cfg, command)
        finally:
            os.environ.pop(RUN_DIR_ENV, None)
    if is_rank_zero():
        _print_outcome(command.run, command.plan)
    return command.run.path


def _run_plan(cfg: DictConfig, command: Command) -> None:
    run, wanted = command.run, command.wanted
    for step in command.plan.to_run:
        stage = step.stage
        if is_rank_zero():
            run.start(stage, wanted[stage], input_ids(run, stage))  # type: ignore[arg-type]
        rank_zero_info(f"[cep_lightning] {stage}: {step.action} ({run.path})")
        L.seed_everything(
            cfg.seed + STAGES.index(stage), workers=True, verbose=False
        )  # a stage alone = the stage in a full run
        start = time.time()
        with STOP.stage():
            trainer = RUNNERS[stage](cfg, run.path, command.data, fresh=step.action != "resume")
        if is_rank_zero():
            seconds = time.time() - start
            run.finish(stage, seconds)
            record_timing(run, stage, seconds)
        trainer.strategy.barrier()  # every process sees the stage's outputs and record before the next stage reads them


def _print_outcome(run: RunDir, plan: Plan) -> None:
    """The results table when the evaluation describes the run's current models; otherwise say what is stale."""
    if plan.stale_after:
        print(
            f"[cep_lightning] now out of date: {', '.join(plan.stale_after)} (made from the {plan.steps[0].stage} "
            f"before this one); refresh them with: {resume_command(run.path)}"
        )
    results = current_results(run)
    if results is not None:
        print(results_table(results))
    elif run.results.is_file():
        print(
            f"[cep_lightning] {run.results} is out of date (it was made from models that have been retrained "
            f"since) and is not shown; refresh it with: {resume_command(run.path)}"
        )


def results_table(results: dict) -> str:
    """The reported number, then the sweep (marked: its best scale is an optimistic pick)."""

    def row(label: str, r: dict) -> str:
        score = "-" if r["normalized_score"] is None else f"{r['normalized_score']:.1f}"
        return (
            f"{label:>7} {r['mean_return']:>12.1f} ± {r['std_return']:<9.1f} {score:>11} {r['episodes']:>9}"
        )

    reported = results["reported"]
    lines = [
        f"Task {results['task']} (seed {results['seed']}): data set mean return {results['dataset_mean_return']:.1f}",
        f"{'scale':>7} {'return (mean ± std)':>24} {'normalized':>11} {'episodes':>9}",
        row(f"{reported['scale']:g}", reported) + "   <- reported (scale fixed before evaluation)",
        "sweep (for inspection; its best scale is chosen after seeing test returns, so it is optimistic):",
    ]
    lines += [
        row(scale, r) + ("   <- best of sweep" if float(scale) == results["best_scale"]["scale"] else "")
        for scale, r in results["scales"].items()
    ]
    return "\n".join(lines)
