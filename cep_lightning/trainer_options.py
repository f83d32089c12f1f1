"""``trainer.*`` and ``<stage>.trainer.*``: any ``lightning.Trainer`` argument, checked before any work starts."""

from __future__ import annotations

import contextlib
import difflib
import inspect
import logging
from typing import Any, Iterator

import lightning as L
from omegaconf import DictConfig, OmegaConf

from cep_lightning.errors import ConfigError
from cep_lightning.hardware import resolve_precision
from cep_lightning.rundir import STAGES

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
TRAINER_ARGUMENTS = tuple(p for p in inspect.signature(L.Trainer.__init__).parameters if p != "self")


def stage_options(cfg: DictConfig, stage: str) -> dict[str, Any]:
    """The Trainer options of one stage: ``trainer.*``, then ``<stage>.trainer.*`` over them, with
    ``precision=auto`` resolved for the hardware (``hardware.resolve_precision``)."""
    shared: dict[str, Any] = OmegaConf.to_container(cfg.trainer, resolve=True)  # type: ignore[assignment]
    own: dict[str, Any] = OmegaConf.to_container(cfg[stage].trainer, resolve=True)  # type: ignore[assignment]
    options = {**shared, **own}
    options["precision"] = resolve_precision(
        options.get("precision", "auto"), str(options.get("accelerator", "auto"))
    )
    return options


def check_trainer_options(cfg: DictConfig) -> None:
    """Every stage's options: known Trainer arguments, none the pipeline owns, and values Lightning accepts
    (precision, accelerator, strategy, devices) — a ConfigError naming the key otherwise."""
    for stage in STAGES:
        for key in cfg[stage].trainer:
            _check_key(f"{stage}.trainer", str(key), stage)
    for key in cfg.trainer:
        _check_key("trainer", str(key), None)
    for stage in STAGES:
        options = stage_options(cfg, stage)
        try:
            with _quiet_lightning_banners():
                L.Trainer(**options, logger=False, enable_checkpointing=False, enable_model_summary=False)
        except (
            Exception
        ) as exc:  # Lightning's own refusal (MisconfigurationException, ValueError, TypeError...)
            where = ", ".join(f"{k}={v!r}" for k, v in options.items() if _named_in(k, exc)) or ", ".join(
                f"{k}={v!r}" for k, v in options.items()
            )
            message = " ".join(str(exc).split())
            raise ConfigError(
                f"Lightning refuses the Trainer options of stage '{stage}' ({where}): {message} "
                f"Change trainer.* (or {stage}.trainer.*)."
            ) from None


def _check_key(group: str, key: str, stage: str | None) -> None:
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


def _named_in(key: str, exc: Exception) -> bool:
    return key in str(exc) or key.replace("_", " ") in str(exc)


@contextlib.contextmanager
def _quiet_lightning_banners() -> Iterator[None]:
    """Silence "GPU available: ..." and similar lines while a Trainer is built only to check its options."""
    loggers = [
        logging.getLogger(name)
        for name in (
            "lightning.pytorch",
            "lightning.fabric",
            "lightning.pytorch.utilities.rank_zero",
            "lightning.fabric.utilities.rank_zero",
        )
    ]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
