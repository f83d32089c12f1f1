"""The run-directory contract: stage records, make-like reruns, checks before writing, fp32 targets, signals."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from cep_lightning.run.directory import RunDir
from tests.helpers import ROOT, TINY, train


def stage_model(run_dir: Path, stage: str) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / stage / "model.ckpt", weights_only=True, map_location="cpu")["state_dict"]


def interrupt(cmd: list[str], started, signum: int = signal.SIGTERM, timeout: float = 300) -> tuple[float, str]:
    """Start cmd, send ``signum`` once started() holds; (seconds until it exited, its stderr)."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + timeout
    while not started():
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        assert time.time() < deadline
        time.sleep(0.05)
    sent = time.time()
    os.kill(proc.pid, signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err[-2000:]
    return time.time() - sent, err


@pytest.mark.parametrize(
    "args, message",
    [
        (["trainer.precision=bf17"], "Precision 'bf17' is invalid"),
        (
            ["energy.trainer.max_stepz=3"],
            "energy.trainer.max_stepz is not an argument of lightning.Trainer. Did you mean: energy.trainer.max_steps",
        ),
        (["energy.trainer.max_steps=3"], "energy.trainer.max_steps cannot be set: it is controlled by energy.steps"),
        (["trainer.logger=false"], "trainer.logger cannot be set"),
        (["eval.trainer.inference_mode=true"], "guidance needs gradients"),
        (["callbacks.custom.mine.target=tests.helpers.RecordingCallbak"], "has no attribute 'RecordingCallbak'"),
        (
            ["callbacks.custom.mine.target=tests.helpers.RecordingCallback", "callbacks.custom.mine.args.pth=x"],
            "unexpected keyword argument 'pth'",
        ),
        (["callbacks.custom.mine.stages=[critic]"], "callbacks.custom.mine.target is required"),
    ],
)
def test_a_bad_start_is_one_line_before_any_data_and_leaves_no_directory(
    tmp_path: Path, args: list[str], message: str
) -> None:
    new = tmp_path / "new-run"
    done = train(
        *args, f"run.dir={new}", "data.source=hdf5", f"data.path={tmp_path / 'missing.hdf5'}"
    )  # data would fail too
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not new.exists()


def test_sigterm_in_a_training_stage_saves_and_the_rerun_equals_an_uninterrupted_run(
    copied_run: Path, tmp_path: Path
) -> None:
    straight = tmp_path / "straight"
    shutil.copytree(copied_run, straight)
    args = [*TINY, "stage=critic", "critic.steps=300", "checkpoint.every_n_steps=1000"]
    shutil.rmtree(copied_run / "critic")
    last = copied_run / "critic" / "checkpoints" / "last.ckpt"

    def started() -> bool:  # the stage's Trainer has started
        return (copied_run / "critic" / "logs").is_dir()

    seconds, err = interrupt([sys.executable, "train.py", *args, f"run.dir={copied_run}"], started)
    assert (
        seconds < 10
        and "critic: stopped by SIGTERM at step" in err
        and f"Resume with: python train.py run.dir={copied_run}" in err
    )
    stopped_at = torch.load(last, weights_only=True, map_location="cpu")["global_step"]
    assert 0 < stopped_at < 300 and RunDir(copied_run).record("critic") is None
    resumed = train(f"run.dir={copied_run}", "stage=critic")  # the bare command resumes: the run kept the new settings
    assert resumed.returncode == 0 and "critic   resume" in resumed.stdout, resumed.stderr[-2000:]
    assert train(*args, f"run.dir={straight}").returncode == 0
    for name, value in stage_model(straight, "critic").items():
        torch.testing.assert_close(stage_model(copied_run, "critic")[name], value, rtol=0, atol=0, msg=name)


def test_sigterm_in_the_support_stage_keeps_the_rows_and_the_rerun_equals_an_uninterrupted_run(
    copied_run: Path, finished_run: Path
) -> None:
    shutil.rmtree(copied_run / "support")
    written = copied_run / "support" / "written.npy"

    def some_written() -> bool:
        try:
            return int(np.load(written, mmap_mode="r").sum()) > 0
        except (OSError, ValueError):
            return False

    seconds, err = interrupt(
        [sys.executable, "train.py", *TINY, "support.batch_size=16", f"run.dir={copied_run}"], some_written
    )
    kept = int(np.load(written).sum())
    assert seconds < 10 and "support: stopped by SIGTERM with the support actions written so far kept on disk" in err
    assert 0 < kept < len(np.load(written))
    resumed = train(*TINY, f"run.dir={copied_run}")
    assert resumed.returncode == 0 and "support  resume" in resumed.stdout, resumed.stderr[-2000:]
    np.testing.assert_array_equal(
        np.load(copied_run / "support" / "actions.npy"), np.load(finished_run / "support" / "actions.npy")
    )
