"""Where each run of a grid stands: done, running, failed (with the last line of its log), stale (its job is gone
and the run did not finish: cancelled, killed, its node lost) or not submitted yet; and the table of them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from cep_lightning.grid.jobs import Submitted, alive_jobs, read_jobs
from cep_lightning.grid.runs import GridRun, is_done

DONE, RUNNING, FAILED, STALE, NEW = "done", "running", "failed", "stale", "not submitted"
STATES = (DONE, RUNNING, FAILED, STALE, NEW)


@dataclass(frozen=True)
class RunStatus:
    run: GridRun
    state: str
    detail: str = ""


def classify(done: bool, job: Submitted | None, alive: bool, exit_status: int | None) -> str:
    """A run's state from its records (``done``), the job that last took it, whether that job is alive, and
    the exit status the run had in it (None: it had none, e.g. killed with its job). A run that stopped on a
    signal (exit status 128 + n, or killed) is stale, not failed: rerunning resumes it."""
    if done:
        return DONE
    if job is None:
        return NEW
    if alive:
        return RUNNING
    if exit_status is not None and 0 < exit_status < 128:
        return FAILED
    return STALE


def last_line(path: Path) -> str:
    """The last non-empty line of a log ('' when there is none)."""
    if not path.is_file():
        return ""
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def grid_status(grid: Path, runs: list[GridRun]) -> list[RunStatus]:
    """The state of every run of the grid."""
    jobs = read_jobs(grid)
    alive = alive_jobs(grid, [jobs[run.name] for run in runs if run.name in jobs])
    statuses = []
    for run in runs:
        job = jobs.get(run.name)
        done = is_done(run)
        exit_status = None if job is None or done else job.exit_status(grid, run.task, run.seed)
        state = classify(done, job, job is not None and job.job_id in alive, exit_status)
        statuses.append(RunStatus(run, state, _detail(grid, run, job, state, exit_status)))
    return statuses


def _detail(grid: Path, run: GridRun, job: Submitted | None, state: str, exit_status: int | None) -> str:
    if job is None or state == DONE:
        return ""
    log = job.log(grid, run.task, run.seed)
    if state == FAILED:
        return f"job {job.job_id}, exit status {exit_status}: {last_line(log) or '(empty log)'}  [{log}]"
    if state == RUNNING:
        return f"job {job.job_id} ({job.launcher}), log {log}"
    if exit_status == 0:
        why = "finished the run with other settings than these; rerun the grid command to redo what they change"
    else:
        why = "ended before the run finished" + (" (stopped by a signal)" if exit_status is not None else "")
        why += "; rerun the grid command to resume it"
    return f"job {job.job_id} {why}  [{log}]"


def describe(grid: Path, statuses: list[RunStatus]) -> str:
    """The counts per state, then one line per run."""
    counts = Counter(s.state for s in statuses)
    width = max(len(s.run.name) for s in statuses)
    lines = [
        f"[cep_lightning.grid] {grid}: {len(statuses)} run{'s' * (len(statuses) != 1)}: "
        + ", ".join(f"{counts[k]} {k}" for k in STATES)
    ]
    lines += [f"  {s.run.name:<{width}}  {s.state:<13} {s.detail}".rstrip() for s in statuses]
    return "\n".join(lines)
