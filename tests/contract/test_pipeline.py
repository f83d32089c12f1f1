"""Tiny-budget runs of every stage through the real command line and Trainer machinery."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from cep_lightning.data.rewards import episode_returns
from cep_lightning.data.sources import load_source
from cep_lightning.data.support import state_table
from cep_lightning.errors import MissingStageError
from cep_lightning.maths.diffusion import SAMPLERS, dpm_solver_2
from cep_lightning.policy import QGPOPolicy
from cep_lightning.run.directory import RunDir
from cep_lightning.run.locate import load_command
from cep_lightning.run.pipeline import run
from cep_lightning.stages.behavior import BehaviorModule
from cep_lightning.stages.support import seeded_noise
from tests.helpers import TINY, scalar_tags, scalars


def test_every_stage_writes_its_outputs(finished_run: Path) -> None:
    for path in (
        "config.yaml",
        "behavior/model.ckpt",
        "support/actions.npy",
        "support/record.json",
        "critic/model.ckpt",
        "energy/model.ckpt",
        "results.json",
        "timings.json",
    ):
        assert (finished_run / path).is_file(), path
    results = json.loads((finished_run / "results.json").read_text())
    assert results["task"] == "pendulum-mixed" and results["seed"] == 0
    assert set(results["scales"]) == {"0", "2"}
    for scale, entry in results["scales"].items():  # tests/test_evaluation_returns.py pins the returns themselves
        assert entry["episodes"] == 2 and entry["std_return"] >= 0
        logged = [value for _, value in scalars(finished_run / "eval" / "logs", f"eval/sweep/return_s{scale}")]
        assert logged == [pytest.approx(entry["mean_return"], abs=1e-3)]
        expected = 100 * (entry["mean_return"] + 1282.50) / (-160.26 + 1282.50)
        assert entry["normalized_score"] == pytest.approx(expected)
    assert results["reported"] == {"scale": 2.0, **results["scales"]["2"]}  # the preset's scale, not the sweep's best
    best = max(results["scales"], key=lambda s: results["scales"][s]["mean_return"])
    assert results["best_scale"] == {"scale": float(best), **results["scales"][best], "optimistic": True}
    data = load_source(load_command(TINY).data)
    assert results["dataset_mean_return"] == pytest.approx(float(episode_returns(data).mean()))


def test_support_actions_are_the_behaviour_models_samples_for_their_state(finished_run: Path) -> None:
    """Rows of the stored support actions equal the run's behaviour model sampled here for that row's state, each
    action with its own copy of the state ([M, S] per row, the plain layout), from the stage's seeded noise."""
    cfg = load_command(TINY)
    actions = np.load(finished_run / "support" / "actions.npy")
    next_index = np.load(finished_run / "support" / "next_index.npy")
    states, expected_next_index = state_table(load_source(cfg.data))
    np.testing.assert_array_equal(next_index, expected_next_index)
    assert actions.shape == (len(states), cfg.support.M, 1)
    behavior = RunDir(finished_run).load(BehaviorModule, "behavior").net
    rows = np.array([0, 1, len(states) // 2, len(states) - 1])
    noise = seeded_noise(torch.as_tensor(rows), cfg.support.M, 1, cfg.seed)
    copies = torch.as_tensor(states[rows]).repeat_interleave(cfg.support.M, dim=0)  # [rows · M, S]
    with torch.no_grad():
        samples = dpm_solver_2(lambda x, t: behavior(x, t, copies), noise.reshape(-1, 1), cfg.support.solver_steps)
    expected = samples.reshape(len(rows), cfg.support.M, 1)
    torch.testing.assert_close(torch.as_tensor(actions[rows]), expected, rtol=0, atol=1e-5)
    assert (torch.as_tensor(actions[rows]) - noise).abs().max() > 0.1  # the solver ran: not its input noise


def test_tensorboard_curves_per_stage(finished_run: Path) -> None:
    expected = {
        "behavior": {"behavior/loss"},
        "support": {"support/action_mean", "support/within_state_std"},
        "critic": {
            "critic/q_loss",
            "critic/q_mean",
            "critic/target_mean",
            "critic/periodic_return",
            "critic/periodic_score",
        },
        "energy": {"energy/loss", "energy/label_entropy", "energy/periodic_return_s1"},
        "eval": {
            "eval/sweep/return_s0",
            "eval/sweep/return_s2",
            "eval/sweep/score_s2",
            "eval/reported/return",
            "eval/reported/score",
        },
    }
    for stage, tags in expected.items():
        assert tags <= scalar_tags(finished_run / stage / "logs"), stage


def test_rerun_skips_finished_stages(tmp_path: Path, finished_run: Path) -> None:
    run_dir = tmp_path / "rerun"  # a copy: the session's finished run stays as the fixture made it
    shutil.copytree(finished_run, run_dir)
    stamps = {p: p.stat().st_mtime_ns for p in run_dir.glob("*/model.ckpt")}
    run(load_command([*TINY, f"run.dir={run_dir}"]))
    assert stamps == {p: p.stat().st_mtime_ns for p in run_dir.glob("*/model.ckpt")}


def test_missing_earlier_stage_is_named(tmp_path: Path, finished_run: Path) -> None:
    partial = tmp_path / "partial"
    shutil.copytree(finished_run, partial)
    shutil.rmtree(partial / "critic")
    with pytest.raises(MissingStageError, match="'critic' stage"):
        run(load_command([*TINY, "stage=energy", f"run.dir={partial}"]))


def test_policy_from_run_is_deterministic_and_guided(finished_run: Path) -> None:
    policy = QGPOPolicy.from_run(finished_run, solver_steps=4)
    reloaded = QGPOPolicy.from_run(finished_run, solver_steps=4)
    obs = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.5]], dtype=np.float32)
    torch.manual_seed(0)
    first = policy.act(obs, guidance_scale=2.0)
    torch.manual_seed(0)
    again = reloaded.act(obs, guidance_scale=2.0)
    torch.manual_seed(0)
    unguided = policy.act(obs, guidance_scale=0.0)
    assert first.shape == (2, 1) and isinstance(first, np.ndarray)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, unguided)


def test_policy_from_run_uses_the_runs_sampler(tmp_path: Path, finished_run: Path) -> None:
    run_dir = tmp_path / "multistep"
    shutil.copytree(finished_run, run_dir)
    saved = run_dir / "config.yaml"
    saved.write_text(saved.read_text().replace("sampler: dpm_solver++_2s", "sampler: dpm_solver_2m"))
    assert QGPOPolicy.from_run(finished_run).sampler is SAMPLERS["dpm_solver++_2s"]
    assert QGPOPolicy.from_run(run_dir).sampler is SAMPLERS["dpm_solver_2m"]
