"""A user-style callback for the plug-in test: appends "<hook> <stage>" lines to a file."""

from __future__ import annotations

from pathlib import Path

import lightning as L


class RecordingCallback(L.Callback):
    def __init__(self, path: str, tag: str = ""):
        self.path = Path(path)
        self.tag = tag

    def _record(self, hook: str, trainer: L.Trainer) -> None:
        stage = Path(trainer.default_root_dir).name
        with self.path.open("a") as f:
            f.write(f"{hook} {stage} {self.tag}\n")

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._record("fit_start", trainer)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        if batch_idx == 0:
            self._record("train_batch_end", trainer)


class TrainerSettingsRecorder(L.Callback):
    """Writes a few of the Trainer's settings, as the stage's Trainer has them, to a JSON file."""

    def __init__(self, path: str):
        self.path = Path(path)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        import json

        settings = {
            "gradient_clip_val": trainer.gradient_clip_val,
            "gradient_clip_algorithm": trainer.gradient_clip_algorithm.value,
            "inference_mode": trainer.predict_loop.inference_mode,
        }
        self.path.write_text(json.dumps(settings))
