"""Which run directory a command works in, and its config: the command line's, merged over the run's own
settings when the run exists (``python train.py run.dir=R`` alone changes nothing)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from cep_lightning.config.loading import load_config, parse_overrides
from cep_lightning.errors import ConfigError, MissingStageError
from cep_lightning.run.directory import RunDir, latest_run
from cep_lightning.run.processes import launch_name


def load_command(argv: list[str]) -> DictConfig:
    """The config of the run ``argv`` names, validated, with ``run.dir`` set to the run's directory:
    ``load_config(argv)``, the run located (``locate_run``), and, for an existing run, ``load_config`` again
    over the run's saved settings."""
    cfg = load_config(argv)
    run = locate_run(cfg)
    if run.config.is_file():
        cli = parse_overrides(argv)
        saved = load_run_config(run.path)
        if "task" in cli and cli.task != saved.task:
            raise ConfigError(
                f"Run directory {run.path} belongs to task '{saved.task}', not '{cli.task}'. "
                f"Pass task={saved.task} or choose another run.dir."
            )
        if not cli.get("callbacks", {}).get("trust_run_config", False):
            _drop_stored_callbacks(saved, run.path)
        cfg = load_config(argv, saved=saved)
    cfg.run.dir = str(run.path)
    return cfg


def _drop_stored_callbacks(saved: DictConfig, path: Path) -> None:
    """A run directory may come from anyone: the callbacks its config.yaml names are import paths that would run
    at start-up, so they are dropped unless the command trusts the run (callbacks.trust_run_config=true) or names
    them itself."""
    stored = list(saved.get("callbacks", {}).get("custom", {}) or {})
    if stored:
        saved.callbacks.custom = {}
        print(
            f"[cep_lightning] {path / 'config.yaml'} names callbacks ({', '.join(stored)}); callbacks are not "
            "imported from a run directory: name them on the command line, or pass callbacks.trust_run_config=true "
            "for a run you trust.",
            file=sys.stderr,
        )


def locate_run(cfg: DictConfig) -> RunDir:
    """run.dir if given; else <root>/<task>/<name>; a single stage without either: the task's latest run
    (the latest with a finished stage); a new run: <root>/<task>/<launch name>, the name every process of the
    launch agrees on (``run.processes.launch_name``: the SLURM job, torchrun's run id), else <time stamp>."""
    task_dir = Path(cfg.run.root) / cfg.task
    if cfg.run.name is not None and (Path(cfg.run.name).name != cfg.run.name or cfg.run.name in ("", ".", "..")):
        raise ConfigError(
            f"run.name={cfg.run.name!r} is not a plain name: runs go to <run.root>/<task>/<run.name>. Use a name "
            f"without '/' or '..', or give the whole path with run.dir=..."
        )
    path = Path(cfg.run.dir) if cfg.run.dir else task_dir / cfg.run.name if cfg.run.name else None
    if path is not None:
        return RunDir(path)
    if cfg.stage == "all":
        return RunDir(task_dir / (launch_name() or unused_name(task_dir, time.strftime("%Y%m%d-%H%M%S"))))
    latest = latest_run(task_dir)
    if latest is None:
        raise MissingStageError(
            f"stage={cfg.stage} without run.dir works in the latest run of task '{cfg.task}', but {task_dir} has "
            f"none with a finished stage. Run the whole pipeline first (stage=all), or name the run with run.dir=..."
        )
    return latest


def unused_name(task_dir: Path, stamp: str) -> str:
    """``stamp``, or ``stamp-2``, ``stamp-3``, ... when runs of the same second exist already."""
    name, k = stamp, 1
    while (task_dir / name).exists():
        k += 1
        name = f"{stamp}-{k}"
    return name


def load_run_config(run_dir: str | Path) -> DictConfig:
    """The settings a run directory holds (its config.yaml)."""
    path = RunDir(Path(run_dir)).config
    if not path.is_file():
        raise ConfigError(f"{run_dir} has no config.yaml; is it a cep_lightning run directory?")
    return OmegaConf.load(path)  # type: ignore[return-value]
