"""Progress output of every stage: a tqdm bar in a terminal, plain lines in logs (nohup, SLURM, CI).

Lines are printed every ``progress.every_n_steps`` steps or ``progress.every_seconds`` seconds, whichever
comes first (in the training stages at the first step after it that writes metrics, ``trainer.log_every_n_steps``),
with the step, the progress-bar metrics (the loss), the rate and the time left::

    [behavior] step 1200/600000 (0.2%) | behavior/loss 0.0912 | 45.1 steps/s | elapsed 0:00:27 | left 3:41:12
"""

from __future__ import annotations

import datetime
import sys
import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ProgressBar, TQDMProgressBar
from omegaconf import DictConfig

from cep_lightning.stages.log_steps import writes_logs_now


def _clock(seconds: float) -> str:
    return str(datetime.timedelta(seconds=int(seconds)))


class StageProgressBar(TQDMProgressBar):
    """Lightning's tqdm bar, described by the stage's name instead of an epoch count (a stage is one epoch of its
    step budget) or a dataloader's number, without ``v_num``. Lightning's hooks run first and write their own
    description ("Epoch N", "Testing DataLoader 0"); the stage's replaces it at once, through the bar's property."""

    def __init__(self, name: str):
        super().__init__()
        self.name = name
        self.shown: dict[str, Any] | None = None  # the metrics as last read

    @property
    def train_description(self) -> str:
        return self.name

    @property
    def predict_description(self) -> str:
        return f"{self.name} (states)"

    @property
    def test_description(self) -> str:
        return f"{self.name} (episode batches)"

    def on_train_epoch_start(self, trainer: L.Trainer, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.set_description(self.train_description)

    def on_predict_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        super().on_predict_batch_start(trainer, pl_module, batch, batch_idx, dataloader_idx)
        self.predict_progress_bar.set_description(self.predict_description)

    def on_test_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        super().on_test_batch_start(trainer, pl_module, batch, batch_idx, dataloader_idx)
        self.test_progress_bar.set_description(self.test_description)

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        """The metrics as of the last step that wrote them: reading them turns device values into numbers, which
        waits for the device, so a training step in between shows the last ones read."""
        if trainer.training and not writes_logs_now(pl_module, done=True) and self.shown is not None:
            return self.shown
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        self.shown = metrics
        return metrics


class LineProgress(ProgressBar):
    """One line every ``every_n_steps`` steps (batches for support and evaluation) or ``every_seconds``
    seconds, whichever comes first, and one when the stage ends."""

    def __init__(self, name: str, every_n_steps: int, every_seconds: float):
        super().__init__()
        self.name, self.every_n_steps, self.every_seconds = name, every_n_steps, every_seconds
        self.enabled = True
        self.start = self.last_time = 0.0
        self.first = self.last_done = 0

    def disable(self) -> None:
        self.enabled = False

    def enable(self) -> None:
        self.enabled = True

    def _begin(self, done: int, total: int, unit: str) -> None:
        self.done_batches = 0
        self.start = self.last_time = time.time()
        self.first = self.last_done = done
        if self.enabled:
            print(f"[{self.name}] {unit} {done}/{total} starting", flush=True)

    def _report(self, trainer: L.Trainer, done: int, total: int, unit: str, final: bool = False) -> None:
        now = time.time()
        due = (
            self.every_n_steps > 0 and done - self.last_done >= self.every_n_steps
        ) or now - self.last_time >= self.every_seconds
        if not self.enabled or not (due or final) or done == self.last_done:
            return
        rate = (done - self.last_done) / max(now - self.last_time, 1e-9)
        average = (done - self.first) / max(now - self.start, 1e-9)
        metrics = "".join(
            f" | {k} {v:.4g}" if isinstance(v, float) else f" | {k} {v}"
            for k, v in self.get_metrics(trainer, trainer.lightning_module).items()
            if k != "v_num"
        )
        left = f" | left {_clock((total - done) / average)}" if average > 0 and total > done else ""
        print(
            f"[{self.name}] {unit} {done}/{total} ({100 * done / max(total, 1):.1f}%){metrics} | "
            f"{rate:.3g} {unit}{'es' if unit.endswith('h') else 's'}/s"
            f" | elapsed {_clock(now - self.start)}{left}",
            flush=True,
        )
        self.last_time, self.last_done = now, done

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._begin(trainer.global_step, trainer.max_steps, "step")

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if writes_logs_now(pl_module, done=True):  # a line reads the metrics on the host: only where they are written
            self._report(trainer, trainer.global_step, trainer.max_steps, "step")

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._report(trainer, trainer.global_step, trainer.max_steps, "step", final=True)

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._begin(0, sum(trainer.num_predict_batches), "batch")

    def on_predict_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any, **kwargs: Any) -> None:
        self._batch_done(trainer, sum(trainer.num_predict_batches))

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._begin(0, sum(trainer.num_test_batches), "batch")

    def on_test_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any, **kwargs: Any) -> None:
        self._batch_done(trainer, sum(trainer.num_test_batches))

    def _batch_done(self, trainer: L.Trainer, total: int) -> None:
        """A prediction or test batch ended: batches done so far, out of ``total``."""
        self.done_batches += 1
        self._report(trainer, self.done_batches, total, "batch", final=self.done_batches == total)


def progress_bar(cfg: DictConfig, name: str, enabled: bool) -> list[ProgressBar]:
    """The stage's progress display: none when ``trainer.enable_progress_bar=false``, a bar in a terminal,
    lines otherwise."""
    if not enabled:
        return []
    if sys.stdout.isatty():
        return [StageProgressBar(name)]
    return [LineProgress(name, cfg.progress.every_n_steps, cfg.progress.every_seconds)]
