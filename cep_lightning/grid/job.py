"""What one submitit job runs: the pipeline (``python -m cep_lightning``) once per run it holds, in processes of
their own, side by side, each on its share of the job's GPUs, with its output in ``<job folder>/<task>-seed<k>.log``
and its exit status in ``<task>-seed<k>.exit``.

Stopping: SLURM's SIGTERM (``scancel``, a preemption) reaches the runs themselves, which stop at the end of a batch
with their resume point saved. submitit's own signal before the time limit (USR2) is left to this process, which
stops the runs the same way and requeues the job; the requeued job starts the same runs again, and each resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import submitit
from submitit.helpers import Checkpointable, DelayedSubmission


class RunFailed(RuntimeError):
    """A run of the job ended with an error (its log says which)."""


def log_path(folder: Path, task: str, seed: int) -> Path:
    """The output of run (task, seed) in the job folder ``folder``."""
    return folder / f"{task}-seed{seed}.log"


def exit_path(folder: Path, task: str, seed: int) -> Path:
    """The exit status of run (task, seed) in the job folder ``folder``, written when the run's process ends."""
    return folder / f"{task}-seed{seed}.exit"


def assign_gpus(count: int, visible: list[str], runs_per_gpu: int) -> list[str | None]:
    """The CUDA_VISIBLE_DEVICES of each of ``count`` runs: ``runs_per_gpu`` runs on each of the ``visible`` GPUs in
    turn; None for every run where no GPU is visible (a CPU job: the runs only run side by side)."""
    if not visible:
        return [None] * count
    return [visible[(k // runs_per_gpu) % len(visible)] for k in range(count)]


def _ignore_submitit_signal() -> None:
    """In a run's process, before it starts: submitit's USR2 is for the job's process, not for the run."""
    signal.signal(getattr(signal, f"SIG{submitit.JobEnvironment.USR_SIG}"), signal.SIG_IGN)


class GridJob(Checkpointable):
    """The runs ``(task, seed, argv)`` of one job, started in ``cwd``."""

    def __init__(self, runs: list[tuple[str, int, list[str]]], runs_per_gpu: int, cwd: str) -> None:
        self.runs = runs
        self.runs_per_gpu = runs_per_gpu
        self.cwd = cwd
        self._processes: list[subprocess.Popen] = []

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_processes"}  # a requeue pickles the job again

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _processes=[])

    def __call__(self) -> dict[str, int]:
        """Run every run to its end; their exit statuses by name. A RunFailed if one ended with an error."""
        folder = submitit.JobEnvironment().paths.folder
        visible = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d]
        gpus = assign_gpus(len(self.runs), visible, self.runs_per_gpu)
        for (task, seed, argv), gpu in zip(self.runs, gpus):
            exit_path(folder, task, seed).unlink(missing_ok=True)
            env = dict(os.environ) if gpu is None else {**os.environ, "CUDA_VISIBLE_DEVICES": gpu}
            where = "" if gpu is None else f" on GPU {gpu}"
            print(f"[cep_lightning.grid] {task} seed {seed}{where}: log {log_path(folder, task, seed)}", flush=True)
            with log_path(folder, task, seed).open("a") as log:
                self._processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "cep_lightning", *argv],
                        cwd=self.cwd,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        preexec_fn=_ignore_submitit_signal,
                    )
                )
        codes = {}
        for (task, seed, _), process in zip(self.runs, self._processes):
            codes[f"{task}/seed{seed}"] = code = process.wait()
            exit_path(folder, task, seed).write_text(f"{code}\n")
        failed = [f"{name} (exit status {code})" for name, code in codes.items() if 0 < code < 128]
        if failed:
            raise RunFailed(f"failed: {', '.join(failed)}; see their logs in {folder}")
        return codes

    def checkpoint(self, *args: Any, **kwargs: Any) -> DelayedSubmission:
        """Before the time limit: stop the runs at the end of a batch (their resume points saved), then requeue.
        It runs in submitit's signal handler, while ``__call__`` waits for the runs: it watches them end without
        reaping them (``waitid`` with WNOWAIT), which is left to ``__call__``'s wait."""
        for process in self._processes:
            process.send_signal(signal.SIGTERM)
        while any(_running(process) for process in self._processes):
            time.sleep(0.2)
        return super().checkpoint(*args, **kwargs)


def _running(process: subprocess.Popen) -> bool:
    if process.returncode is not None:
        return False
    try:
        return os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
    except ChildProcessError:  # reaped meanwhile
        return False
