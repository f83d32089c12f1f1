"""Progress output: lines when stdout is not a terminal (every stage, support included), a clean tqdm bar in one."""

from __future__ import annotations

import re
from pathlib import Path

import lightning as L
from lightning.pytorch.demos.boring_classes import BoringModel

from cep_lightning.callbacks.progress import StageProgressBar


def test_terminal_bar_names_the_stage_without_epoch_or_version(tmp_path: Path, capsys) -> None:
    """What a terminal shows of each bar, its frames after a carriage return: from the first step (batch) on,
    the stage's description, never "Epoch" or "DataLoader", and no ``v_num``; the line each bar leaves behind
    is the stage's at 100%. (Lightning's hook draws its own 0% frame just before the stage's replaces it.)"""
    trainer = L.Trainer(
        max_steps=3,
        max_epochs=-1,
        limit_test_batches=2,
        limit_predict_batches=4,
        callbacks=[StageProgressBar("behavior")],
        default_root_dir=tmp_path,
        enable_checkpointing=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    model = BoringModel()
    trainer.fit(model)
    trainer.test(model, verbose=False)
    trainer.predict(model)
    captured = capsys.readouterr()
    out = captured.out + captured.err
    frames = [f.strip() for f in re.split(r"[\r\n]", out) if f.strip()]
    for description, total in (("behavior", 3), ("behavior (episode batches)", 2), ("behavior (states)", 4)):
        shown = [f for f in frames if re.search(rf"\| [1-9]\d*/{total} ", f)]
        assert shown and all(f.startswith(f"{description}: ") for f in shown), (description, shown)
        left = [line.strip().rsplit("\r", 1)[-1] for line in out.split("\n") if f" {total}/{total} " in line]
        assert any(line.startswith(f"{description}: 100%") for line in left), (description, left)
    assert not any(("Epoch" in f or "DataLoader" in f) and re.search(r"\| [1-9]", f) for f in frames)
    assert "v_num" not in out
