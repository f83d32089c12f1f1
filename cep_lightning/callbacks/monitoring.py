"""What every stage logs besides its own metrics: its hyperparameters with the run's settings (TensorBoard's
HPARAMS tab, with the stage's final metrics), the learning rate, throughput (samples/s) and the gradient norm.

Lightning's own machinery does the work: ``Logger.log_hyperparams`` (with ``metrics`` for TensorBoard's
HPARAMS tab), ``LearningRateMonitor``, ``ThroughputMonitor`` (for the prediction and test loops too) and
``grad_norm``; like the stages' ``self.log`` calls, the gradient norm is computed only on the steps whose
metrics are written (``trainer.log_every_n_steps``).
"""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ThroughputMonitor
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import grad_norm, rank_zero_only
from omegaconf import DictConfig, OmegaConf

from cep_lightning.config.schema import TRAINING_STAGES
from cep_lightning.config.trainer_options import stage_options
from cep_lightning.stages.log_steps import writes_logs_now

# The HPARAMS tab's metric columns: tags of their own, so that the real curves get no extra point.
HPARAMS_PREFIX = "hp/"


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
    return {
        "task": cfg.task,
        "seed": cfg.seed,
        "data": f"{data.source}: {where}{first}",
        "smoke": bool(cfg.get("smoke", False)),
        **{f"trainer.{k}": trainer[k] for k in ("accelerator", "devices", "precision") if k in trainer},
        **{f"{stage}.{k}": v for k, v in group.items()},
    }


class RunHyperparameters(Callback):
    """Logs the stage's hyperparameters and the run's settings to every logger at the start; at the end,
    ``<name>/seconds`` to every logger and, through ``TensorBoardLogger.log_hyperparams(params, metrics)``, the
    HPARAMS entry whose metric columns ``hp/<tag>`` hold the last value of each of the stage's scalars."""

    def __init__(self, name: str, settings: dict[str, Any]):
        self.name, self.settings = name, settings
        self.start = 0.0

    def _params(self, pl_module: L.LightningModule) -> dict[str, Any]:
        own = {f"{self.name}.{k}": v for k, v in pl_module.hparams.items()}
        return {**self.settings, **own}

    def _begin(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = time.time()
        for logger in trainer.loggers:
            logger.log_hyperparams(self._params(pl_module))

    def _end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        seconds = {f"{self.name}/seconds": time.time() - self.start}
        for logger in trainer.loggers:
            logger.log_metrics(seconds, step=trainer.global_step)
        final = {**trainer.callback_metrics, **trainer.logged_metrics, **seconds}
        metrics = {f"{HPARAMS_PREFIX}{tag}": float(value) for tag, value in sorted(final.items()) if tag != "epoch"}
        # the other loggers take no metrics with their hyperparameters (their curves hold these values)
        for logger in (lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)):
            logger.log_hyperparams(self._params(pl_module), metrics=metrics, step=trainer.global_step)

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


class LoggingStepThroughput(ThroughputMonitor):
    """Lightning's ``ThroughputMonitor``, timing the training loop only at its first step and on the steps whose
    metrics are written: its timing synchronizes a GPU (``torch.cuda.synchronize``), which would stall every step.
    In between it only counts batches and samples; the rates are those of each whole logging interval."""

    @rank_zero_only
    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, *args: Any
    ) -> None:
        if trainer.global_step == getattr(pl_module, "steps_per_batch", 1) or writes_logs_now(pl_module, done=True):
            super().on_train_batch_end(trainer, pl_module, outputs, batch, *args)
        else:
            stage = trainer.state.stage
            self._samples[stage] += self.batch_size_fn(batch)
            self._batches[stage] += 1


class OptimizerStepAxis(Callback):
    """Curves against optimizer steps when a batch holds K of them (``compile=true steps_per_batch=K``).

    Lightning writes a training metric at, and decides whether a batch writes its metrics by, its count of
    batches that stepped (``_batches_that_stepped``: the x-axis of the loggers, the learning-rate monitor and the
    throughput monitor). Before each batch this sets that count to global_step + K - 1, so that after Lightning
    adds the batch's 1 it equals the optimizer steps: metrics are written at step g + K when g + K is a multiple
    of ``trainer.log_every_n_steps``, as with one step a batch. It runs before the other callbacks' batch start."""

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        steps = getattr(pl_module, "steps_per_batch", 1)
        trainer.fit_loop.epoch_loop._batches_that_stepped = trainer.global_step + steps - 1


def batch_size(batch: Any) -> int:
    """Samples in a batch: states of a training or support batch, episodes of an evaluation batch."""
    return len(batch["s"]) if isinstance(batch, dict) else len(batch)


def monitors(cfg: DictConfig, stage: str, name: str, log_every_n_steps: int) -> list[Callback]:
    """The monitoring callbacks of one stage (``name``: its folder): hyperparameters, throughput, and for the
    training stages the learning rate and the gradient norm. Throughput is written every ``log_every_n_steps``
    steps, the rate of the interval since the previous write (the first: since step 1), and for support and
    evaluation every batch (``<stage>.trainer``'s default), averaged over as many (at least 2, at most 100), so that
    it is written from the first logged step on."""
    window = 2 if stage in TRAINING_STAGES else max(2, min(100, log_every_n_steps))
    result: list[Callback] = [
        RunHyperparameters(name, run_settings(cfg, stage)),
        LoggingStepThroughput(batch_size_fn=batch_size, window_size=window),
    ]
    if stage in TRAINING_STAGES:
        result += [LearningRateMonitor(logging_interval="step"), GradientNorm(name)]
    return result
