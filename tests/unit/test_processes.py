"""Which process writes and which run a new command names, from the variables each launcher sets."""

from __future__ import annotations

import lightning as L
import pytest

from cep_lightning.errors import ConfigError
from cep_lightning.run.processes import cluster_environment, is_rank_zero, launch_name

LAUNCHER_VARIABLES = [
    "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "TORCHELASTIC_RUN_ID",
    "SLURM_NTASKS", "SLURM_NTASKS_PER_NODE", "SLURM_PROCID", "SLURM_LOCALID", "SLURM_NODEID", "SLURM_JOB_ID",
    "SLURM_JOB_NAME", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "LSB_JOBID", "LSB_HOSTS", "LSB_MCPU_HOSTS",
]  # fmt: skip
SRUN = {"SLURM_NTASKS": "2", "SLURM_NTASKS_PER_NODE": "2", "SLURM_JOB_ID": "41", "SLURM_JOB_NAME": "python"}
TORCHRUN = {"RANK": "0", "GROUP_RANK": "0", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1", "WORLD_SIZE": "2"}
TORCHRUN["TORCHELASTIC_RUN_ID"] = "none"  # its static rendezvous without --rdzv-id


@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch):
    """Set a launcher's variables (and none of another's)."""
    for name in LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)

    def set_variables(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)

    return set_variables


@pytest.mark.parametrize(
    "variables, writer",
    [
        ({}, True),  # one process
        ({"LOCAL_RANK": "1", "NODE_RANK": "0", "WORLD_SIZE": "2"}, False),  # Lightning's launcher's child
        ({"LOCAL_RANK": "0", "NODE_RANK": "1", "WORLD_SIZE": "2"}, False),  # the first process of node 1
        ({**SRUN, "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NODEID": "0"}, True),
        ({**SRUN, "SLURM_PROCID": "1", "SLURM_LOCALID": "1", "SLURM_NODEID": "0"}, False),
        ({**SRUN, "SLURM_PROCID": "2", "SLURM_LOCALID": "0", "SLURM_NODEID": "1"}, False),  # node 1 of srun -N2
        ({**TORCHRUN, "RANK": "1", "GROUP_RANK": "1"}, False),  # torchrun --nnodes=2, node rank 1
        ({**TORCHRUN, **SRUN, "SLURM_PROCID": "1"}, True),  # torchrun inside a SLURM job: torchrun's rank
    ],
)
def test_the_writer_is_global_rank_zero_of_lightnings_environment(launched, variables: dict, writer: bool) -> None:
    launched(**variables)
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False)
    assert type(cluster_environment()) is type(trainer._accelerator_connector.cluster_environment)
    assert is_rank_zero() is writer


@pytest.mark.parametrize(
    "variables, name",
    [
        ({}, None),
        ({"LOCAL_RANK": "1", "WORLD_SIZE": "2"}, None),  # Lightning's launcher passes run.dir down
        ({**SRUN, "SLURM_PROCID": "1"}, "slurm-41"),
        ({**SRUN, "SLURM_PROCID": "0", "SLURM_ARRAY_JOB_ID": "40", "SLURM_ARRAY_TASK_ID": "3"}, "slurm-40_3"),
        ({**SRUN, "SLURM_JOB_NAME": "bash"}, None),  # an interactive allocation: Lightning ignores SLURM too
        ({**TORCHRUN, "TORCHELASTIC_RUN_ID": "abc"}, "torchrun-abc"),
        ({**TORCHRUN, **SRUN}, "slurm-41"),
        ({**TORCHRUN, "WORLD_SIZE": "1"}, None),
    ],
)
def test_a_new_run_is_named_alike_in_every_process_of_a_launch(launched, variables: dict, name: str | None) -> None:
    launched(**variables)
    assert launch_name() == name


def test_torchrun_without_a_run_id_on_several_processes_is_refused(launched) -> None:
    launched(**TORCHRUN)
    with pytest.raises(ConfigError, match="--rdzv-id"):
        launch_name()
