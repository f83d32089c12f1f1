"""Every callback of a stage's Trainer, built from the config: the pipeline's own (checkpoints, guards,
monitoring, progress), the ones switched on in the ``callbacks`` group (EMA, periodic evaluation) and users'
own by import path."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from cep_lightning.callbacks.ema import DeviceEMA
from cep_lightning.callbacks.guards import NonFiniteLossGuard
from cep_lightning.callbacks.monitoring import OptimizerStepAxis, monitors
from cep_lightning.callbacks.periodic_eval import PeriodicEvaluation
from cep_lightning.callbacks.progress import progress_bar
from cep_lightning.callbacks.rng_state import RNGStateCheckpoint
from cep_lightning.callbacks.signals import CheckpointOnSigterm, SaveLogsWithCheckpoints, StopAtBatchEnd
from cep_lightning.config.schema import TRAINING_STAGES
from cep_lightning.envs.evaluation import EnvMaker
from cep_lightning.errors import ConfigError


def import_object(path: str, where: str) -> type:
    """``package.module.Name`` -> the object, or a ConfigError that says what could not be found."""
    module_name, _, name = path.rpartition(".")
    if not module_name:
        raise ConfigError(f"{where}: '{path}' is not an import path of the form package.module.ClassName.")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{where}: cannot import module '{module_name}' ({exc}). Is it on PYTHONPATH?") from None
    if not hasattr(module, name):
        raise ConfigError(f"{where}: module '{module_name}' has no attribute '{name}'.")
    return getattr(module, name)


def user_callback(name: str, spec: DictConfig) -> Callback:
    """The callback ``callbacks.custom.<name>`` describes: ``target(**args)``, which must be a Lightning Callback."""
    where = f"callbacks.custom.{name}"
    cls = import_object(spec.target, where)
    try:
        callback = cls(**OmegaConf.to_container(spec.args, resolve=True))
    except TypeError as exc:
        raise ConfigError(f"{where}: {spec.target}(**args) failed: {exc}. Check {where}.args.") from None
    if not isinstance(callback, Callback):
        raise ConfigError(f"{where}: {spec.target} is not a Lightning Callback (lightning.pytorch.callbacks.Callback).")
    return callback


def stage_callbacks(
    cfg: DictConfig,
    stage: str,
    name: str,
    checkpoint_dir: Path,
    behavior_checkpoint: Path,
    log_every_n_steps: int,
    progress: bool,
    stop_request: Any,
) -> list[Callback]:
    """The callbacks of ``stage`` (its folder: ``name``). Training stages: the non-finite-loss guard, the periodic
    resume checkpoint (``checkpoint_dir``/last.ckpt, also on SIGTERM) with the random generators' state, and the
    EMA where switched on; the critic and energy stages: periodic evaluation where switched on; every stage: its
    monitoring, its progress display, the user callbacks attached to it, and the stop at the end of a batch on
    ``stop_request``'s signal."""
    c = cfg.callbacks
    result: list[Callback] = []
    if stage in TRAINING_STAGES and cfg.compile and cfg.steps_per_batch > 1:
        result.append(OptimizerStepAxis())  # first: the other callbacks' batch hooks see the step count
    if stage in TRAINING_STAGES:
        result += [
            NonFiniteLossGuard(name, checkpoint_dir),
            ModelCheckpoint(
                dirpath=checkpoint_dir, every_n_train_steps=cfg.checkpoint.every_n_steps, save_top_k=0, save_last=True
            ),
            CheckpointOnSigterm(checkpoint_dir / "last.ckpt"),
            RNGStateCheckpoint(),
            SaveLogsWithCheckpoints(),
        ]
    if stage in c.ema.stages and c.ema.enabled:
        result.append(DeviceEMA(decay=c.ema.decay))
    if stage in ("critic", "energy") and c.periodic_eval.enabled:
        result.append(
            PeriodicEvaluation(
                behavior_checkpoint=behavior_checkpoint,
                make_env=EnvMaker.from_config(cfg),
                every_n_steps=c.periodic_eval.every_n_steps,
                episodes=c.periodic_eval.episodes,
                scales=list(c.periodic_eval.scales),
                solver_steps=cfg.eval.solver_steps,
                M=cfg.support.M,
                seed=cfg.eval.seed,
                ref_min=cfg.eval.ref_min_return,
                ref_max=cfg.eval.ref_max_return,
                sampler=cfg.eval.sampler,
            )
        )
    result += [user_callback(key, spec) for key, spec in c.custom.items() if stage in spec.stages]
    result += monitors(cfg, stage, name, log_every_n_steps)
    result += progress_bar(cfg, name, progress)
    result.append(StopAtBatchEnd(stop_request))  # after the prediction writer and the progress line
    return result
