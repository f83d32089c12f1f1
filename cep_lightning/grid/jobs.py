"""The grid's record of its jobs, ``<grid>/jobs.json``: for every run, the submitit job that last took it (its
launcher and job id; its folder under ``<grid>/logs/``); and whether that job is still alive."""

from __future__ import annotations

import getpass
import json
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from submitit.core.utils import JobPaths

from cep_lightning.errors import GridError
from cep_lightning.grid.job import exit_path, log_path
from cep_lightning.run.directory import atomic_write

JOBS = "jobs.json"
SLURM_ALIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD",
               "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "SPECIAL_EXIT"}  # fmt: skip


def logs_folder(grid: Path) -> Path:
    """submitit's folder pattern: one folder per job (``%j``: the job id, ``<array>_<index>`` in an array)."""
    return grid / "logs" / "%j"


@dataclass(frozen=True)
class Submitted:
    """The job that last took a run."""

    launcher: str
    job_id: str

    def folder(self, grid: Path) -> Path:
        return JobPaths(logs_folder(grid), self.job_id).folder

    def log(self, grid: Path, task: str, seed: int) -> Path:
        return log_path(self.folder(grid), task, seed)

    def exit_status(self, grid: Path, task: str, seed: int) -> int | None:
        """The run's exit status in this job, None while it runs (or when its job was killed first)."""
        path = exit_path(self.folder(grid), task, seed)
        return int(path.read_text()) if path.is_file() else None


def read_jobs(grid: Path) -> dict[str, Submitted]:
    """The job of every run submitted so far, by run name (``<task>/seed<k>``)."""
    path = grid / JOBS
    return {name: Submitted(**job) for name, job in json.loads(path.read_text()).items()} if path.is_file() else {}


def record_jobs(grid: Path, jobs: dict[str, Submitted]) -> None:
    """Add (or replace) the jobs of these runs."""
    grid.mkdir(parents=True, exist_ok=True)
    merged = {**read_jobs(grid), **jobs}
    atomic_write(grid / JOBS, json.dumps({name: asdict(job) for name, job in sorted(merged.items())}, indent=2))


def alive_jobs(grid: Path, jobs: list[Submitted]) -> set[str]:
    """The ids of ``jobs`` that are queued or running: SLURM's by ``squeue``, local ones by their controller
    process (submitit's ``submitit.local._local`` for this grid's log folder)."""
    alive = set()
    if any(job.launcher == "slurm" for job in jobs):
        alive |= _slurm_alive()
    folder = str(logs_folder(grid))
    for job in jobs:
        if job.launcher == "local" and folder in _command_line(job.job_id):
            alive.add(job.job_id)
    return alive


def _slurm_alive() -> set[str]:
    """This user's SLURM jobs that are not over, array tasks one by one (``<array>_<index>``)."""
    try:
        out = subprocess.run(
            ["squeue", "--noheader", "--array", "--user", getpass.getuser(), "--format", "%i %T"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GridError(f"Cannot ask SLURM which jobs are alive (squeue: {exc}).") from None
    if out.returncode != 0:
        raise GridError(f"Cannot ask SLURM which jobs are alive: {(out.stderr.strip() or 'squeue failed')}.")
    return {job for job, state in (line.split()[:2] for line in out.stdout.splitlines() if line.strip())
            if state in SLURM_ALIVE}  # fmt: skip


def _command_line(pid: str) -> str:
    try:
        return Path(f"/proc/{int(pid)}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError):
        return ""
