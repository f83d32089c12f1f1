"""With a fixed seed, one process and 32-true, two runs give identical losses in every stage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from cep_lightning.run.locate import load_command
from cep_lightning.run.pipeline import run
from tests.helpers import FIXTURE_EXTRAS, TINY, scalars


def test_two_runs_give_identical_losses(tmp_path: Path, finished_run: Path) -> None:
    again = tmp_path / "again"
    run(load_command([*TINY, *FIXTURE_EXTRAS, f"run.dir={again}"]))
    for stage, tag in (
        ("behavior", "behavior/loss"),
        ("critic", "critic/q_loss"),
        ("energy", "energy/loss"),
        ("support", "support/action_mean"),
    ):
        first, second = scalars(finished_run / stage / "logs", tag), scalars(again / stage / "logs", tag)
        assert first and first == second, stage
    np.testing.assert_array_equal(
        np.load(finished_run / "support" / "actions.npy"), np.load(again / "support" / "actions.npy")
    )
    first, second = (json.loads((d / "results.json").read_text())["scales"] for d in (finished_run, again))
    assert first == second


def test_bf16_mixed_losses_track_32_true(tmp_path: Path, finished_run: Path) -> None:
    """Every training stage under bf16-mixed autocast: logged losses within 15% (relative, mean over the run)
    of 32-true."""
    bf16 = tmp_path / "bf16"
    run(load_command([*TINY, *FIXTURE_EXTRAS, "trainer.precision=bf16-mixed", f"run.dir={bf16}"]))
    for stage, tag in (("behavior", "behavior/loss"), ("critic", "critic/q_loss"), ("energy", "energy/loss")):
        full = np.array([v for _, v in scalars(finished_run / stage / "logs", tag)])
        half = np.array([v for _, v in scalars(bf16 / stage / "logs", tag)])
        assert len(full) == len(half) > 0 and np.isfinite(half).all()
        assert abs(half.mean() - full.mean()) <= 0.15 * abs(full.mean()), (stage, full, half)
