"""``compile=true`` through the command line, with inductor (the real compiler, C++ kernels): the critic and energy
stages train the weights the eager stages train, and its checkpoint holds the Adam
state an eager one holds (so either resumes the other)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from cep_lightning.errors import CepError
from cep_lightning.run.locate import load_command
from cep_lightning.run.pipeline import run
from tests.helpers import FIXTURE_EXTRAS, TINY, scalar_steps


@pytest.mark.parametrize(("stage", "per_batch"), [("critic", 1), ("energy", 5)])
def test_the_compiled_stage_trains_the_eager_weights(
    tmp_path: Path, finished_run: Path, stage: str, per_batch: int
) -> None:
    """The critic draws no random numbers; the energy step's t and noise come from aten's generator on a CPU, as
    eager draws them. Also with 5 compiled steps per Lightning batch, whose curves are written at the eager steps."""
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    shutil.rmtree(run_dir / stage)
    command = [*TINY, *FIXTURE_EXTRAS, f"stage={stage}", "compile=true", f"steps_per_batch={per_batch}"]
    run(load_command([*command, f"run.dir={run_dir}"]))
    got, want = scalar_steps(run_dir / stage / "logs"), scalar_steps(finished_run / stage / "logs")
    assert {f"{stage}/loss" if stage == "energy" else "critic/q_loss", "lr-Adam", "train/samples"} <= set(got)
    assert any("periodic_return" in tag for tag in got)
    assert {tag: got[tag] for tag in got} == {tag: want[tag] for tag in got}  # (no .grad: no gradient norm)
    eager = torch.load(finished_run / stage / "model.ckpt", weights_only=True, map_location="cpu")
    compiled = torch.load(run_dir / stage / "model.ckpt", weights_only=True, map_location="cpu")
    assert compiled["global_step"] == eager["global_step"] == 30
    for key, want in eager["state_dict"].items():
        if key == "energy.net.8.bias":  # CEP is shift-invariant: its gradient is 0 up to rounding, which Adam scales
            continue
        torch.testing.assert_close(compiled["state_dict"][key], want, rtol=1e-3, atol=1e-4, msg=key)
    (want_state,), (got_state,) = eager["optimizer_states"], compiled["optimizer_states"]
    assert [float(s["step"]) for s in got_state["state"].values()] == [30.0] * len(want_state["state"])
    for want, got in zip(want_state["state"].values(), got_state["state"].values()):
        torch.testing.assert_close(got["exp_avg_sq"], want["exp_avg_sq"], rtol=1e-3, atol=1e-8)


def test_a_stopped_compiled_stage_with_five_steps_a_batch_resumes_to_the_uninterrupted_weights(
    tmp_path: Path, finished_run: Path
) -> None:
    """Stopped after step 15 (a checkpoint every 10 steps), rerun: it resumes at step 10, draws the batches of steps
    11-30 and ends with the weights and Adam state of the run that was never stopped."""
    command = [
        *TINY,
        *FIXTURE_EXTRAS,
        "stage=critic",
        "compile=true",
        "steps_per_batch=5",
        "checkpoint.every_n_steps=10",
    ]
    runs = {}
    for name in ("whole", "stopped"):
        runs[name] = tmp_path / name
        shutil.copytree(finished_run, runs[name])
        shutil.rmtree(runs[name] / "critic")
    run(load_command([*command, f"run.dir={runs['whole']}"]))
    stop = ["callbacks.custom.stop.target=tests.helpers.StopAtStep", "callbacks.custom.stop.args={step: 15}"]
    with pytest.raises(CepError, match="critic: stopped at step 15 of 30"):
        run(load_command([*command, *stop, f"run.dir={runs['stopped']}"]))
    last = runs["stopped"] / "critic" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True, map_location="cpu")["global_step"] == 10
    started = tmp_path / "started_at.txt"
    record = [
        "callbacks.custom.start.target=tests.helpers.StartStep",
        f"callbacks.custom.start.args={{path: '{started}'}}",
    ]
    run(load_command([*command, *record, f"run.dir={runs['stopped']}"]))
    assert started.read_text() == "10"  # resumed from the checkpoint of step 10
    want, got = (torch.load(d / "critic" / "model.ckpt", weights_only=True, map_location="cpu") for d in runs.values())
    assert got["global_step"] == want["global_step"] == 30
    for key, value in want["state_dict"].items():
        assert torch.equal(got["state_dict"][key], value), key
    (want_adam,), (got_adam,) = want["optimizer_states"], got["optimizer_states"]
    for a, b in zip(want_adam["state"].values(), got_adam["state"].values()):
        assert torch.equal(a["exp_avg"], b["exp_avg"]) and float(a["step"]) == float(b["step"]) == 30


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
