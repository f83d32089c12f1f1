"""The grid command: check every run's settings, skip the finished runs and those whose job is alive, launch the
rest, wait for them, then show where each run stands and, once all are done, the report table."""

from __future__ import annotations

import sys
import time

from cep_lightning.errors import CepError
from cep_lightning.grid.launch import run_local, submit_slurm
from cep_lightning.grid.options import GridOptions, parse_grid
from cep_lightning.grid.runs import GridRun, grid_runs
from cep_lightning.grid.status import DONE, RUNNING, describe, grid_status
from cep_lightning.report import write_report
from cep_lightning.run.locate import load_command

HELP = """usage: python -m cep_lightning.grid task=NAME[,NAME...] seed=K[,K...] [key=value ...] [grid options] [status]

One cep_lightning run per (task, seed), into <grid.dir>/<task>/seed<k>; the key=value settings go to every run.
Rerunning the same command skips the finished runs and those still queued or running, and launches the rest
(failed, stale, new), which resume where they stopped. Once every run is done: <grid.dir>/report.md and report.csv.

grid options:
  launcher=local|slurm        local (default): processes on this machine; slurm: one SLURM job array
  jobs=N                      runs (local) or array tasks (slurm) at a time (local default: runs_per_gpu per GPU)
  runs_per_gpu=K              K runs share each GPU (CUDA_VISIBLE_DEVICES); without a GPU, K runs side by side
  grid.dir=DIR                the grid's folder (default: <run.root>/grid); submitit's logs in DIR/logs/<job>/
  grid.wait=true|false        wait for the SLURM jobs, then show the status (default: true)
  slurm.KEY=VALUE             submitit's SlurmExecutor parameters: slurm.partition=..., slurm.time=MINUTES
                              (default 1440), slurm.gpus_per_node=G, slurm.cpus_per_task=C, slurm.mem=...,
                              slurm.additional_parameters.OPTION=VALUE (any other sbatch option)
  status                      only show each run: done, running, failed (its log's last line), stale, not submitted

example:
  python -m cep_lightning.grid task=hopper-medium-v2,walker2d-medium-v2 seed=0,1,2,3,4 data.path=... \\
      launcher=slurm slurm.partition=gpu slurm.gpus_per_node=1 slurm.cpus_per_task=4 slurm.time=600
"""
WAIT_POLL_S = 5.0


def say(message: str) -> None:
    print(f"[cep_lightning.grid] {message}", flush=True)


def main(argv: list[str]) -> int:
    """The grid command; a user error is one line on stderr and exit status 2; 1 when runs are left unfinished."""
    if any(a in ("-h", "--help", "help") for a in argv):
        print(HELP, end="")
        return 0
    try:
        options = parse_grid(argv)
        runs = grid_runs(options)
        if not options.status:
            launch(options, runs)
        return conclude(options, runs)
    except CepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def check_runs(runs: list[GridRun]) -> None:
    """Every run's settings, checked before anything is launched (a CepError for the first that is not valid)."""
    for run in runs:
        load_command(list(run.argv))


def launch(options: GridOptions, runs: list[GridRun]) -> None:
    """Launch the runs that are neither done nor alive; wait for them (local runs always, SLURM's unless
    grid.wait=false)."""
    check_runs(runs)
    statuses = grid_status(options.directory, runs)
    todo = [s.run for s in statuses if s.state not in (DONE, RUNNING)]
    done, running = (sum(s.state == state for s in statuses) for state in (DONE, RUNNING))
    say(f"{options.directory}: {len(todo)} of {len(runs)} runs to launch ({done} done, {running} running)")
    if options.launcher == "local":
        run_local(options, todo, say)
        return
    if todo:
        submitted = submit_slurm(options, todo)
        arrays = sorted({job.job_id.split("_")[0] for job in submitted.values()})
        say(
            f"submitted job array {', '.join(arrays)} ({len(todo)} run{'s' * (len(todo) != 1)}); "
            f"logs in {options.directory / 'logs'}"
        )
    if options.wait:
        wait_for_slurm(options, runs)


def wait_for_slurm(options: GridOptions, runs: list[GridRun]) -> None:
    """Until no run's job is alive, a line whenever a run's state changes; Ctrl-C stops the waiting only."""
    seen: dict[str, str] = {}
    try:
        while True:
            statuses = grid_status(options.directory, runs)
            for s in statuses:
                if seen.get(s.run.name) != s.state:
                    seen[s.run.name] = s.state
                    say(f"{s.run.name}: {s.state}")
            if all(s.state != RUNNING for s in statuses):
                return
            time.sleep(WAIT_POLL_S)
    except KeyboardInterrupt:
        say("stopped waiting; the jobs go on in SLURM (this command with 'status' shows them)")


def conclude(options: GridOptions, runs: list[GridRun]) -> int:
    """Print each run's state; with every run done, write and print the report. Exit status 0 when all are done
    (or the SLURM jobs were left to run), else 1."""
    statuses = grid_status(options.directory, runs)
    print(describe(options.directory, statuses), flush=True)
    if all(s.state == DONE for s in statuses):
        print(write_report([run.directory for run in runs], options.directory))
        say(f"report: {options.directory / 'report.md'}, {options.directory / 'report.csv'}")
        return 0
    return 0 if options.status or not options.wait else 1
