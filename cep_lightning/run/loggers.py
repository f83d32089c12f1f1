"""The ``logger`` config choice: one or several Lightning loggers per stage, all under the run directory.

``logger=[tensorboard,csv]`` writes ``<run>/<stage>/logs/`` (TensorBoard) and ``<run>/<stage>/csv/metrics.csv``;
``wandb`` and ``mlflow`` need their package (``pip install wandb`` / ``pip install mlflow``) and are checked
at start-up, before any data is loaded (``config.validate``).
"""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch.loggers import CSVLogger, Logger, MLFlowLogger, TensorBoardLogger, WandbLogger
from omegaconf import DictConfig


def make_loggers(cfg: DictConfig, run_dir: Path, name: str) -> list[Logger]:
    """The loggers of one stage (``name``: its folder under the run directory), in the order ``logger`` lists them."""
    run_name = f"{cfg.task}/{run_dir.name}/{name}"
    makers = {
        "tensorboard": lambda: TensorBoardLogger(save_dir=run_dir, name=name, version="logs", default_hp_metric=False),
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
