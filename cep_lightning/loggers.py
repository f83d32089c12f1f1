"""The ``logger`` config choice: one or several Lightning loggers per stage, all under the run directory.

``logger=[tensorboard,csv]`` writes ``<run>/<stage>/logs/`` (TensorBoard) and ``<run>/<stage>/csv/metrics.csv``;
``wandb`` and ``mlflow`` need their package (``pip install wandb`` / ``pip install mlflow``) and are checked
at start-up, before any data is loaded.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger, Logger, MLFlowLogger, TensorBoardLogger, WandbLogger
from omegaconf import DictConfig

from cep_lightning.errors import ConfigError

PACKAGES = {
    "tensorboard": "tensorboard",
    "csv": None,
    "wandb": "wandb",
    "mlflow": "mlflow",
}  # logger -> package it needs


def check_loggers(cfg: DictConfig) -> None:
    """Every name in ``logger`` is known and its package importable — a one-line ConfigError otherwise."""
    names = list(cfg.logger)
    if not names:
        raise ConfigError(
            f"logger=[] names no logger; choose one or more of: {', '.join(PACKAGES)} (e.g. logger=[tensorboard])."
        )
    for name in names:
        if name not in PACKAGES:
            raise ConfigError(f"logger={names}: unknown logger '{name}'; valid: {', '.join(PACKAGES)}.")
        package = PACKAGES[name]
        if package is not None and importlib.util.find_spec(package) is None:
            raise ConfigError(
                f"logger={name} needs the '{package}' package, which is not installed: pip install {package} "
                f"(or choose another logger, e.g. logger=[tensorboard,csv])."
            )


def make_loggers(cfg: DictConfig, run_dir: Path, name: str) -> list[Logger]:
    """The loggers of one stage (``name``: its folder under the run directory), in the order ``logger`` lists them."""
    run_name = f"{cfg.task}/{run_dir.name}/{name}"
    makers = {
        "tensorboard": lambda: TensorBoardLogger(
            save_dir=run_dir, name=name, version="logs", default_hp_metric=False
        ),
        "csv": lambda: CSVLogger(save_dir=run_dir, name=name, version="csv"),
        "wandb": lambda: WandbLogger(
            name=run_name, save_dir=str(run_dir / name), project="cep_lightning", group=str(run_dir)
        ),
        "mlflow": lambda: MLFlowLogger(
            experiment_name=f"cep_lightning/{cfg.task}",
            run_name=run_name,
            tracking_uri=f"file:{(run_dir / 'mlruns').resolve()}",
        ),
    }
    return [makers[n]() for n in cfg.logger]
