"""Tiny-budget runs of every stage through the real command line and Trainer machinery."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT, TINY


def test_custom_callback_from_command_line_runs_in_named_stages(tmp_path: Path, finished_run: Path) -> None:
    run_dir = tmp_path / "cb"
    shutil.copytree(finished_run, run_dir)
    record = tmp_path / "hooks.txt"
    for stage in ("critic", "energy"):
        args = [
            *TINY,
            f"stage={stage}",
            f"run.dir={run_dir}",
            "callbacks.custom.rec.target=tests.helpers.RecordingCallback",
            "callbacks.custom.rec.stages=[energy]",
            f"callbacks.custom.rec.args.path={record}",
            "callbacks.custom.rec.args.tag=mine",
        ]
        done = subprocess.run([sys.executable, "train.py", *args], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
    lines = record.read_text().splitlines()
    assert lines == ["fit_start energy mine", "train_batch_end energy mine"]
