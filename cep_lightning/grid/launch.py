"""Starting a grid's runs through submitit: one SLURM job array (``SlurmExecutor``), or local processes a few at
a time on this machine (``LocalExecutor``), each GPU shared by ``runs_per_gpu`` runs."""

from __future__ import annotations

import os
import time
from typing import Callable

import submitit
import torch
from submitit.core.utils import FailedJobError, FailedSubmissionError

from cep_lightning.errors import GridError
from cep_lightning.grid.job import GridJob
from cep_lightning.grid.jobs import Submitted, logs_folder, record_jobs
from cep_lightning.grid.options import GridOptions
from cep_lightning.grid.runs import GridRun

LOCAL_TIMEOUT_MIN = 60 * 24 * 365  # a local run is never stopped for time
POLL_S = 1.0


def _job(runs: list[GridRun], options: GridOptions) -> GridJob:
    return GridJob([(run.task, run.seed, list(run.argv)) for run in runs], options.runs_per_gpu, os.getcwd())


def submit_slurm(options: GridOptions, runs: list[GridRun]) -> dict[str, Submitted]:
    """One job array: each array task holds ``runs_per_gpu`` runs per GPU it asks for (``slurm.gpus_per_node``;
    one group of ``runs_per_gpu`` without GPUs), at most ``jobs`` array tasks at a time; requeueable, so that a
    preempted job comes back and its runs resume."""
    executor = submitit.SlurmExecutor(folder=logs_folder(options.directory))
    params = {"job_name": "cep-grid", **options.slurm}
    params["additional_parameters"] = {"requeue": True, **params.get("additional_parameters", {})}
    if options.jobs is not None:
        params["array_parallelism"] = options.jobs
    try:
        executor.update_parameters(**params)
    except ValueError as exc:
        raise GridError(f"submitit refuses the slurm.* options: {' '.join(str(exc).split())}") from None
    size = options.runs_per_gpu * max(1, options.slurm.get("gpus_per_node", 0))
    groups = [runs[k : k + size] for k in range(0, len(runs), size)]
    try:
        jobs = executor.submit_array([_job(group, options) for group in groups])
    except (FailedJobError, FailedSubmissionError, OSError) as exc:  # sbatch's refusal, or no sbatch
        raise GridError(f"sbatch refused the grid's job array: {' '.join(str(exc).split())}") from None
    submitted = {run.name: Submitted("slurm", job.job_id) for group, job in zip(groups, jobs) for run in group}
    record_jobs(options.directory, submitted)
    return submitted


def visible_gpus() -> list[int]:
    """The GPUs this machine shows the command (CUDA_VISIBLE_DEVICES, by index, where it is set)."""
    mask = os.environ.get("CUDA_VISIBLE_DEVICES")
    if mask is None:
        return list(range(torch.cuda.device_count()))
    try:
        return [int(d) for d in mask.split(",") if d.strip()]
    except ValueError:
        raise GridError(
            f"CUDA_VISIBLE_DEVICES={mask} names GPUs other than by index; the local launcher hands them to its "
            "runs by index: set CUDA_VISIBLE_DEVICES=0,1,..."
        ) from None


def local_slots(options: GridOptions, gpus: list[int]) -> list[int | None]:
    """The GPU of each of the local launcher's slots (None: no GPU): ``jobs`` slots (default: ``runs_per_gpu``
    per GPU, or ``runs_per_gpu`` on a machine without one), ``runs_per_gpu`` of them on each GPU in turn."""
    capacity = max(1, len(gpus)) * options.runs_per_gpu
    jobs = options.jobs or capacity
    if gpus and jobs > capacity:
        raise GridError(
            f"jobs={jobs} would put more than runs_per_gpu={options.runs_per_gpu} runs on one of the {len(gpus)} "
            f"GPUs; raise runs_per_gpu or lower jobs (at most {capacity})."
        )
    return [gpus[k // options.runs_per_gpu] if gpus else None for k in range(jobs)]


def run_local(options: GridOptions, runs: list[GridRun], say: Callable[[str], None]) -> None:
    """Run ``runs`` on this machine through submitit's LocalExecutor, one job per run, as many at a time as there
    are slots (``local_slots``), until every one has ended."""
    executor = submitit.LocalExecutor(folder=logs_folder(options.directory))
    slots = local_slots(options, visible_gpus())
    queue, busy = list(runs), {}  # slot -> (run, job)
    while queue or busy:
        for slot in [s for s in range(len(slots)) if s not in busy][: len(queue)]:
            run, gpu = queue.pop(0), slots[slot]
            gpus = {"visible_gpus": [gpu], "gpus_per_node": 1} if gpu is not None else {"gpus_per_node": 0}
            executor.update_parameters(timeout_min=LOCAL_TIMEOUT_MIN, **gpus)
            job = executor.submit(_job([run], options))
            record_jobs(options.directory, {run.name: Submitted("local", job.job_id)})
            busy[slot] = (run, job)
            say(f"{run.name}: started (job {job.job_id}{'' if gpu is None else f', GPU {gpu}'})")
        time.sleep(POLL_S)
        for slot, (run, job) in list(busy.items()):
            if job.done():
                del busy[slot]
                say(f"{run.name}: ended")
