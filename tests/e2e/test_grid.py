"""The grid at smoke budgets: three seeds through a SLURM job array and through local processes two at a time;
one run stopped midway (its job cancelled, its process sent SIGTERM) is the only one a rerun launches, the others'
files untouched, and the report lists every seed once all are done."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from cep_lightning.grid.jobs import read_jobs
from tests.helpers import ROOT, TINY

GRID = ["task=pendulum-mixed", "seed=0,1,2", "smoke=true", *TINY]
SEEDS_LINE = "| pendulum-mixed | 0 1 2 |"


def grid(*args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "cep_lightning.grid", *GRID, *args]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen, status: int) -> str:
    out, err = process.communicate(timeout=300)
    assert process.returncode == status, out[-3000:] + err[-3000:]
    return out


def wait_for(condition: Callable[[], bool], seconds: float = 120) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.2)


def files(run: Path) -> dict[str, tuple[int, bytes]]:
    """Every file of a run directory, with its modification time and content."""
    return {str(p.relative_to(run)): (p.stat().st_mtime_ns, p.read_bytes()) for p in run.rglob("*") if p.is_file()}


def training(directory: Path, seed: int) -> bool:
    """The run of ``seed`` is in its first stage (its log says so)."""
    job = read_jobs(directory).get(f"pendulum-mixed/seed{seed}") if (directory / "jobs.json").is_file() else None
    log = job.log(directory, "pendulum-mixed", seed) if job else None
    return log is not None and log.is_file() and "behavior: run" in log.read_text()


def rerun_redoes_only_seed1(directory: Path, kept: dict[int, dict], *args: str) -> str:
    """The same grid again: only seed 1 runs, seeds 0 and 2 are left as they were, and the report lists all."""
    before = read_jobs(directory)
    out = finish(grid(*args), 0)
    assert "1 of 3 runs to launch (2 done, 0 running)" in out, out
    assert "3 runs: 3 done, 0 running, 0 failed, 0 stale, 0 not submitted" in out, out
    assert SEEDS_LINE in out and SEEDS_LINE in (directory / "report.md").read_text()
    after = read_jobs(directory)
    assert after["pendulum-mixed/seed1"] != before["pendulum-mixed/seed1"]
    assert [after[f"pendulum-mixed/seed{k}"] for k in kept] == [before[f"pendulum-mixed/seed{k}"] for k in kept]
    for seed, before in kept.items():
        assert files(directory / "pendulum-mixed" / f"seed{seed}") == before, seed
    return out


@pytest.mark.slurm
def test_slurm_grid_cancelled_job_is_stale_and_the_rerun_redoes_only_its_run(tmp_path: Path, slurm: None) -> None:
    directory = tmp_path / "grid"
    sbatch = ["slurm.partition=debug", "slurm.time=10", "slurm.cpus_per_task=1"]
    sbatch += ["slurm.additional_parameters.comment=cep-grid-test"]
    first = grid("launcher=slurm", f"grid.dir={directory}", *sbatch)
    wait_for(lambda: training(directory, 1))
    job = read_jobs(directory)["pendulum-mixed/seed1"].job_id
    subprocess.run(["scancel", job], check=True)
    out = finish(first, 1)
    assert "3 runs: 2 done, 0 running, 0 failed, 1 stale, 0 not submitted" in out, out
    assert "| task |" not in out  # no report while a run is unfinished
    array = job.split("_")[0]
    script = (directory / "logs" / array / f"{array}_submission.sh").read_text()
    for line in ("--array=0-2%3", "--partition=debug", "--time=10", "--cpus-per-task=1", "--comment=cep-grid-test"):
        assert f"#SBATCH {line}\n" in script, script
    assert "#SBATCH --requeue\n" in script  # a preempted job comes back, and its runs resume

    status = finish(grid(f"grid.dir={directory}", "status"), 0)
    line = next(line for line in status.splitlines() if "pendulum-mixed/seed1" in line)
    assert line.split()[1] == "stale" and f"job {job} ended before the run finished" in line, status
    assert [line.split()[1] for line in status.splitlines()[1:4]] == ["done", "stale", "done"], status

    kept = {seed: files(directory / "pendulum-mixed" / f"seed{seed}") for seed in (0, 2)}
    rerun_redoes_only_seed1(directory, kept, "launcher=slurm", f"grid.dir={directory}", *sbatch)


def pipeline_pid(run_dir: Path) -> int | None:
    """The pid of the pipeline process working in ``run_dir`` (``python -m cep_lightning ... run.dir=<run_dir>``)."""
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"cep_lightning" in argv and f"run.dir={run_dir}".encode() in argv:
            return int(proc.name)
    return None


def test_local_grid_runs_two_at_a_time_and_the_rerun_redoes_only_the_stopped_run(
    tmp_path: Path, minari_store: str
) -> None:
    directory = tmp_path / "grid"
    first = grid("launcher=local", "jobs=2", f"grid.dir={directory}")
    wait_for(lambda: training(directory, 1))
    os.kill(pipeline_pid(directory / "pendulum-mixed" / "seed1"), signal.SIGTERM)  # type: ignore[arg-type]
    out = finish(first, 1)
    assert "3 runs: 2 done, 0 running, 0 failed, 1 stale, 0 not submitted" in out, out
    assert "ended before the run finished (stopped by a signal)" in out, out
    lines = out.splitlines()
    started = [k for k, line in enumerate(lines) if line.endswith(")") and ": started (job" in line]
    assert len(started) == 3 and started[2] > min(k for k, line in enumerate(lines) if line.endswith(": ended"))
    kept = {seed: files(directory / "pendulum-mixed" / f"seed{seed}") for seed in (0, 2)}
    rerun_redoes_only_seed1(directory, kept, "launcher=local", "jobs=2", f"grid.dir={directory}")
