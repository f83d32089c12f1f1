"""Every stage under DDP: two CPU processes (gloo), launched by Lightning itself from the command line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.helpers import ROOT, TINY

DDP = ["trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp"]


def train(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "train.py", *TINY, *DDP, *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


def test_support_in_two_processes_equals_one_process(tmp_path: Path, finished_run: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    shutil.rmtree(run_dir / "support")
    train("stage=support", f"run.dir={run_dir}")
    np.testing.assert_array_equal(
        np.load(run_dir / "support" / "actions.npy"), np.load(finished_run / "support" / "actions.npy")
    )


def test_every_stage_runs_in_two_processes(tmp_path: Path, minari_store: str) -> None:
    run_dir = tmp_path / "ddp"
    done = train(f"run.dir={run_dir}")
    results = json.loads((run_dir / "results.json").read_text())
    assert all(entry["episodes"] == 2 for entry in results["scales"].values())
    assert done.stdout.count("data set mean return") == 1  # the table is printed by process 0 only
    for stage in ("behavior", "critic", "energy"):
        assert (run_dir / stage / "model.ckpt").is_file()
