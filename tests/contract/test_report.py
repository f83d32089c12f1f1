"""The evaluation protocol (one episode per environment), the report table, and the multi-seed command."""

from __future__ import annotations

import csv
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml

from cep_lightning.envs.evaluation import evaluate
from cep_lightning.report import PAPER_QGPO, write_report
from tests.helpers import fake_run


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
    assert float(hopper["behavior_s"]) == pytest.approx(240.0) and float(hopper["support_s"]) == pytest.approx(480.0)
    assert float(hopper["total_s"]) == pytest.approx(240 + 480 + 60 + 30 + 6)
    assert rows["walker2d-medium-v2"]["seeds"] == "0"
    line = next(row for row in text.splitlines() if row.startswith("| hopper-medium-replay-v2"))
    assert f"{reported.mean():.1f} ± {reported.std():.1f}" in line and f"{best.mean():.1f} ±" in line and "96.9" in line
    assert "optimistic" in text.splitlines()[0] and (tmp_path / "report.md").read_text().strip() == text.strip()


def test_episode_grid_batches_cover_every_scale_and_episode_once() -> None:
    from cep_lightning.stages.evaluate import episode_loader

    batches = list(episode_loader(num_scales=3, episodes=4, envs_per_batch=5))
    assert [len(b) for b in batches] == [5, 5, 2]
    items = torch.cat(batches)
    assert sorted(items[:, 0].tolist()) == list(range(12))
    assert sorted(map(tuple, items[:, 1:].tolist())) == [(s, e) for s in range(3) for e in range(4)]
    assert [len(b) for b in episode_loader(3, 4)] == [12]  # 0: all episodes of the process in one vector env


def test_runs_of_a_task_with_different_settings_are_never_pooled(tmp_path: Path) -> None:
    """Two seeds at critic.steps=1000 and one at 2000 give two rows, each labelled by the setting that differs;
    the seed, the run's paths and its Trainer options do not split a row."""
    for name, seed, steps, devices in (("a", 0, 1000, 1), ("b", 1, 1000, 2), ("c", 0, 2000, 1)):
        fake_run(tmp_path / name, "hopper-medium-replay-v2", seed, 50.0 + seed, {"3": 50.0 + seed}, seconds=1.0)
        settings = {
            "task": "hopper-medium-replay-v2",
            "seed": seed,
            "run": {"dir": str(tmp_path / name)},
            "critic": {"steps": steps, "trainer": {}},
            "trainer": {"devices": devices},
        }
        (tmp_path / name / "config.yaml").write_text(yaml.safe_dump(settings))
    write_report([tmp_path], tmp_path)
    rows = {r["task"]: r for r in csv.DictReader((tmp_path / "report.csv").read_text().splitlines())}
    assert sorted(rows) == [
        "hopper-medium-replay-v2 (critic.steps=1000)",
        "hopper-medium-replay-v2 (critic.steps=2000)",
    ]
    assert rows["hopper-medium-replay-v2 (critic.steps=1000)"]["seeds"] == "0 1"
    assert rows["hopper-medium-replay-v2 (critic.steps=2000)"]["seeds"] == "0"
    assert float(rows["hopper-medium-replay-v2 (critic.steps=1000)"]["paper_qgpo"]) == 96.9
