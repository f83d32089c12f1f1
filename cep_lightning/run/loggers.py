"""The ``logger`` config choice: one or several Lightning loggers per stage, all under the run directory.

``logger=[tensorboard,csv]`` writes ``<run>/<stage>/logs/`` (TensorBoard) and ``<run>/<stage>/csv/metrics.csv``;
``wandb`` and ``mlflow`` need their package (``pip install wandb`` / ``pip install mlflow``) and are checked
at start-up, before any data is loaded (``config.validate``).
"""

from __future__ import annotations

import csv
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger, Logger, MLFlowLogger, TensorBoardLogger, WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from omegaconf import DictConfig


class ResumedCSVWriter(ExperimentWriter):
    """Lightning's CSV writer deletes an existing metrics.csv when it starts; here a resumed stage appends to it
    (a stage started afresh has its earlier logs moved aside first, ``pipeline.keep_earlier_logs``)."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as f:
                self.metrics_keys = next(csv.reader(f), [])  # the header the kept rows were written with


class ResumableCSVLogger(CSVLogger):
    """``CSVLogger`` whose metrics.csv survives a resume (``ResumedCSVWriter``)."""

    @property
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = ResumedCSVWriter(log_dir=self.log_dir)
        return self._experiment


def make_loggers(cfg: DictConfig, run_dir: Path, name: str) -> list[Logger]:
    """The loggers of one stage (``name``: its folder under the run directory), in the order ``logger`` lists them."""
    run_name = f"{cfg.task}/{run_dir.name}/{name}"
    makers = {
        "tensorboard": lambda: TensorBoardLogger(save_dir=run_dir, name=name, version="logs", default_hp_metric=False),
        "csv": lambda: ResumableCSVLogger(save_dir=run_dir, name=name, version="csv"),
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
