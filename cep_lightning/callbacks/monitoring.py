"""What every stage logs besides its own metrics: its hyperparameters with the run's settings (TensorBoard's
HPARAMS tab, with the stage's final metrics), the learning rate, throughput (samples/s) and the gradient norm.

Lightning's own callbacks do the work where they exist (``LearningRateMonitor``, ``ThroughputMonitor``,
``grad_norm``); like the stages' ``self.log`` calls, the gradient norm is computed only on the steps whose
metrics are written (``trainer.log_every_n_steps``).
"""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ThroughputMonitor
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import grad_norm
from omegaconf import DictConfig, OmegaConf

from cep_lightning.config.schema import TRAINING_STAGES
from cep_lightning.config.trainer_options import stage_options
from cep_lightning.stages.log_steps import writes_logs_now


def run_settings(cfg: DictConfig, stage: str) -> dict[str, Any]:
    """The settings a stage's logs carry: task, seed, data, device and precision, and the stage's config group."""
    data = cfg.data
    where = {
        "builtin": f"{data.builtin_episodes} episodes",
        "hdf5": data.path,
        "minari": data.minari_id,
        "toy": data.toy,
    }.get(data.source, "")
    first = f", first {data.max_transitions} transitions" if data.max_transitions else ""
    group: dict[str, Any] = OmegaConf.to_container(cfg[stage], resolve=True)  # type: ignore[assignment]
    group.pop("trainer", None)
    trainer = stage_options(cfg, stage)
    settings = {
        "task": cfg.task,
        "seed": cfg.seed,
        "data": f"{data.source}: {where}{first}",
        "smoke": bool(cfg.get("smoke", False)),
        **{f"trainer.{k}": trainer[k] for k in ("accelerator", "devices", "precision") if k in trainer},
        **{f"{stage}.{k}": v for k, v in group.items()},
    }
    return {k: _hparam_value(v) for k, v in settings.items()}


def _hparam_value(value: Any) -> int | float | str | bool:
    """TensorBoard's HPARAMS take numbers, strings and booleans: anything else is shown as its text."""
    return value if isinstance(value, (bool, int, float, str)) else str(value)


class RunHyperparameters(Callback):
    """Logs the stage's hyperparameters and the run's settings to every logger at the start; at the end, writes
    the TensorBoard HPARAMS entry whose metrics are the stage's final scalars (and ``<name>/seconds``)."""

    def __init__(self, name: str, settings: dict[str, Any]):
        self.name, self.settings = name, settings
        self.start = 0.0

    def _params(self, pl_module: L.LightningModule) -> dict[str, Any]:
        own = {f"{self.name}.{k}": _hparam_value(v) for k, v in pl_module.hparams.items()}
        return {**self.settings, **own}

    def _begin(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = time.time()
        for logger in trainer.loggers:
            logger.log_hyperparams(self._params(pl_module))

    def _end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        seconds = {f"{self.name}/seconds": time.time() - self.start}
        for logger in trainer.loggers:
            logger.log_metrics(seconds, step=trainer.global_step)
        if not trainer.is_global_zero:
            return
        from torch.utils.tensorboard.summary import hparams
        from torch.utils.tensorboard.writer import FileWriter

        tags = sorted({*trainer.callback_metrics, *trainer.logged_metrics, *seconds} - {"epoch"})
        experiment, start, end = hparams(
            self._params(pl_module), {tag: 0.0 for tag in tags}
        )  # values: the scalars' last
        for logger in trainer.loggers:
            if isinstance(
                logger, TensorBoardLogger
            ):  # an events file of its own beside the scalars (no 0.0 points)
                writer = FileWriter(logger.log_dir, filename_suffix=".hparams")
                for summary in (experiment, start, end):
                    writer.add_summary(summary)
                writer.close()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._begin(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._end(trainer, pl_module)

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._begin(trainer, pl_module)

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._end(trainer, pl_module)

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._begin(trainer, pl_module)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._end(trainer, pl_module)


class GradientNorm(Callback):
    """``<name>/grad_norm``: ||g||_2 = sqrt(Σ_p ||∂L/∂p||²) over the optimized parameters (after unscaling under
    mixed precision), on the steps whose metrics are written."""

    def __init__(self, name: str):
        self.name = name

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        if writes_logs_now(pl_module):
            norms = grad_norm(pl_module, norm_type=2)
            if norms:
                pl_module.log(f"{self.name}/grad_norm", norms["grad_2.0_norm_total"])


class BatchThroughput(Callback):
    """``<name>/samples_per_sec`` after every prediction or test batch (states of the support stage, episodes of
    the evaluation): samples / seconds since the loop started. These loops run few, long batches, so every
    batch is written (Lightning's ``ThroughputMonitor`` writes only every ``log_every_n_steps`` batches)."""

    def __init__(self, name: str):
        self.name = name
        self.start, self.samples = 0.0, 0

    def _begin(self) -> None:
        self.start, self.samples = time.perf_counter(), 0

    def _after(self, trainer: L.Trainer, batch: Any, batch_idx: int) -> None:
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize()
        self.samples += batch_size(batch)
        rate = self.samples / max(time.perf_counter() - self.start, 1e-9)
        for logger in trainer.loggers:
            logger.log_metrics({f"{self.name}/samples_per_sec": rate}, step=batch_idx + 1)

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._begin()

    def on_predict_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._after(trainer, batch, batch_idx)

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._begin()

    def on_test_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._after(trainer, batch, batch_idx)


def batch_size(batch: Any) -> int:
    """Samples in a batch: states of a training or support batch, episodes of an evaluation batch."""
    return len(batch["s"]) if isinstance(batch, dict) else len(batch)


def monitors(cfg: DictConfig, stage: str, name: str, log_every_n_steps: int) -> list[Callback]:
    """The monitoring callbacks of one stage (``name``: its folder): hyperparameters, throughput, and for the
    training stages the learning rate and the gradient norm. Training throughput is averaged over the last
    ``log_every_n_steps`` batches (at least 2, at most 100), so that it is written from the first logged step."""
    result: list[Callback] = [RunHyperparameters(name, run_settings(cfg, stage))]
    if stage in TRAINING_STAGES:
        window = max(2, min(100, log_every_n_steps))
        result += [
            ThroughputMonitor(batch_size_fn=batch_size, window_size=window),
            LearningRateMonitor(logging_interval="step"),
            GradientNorm(name),
        ]
    else:
        result.append(BatchThroughput(name))
    return result
