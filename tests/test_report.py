"""The evaluation protocol (one episode per environment), the report table, and the multi-seed command."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from cep_lightning.envs.evaluation import evaluate
from cep_lightning.report import PAPER_QGPO, write_report
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parent.parent


class CountdownEnv(gym.Env):
    """Reward 1 per step; an episode lasts 1 + (reset seed mod 7) steps."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,))
    action_space = gym.spaces.Box(-1.0, 1.0, (1,))

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.left = 1 + (seed or 0) % 7
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.left -= 1
        return np.zeros(1, np.float32), 1.0, self.left == 0, False, {}


def test_every_environment_counts_exactly_its_own_first_episode() -> None:
    seeds = [3, 10, 0, 6, 13, 1]
    envs = gym.vector.SyncVectorEnv([CountdownEnv for _ in seeds])
    returns = evaluate(envs, lambda obs: np.zeros((len(obs), 1)), seeds)
    np.testing.assert_array_equal(
        returns, [1 + s % 7 for s in seeds]
    )  # long episodes are not cut, short ones not repeated


def fake_run(
    path: Path, task: str, seed: int, reported: float, sweep: dict[str, float], seconds: float
) -> None:
    path.mkdir(parents=True)

    def entry(score: float) -> dict[str, float]:
        return {"mean_return": score * 10, "std_return": 1.0, "normalized_score": score, "episodes": 10}

    best = max(sweep, key=sweep.get)
    results = {
        "task": task,
        "seed": seed,
        "reported": {"scale": 3.0, **entry(reported)},
        "best_scale": {"scale": float(best), **entry(sweep[best]), "optimistic": True},
        "scales": {s: entry(v) for s, v in sweep.items()},
    }
    (path / "results.json").write_text(json.dumps(results))
    (path / "timings.json").write_text(
        json.dumps({"behavior": seconds, "support": 2 * seconds, "critic": 60.0, "energy": 30.0, "eval": 6.0})
    )


def test_report_aggregates_seeds_and_marks_the_best_scale_optimistic(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    reported = rng.uniform(40, 90, 3)
    best = reported + rng.uniform(1, 10, 3)
    for seed in range(3):
        fake_run(
            tmp_path / "hopper" / f"seed{seed}",
            "hopper-medium-replay-v2",
            seed,
            reported[seed],
            {"0": 5.0, "3": reported[seed], "5": best[seed]},
            seconds=120.0 * (seed + 1),
        )
    fake_run(tmp_path / "walker" / "seed0", "walker2d-medium-v2", 0, 50.0, {"3": 50.0}, seconds=60.0)
    text = write_report([tmp_path], tmp_path)
    rows = {r["task"]: r for r in csv.DictReader((tmp_path / "report.csv").read_text().splitlines())}
    hopper = rows["hopper-medium-replay-v2"]
    assert hopper["seeds"] == "0 1 2" and hopper["reported_scale"] == "3"
    assert float(hopper["score_mean"]) == pytest.approx(reported.mean()) and float(
        hopper["score_std"]
    ) == pytest.approx(reported.std())
    assert float(hopper["best_scale_score_mean"]) == pytest.approx(best.mean())
    assert float(hopper["paper_qgpo"]) == PAPER_QGPO["hopper-medium-replay-v2"] == 96.9
    assert float(hopper["behavior_s"]) == pytest.approx(240.0) and float(
        hopper["support_s"]
    ) == pytest.approx(480.0)
    assert float(hopper["total_s"]) == pytest.approx(240 + 480 + 60 + 30 + 6)
    assert rows["walker2d-medium-v2"]["seeds"] == "0"
    line = next(row for row in text.splitlines() if row.startswith("| hopper-medium-replay-v2"))
    assert (
        f"{reported.mean():.1f} ± {reported.std():.1f}" in line
        and f"{best.mean():.1f} ±" in line
        and "96.9" in line
    )
    assert (
        "optimistic" in text.splitlines()[0] and (tmp_path / "report.md").read_text().strip() == text.strip()
    )


@pytest.mark.slow
def test_report_without_runs_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cep_lightning.report", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "No finished runs (results.json) under" in done.stderr


@pytest.mark.slow
def test_seed_list_runs_each_seed_and_writes_the_report(tmp_path: Path, minari_store: str) -> None:
    args = [a for a in TINY if not a.startswith(("behavior.steps", "critic.steps", "energy.steps"))]
    args += [
        "behavior.steps=10",
        "critic.steps=10",
        "energy.steps=10",
        f"run.dir={tmp_path / 'multi'}",
        "seed=0,1",
    ]
    done = subprocess.run([sys.executable, "train.py", *args], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    first, second = (
        json.loads((tmp_path / "multi" / f"seed{s}" / "results.json").read_text()) for s in (0, 1)
    )
    assert (first["seed"], second["seed"]) == (0, 1) and first["reported"] != second["reported"]
    row = next(csv.DictReader((tmp_path / "multi" / "report.csv").read_text().splitlines()))
    assert row["task"] == "pendulum-mixed" and row["seeds"] == "0 1"
    scores = [first["reported"]["normalized_score"], second["reported"]["normalized_score"]]
    assert float(row["score_mean"]) == pytest.approx(np.mean(scores))
    assert "| pendulum-mixed | 0 1 |" in done.stdout


def test_episode_grid_batches_cover_every_scale_and_episode_once() -> None:
    from cep_lightning.stages.evaluate import episode_loader

    batches = list(episode_loader(num_scales=3, episodes=4, envs_per_batch=5))
    assert [len(b) for b in batches] == [5, 5, 2]
    items = torch.cat(batches)
    assert sorted(items[:, 0].tolist()) == list(range(12))
    assert sorted(map(tuple, items[:, 1:].tolist())) == [(s, e) for s in range(3) for e in range(4)]
    assert [len(b) for b in episode_loader(3, 4)] == [12]  # 0: all episodes of the process in one vector env


@pytest.mark.slow
def test_single_seed_std_is_na_and_report_goes_to_the_current_directory(tmp_path: Path) -> None:
    fake_run(
        tmp_path / "runs" / "walker" / "seed0",
        "walker2d-medium-v2",
        0,
        50.0,
        {"3": 50.0, "5": 55.0},
        seconds=60.0,
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
