"""``compile=true`` through the command line, with inductor (the real compiler, C++ kernels): the critic stage,
whose step draws no random numbers, trains the weights the eager stage trains, and its checkpoint holds the Adam
state an eager one holds (so either resumes the other)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from cep_lightning.run.locate import load_command
from cep_lightning.run.pipeline import run
from tests.helpers import FIXTURE_EXTRAS, TINY, scalar_steps


@pytest.mark.parametrize("per_batch", [1, 5])
def test_the_compiled_critic_stage_trains_the_eager_weights(tmp_path: Path, finished_run: Path, per_batch: int) -> None:
    """Also with 5 compiled steps per Lightning batch, whose curves are written at the eager run's steps."""
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    shutil.rmtree(run_dir / "critic")
    command = [*TINY, *FIXTURE_EXTRAS, "stage=critic", "compile=true", f"steps_per_batch={per_batch}"]
    run(load_command([*command, f"run.dir={run_dir}"]))
    got, want = scalar_steps(run_dir / "critic" / "logs"), scalar_steps(finished_run / "critic" / "logs")
    assert {"critic/q_loss", "lr-Adam", "train/samples", "critic/periodic_return"} <= set(got)  # (no .grad: no norm)
    assert {tag: got[tag] for tag in got} == {tag: want[tag] for tag in got}
    eager = torch.load(finished_run / "critic" / "model.ckpt", weights_only=True, map_location="cpu")
    compiled = torch.load(run_dir / "critic" / "model.ckpt", weights_only=True, map_location="cpu")
    assert compiled["global_step"] == eager["global_step"] == 30
    for key, want in eager["state_dict"].items():
        torch.testing.assert_close(compiled["state_dict"][key], want, rtol=1e-3, atol=1e-4, msg=key)
    (want_state,), (got_state,) = eager["optimizer_states"], compiled["optimizer_states"]
    assert [float(s["step"]) for s in got_state["state"].values()] == [30.0] * len(want_state["state"])
    for want, got in zip(want_state["state"].values(), got_state["state"].values()):
        torch.testing.assert_close(got["exp_avg_sq"], want["exp_avg_sq"], rtol=1e-3, atol=1e-8)


def test_compiled_support_sampling_draws_the_eager_support_actions(tmp_path: Path, finished_run: Path) -> None:
    """compile=true also compiles the behaviour network the support stage samples with (no random draws inside:
    the noise is seeded per state outside it), so the actions are the eager ones up to rounding."""
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    shutil.rmtree(run_dir / "support")
    run(load_command([*TINY, *FIXTURE_EXTRAS, "stage=support", "compile=true", f"run.dir={run_dir}"]))
    eager, compiled = (np.load(d / "support" / "actions.npy") for d in (finished_run, run_dir))
    assert compiled.shape == eager.shape and np.abs(eager).max() > 0.1
    np.testing.assert_allclose(compiled, eager, atol=1e-4)
