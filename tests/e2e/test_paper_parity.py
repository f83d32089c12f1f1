"""benchmarks/paper_parity --mode steps and --mode scores on tiny problems, with the paper's code named by
CEP_PAPER_SRC."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cep_lightning.data.hdf5 import write_d4rl_hdf5
from tests.helpers import ROOT, episodes_table


@pytest.mark.skipif(not os.environ.get("CEP_PAPER_SRC"), reason="CEP_PAPER_SRC names no checkout of the paper's code")
def test_steps_mode_agrees_on_a_tiny_problem(tmp_path: Path) -> None:
    """20 steps a stage, Hopper-shaped data of terminal- and time-out-ended episodes: every stage agrees."""
    data = episodes_table([300, 1000, 250, 450], ["terminal", "timeout", "terminal", "cut"])
    path = write_d4rl_hdf5(data, tmp_path / "hopper-tiny.hdf5")
    command = [
        sys.executable,
        "-m",
        "benchmarks.paper_parity",
        "--paper",
        os.environ["CEP_PAPER_SRC"],
        "--data",
        str(path),
        "--steps",
        "20",
        "--behavior-batch",
        "64",
        "--batch",
        "32",
        "--M",
        "4",
        "--sample-states",
        "16",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for stage in ("behaviour step", "support sampling", "critic step", "energy step", "guided actions"):
        assert stage in done.stdout
    assert done.stdout.strip().endswith("agree")
    strict = subprocess.run(
        [*command, "--tolerance", "0"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert strict.returncode == 1 and "DIFFERS" in strict.stdout  # the behaviour step agrees to ~1e-7, not exactly


@pytest.mark.skipif(not os.environ.get("CEP_PAPER_SRC"), reason="CEP_PAPER_SRC names no checkout of the paper's code")
def test_scores_mode_trains_both_and_resumes(tmp_path: Path) -> None:
    """Both codes end to end at a few steps a stage on Hopper-shaped data; a second call finds every (code, seed)
    stored and only prints the table again."""
    data = episodes_table([300, 250], ["terminal", "timeout"])
    path = write_d4rl_hdf5(data, tmp_path / "hopper-tiny.hdf5")
    command = [
        *("-m", "benchmarks.paper_parity", "--mode", "scores", "--paper", os.environ["CEP_PAPER_SRC"]),
        *("--data", str(path), "--out", str(tmp_path / "scores"), "--seeds", "1", "--steps", "5"),
        *("--behavior-batch", "32", "--batch", "32", "--M", "2", "--solver-steps", "3"),
        *("--max-transitions", "400", "--episodes", "1", "--scales", "0", "1"),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    first = subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "[scores] paper, seed 0" in first.stdout and "[scores] ours, seed 0" in first.stdout
    stored = json.loads((tmp_path / "scores" / "paper-seed0.json").read_text())
    assert stored["transitions"] == 400 and set(stored["scores"]) == {"0", "1"}
    second = subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0 and "[scores]" not in second.stdout
    table = second.stdout[second.stdout.index("normalized score over 1 seed(s)") :].splitlines()
    assert [line.split()[0] for line in table[2:4]] == ["0", "1"] and "support" in second.stdout
