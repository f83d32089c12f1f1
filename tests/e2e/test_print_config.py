"""``--cfg`` prints the merged config and runs nothing; a run starts with a summary of what it will do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cep_lightning.run.locate import load_command
from cep_lightning.run.pipeline import run
from tests.helpers import ROOT, TINY


def test_cfg_with_a_bad_key_is_one_line() -> None:
    out = subprocess.run(
        [sys.executable, "train.py", "--cfg", "energy.bta=1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().count("\n") == 0 and "Did you mean: energy.beta" in out.stderr


def test_a_run_starts_with_its_summary(tmp_path: Path, capsys) -> None:
    run(load_command([*TINY, "trainer.accelerator=cpu", "eval.episodes=1", f"run.dir={tmp_path / 'r'}"]))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "[cep_lightning] task pendulum-mixed, seed 0"
    assert lines[1] == "  data      the built-in data set: 2400 transitions, state 3, action 1"
    assert lines[2] == f"  run dir   {tmp_path / 'r'}"
    assert lines[3] == "  stages    behavior, support, critic, energy, eval"
    assert lines[4] == "  device    cpu × 1 (SingleDevice), precision 32-true"
    assert lines[6] == f"[cep_lightning] plan for {tmp_path / 'r'}:"


def test_toy_task_through_train_py_points_to_the_toys_command(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "train.py", "task=toy-8gaussians", f"run.root={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "python -m cep_lightning.toys task=toy-8gaussians" in out.stderr
    assert list(tmp_path.iterdir()) == []  # nothing loaded or written
