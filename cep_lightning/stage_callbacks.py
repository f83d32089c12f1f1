"""The callbacks of a stage, from the ``callbacks`` config group: the project's own and users' by import path."""

from __future__ import annotations

import importlib
from pathlib import Path

from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig, OmegaConf

from cep_lightning.errors import ConfigError
from cep_lightning.rundir import RunDir


def import_object(path: str, where: str) -> type:
    """``package.module.Name`` -> the object, or a ConfigError that says what could not be found."""
    module_name, _, name = path.rpartition(".")
    if not module_name:
        raise ConfigError(f"{where}: '{path}' is not an import path of the form package.module.ClassName.")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"{where}: cannot import module '{module_name}' ({exc}). Is it on PYTHONPATH?"
        ) from None
    if not hasattr(module, name):
        raise ConfigError(f"{where}: module '{module_name}' has no attribute '{name}'.")
    return getattr(module, name)


def check_callbacks(cfg: DictConfig) -> None:
    """Import and construct every user callback once at start-up, so that a wrong import path or argument
    fails before any data is loaded or any stage starts (not hours into a run)."""
    for name, spec in cfg.callbacks.custom.items():
        user_callback(name, spec)


def user_callback(name: str, spec: DictConfig) -> Callback:
    """The callback ``callbacks.custom.<name>`` describes: ``target(**args)``, which must be a Lightning Callback."""
    where = f"callbacks.custom.{name}"
    cls = import_object(spec.target, where)
    try:
        callback = cls(**OmegaConf.to_container(spec.args, resolve=True))
    except TypeError as exc:
        raise ConfigError(f"{where}: {spec.target}(**args) failed: {exc}. Check {where}.args.") from None
    if not isinstance(callback, Callback):
        raise ConfigError(
            f"{where}: {spec.target} is not a Lightning Callback (lightning.pytorch.callbacks.Callback)."
        )
    return callback


def build_callbacks(cfg: DictConfig, stage: str, run_dir: Path) -> list[Callback]:
    """Callbacks switched on for ``stage``: EMA (callbacks.ema.stages), periodic evaluation (critic, energy),
    user callbacks."""
    from cep_lightning.callbacks.ema import ModelEMA
    from cep_lightning.callbacks.periodic_eval import PeriodicEvaluation
    from cep_lightning.evaluation import EnvMaker

    c = cfg.callbacks
    result: list[Callback] = []
    if stage in c.ema.stages and c.ema.enabled:
        result.append(ModelEMA(decay=c.ema.decay))
    if stage in ("critic", "energy") and c.periodic_eval.enabled:
        result.append(
            PeriodicEvaluation(
                behavior_checkpoint=RunDir(run_dir).model("behavior"),
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
    result += [user_callback(name, spec) for name, spec in c.custom.items() if stage in spec.stages]
    return result
