"""Between logging steps a training step never makes the host wait for the device: no scalar read
(``.item()``, ``float``, ``bool`` of a tensor: ``aten._local_scalar_dense``) and no device-to-host copy, in
the step, Lightning's loop or any of the pipeline's callbacks (guard, progress, throughput, EMA, checkpoints)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cep_lightning.run.locate import load_command
from cep_lightning.run.pipeline import run
from tests.helpers import TINY

START, STEPS = 5, 20  # counted: steps 5..24; logs, progress lines and checkpoints every 50 steps


@pytest.mark.filterwarnings("ignore:The number of training batches:UserWarning")  # 40 steps, logs every 50: meant
def test_no_host_sync_between_logging_steps(tmp_path: Path) -> None:
    counts = tmp_path / "syncs.json"
    run(
        load_command(
            [
                *TINY,
                "behavior.steps=40",
                "critic.steps=40",
                "energy.steps=40",
                "trainer.log_every_n_steps=50",
                "progress.every_n_steps=50",
                "checkpoint.every_n_steps=50",
                "callbacks.ema.enabled=true",
                "callbacks.custom.syncs.target=tests.helpers.HostSyncCounter",
                f"callbacks.custom.syncs.args={{path: '{counts}', start: {START}, steps: {STEPS}}}",
                "callbacks.custom.syncs.stages=[behavior,critic,energy]",
                f"run.dir={tmp_path / 'run'}",
            ]
        )
    )
    measured = json.loads(counts.read_text())
    assert set(measured) == {"behavior", "critic", "energy"}
    for stage, count in measured.items():
        assert count["steps"] == [START, START + STEPS - 1], stage
        assert count["scalar_reads"] == 0 and count["device_to_host"] == 0, (stage, count)
