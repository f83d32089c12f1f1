"""The multi-stage trainer: one Trainer per stage built and checked up front, the plan (what runs, resumes, is
redone or skipped), and each stage's run into the run directory."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig

from cep_lightning.callbacks.factory import stage_callbacks
from cep_lightning.config.compiling import compile_mode
from cep_lightning.config.loading import run_settings_yaml
from cep_lightning.config.schema import STAGES, TRAINING_STAGES
from cep_lightning.config.trainer_options import quiet_lightning_banners, stage_options
from cep_lightning.data.datamodule import QGPODataModule
from cep_lightning.data.support import SupportStore
from cep_lightning.data.support_values import ensure_support_values
from cep_lightning.data.validate import check_against_env
from cep_lightning.envs.evaluation import EnvMaker, normalized_score
from cep_lightning.errors import CepError, ConfigError, DataError, StorageError
from cep_lightning.maths.guidance import GuidedPolicy
from cep_lightning.run.checkpoint_io import AtomicCheckpointIO, intact, set_aside
from cep_lightning.run.directory import RunDir, atomic_write
from cep_lightning.run.interrupts import StageInterrupted, StopRequest
from cep_lightning.run.lock import RunInUse, holding
from cep_lightning.run.loggers import make_loggers
from cep_lightning.run.plan import Plan, current_results, input_ids, make_plan, stage_settings
from cep_lightning.run.processes import is_rank_zero, join_started_processes
from cep_lightning.run.summary import describe_start
from cep_lightning.run.sweep_plot import log_sweep
from cep_lightning.run.timings import record_timing
from cep_lightning.stages.behavior import BehaviorModule
from cep_lightning.stages.candidates import ScoredSupport
from cep_lightning.stages.critic import CriticModule
from cep_lightning.stages.energy import EnergyModule
from cep_lightning.stages.evaluate import EpisodeWriter, EvaluationModule, summarize
from cep_lightning.stages.support import StateTable, SupportSampler, SupportWriter, support_batch_size

__all__ = ["run", "check_command", "stage_trainer", "fit_stage", "train_once", "behavior_module", "prepare_run_dir"]


class StageIncomplete(CepError):
    """A stage ended before doing everything its record would claim."""


STOP = StopRequest()  # the command's SIGTERM/SIGINT, seen by every stage's StopAtBatchEnd callback


def make_run_dir(run: RunDir) -> None:
    try:
        run.path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"Cannot create the run directory {run.path}: {exc.strerror or exc}.") from None


def keep_settings(cfg: DictConfig, run: RunDir) -> None:
    """The run's settings in config.yaml (rewritten only when they change), by process 0."""
    text = run_settings_yaml(cfg)
    if is_rank_zero() and (not run.config.is_file() or run.config.read_text() != text):
        atomic_write(run.config, text)


def prepare_run_dir(cfg: DictConfig, run: RunDir) -> None:
    """Create the run directory and keep the run's settings in config.yaml."""
    make_run_dir(run)
    keep_settings(cfg, run)


def stage_trainer(
    cfg: DictConfig, stage: str, run: RunDir, name: str | None = None, table: StateTable | None = None
) -> L.Trainer:
    """The Trainer of ``stage`` (its folder under the run: ``name``, default the stage): the stage's options
    (``trainer.*`` under ``<stage>.trainer.*``), its loggers and callbacks (``callbacks.factory``), the step
    budget of a training stage, and for the support stage the writer of the support actions of ``table``.
    What Lightning refuses of the options is a ConfigError naming them."""
    name = name or stage
    options = stage_options(cfg, stage)
    callbacks = stage_callbacks(
        cfg,
        stage,
        name,
        run.checkpoints(name),
        run.model("behavior"),
        options.get("log_every_n_steps", 50),
        options.get("enable_progress_bar", True),
        STOP,
    )
    if stage == "support":
        callbacks.insert(0, SupportWriter(run.stage_dir("support"), table))  # before the stop at batch end
    if stage == "eval":
        callbacks.insert(0, EpisodeWriter(run.stage_dir("eval")))
    budget: dict[str, Any] = {}
    if stage in TRAINING_STAGES:  # each process draws its own seeded batches: no distributed sampler
        budget = {"max_steps": cfg[stage].steps, "max_epochs": -1, "use_distributed_sampler": False}
    if stage == "eval":
        budget = {"inference_mode": False}  # guidance needs ∇_a f
    try:
        with quiet_lightning_banners():
            return L.Trainer(
                default_root_dir=run.path / name,
                plugins=[AtomicCheckpointIO(), *options.pop("plugins", [])],
                logger=make_loggers(cfg, run.path, name),
                callbacks=callbacks,
                enable_model_summary=False,
                **budget,
                **options,
            )
    except ConfigError:
        raise
    except Exception as exc:  # Lightning's own refusal (MisconfigurationException, ValueError, TypeError...)
        named = [f"{k}={v!r}" for k, v in options.items() if k in str(exc) or k.replace("_", " ") in str(exc)]
        where = ", ".join(named or [f"{k}={v!r}" for k, v in options.items()])
        raise ConfigError(
            f"Lightning refuses the Trainer options of stage '{stage}' ({where}): {' '.join(str(exc).split())} "
            f"Change trainer.* (or {stage}.trainer.*)."
        ) from None


def fit_stage(
    cfg: DictConfig,
    trainer: L.Trainer,
    run: RunDir,
    name: str,
    module: L.LightningModule,
    data: QGPODataModule,
    fresh: bool,
) -> L.Trainer:
    """``trainer.fit`` of ``module`` with periodic checkpoints into <run>/<name>/checkpoints/, then
    <name>/model.ckpt; resumes from its last.ckpt unless ``fresh``."""
    if cfg.compile:
        module.compile_step(
            mode=compile_mode(cfg.compile_mode, trainer.strategy.root_device), steps_per_batch=cfg.steps_per_batch
        )
    ckpt_dir, last = run.checkpoints(name), run.last_checkpoint(name)
    if not fresh and last.is_file() and not intact(last):  # every process sees the same file
        fresh = True
        if is_rank_zero():
            set_aside(last)
    if fresh and ckpt_dir.exists() and is_rank_zero():
        shutil.rmtree(ckpt_dir)
    resume = last if not fresh and last.is_file() else None
    try:
        trainer.fit(module, datamodule=data, ckpt_path=resume, weights_only=True)  # a resume point runs no code
    except pickle.UnpicklingError as exc:
        raise DataError(
            f"{resume} holds objects other than tensors and plain values, so it was not written by cep_lightning and "
            f"is not loaded ({str(exc).splitlines()[0]}). Delete it to train the stage afresh."
        ) from None
    trainer.save_checkpoint(run.model(name))  # atomic (AtomicCheckpointIO), by process 0
    return trainer


def train_once(
    cfg: DictConfig,
    stage: str,
    run: RunDir,
    data: QGPODataModule,
    settings: dict[str, Any],
    build: Callable[[], L.LightningModule],
    name: str | None = None,
) -> Path:
    """<run>/<name>/model.ckpt, trained by ``fit_stage`` from ``build()`` on ``data`` under a record of
    ``settings`` (``RunDir.start``/``finish``): a finished model with these settings is kept as it is, one that
    started with them resumes from its last checkpoint, any other is trained afresh. For models trained outside
    the five-stage plan, such as the toys' comparison (one energy model per method and β)."""
    name = name or stage
    record = run.record(name)
    if record is None or record["settings"] != settings:
        pending = run.pending(name)
        fresh = pending is None or pending["settings"] != settings
        run.start(name, settings, {})
        start = time.time()
        fit_stage(cfg, stage_trainer(cfg, stage, run, name), run, name, build(), data, fresh)
        run.finish(name, time.time() - start)
    return run.model(name)


def behavior_module(cfg: DictConfig, state_dim: int, action_dim: int, lr_decay: bool = False) -> BehaviorModule:
    """The behaviour model of ``cfg.behavior``, untrained."""
    c = cfg.behavior
    return BehaviorModule(state_dim, action_dim, lr=c.lr, widths=list(c.widths), cond_dim=c.cond_dim, lr_decay=lr_decay)


def run_behavior(cfg: DictConfig, trainer: L.Trainer, run: RunDir, data: QGPODataModule, fresh: bool) -> None:
    c = cfg.behavior
    module = behavior_module(cfg, data.state_dim, data.action_dim)
    fit_stage(cfg, trainer, run, "behavior", module, data.use(c.batch_size, c.steps), fresh)


def run_support(cfg: DictConfig, trainer: L.Trainer, run: RunDir, data: QGPODataModule, fresh: bool) -> None:
    c = cfg.support
    behavior = run.load_checked(BehaviorModule, "behavior", data.state_dim, data.action_dim).net
    directory = run.stage_dir("support")
    if fresh and is_rank_zero():
        SupportStore.clear(directory)
    pending = np.arange(len(data.states)) if fresh else SupportStore.pending(directory, len(data.states))
    device = trainer.strategy.root_device
    if cfg.compile:  # the same samples (inference has no random draws of its own: the noise is seeded outside)
        behavior.compile(mode=compile_mode(cfg.compile_mode, device))
    sampler = SupportSampler(behavior, c.M, c.solver_steps, cfg.seed)
    batch = support_batch_size(c.batch_size, behavior, c.M, device)
    trainer.predict(sampler, datamodule=data.use(batch, state_rows=pending), return_predictions=False)


def run_critic(cfg: DictConfig, trainer: L.Trainer, run: RunDir, data: QGPODataModule, fresh: bool) -> None:
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
    fit_stage(cfg, trainer, run, "critic", module, data.use(c.batch_size, c.steps, run.stage_dir("support")), fresh)


def run_energy(cfg: DictConfig, trainer: L.Trainer, run: RunDir, data: QGPODataModule, fresh: bool) -> None:
    c = cfg.energy
    critic = run.load_checked(CriticModule, "critic", data.state_dim, data.action_dim).q_target
    ensure_support_values(run.stage_dir("support"), critic, data.states)  # the CEP labels' Q, once, not per step
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
    fit_stage(cfg, trainer, run, "energy", module, data.use(c.batch_size, c.steps, run.stage_dir("support")), fresh)


def run_eval(cfg: DictConfig, trainer: L.Trainer, run: RunDir, data: QGPODataModule, fresh: bool) -> None:
    c = cfg.eval
    behavior = run.load(BehaviorModule, "behavior").net.eval()
    energy = run.load(EnergyModule, "energy").energy.eval()
    make_env = EnvMaker.from_config(cfg)
    finished = {} if fresh else EpisodeWriter.finished_episodes(run.stage_dir("eval"))
    if fresh or len(finished) == len(c.scales) * c.episodes:  # (all finished but not recorded: evaluate again)
        finished = {}
        if is_rank_zero():
            EpisodeWriter.clear(run.stage_dir("eval"))
    module = EvaluationModule(
        GuidedPolicy(behavior, energy, c.solver_steps, c.sampler),
        make_env,
        list(c.scales),
        c.episodes,
        c.seed,
        c.reported_scale,
        c.ref_min_return,
        c.ref_max_return,
        c.envs_per_batch,
        finished,
    )
    trainer.test(module, verbose=False)
    goal = make_env.goal  # a maze: every episode's return is its success (0 or 1), see ReachGoal
    results = {
        "task": cfg.task,
        "seed": cfg.seed,
        "env_id": make_env.env_id,
        "checkpoint": "last (the end of each stage's budget)",
        **({"goal": goal.describe()} if goal is not None else {}),
        "dataset_mean_return": data.dataset_mean_return(),
        "dataset_normalized_score": normalized_score(data.dataset_mean_return(), c.ref_min_return, c.ref_max_return),
        **summarize(module.returns, c.reported_scale, c.ref_min_return, c.ref_max_return, success=goal is not None),
    }
    if trainer.is_global_zero:
        log_sweep(trainer, module.returns, c.reported_scale, run.path)
        atomic_write(run.results, json.dumps(results, indent=2))


RUNNERS = {
    "behavior": run_behavior,
    "support": run_support,
    "critic": run_critic,
    "energy": run_energy,
    "eval": run_eval,
}
STOPPED_WHERE = {  # what an interrupted stage keeps
    "support": "with the support actions written so far kept on disk",
    "eval": "keeping the episodes it finished (the others run on resume)",
}


@dataclass
class Command:
    """A checked command: its run directory, the data, each stage's Trainer, every stage's wanted settings, and
    the plan."""

    run: RunDir
    data: QGPODataModule
    trainers: dict[str, L.Trainer]
    wanted: dict[str, dict[str, Any]]
    plan: Plan


def check_command(cfg: DictConfig) -> Command:
    """Every check a command needs before it may write anything: each stage's Trainer is built (Lightning checks
    its options and the callbacks are made) before any data is loaded; then the data against the evaluation
    environment; then the plan. ``cfg.run.dir`` names the run directory (``run.locate.load_command``)."""
    if cfg.data.source == "toy":
        raise ConfigError(
            f"task={cfg.task} is a 2-D toy (no environment to act in): run its comparison with "
            f"python -m cep_lightning.toys task={cfg.task} [key=value ...]"
        )
    if cfg.data.source == "images":
        raise ConfigError(
            f"task={cfg.task} is an image bandit (no environment to act in): run its comparison with "
            f"python -m cep_lightning.images task={cfg.task} [key=value ...]"
        )
    if cfg.run.dir is None:
        raise ConfigError("run.dir is not set: locate the run first (cep_lightning.run.locate.load_command).")
    run = RunDir(Path(cfg.run.dir))
    make_env = EnvMaker.from_config(cfg)  # goal-conditioned data are relabelled to its goal
    data = QGPODataModule(cfg.data, seed=cfg.seed, goal=make_env.goal)
    trainers = {stage: stage_trainer(cfg, stage, run, table=data) for stage in STAGES}
    data.prepare_data()
    data.setup()
    check_against_env(data.transitions, make_env)
    wanted = {stage: stage_settings(cfg, stage, data.fingerprint) for stage in STAGES}
    return Command(run, data, trainers, wanted, make_plan(run, cfg.stage, wanted))


def resume_command(run: RunDir) -> str:
    return f"python train.py run.dir={run.path}"


def run(cfg: DictConfig) -> Path:
    """Check everything, print the plan, then run, resume or redo the stages it names into ``cfg.run.dir``.

    Nothing is written before the config, the Trainer options, the callbacks and the data have passed their
    checks; a command with nothing to do writes nothing.
    """
    command = check_command(cfg)
    join_started_processes(command.trainers[STAGES[0]])  # every process has read the run before any writes
    if is_rank_zero():
        print(describe_start(cfg, command.data, command.plan, command.trainers), flush=True)
        print(command.plan.describe(command.run), flush=True)
    if command.plan.to_run:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = bool(cfg.tf32)
        make_run_dir(command.run)
        lock = holding(command.run) if is_rank_zero() else contextlib.nullcontext()
        with lock, STOP.installed():
            if is_rank_zero():
                _check_unchanged(cfg, command)
            keep_settings(cfg, command.run)
            _run_plan(cfg, command)
    if is_rank_zero():
        _print_outcome(command.run, command.plan)
    return command.run.path


def _check_unchanged(cfg: DictConfig, command: Command) -> None:
    """Under the lock, before anything is written: the records still give the plan this command printed (another
    command may have finished or started a stage between the planning and the lock)."""
    if make_plan(command.run, cfg.stage, command.wanted) != command.plan:
        raise RunInUse(
            f"{command.run.path} was changed by another command while this one was starting (its records no longer "
            f"give the plan printed above). Nothing was written; run the command again to see the new plan."
        )


def _run_plan(cfg: DictConfig, command: Command) -> None:
    run, wanted = command.run, command.wanted
    for step in command.plan.to_run:
        stage, trainer = step.stage, command.trainers[step.stage]
        if is_rank_zero():
            if step.action != "resume":
                keep_earlier_logs(run.stage_dir(stage))
            run.start(stage, wanted[stage], input_ids(run, stage))  # type: ignore[arg-type]
        rank_zero_info(f"[cep_lightning] {stage}: {step.action} ({run.path})")
        L.seed_everything(cfg.seed + STAGES.index(stage), workers=True, verbose=False)  # a stage alone = in a run
        start = time.time()
        try:
            with STOP.stage():
                RUNNERS[stage](cfg, trainer, run, command.data, fresh=step.action != "resume")
        except SIGTERMException:
            signum = STOP.signum or signal.SIGTERM
            where = STOPPED_WHERE.get(
                stage, f"at step {trainer.global_step} of {trainer.max_steps}; saved {run.last_checkpoint(stage)}"
            )
            raise StageInterrupted(
                f"{stage}: stopped by {signal.Signals(signum).name} {where}. Resume with: {resume_command(run)}", signum
            ) from None
        trainer.strategy.barrier()  # every process has written its share of the stage's outputs
        _check_complete(cfg, stage, trainer, run, len(command.data.states))
        if is_rank_zero():
            seconds = time.time() - start
            run.finish(stage, seconds)
            record_timing(run, stage, seconds)
        trainer.strategy.barrier()  # every process sees the stage's outputs and record before the next stage reads them


def keep_earlier_logs(stage_dir: Path) -> None:
    """A stage that starts afresh writes new curves: the logs of its earlier attempt move to ``logs-<k>`` (and
    ``csv-<k>``), a version of their own, instead of mixing with the new ones."""
    for name in ("logs", "csv"):
        logs = stage_dir / name
        if logs.is_dir():
            k = 1 + sum(1 for _ in stage_dir.glob(f"{name}-*"))
            os.replace(logs, stage_dir / f"{name}-{k}")


def _check_complete(cfg: DictConfig, stage: str, trainer: L.Trainer, run: RunDir, num_states: int) -> None:
    """A stage counts as finished only if it did all its record says: a training stage its whole step budget,
    the support stage every state (a callback that stops the Trainer early leaves the stage pending)."""
    missing = len(SupportStore.pending(run.stage_dir("support"), num_states)) if stage == "support" else 0
    if stage in TRAINING_STAGES and trainer.global_step < cfg[stage].steps:
        done = f"stopped at step {trainer.global_step} of {cfg[stage].steps}"
    elif missing:
        done = f"wrote {num_states - missing} of {num_states} states"
    else:
        return
    raise StageIncomplete(
        f"{stage}: {done} without a signal (did a callback stop the Trainer?), so it is not recorded as "
        f"finished. Resume it with: {resume_command(run)}"
    )


def _print_outcome(run: RunDir, plan: Plan) -> None:
    """The results table when the evaluation describes the run's current models; otherwise say what is stale."""
    if plan.stale_after:
        print(
            f"[cep_lightning] now out of date: {', '.join(plan.stale_after)} (made from the {plan.steps[0].stage} "
            f"before this one); refresh them with: {resume_command(run)}"
        )
    results = current_results(run)
    if results is not None:
        print(results_table(results))
    elif run.results.is_file():
        print(
            f"[cep_lightning] {run.results} is out of date (it was made from models that have been retrained "
            f"since) and is not shown; refresh it with: {resume_command(run)}"
        )


def results_table(results: dict) -> str:
    """The reported number, then the sweep (marked: its best scale is an optimistic pick)."""

    def row(label: str, r: dict) -> str:
        score = "-" if r["normalized_score"] is None else f"{r['normalized_score']:.1f}"
        return f"{label:>7} {r['mean_return']:>12.1f} ± {r['std_return']:<9.1f} {score:>11} {r['episodes']:>9}"

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
