"""The multi-stage trainer: run directory, stage order and prerequisites, resume, and one Trainer per stage."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_info
from omegaconf import DictConfig, OmegaConf

from cep_lightning.checkpointing import RNGStateCheckpoint
from cep_lightning.compiling import compile_networks
from cep_lightning.config import STAGES, to_yaml
from cep_lightning.data.datamodule import QGPODataModule
from cep_lightning.data.support import SupportStore
from cep_lightning.data.support_values import ensure_support_values
from cep_lightning.data.validate import check_against_env
from cep_lightning.errors import ConfigError, DataError, MissingStageError
from cep_lightning.evaluation import EnvMaker, normalized_score
from cep_lightning.guards import NonFiniteLossGuard
from cep_lightning.hardware import resolve_precision
from cep_lightning.plugins import build_callbacks
from cep_lightning.policy import QGPOPolicy
from cep_lightning.stages.behavior import BehaviorModule
from cep_lightning.stages.critic import CriticModule
from cep_lightning.stages.energy import EnergyModule
from cep_lightning.stages.evaluate import EvaluationModule, summarize
from cep_lightning.stage_timings import with_shares
from cep_lightning.stages.support import SupportSampler, SupportWriter

MODEL = "model.ckpt"


RUN_DIR_ENV = "CEP_LIGHTNING_RUN_DIR"  # set by rank 0, inherited by the processes Lightning's DDP launcher starts


def resolve_run_dir(cfg: DictConfig) -> Path:
    """run.dir if given; else <root>/<task>/<name>; a single stage without either uses the task's latest run."""
    if os.environ.get(RUN_DIR_ENV):
        return Path(os.environ[RUN_DIR_ENV])
    if cfg.run.dir:
        return Path(cfg.run.dir)
    task_dir = Path(cfg.run.root) / cfg.task
    if cfg.run.name:
        return task_dir / cfg.run.name
    if cfg.stage != "all":
        runs = sorted((p for p in task_dir.glob("*") if (p / "config.yaml").is_file()), key=lambda p: p.stat().st_mtime)
        if not runs:
            raise MissingStageError(f"stage={cfg.stage} needs an existing run of task '{cfg.task}', but {task_dir} has none. "
                                    f"Run the whole pipeline first (stage=all), or point at a run with run.dir=...")
        return runs[-1]
    return task_dir / time.strftime("%Y%m%d-%H%M%S")


def check_run_dir(cfg: DictConfig, run_dir: Path) -> None:
    """Refuse a run directory made for another task."""
    saved = run_dir / "config.yaml"
    if saved.is_file():
        previous = OmegaConf.load(saved)
        if previous.get("task") != cfg.task:
            raise ConfigError(f"Run directory {run_dir} belongs to task '{previous.get('task')}', not '{cfg.task}'. "
                              f"Pass task={previous.get('task')} or choose another run.dir.")


def prepare_run_dir(cfg: DictConfig, run_dir: Path) -> None:
    """Create the run directory and save the resolved config (after check_run_dir)."""
    check_run_dir(cfg, run_dir)
    saved = run_dir / "config.yaml"
    run_dir.mkdir(parents=True, exist_ok=True)
    if is_rank_zero():
        _atomic_write(saved, to_yaml(cfg))


def is_rank_zero() -> bool:
    """True in the process that writes shared files (the only process without DDP)."""
    return int(os.environ.get("LOCAL_RANK", 0)) == 0 and int(os.environ.get("NODE_RANK", 0)) == 0


def stage_done(run_dir: Path, stage: str) -> bool:
    if stage == "support":
        return SupportStore.is_complete(run_dir / "support")
    if stage == "eval":
        return (run_dir / "results.json").is_file()
    return (run_dir / stage / MODEL).is_file()


PREREQUISITES = {"behavior": (), "support": ("behavior",), "critic": ("support",), "energy": ("support", "critic"), "eval": ("behavior", "energy")}


def check_prerequisites(run_dir: Path, stage: str) -> None:
    for needed in PREREQUISITES[stage]:
        if not stage_done(run_dir, needed):
            raise MissingStageError(f"stage={stage} needs the '{needed}' stage's output, which is not in {run_dir}. "
                                    f"Run it first: python train.py stage={needed} run.dir={run_dir}  (or stage=all).")


def make_trainer(cfg: DictConfig, stage: str, run_dir: Path, callbacks: list[Callback], max_steps: int = -1,
                 name: str | None = None, **extra: Any) -> L.Trainer:
    """A Trainer with the shared ``trainer`` options, the stage's own overrides, and its logger under <run>/<name>/
    (``name`` defaults to the stage)."""
    name = name or stage
    options: dict[str, Any] = OmegaConf.to_container(cfg.trainer, resolve=True)  # type: ignore[assignment]
    options.update(OmegaConf.to_container(cfg[stage].trainer, resolve=True))  # type: ignore[arg-type]
    options["precision"] = resolve_precision(options.get("precision", "auto"), str(options.get("accelerator", "auto")))
    return L.Trainer(
        default_root_dir=run_dir / name,
        logger=TensorBoardLogger(save_dir=run_dir, name=name, version="logs", default_hp_metric=False),
        callbacks=callbacks,
        max_steps=max_steps,
        max_epochs=-1 if max_steps > 0 else None,
        enable_model_summary=False,
        **{**extra, **options},
    )


def fit_stage(cfg: DictConfig, stage: str, run_dir: Path, module: L.LightningModule, data: QGPODataModule, fresh: bool,
              name: str | None = None) -> None:
    """Trainer.fit with periodic checkpoints into <run>/<name>/ (default: the stage), then <name>/model.ckpt;
    resumes from <name>/checkpoints/last.ckpt unless ``fresh``."""
    name = name or stage
    if cfg.get("compile", False):
        compile_networks(module)
    ckpt_dir = run_dir / name / "checkpoints"
    if fresh and ckpt_dir.exists() and is_rank_zero():
        shutil.rmtree(ckpt_dir)
    checkpoint = ModelCheckpoint(dirpath=ckpt_dir, every_n_train_steps=cfg.checkpoint.every_n_steps, save_top_k=0, save_last=True)
    guard = NonFiniteLossGuard(name, ckpt_dir)
    trainer = make_trainer(cfg, stage, run_dir, [guard, checkpoint, RNGStateCheckpoint(), *build_callbacks(cfg, stage, run_dir)], max_steps=cfg[stage].steps, name=name)
    last = ckpt_dir / "last.ckpt"
    trainer.fit(module, datamodule=data, ckpt_path=last if not fresh and last.is_file() else None)
    tmp = run_dir / name / (MODEL + ".tmp")
    trainer.save_checkpoint(tmp)
    if trainer.is_global_zero:
        os.replace(tmp, run_dir / name / MODEL)
    trainer.strategy.barrier()  # every process sees the finished model before the next stage loads it


def run_behavior(cfg: DictConfig, run_dir: Path, data: QGPODataModule, fresh: bool) -> None:
    c = cfg.behavior
    module = BehaviorModule(data.state_dim, data.action_dim, lr=c.lr, widths=list(c.widths), cond_dim=c.cond_dim)
    fit_stage(cfg, "behavior", run_dir, module, data.use(c.batch_size, c.steps), fresh)


def run_support(cfg: DictConfig, run_dir: Path, data: QGPODataModule, fresh: bool) -> None:
    c = cfg.support
    behavior = load_stage(BehaviorModule, run_dir, "behavior", data).net
    directory = run_dir / "support"
    (directory / "done.json").unlink(missing_ok=True)
    if fresh and is_rank_zero():
        (directory / "written.npy").unlink(missing_ok=True)
    pending = np.arange(len(data.states)) if fresh else SupportStore.pending(directory, len(data.states))  # resume: what is left
    writer = SupportWriter(directory, len(data.states), c.M, data.action_dim, data.next_index)
    trainer = make_trainer(cfg, "support", run_dir, [writer, *build_callbacks(cfg, "support", run_dir)])
    sampler = SupportSampler(behavior, c.M, c.solver_steps, cfg.seed)
    trainer.predict(sampler, datamodule=data.use(c.batch_size, state_rows=pending), return_predictions=False)
    if trainer.is_global_zero:
        SupportStore.mark_complete(directory, {"states": len(data.states), "M": c.M, "solver_steps": c.solver_steps})
    trainer.strategy.barrier()


def run_critic(cfg: DictConfig, run_dir: Path, data: QGPODataModule, fresh: bool) -> None:
    c = cfg.critic
    module = CriticModule(data.state_dim, data.action_dim, lr=c.lr, hidden=c.hidden, depth=c.depth, gamma=c.gamma, tau=c.tau, beta_q=c.beta_q)
    fit_stage(cfg, "critic", run_dir, module, data.use(c.batch_size, c.steps, run_dir / "support"), fresh)


def run_energy(cfg: DictConfig, run_dir: Path, data: QGPODataModule, fresh: bool) -> None:
    c = cfg.energy
    critic = load_stage(CriticModule, run_dir, "critic", data)
    module = EnergyModule(data.state_dim, data.action_dim, lr=c.lr, hidden=c.hidden, depth=c.depth, beta=c.beta, loss=c.loss, time_scale=c.time_scale,
                          critic_hidden=critic.hparams.hidden, critic_depth=critic.hparams.depth)
    module.critic.load_state_dict(critic.q_target.state_dict())
    ensure_support_values(run_dir / "support", module.critic, data.states)  # the CEP labels' Q, once, not per step
    fit_stage(cfg, "energy", run_dir, module, data.use(c.batch_size, c.steps, run_dir / "support"), fresh)


def run_eval(cfg: DictConfig, run_dir: Path, data: QGPODataModule, fresh: bool) -> dict:
    c = cfg.eval
    policy = QGPOPolicy.from_run(run_dir, solver_steps=c.solver_steps)
    module = EvaluationModule(policy, EnvMaker.from_config(cfg), list(c.scales), c.episodes, c.seed, c.reported_scale,
                              c.ref_min_return, c.ref_max_return, c.envs_per_batch)
    trainer = make_trainer(cfg, "eval", run_dir, build_callbacks(cfg, "eval", run_dir), inference_mode=False)  # guidance needs ∇_a f
    trainer.test(module, verbose=False)
    results = {"task": cfg.task, "seed": cfg.seed, "env_id": c.env_id, "checkpoint": "last (the end of each stage's budget)",
               "dataset_mean_return": data.dataset_mean_return(),
               "dataset_normalized_score": normalized_score(data.dataset_mean_return(), c.ref_min_return, c.ref_max_return),
               **summarize(module.returns, c.reported_scale, c.ref_min_return, c.ref_max_return)}
    if trainer.is_global_zero:
        _atomic_write(run_dir / "results.json", json.dumps(results, indent=2))
    trainer.strategy.barrier()
    return results


def load_stage(cls: type[L.LightningModule], run_dir: Path, stage: str, data: QGPODataModule) -> L.LightningModule:
    """A finished stage's module, refused when it was trained on observations/actions of other sizes."""
    module = cls.load_from_checkpoint(run_dir / stage / MODEL, map_location="cpu", weights_only=False)
    trained = (module.hparams.state_dim, module.hparams.action_dim)
    if trained != (data.state_dim, data.action_dim):
        raise DataError(f"{run_dir / stage / MODEL} was trained on (state, action) sizes {trained}, but the data set has "
                        f"{(data.state_dim, data.action_dim)}. Use the run directory made for this data (run.dir=...).")
    return module


RUNNERS = {"behavior": run_behavior, "support": run_support, "critic": run_critic, "energy": run_energy, "eval": run_eval}


def run(cfg: DictConfig) -> Path:
    """Run ``cfg.stage`` (or every stage not yet done, for stage=all) into the run directory."""
    torch.set_float32_matmul_precision("high")
    run_dir = resolve_run_dir(cfg)
    check_run_dir(cfg, run_dir)
    data = QGPODataModule(cfg.data, seed=cfg.seed)  # bad data fails here, before anything is written
    data.prepare_data()
    data.setup()
    check_against_env(data.data, EnvMaker.from_config(cfg))
    prepare_run_dir(cfg, run_dir)
    os.environ[RUN_DIR_ENV] = str(run_dir.resolve())
    try:
        return _run_stages(cfg, run_dir, data)
    finally:
        os.environ.pop(RUN_DIR_ENV, None)


def _run_stages(cfg: DictConfig, run_dir: Path, data: QGPODataModule) -> Path:
    stages = STAGES if cfg.stage == "all" else (cfg.stage,)
    timings = {}
    for stage in stages:
        if cfg.stage == "all" and stage_done(run_dir, stage):
            rank_zero_info(f"[cep_lightning] {stage}: already done in {run_dir}, skipped")
            continue
        check_prerequisites(run_dir, stage)
        rank_zero_info(f"[cep_lightning] {stage}: starting ({run_dir})")
        start = time.time()
        L.seed_everything(cfg.seed + STAGES.index(stage), workers=True, verbose=False)  # a stage alone = the stage in a full run
        RUNNERS[stage](cfg, run_dir, data, fresh=stage_done(run_dir, stage))  # a finished stage asked for again is redone
        timings[stage] = time.time() - start
    if not is_rank_zero():
        return run_dir
    _record_timings(run_dir, timings)
    if (run_dir / "results.json").is_file():
        print(results_table(json.loads((run_dir / "results.json").read_text())))
    return run_dir


def _record_timings(run_dir: Path, timings: dict[str, float]) -> None:
    path = run_dir / "timings.json"
    previous = json.loads(path.read_text()) if path.is_file() else {}
    _atomic_write(path, json.dumps(with_shares(run_dir, {**previous, **timings}), indent=2))  # + shares, support rate


def results_table(results: dict) -> str:
    """The reported number, then the sweep (marked: its best scale is an optimistic pick)."""
    def row(label: str, r: dict) -> str:
        score = "-" if r["normalized_score"] is None else f"{r['normalized_score']:.1f}"
        return f"{label:>7} {r['mean_return']:>12.1f} ± {r['std_return']:<9.1f} {score:>11} {r['episodes']:>9}"

    reported = results["reported"]
    lines = [f"Task {results['task']} (seed {results['seed']}): data set mean return {results['dataset_mean_return']:.1f}",
             f"{'scale':>7} {'return (mean ± std)':>24} {'normalized':>11} {'episodes':>9}",
             row(f"{reported['scale']:g}", reported) + "   <- reported (scale fixed before evaluation)",
             "sweep (for inspection; its best scale is chosen after seeing test returns, so it is optimistic):"]
    lines += [row(scale, r) + ("   <- best of sweep" if float(scale) == results["best_scale"]["scale"] else "")
              for scale, r in results["scales"].items()]
    return "\n".join(lines)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
