"""Progress output: lines when stdout is not a terminal (every stage, support included), a clean tqdm bar in one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
from lightning.pytorch.demos.boring_classes import BoringModel

from cep_lightning.callbacks.progress import StageProgressBar
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_non_tty_run_prints_progress_lines_in_every_stage(tmp_path: Path) -> None:
    args = [a for a in TINY if a != "trainer.enable_progress_bar=false"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "train.py", *args, "progress.every_n_steps=2", f"run.dir={tmp_path / 'run'}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-2000:]
    text = out.stdout
    support = out.stdout.split("[cep_lightning] support:")[1].split("[cep_lightning] critic:")[0]
    lines = re.findall(r"\[support\] batch (\d+)/(\d+) \(.*%\) \| [\d.e+]+ batches/s \| elapsed", support)
    assert len(lines) >= 2 and lines[-1][0] == lines[-1][1]  # during the stage, and its last batch
    for stage, unit in (("behavior", "step"), ("critic", "step"), ("energy", "step"), ("eval", "batch")):
        assert re.search(rf"\[{stage}\] {unit} \d+/\d+ \(\d+\.\d%\).* \| elapsed \d:\d\d:\d\d", out.stdout), (
            stage
        )
    assert re.search(
        r"\[behavior\] step 20/40 \(50.0%\) \| behavior/loss [\d.]+ .* \| left \d:\d\d:\d\d", out.stdout
    )
    for noise in ("GPU available", "TPU available", "weights_only", "v_num", "Epoch"):
        assert noise not in text, noise


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
