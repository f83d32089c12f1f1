"""A run killed with SIGKILL in the middle of a stage continues where it stopped when the command is rerun."""

from __future__ import annotations

import csv
import json
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
from cep_lightning.stages.evaluate import EpisodeWriter
from tests.helpers import FIXTURE_EXTRAS, ROOT, TINY


def command(run_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "train.py", *TINY, f"run.dir={run_dir}", *extra]


def kill_when(cmd: list[str], ready, timeout: float = 300) -> None:
    """Start cmd, SIGKILL its process group as soon as ready() holds."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + timeout
    while not ready():
        assert proc.poll() is None, "the run finished before it could be interrupted"
        assert time.time() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def finish(cmd: list[str]) -> str:
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


def test_sigkill_in_critic_stage_resumes_from_last_checkpoint(tmp_path: Path, finished_run: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    for stage in ("critic", "energy", "eval"):
        shutil.rmtree(run_dir / stage, ignore_errors=True)
    (run_dir / "results.json").unlink()
    before = {
        p: p.stat().st_mtime_ns for p in [run_dir / "behavior" / "model.ckpt", run_dir / "support" / "actions.npy"]
    }
    cmd = command(run_dir, "critic.steps=400", "checkpoint.every_n_steps=25", "logger=[tensorboard,csv]")
    last = run_dir / "critic" / "checkpoints" / "last.ckpt"
    kill_when(
        cmd, lambda: last.is_file() and torch.load(last, weights_only=True, map_location="cpu")["global_step"] >= 50
    )
    killed_at = torch.load(last, weights_only=True, map_location="cpu")["global_step"]
    assert not (run_dir / "critic" / "model.ckpt").exists()
    output = finish(cmd)
    assert "Restoring states from the checkpoint" in output and str(last) in output
    assert torch.load(run_dir / "critic" / "model.ckpt", weights_only=True, map_location="cpu")["global_step"] == 400
    assert killed_at < 400
    with open(run_dir / "critic" / "csv" / "metrics.csv") as f:  # the curve has no gap where the kill was
        steps = {int(r["step"]) for r in csv.DictReader(f) if r.get("critic/q_loss")}
    assert steps == set(range(9, 400, 10)), sorted(set(range(9, 400, 10)) - steps)
    assert before == {p: p.stat().st_mtime_ns for p in before}  # earlier stages were not rerun
    assert (run_dir / "results.json").is_file()


def test_sigkill_in_support_stage_keeps_written_states(tmp_path: Path, finished_run: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    for stage in ("support", "critic", "energy", "eval"):
        shutil.rmtree(run_dir / stage, ignore_errors=True)
    (run_dir / "results.json").unlink()
    behavior = (run_dir / "behavior" / "model.ckpt").stat().st_mtime_ns
    cmd = command(run_dir, "support.batch_size=32")
    written = run_dir / "support" / "written.npy"

    def some_written() -> bool:
        try:
            return 0 < int(np.load(written, mmap_mode="r").sum()) < len(np.load(written, mmap_mode="r"))
        except (OSError, ValueError):
            return False

    kill_when(cmd, some_written)
    done_before = int(np.load(written).sum())
    assert not (run_dir / "support" / "record.json").exists()
    finish(cmd)
    assert (run_dir / "support" / "record.json").is_file() and np.load(written).all()
    assert (run_dir / "behavior" / "model.ckpt").stat().st_mtime_ns == behavior
    assert done_before > 0
    # seeded per state: the resumed result equals the uninterrupted one
    np.testing.assert_array_equal(
        np.load(run_dir / "support" / "actions.npy"), np.load(finished_run / "support" / "actions.npy")
    )


def test_sigterm_in_evaluation_stops_after_its_batch_and_the_resume_keeps_the_finished_episodes(
    tmp_path: Path, finished_run: Path
) -> None:
    """A real SIGTERM while the evaluation steps its episodes one batch at a time: the command exits with 143
    after at most the batch it was in, the finished episodes stay in eval/episodes-0.jsonl and the record stays
    pending; the rerun evaluates only the other episodes and reports the stored ones as they were."""
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    cmd = command(run_dir, *FIXTURE_EXTRAS, "stage=eval", "eval.episodes=4", "eval.envs_per_batch=1")
    episodes = run_dir / "eval" / "episodes-0.jsonl"
    episodes.unlink()  # the finished evaluation's (the redo clears it too)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (episodes.is_file() and episodes.read_text().count("\n") >= 2):
        assert proc.poll() is None, "the evaluation finished before it could be interrupted"
        assert time.time() < deadline
        time.sleep(0.02)
    at_signal = len(EpisodeWriter.finished_episodes(run_dir / "eval"))
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
    stored = EpisodeWriter.finished_episodes(run_dir / "eval")
    scales = len(json.loads((finished_run / "results.json").read_text())["scales"])
    assert at_signal <= len(stored) <= at_signal + 1 < 4 * scales  # within the batch it was in
    assert RunDir(run_dir).record("eval") is None and (run_dir / "eval" / "pending.json").is_file()

    finish(cmd)
    after = EpisodeWriter.finished_episodes(run_dir / "eval")
    assert sorted(after) == list(range(4 * scales))
    assert {k: after[k] for k in stored} == stored  # not evaluated again
    results = json.loads((run_dir / "results.json").read_text())["scales"]
    first_scale = next(iter(results))
    assert results[first_scale]["episodes"] == 4
    assert results[first_scale]["mean_return"] == pytest.approx(np.mean([after[k] for k in range(4)]))
