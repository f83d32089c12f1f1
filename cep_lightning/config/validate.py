"""Every check of a command's settings by their meaning, in one place, before anything is loaded or written.

What Lightning itself refuses (a precision, strategy or device count it cannot run) surfaces when each stage's
Trainer is built, once, before any data is loaded (``run.trainers``).
"""

from __future__ import annotations

import difflib
import importlib.util
import inspect

import lightning as L
from omegaconf import DictConfig, OmegaConf

from cep_lightning.config.schema import STAGES, choices
from cep_lightning.errors import ConfigError

LOGGER_PACKAGES = {"tensorboard": "tensorboard", "csv": None, "wandb": "wandb", "mlflow": "mlflow"}
TRAINER_ARGUMENTS = tuple(p for p in inspect.signature(L.Trainer.__init__).parameters if p != "self")
OWNED = {  # Trainer arguments the pipeline sets itself -> the config key that controls them
    "max_steps": "{stage}.steps",
    "max_epochs": "{stage}.steps",
    "min_steps": "{stage}.steps",
    "min_epochs": "{stage}.steps",
    "max_time": "{stage}.steps",
    "callbacks": "callbacks.* (your own: callbacks.custom.NAME.target=package.module.Class)",
    "logger": "the logger key (e.g. logger=[tensorboard,csv]; wandb and mlflow too)",
    "default_root_dir": "run.dir",
    "enable_checkpointing": "checkpoint.every_n_steps",
    "enable_model_summary": "the pipeline",
}
OWNED_IN_EVAL = {
    "inference_mode": "the pipeline: guidance needs gradients of the energy model during evaluation"
}


def check_config(cfg: DictConfig) -> None:
    """A ConfigError naming the key, its value and the fix, for the first setting that is not valid."""
    for key, valid in choices().items():
        value = OmegaConf.select(cfg, key)
        if value not in valid:
            raise ConfigError(f"Config key '{key}' got {value!r}; valid values: {', '.join(valid)}.")
    for stage in STAGES:
        for key in ("steps", "batch_size", "M", "solver_steps", "episodes"):
            if key in cfg[stage] and cfg[stage][key] <= 0:
                raise ConfigError(f"Config key '{stage}.{key}' must be positive, got {cfg[stage][key]}.")
    if float(cfg.eval.reported_scale) not in [float(scale) for scale in cfg.eval.scales]:
        raise ConfigError(
            f"eval.reported_scale={cfg.eval.reported_scale} is not among eval.scales={list(cfg.eval.scales)}; "
            f"the reported scale is fixed beforehand and must be evaluated (add it to eval.scales)."
        )
    _check_callback_specs(cfg)
    _check_loggers(list(cfg.logger))
    for key in cfg.trainer:
        _check_trainer_key("trainer", str(key), None)
    for stage in STAGES:
        for key in cfg[stage].trainer:
            _check_trainer_key(f"{stage}.trainer", str(key), stage)


def _check_callback_specs(cfg: DictConfig) -> None:
    for name, spec in cfg.callbacks.custom.items():
        unknown = [stage for stage in spec.stages if stage not in STAGES]
        if unknown:
            raise ConfigError(
                f"callbacks.custom.{name}.stages names unknown stage(s) {unknown}; valid: {', '.join(STAGES)}."
            )
        if OmegaConf.is_missing(spec, "target") or spec.target == "???":
            raise ConfigError(
                f"callbacks.custom.{name}.target is required: the import path of a Lightning Callback class."
            )


def _check_loggers(names: list[str]) -> None:
    """Every name in ``logger`` is known and its package importable."""
    if not names:
        raise ConfigError(
            f"logger=[] names no logger; choose one or more of: {', '.join(LOGGER_PACKAGES)} "
            "(e.g. logger=[tensorboard])."
        )
    for name in names:
        if name not in LOGGER_PACKAGES:
            raise ConfigError(
                f"logger={names}: unknown logger '{name}'; valid: {', '.join(LOGGER_PACKAGES)}."
            )
        package = LOGGER_PACKAGES[name]
        if package is not None and importlib.util.find_spec(package) is None:
            raise ConfigError(
                f"logger={name} needs the '{package}' package, which is not installed: pip install {package} "
                f"(or choose another logger, e.g. logger=[tensorboard,csv])."
            )


def _check_trainer_key(group: str, key: str, stage: str | None) -> None:
    """A known ``lightning.Trainer`` argument that the pipeline does not set itself."""
    owned = {**OWNED, **(OWNED_IN_EVAL if stage in (None, "eval") else {})}
    if key in owned:
        owner = owned[key].format(stage=stage or "<stage>")
        if key in OWNED_IN_EVAL and stage is None:
            owner += " (set it for other stages with <stage>.trainer.inference_mode)"
        raise ConfigError(f"{group}.{key} cannot be set: it is controlled by {owner}.")
    if key not in TRAINER_ARGUMENTS:
        close = difflib.get_close_matches(key, TRAINER_ARGUMENTS, n=3, cutoff=0.6)
        hint = f" Did you mean: {', '.join(f'{group}.{c}' for c in close)}?" if close else ""
        raise ConfigError(
            f"{group}.{key} is not an argument of lightning.Trainer.{hint} "
            f"(see https://lightning.ai/docs/pytorch/stable/common/trainer.html#trainer-class-api)"
        )
