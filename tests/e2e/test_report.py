"""The evaluation protocol (one episode per environment), the report table, and the multi-seed command."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import ROOT, TINY, fake_run


def test_report_without_runs_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cep_lightning.report", str(tmp_path)], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 2 and "No finished runs (results.json) under" in done.stderr


def test_seed_list_runs_each_seed_and_writes_the_report(tmp_path: Path, minari_store: str) -> None:
    args = [a for a in TINY if not a.startswith(("behavior.steps", "critic.steps", "energy.steps"))]
    args += ["behavior.steps=10", "critic.steps=10", "energy.steps=10", f"run.dir={tmp_path / 'multi'}", "seed=0,1"]
    done = subprocess.run([sys.executable, "train.py", *args], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    first, second = (json.loads((tmp_path / "multi" / f"seed{s}" / "results.json").read_text()) for s in (0, 1))
    assert (first["seed"], second["seed"]) == (0, 1) and first["reported"] != second["reported"]
    row = next(csv.DictReader((tmp_path / "multi" / "report.csv").read_text().splitlines()))
    assert row["task"] == "pendulum-mixed" and row["seeds"] == "0 1"
    scores = [first["reported"]["normalized_score"], second["reported"]["normalized_score"]]
    assert float(row["score_mean"]) == pytest.approx(np.mean(scores))
    assert "| pendulum-mixed | 0 1 |" in done.stdout


def test_single_seed_std_is_na_and_report_goes_to_the_current_directory(tmp_path: Path) -> None:
    fake_run(
        tmp_path / "runs" / "walker" / "seed0", "walker2d-medium-v2", 0, 50.0, {"3": 50.0, "5": 55.0}, seconds=60.0
    )
    here = tmp_path / "here"
    here.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "cep_lightning.report", str(tmp_path / "runs")],
        cwd=here,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert (here / "report.md").is_file() and (here / "report.csv").is_file()
    assert not list((tmp_path / "runs").rglob("report.*"))  # the runs it reads are left as they are
    line = next(row for row in done.stdout.splitlines() if row.startswith("| walker2d-medium-v2"))
    assert "| 50.0 ± n/a | 55.0 ± n/a |" in line and "± 0.0" not in line
    row = next(csv.DictReader((here / "report.csv").read_text().splitlines()))
    assert row["score_std"] == "" and row["best_scale_score_std"] == "" and float(row["score_mean"]) == 50.0
    out = tmp_path / "elsewhere"
    subprocess.run(
        [sys.executable, "-m", "cep_lightning.report", str(tmp_path / "runs"), "--out", str(out)],
        cwd=here,
        env=env,
        check=True,
        capture_output=True,
    )
    assert (out / "report.md").read_text() == (here / "report.md").read_text()
