"""Loading a command's config: the schema's defaults, a task preset on its bases, an existing run's settings and the
command line, merged and checked with errors that name the key, where it came from and how to fix it.

Order of precedence: schema defaults (``schema.py``) < conf/base/<base>.yaml (``extends:``, in order) <
conf/task/<task>.yaml < command-line ``a.b=c``.
"""

from __future__ import annotations

import difflib
import os
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

from cep_lightning.errors import ConfigError, MissingStageError
from cep_lightning.rundir import STAGES, RunDir, latest_run
from cep_lightning.schema import STAGE_CHOICES, Config, choices, setting_for
from cep_lightning.smoke import apply_smoke


def _conf_dir() -> Path:
    """The presets: the repository's ``conf/`` in a checkout, the copy inside the package once installed."""
    checkout = Path(__file__).resolve().parent.parent / "conf"
    return checkout if (checkout / "task").is_dir() else Path(__file__).resolve().parent / "conf"


CONF_DIR = _conf_dir()


def available_tasks() -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / "task").glob("*.yaml"))


RUN_DIR_ENV = (
    "CEP_LIGHTNING_RUN_DIR"  # set by rank 0, inherited by the processes Lightning's DDP launcher starts
)
COMMAND_KEYS = ("stage",)  # keys of one command, not of the run: config.yaml does not keep them


def load_config(overrides: list[str]) -> DictConfig:
    """The config of the run a command names, validated.

    A new run: schema ← the preset's bases ← conf/task/<task>.yaml ← ``key=value`` overrides.
    An existing run (run.dir, run.name, or the task's latest run for a single stage): schema ← the run's
    config.yaml ← overrides, so that ``python train.py run.dir=R`` alone changes nothing.
    ``run.dir`` is always set in the result.
    """
    for item in overrides:
        if "=" not in item:
            raise ConfigError(
                f"Argument '{item}' is not of the form key=value (for example stage=energy or critic.steps=1000)."
            )
    cli = OmegaConf.from_dotlist(overrides)
    schema = OmegaConf.structured(Config)
    task = _check_task(cli.get("task", schema.task))
    cfg = _merge(preset(task), cli, "the command line")
    _check_stage(cfg)
    run = locate_run(cfg)
    if run.config.is_file():
        saved = load_run_config(run.path)
        if "task" in cli and cli.task != saved.task:
            raise ConfigError(
                f"Run directory {run.path} belongs to task '{saved.task}', not '{cli.task}'. "
                f"Pass task={saved.task} or choose another run.dir."
            )
        cfg = _merge(saved, cli, "the command line")
    if cfg.smoke:
        apply_smoke(cfg)
    _check_choices(cfg)
    cfg.run.dir = str(run.path)
    return cfg


def preset(task: str) -> DictConfig:
    """The schema's defaults under task's preset, composed: conf/task/<task>.yaml may name bases
    (``extends: <base>`` or a list of them, from conf/base/; a base may extend others), merged in order below it."""
    cfg = OmegaConf.structured(Config)
    for path in preset_chain(CONF_DIR / "task" / f"{task}.yaml"):
        layer = OmegaConf.load(path)
        layer.pop("extends", None)
        cfg = _merge(cfg, layer, str(path.relative_to(CONF_DIR.parent)))
    cfg.task = task
    return cfg


def preset_chain(path: Path, seen: tuple[Path, ...] = ()) -> list[Path]:
    """The files a preset is built from, bases first."""
    if path in seen:
        raise ConfigError(
            f"Presets extend each other in a cycle: {' -> '.join(p.name for p in (*seen, path))}."
        )
    if not path.is_file():
        where = f" (extended by {seen[-1].name})" if seen else ""
        raise ConfigError(f"Preset file {path} does not exist{where}. Bases: {', '.join(available_bases())}.")
    bases = OmegaConf.load(path).get("extends", [])
    chain: list[Path] = []
    for base in [bases] if isinstance(bases, str) else list(bases):
        chain += preset_chain(CONF_DIR / "base" / f"{base}.yaml", (*seen, path))
    return [*chain, path]


def available_bases() -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / "base").glob("*.yaml"))


def locate_run(cfg: DictConfig) -> RunDir:
    """run.dir if given; else <root>/<task>/<name>; a single stage without either: the task's latest run
    (the latest with a finished stage); a new run: <root>/<task>/<time stamp>."""
    if os.environ.get(RUN_DIR_ENV):
        return RunDir(Path(os.environ[RUN_DIR_ENV]))
    task_dir = Path(cfg.run.root) / cfg.task
    path = Path(cfg.run.dir) if cfg.run.dir else task_dir / cfg.run.name if cfg.run.name else None
    if cfg.stage == "all":
        return RunDir(path or task_dir / time.strftime("%Y%m%d-%H%M%S"))
    if path is not None:
        if not RunDir(path).finished_stages():
            state = "does not exist" if not path.exists() else "has no finished stage"
            raise MissingStageError(
                f"stage={cfg.stage} needs an existing run, but {path} {state}. "
                f"Run the whole pipeline there first: python train.py run.dir={path}"
            )
        return RunDir(path)
    latest = latest_run(task_dir)
    if latest is None:
        raise MissingStageError(
            f"stage={cfg.stage} needs an existing run of task '{cfg.task}', but {task_dir} has none "
            f"with a finished stage. Run the whole pipeline first (stage=all), or point at a run with run.dir=..."
        )
    return latest


def load_run_config(run_dir: str | Path) -> DictConfig:
    """The settings a run directory holds (its config.yaml), completed by the schema's defaults."""
    path = RunDir(Path(run_dir)).config
    if not path.is_file():
        raise ConfigError(f"{run_dir} has no config.yaml; is it a cep_lightning run directory?")
    return _merge(OmegaConf.structured(Config), OmegaConf.load(path), str(path))


def _check_task(task: str) -> str:
    if task not in available_tasks():
        close = difflib.get_close_matches(str(task), available_tasks(), n=3, cutoff=0.3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ConfigError(
            f"Unknown task '{task}'. Valid tasks: {', '.join(available_tasks())}.{hint} (Presets live in conf/task/.)"
        )
    return task


def _merge(base: DictConfig, other: DictConfig, source: str) -> DictConfig:
    try:
        return OmegaConf.merge(base, other)  # type: ignore[return-value]
    except (ConfigKeyError, ConfigAttributeError) as exc:
        key = exc.full_key or str(exc.key)
        parent = key.rsplit(".", 1)[0] if "." in key else ""
        node = OmegaConf.select(base, parent) if parent else base
        valid = (
            [f"{parent}.{k}" if parent else k for k in node.keys()] if isinstance(node, DictConfig) else []
        )
        raise ConfigError(f"Unknown config key '{key}' (in {source}).{_suggest(key, valid)}") from None
    except ValidationError as exc:
        key = exc.full_key or str(exc.key)
        expected = _expected_type(key)
        raise ConfigError(
            f"Config key '{key}' got the value {exc.value!r} (in {source}), but expects {expected}."
        ) from None
    except OmegaConfBaseException as exc:
        raise ConfigError(f"Invalid config (in {source}): {exc}") from None


def _expected_type(key: str) -> str:
    setting = setting_for(key)
    return setting.type if setting else "a value of the schema's type"


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=3, cutoff=0.5)
    if not close:
        last = word.rsplit(".", 1)[-1]
        close = [o for o in options if difflib.get_close_matches(last, [o.rsplit(".", 1)[-1]], cutoff=0.6)]
    return (
        f" Did you mean: {', '.join(close)}?"
        if close
        else (f" Valid keys: {', '.join(options)}." if options else "")
    )


def _check_stage(cfg: DictConfig) -> None:
    if cfg.stage not in STAGE_CHOICES:
        raise ConfigError(f"Unknown stage '{cfg.stage}'. Valid stages: {', '.join(STAGE_CHOICES)}.")


def _check_choices(cfg: DictConfig) -> None:
    for key, valid in choices().items():
        value = OmegaConf.select(cfg, key)
        if value not in valid:
            raise ConfigError(f"Config key '{key}' got {value!r}; valid values: {', '.join(valid)}.")
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
    for stage in STAGES:
        _check_positive(cfg, stage)
    if float(cfg.eval.reported_scale) not in [float(scale) for scale in cfg.eval.scales]:
        raise ConfigError(
            f"eval.reported_scale={cfg.eval.reported_scale} is not among eval.scales={list(cfg.eval.scales)}; "
            f"the reported scale is fixed beforehand and must be evaluated (add it to eval.scales)."
        )


def _check_positive(cfg: DictConfig, stage: str) -> None:
    group = cfg[stage]
    for key in ("steps", "batch_size", "M", "solver_steps", "episodes"):
        if key in group and group[key] <= 0:
            raise ConfigError(f"Config key '{stage}.{key}' must be positive, got {group[key]}.")


def run_settings_yaml(cfg: DictConfig) -> str:
    """The run's settings as config.yaml keeps them (without the keys of one command, such as ``stage``)."""
    settings = OmegaConf.to_container(cfg, resolve=True)
    for key in COMMAND_KEYS:
        settings.pop(key)  # type: ignore[union-attr]
    return OmegaConf.to_yaml(settings)
