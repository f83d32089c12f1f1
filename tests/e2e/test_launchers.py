"""One writer and one run directory however the processes were started: srun (SLURM) and torchrun (two
launchers, node ranks 0 and 1) each run every stage at smoke budgets into a single run, with one set of
records, whose results and weights equal those of a ``trainer.devices=2`` run of Lightning's own launcher; a SLURM
job requeued in the critic stage resumes it."""

from __future__ import annotations

import json
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
import torch

from cep_lightning.config.schema import STAGES
from tests.helpers import ROOT, TINY

CPU = ["trainer.accelerator=cpu", "trainer.strategy=ddp"]
MODELS = ("behavior", "critic", "energy")


def train(*args: str, launcher: tuple[str, ...] = (sys.executable,)) -> subprocess.Popen:
    """``train.py`` at smoke budgets, started by ``launcher`` (which ends with the Python that runs it)."""
    command = [*launcher, "train.py", *TINY, *args]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> subprocess.CompletedProcess:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, out[-2000:] + err[-3000:]
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.fixture(scope="module")
def lightning_run(tmp_path_factory: pytest.TempPathFactory, minari_store: str) -> Path:
    """Every stage in two processes started by Lightning's launcher (trainer.devices=2), the reference."""
    run_dir = tmp_path_factory.mktemp("lightning") / "run"
    finish(train(*CPU, "trainer.devices=2", f"run.dir={run_dir}"))
    return run_dir


def only_run(root: Path) -> Path:
    """The single run directory under <root>/<task>/."""
    runs = [path for path in root.glob("*/*") if path.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def assert_same_run(run: Path, reference: Path) -> None:
    """One finished record per stage and none pending, one timing per stage, equal results and weights."""
    assert all((run / stage / "record.json").is_file() for stage in STAGES)
    assert not list(run.glob("*/pending.json"))
    assert sorted(json.loads((run / "timings.json").read_text())["share"]) == sorted(STAGES)
    results, expected = (json.loads((r / "results.json").read_text()) for r in (run, reference))
    assert results["scales"] == expected["scales"]
    for stage in MODELS:
        weights, wanted = (
            torch.load(r / stage / "model.ckpt", weights_only=False)["state_dict"] for r in (run, reference)
        )
        assert weights.keys() == wanted.keys()
        assert all(torch.equal(weights[k], wanted[k]) for k in wanted), stage


@pytest.mark.slurm
def test_srun_two_tasks_make_one_run_equal_to_lightnings_launcher(
    tmp_path: Path, slurm: None, lightning_run: Path
) -> None:
    srun = ("srun", "--nodes=1", "--ntasks=2", "--ntasks-per-node=2", "--time=10", sys.executable)
    done = finish(train(*CPU, "trainer.devices=2", f"run.root={tmp_path}", launcher=srun))
    run = only_run(tmp_path)
    assert run.name.startswith("slurm-")  # named after the job: a requeued job finds its run again
    assert done.stdout.count("data set mean return") == 1  # the table is printed by the writer only
    assert_same_run(run, lightning_run)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_on_two_nodes_makes_one_run_equal_to_lightnings_launcher(tmp_path: Path, lightning_run: Path) -> None:
    torchrun = f"--nnodes=2 --nproc-per-node=1 --node-rank={{rank}} --master-addr=127.0.0.1 --master-port={free_port()}"
    torchrun += " --rdzv-id=smoke"
    nodes = [
        train(
            *CPU,
            "trainer.devices=1",
            "trainer.num_nodes=2",
            f"run.root={tmp_path}",
            launcher=(sys.executable, "-m", "torch.distributed.run", *torchrun.format(rank=rank).split()),
        )
        for rank in (0, 1)
    ]
    outputs = [finish(node) for node in nodes]
    assert only_run(tmp_path).name == "torchrun-smoke"
    assert sum(out.stdout.count("data set mean return") for out in outputs) == 1
    assert_same_run(only_run(tmp_path), lightning_run)


def job_state(job: str) -> str:
    shown = subprocess.run(["scontrol", "-o", "show", "job", job], capture_output=True, text=True).stdout
    return shown.split("JobState=")[1].split()[0] if "JobState=" in shown else "GONE"


def wait_for(condition: Callable[[], bool], seconds: float = 300) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.2)


@pytest.mark.slurm
def test_a_job_requeued_in_the_critic_stage_ends_with_the_weights_of_an_uninterrupted_run(
    tmp_path: Path, slurm: None, lightning_run: Path
) -> None:
    """``scontrol requeue`` sends SIGTERM to the job's processes: the project's handler stops the stage at the
    end of a batch with its resume point saved (every process at the same step) unless SLURM's SIGKILL comes
    first (srun forces the end of a step cancelled for a requeue within seconds), which leaves the last periodic
    checkpoint; the job starts again with the same command, and the plan resumes the critic from last.ckpt."""
    critic = [*CPU, "trainer.devices=2", "stage=critic", "critic.steps=300"]
    reference, requeued, log = tmp_path / "reference", tmp_path / "requeued", tmp_path / "job.log"
    for run in (reference, requeued):
        shutil.copytree(lightning_run, run, ignore=shutil.ignore_patterns("checkpoints"))
    finish(train(*critic, f"run.dir={reference}"))
    script = tmp_path / "job.sh"
    command = [sys.executable, "train.py", *TINY, *critic, f"run.dir={requeued}"]
    script.write_text(f"#!/bin/bash\nsrun {shlex.join(command)}\n")
    sbatch = ["sbatch", "--parsable", "--requeue", "--nodes=1", "--ntasks=2", "--ntasks-per-node=2"]
    sbatch += ["--open-mode=append", f"--output={log}", f"--chdir={ROOT}", str(script)]
    job = subprocess.run(sbatch, check=True, capture_output=True, text=True).stdout.strip()
    wait_for(lambda: (requeued / "critic" / "checkpoints" / "last.ckpt").is_file())
    subprocess.run(["scontrol", "requeue", job], check=True)
    wait_for(lambda: job_state(job) == "PENDING")
    subprocess.run(["scontrol", "update", f"jobid={job}", "StartTime=now"], check=True)  # else it waits 2 min
    wait_for(lambda: job_state(job) not in ("PENDING", "RUNNING", "COMPLETING", "CONFIGURING"))
    out = log.read_text()
    assert job_state(job) == "COMPLETED", out[-3000:]
    assert "Received SIGTERM" in out and "critic   resume" in out, out[-3000:]
    weights, wanted = (
        torch.load(r / "critic/model.ckpt", weights_only=False)["state_dict"] for r in (requeued, reference)
    )
    assert all(torch.equal(weights[k], wanted[k]) for k in wanted)
