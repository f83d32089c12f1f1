"""Every check of a command's settings by their meaning, in one place, before anything is loaded or written.

What Lightning itself refuses (a precision, strategy or device count it cannot run) surfaces when each stage's
Trainer is built, once, before any data is loaded (``run.trainers``).
"""

from __future__ import annotations

import difflib
import importlib.util
import inspect
import math

import lightning as L
from omegaconf import DictConfig, OmegaConf

from cep_lightning.config.schema import STAGES, TRAINING_STAGES, choices
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
SHORTENING = (
    "fast_dev_run",
    "limit_train_batches",
    "limit_val_batches",
    "limit_test_batches",
    "limit_predict_batches",
    "overfit_batches",
)  # a stage cut short would be recorded as finished
SOURCE_KEYS = {
    "path": "hdf5",
    "url": "hdf5",
    "frame": "hdf5",
    "minari_id": "minari",
    "toy": "toy",
    "images": "images",
    "builtin_episodes": "builtin",
}
OWNED_IN_EVAL = {"inference_mode": "the pipeline: guidance needs gradients of the energy model during evaluation"}


def check_config(cfg: DictConfig, cli: DictConfig | None = None) -> None:
    """A ConfigError naming the key, its value and the fix, for the first setting that is not valid; ``cli``:
    the command line's own settings (a data setting it gives must be one the chosen source reads)."""
    for key, valid in choices().items():
        value = OmegaConf.select(cfg, key)
        if value not in valid:
            raise ConfigError(f"Config key '{key}' got {value!r}; valid values: {', '.join(valid)}.")
    for stage in STAGES:
        for key in ("steps", "batch_size", "M", "solver_steps", "episodes"):
            if key in cfg[stage] and cfg[stage][key] is not None and cfg[stage][key] <= 0:
                raise ConfigError(f"Config key '{stage}.{key}' must be positive, got {cfg[stage][key]}.")
    _check_ranges(cfg)
    if cli is not None:
        _check_source_keys(cfg, cli)
    if float(cfg.eval.reported_scale) not in [float(scale) for scale in cfg.eval.scales]:
        raise ConfigError(
            f"eval.reported_scale={cfg.eval.reported_scale} is not among eval.scales={list(cfg.eval.scales)}; "
            f"the reported scale is fixed beforehand and must be evaluated (add it to eval.scales)."
        )
    _check_callback_specs(cfg)
    _check_compiled_step(cfg)
    _check_loggers(list(cfg.logger))
    for key in cfg.trainer:
        _check_trainer_key("trainer", str(key), None)
    for stage in STAGES:
        for key in cfg[stage].trainer:
            _check_trainer_key(f"{stage}.trainer", str(key), stage)


def _check_ranges(cfg: DictConfig) -> None:
    """Values by their meaning: γ in [0, 1), τ in (0, 1], positive rates and sizes, finite temperatures."""

    def refuse(key: str, why: str) -> None:
        raise ConfigError(f"Config key '{key}' got {OmegaConf.select(cfg, key)!r}, but {why}.")

    if cfg.seed < 0:
        refuse("seed", "seeds are non-negative integers")
    if not 0 <= cfg.critic.gamma < 1:
        refuse("critic.gamma", "the discount γ lies in [0, 1)")
    if not 0 < cfg.critic.tau <= 1:
        refuse("critic.tau", "the Polyak rate τ lies in (0, 1]")
    for stage in TRAINING_STAGES:
        if not (math.isfinite(cfg[stage].lr) and cfg[stage].lr > 0):
            refuse(f"{stage}.lr", "a learning rate is a positive number")
    for key in ("energy.beta", "critic.beta_q", "energy.time_scale"):
        value = OmegaConf.select(cfg, key)
        if not (math.isfinite(value) and value >= 0):
            refuse(key, "it is a finite, non-negative number")
    if not cfg.behavior.widths or min(cfg.behavior.widths) <= 0:
        refuse("behavior.widths", "the MLP-U-Net needs one or more positive widths, e.g. [512,256,128]")
    for key in (
        "behavior.cond_dim",
        "critic.hidden",
        "critic.depth",
        "energy.hidden",
        "energy.depth",
        "checkpoint.every_n_steps",
    ):
        if OmegaConf.select(cfg, key) <= 0:
            refuse(key, "it must be positive")
    if not cfg.eval.scales or not all(math.isfinite(s) for s in cfg.eval.scales):
        refuse("eval.scales", "the sweep needs one or more finite guidance scales")
    if cfg.data.max_transitions is not None and cfg.data.max_transitions <= 0:
        refuse("data.max_transitions", "it is a positive number of transitions, or null for all")
    if not 0 < cfg.callbacks.ema.decay < 1:
        refuse("callbacks.ema.decay", "an EMA decay lies in (0, 1)")


def _check_source_keys(cfg: DictConfig, cli: DictConfig) -> None:
    """A data setting given on the command line that the chosen source does not read would be ignored."""
    for key, source in SOURCE_KEYS.items():
        if key in cli.get("data", {}) and cfg.data.source != source:
            raise ConfigError(
                f"data.{key} is read only with data.source={source}, but this run's source is "
                f"{cfg.data.source}: add data.source={source}, or leave data.{key} out."
            )


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
            raise ConfigError(f"logger={names}: unknown logger '{name}'; valid: {', '.join(LOGGER_PACKAGES)}.")
        package = LOGGER_PACKAGES[name]
        if package is not None and importlib.util.find_spec(package) is None:
            raise ConfigError(
                f"logger={name} needs the '{package}' package, which is not installed: pip install {package} "
                f"(or choose another logger, e.g. logger=[tensorboard,csv])."
            )


def _check_trainer_key(group: str, key: str, stage: str | None) -> None:
    """A known ``lightning.Trainer`` argument that the pipeline does not set itself."""
    if key in SHORTENING:
        raise ConfigError(
            f"{group}.{key} cuts a stage short, and the stage would still be recorded as finished. For a quick "
            f"check of a set-up use smoke=true (every stage on a small slice, short budgets); for shorter stages "
            f"lower their budgets (e.g. critic.steps=1000)."
        )
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


def _check_compiled_step(cfg: DictConfig) -> None:
    """The compiled step (``compile=true``) applies Adam itself: no gradient clipping, no loss scaling (16-mixed);
    ``steps_per_batch`` K > 1 needs it, and K must divide every count of steps a training stage is cut at."""
    per_batch = cfg.steps_per_batch
    if not isinstance(per_batch, int) or per_batch < 1:
        raise ConfigError(f"steps_per_batch must be a positive whole number of optimizer steps, got {per_batch!r}.")
    if per_batch > 1 and not cfg.compile:
        raise ConfigError(
            f"steps_per_batch={per_batch} runs that many compiled steps per Lightning batch; it needs compile=true "
            "(or set steps_per_batch=1)."
        )
    if not cfg.compile:
        return
    for stage in TRAINING_STAGES:
        options = {**cfg.trainer, **cfg[stage].get("trainer", {})}
        if options.get("gradient_clip_val"):
            raise ConfigError(
                f"compile=true compiles {stage}'s whole step, Adam included, so Lightning cannot clip its gradients "
                f"(gradient_clip_val={options['gradient_clip_val']}); drop trainer.gradient_clip_val "
                "or set compile=false."
            )
        if str(options.get("precision", "")).startswith("16"):
            raise ConfigError(
                f"compile=true does not scale the loss that precision={options['precision']} needs ({stage}); "
                "use trainer.precision=bf16-mixed or 32-true, or compile=false."
            )
        intervals = {
            f"{stage}.steps": cfg[stage].steps,
            "checkpoint.every_n_steps": cfg.checkpoint.every_n_steps,
            f"{stage}.trainer.log_every_n_steps": options.get("log_every_n_steps", 50),
        }
        if stage in ("critic", "energy") and cfg.callbacks.periodic_eval.enabled:
            intervals["callbacks.periodic_eval.every_n_steps"] = cfg.callbacks.periodic_eval.every_n_steps
        for key, steps in intervals.items():
            if steps % per_batch:
                raise ConfigError(
                    f"steps_per_batch={per_batch} runs {per_batch} optimizer steps per Lightning batch, and Lightning "
                    f"acts only between batches, so it must divide {key}={steps}. Choose a steps_per_batch that "
                    f"divides it, or set {key} to a multiple of {per_batch}."
                )
