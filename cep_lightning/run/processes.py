"""The processes of one command, however they were started (Lightning's own DDP launcher, torchrun, srun, on one
node or several): which of them writes the run's shared files, the name of the run that all of them work in, and
the wait for each other before the first write.

The cluster environment is the one Lightning's Trainer picks, found the way its accelerator connector finds it
(``_choose_and_init_cluster_environment``: TorchElastic, then SLURM, LSF, MPI, else Lightning's own); the writer
is the process of global rank 0 in it."""

from __future__ import annotations

import os
import warnings

import lightning as L
from lightning.fabric.plugins.environments import (
    ClusterEnvironment,
    LightningEnvironment,
    LSFEnvironment,
    MPIEnvironment,
    SLURMEnvironment,
    TorchElasticEnvironment,
)

from cep_lightning.errors import ConfigError

DETECTED = (TorchElasticEnvironment, SLURMEnvironment, LSFEnvironment, MPIEnvironment)  # Lightning's order


def cluster_environment() -> ClusterEnvironment:
    """The cluster environment Lightning's Trainer would pick in this process."""
    detected = next((env for env in DETECTED if _detects(env)), None)
    return detected() if detected is not None else LightningEnvironment()


def _detects(env: type[ClusterEnvironment]) -> bool:
    with warnings.catch_warnings():  # SLURM's warns where srun exists but is not used (the Trainer says so)
        warnings.simplefilter("ignore")
        return env.detect()


def is_rank_zero() -> bool:
    """True in the process that writes shared files: global rank 0 (the only process without DDP). Lightning's
    own environment learns its global rank only from the strategy; the processes its launcher starts have
    LOCAL_RANK and NODE_RANK, both 0 only in the first process of the first node."""
    env = cluster_environment()
    if isinstance(env, LightningEnvironment):
        return env.node_rank() == 0 and env.local_rank() == 0
    return env.global_rank() == 0


def launch_name() -> str | None:
    """The name of a new run that every process of this launch computes alike and no other launch shares: the
    SLURM job (``slurm-<job>``, ``slurm-<array job>_<task>`` in an array; a requeued job keeps it), torchrun's
    rendezvous id (``torchrun-<id>``); None for a process that nothing launched beside others (a single process,
    or Lightning's launcher, which passes its run directory down on the command line)."""
    env = cluster_environment()
    torchrun = isinstance(env, TorchElasticEnvironment)
    if torchrun and os.environ.get("TORCHELASTIC_RUN_ID", "none") != "none":
        return f"torchrun-{os.environ['TORCHELASTIC_RUN_ID']}"
    job, array_job, task = (os.environ.get(k) for k in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"))
    if job is not None and _detects(SLURMEnvironment):  # also torchrun's processes in a SLURM job
        return f"slurm-{array_job}_{task}" if array_job and task else f"slurm-{job}"
    if torchrun and env.world_size() > 1:
        raise ConfigError(
            "torchrun's processes share no run id (its static rendezvous without --rdzv-id): pass --rdzv-id=ID, "
            "or name the run with run.name=NAME or run.dir=DIR."
        )
    return None


def join_started_processes(trainer: L.Trainer) -> None:
    """Wait until every process of the command has come this far, when all of them were started together (srun,
    torchrun): each has then read the run directory before any writes to it. The process group is the one the
    Trainer's strategy sets up (its later ``fit`` finds it up). Lightning's launcher starts its processes later,
    from the first ``fit``: they are not waited for."""
    strategy = trainer.strategy
    env = getattr(strategy, "cluster_environment", None)
    if env is None or isinstance(env, LightningEnvironment) or env.world_size() < 2:
        return
    strategy.setup_distributed()  # type: ignore[attr-defined]
    strategy.barrier()
