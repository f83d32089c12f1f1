"""A finished run written by an earlier version (tests/fixtures/run-42bd554: made by commit 42bd554, before the
package moved into layers, with EMA and periodic evaluation on) still loads: its records are current, its
checkpoints and callback state load, and its evaluation redone now gives the returns it recorded then."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cep_lightning.policy import QGPOPolicy
from cep_lightning.run.locate import load_command
from cep_lightning.run.pipeline import check_command, run

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "run-42bd554"


@pytest.fixture
def earlier_run(tmp_path: Path, minari_store: str) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(FIXTURE, copy)
    return copy


def test_its_records_are_current_and_its_policy_loads(earlier_run: Path) -> None:
    plan = check_command(load_command([f"run.dir={earlier_run}"])).plan
    assert [(step.stage, step.action) for step in plan.steps] == [
        (stage, "skip") for stage in ("behavior", "support", "critic", "energy", "eval")
    ]
    policy = QGPOPolicy.from_run(earlier_run)
    recorded = json.loads((earlier_run / "results.json").read_text())
    assert policy.energy is not None and policy.guidance_scale == recorded["reported"]["scale"]
    actions = policy.act(np.zeros((4, 3), dtype=np.float32))
    assert actions.shape == (4, 1) and np.isfinite(actions).all()


def test_its_evaluation_redone_now_gives_the_recorded_returns(earlier_run: Path) -> None:
    recorded = json.loads((earlier_run / "results.json").read_text())
    run(load_command(["stage=eval", f"run.dir={earlier_run}", "trainer.enable_progress_bar=false"]))
    now = json.loads((earlier_run / "results.json").read_text())
    for scale, entry in recorded["scales"].items():
        assert now["scales"][scale]["mean_return"] == pytest.approx(entry["mean_return"], rel=1e-6), scale
