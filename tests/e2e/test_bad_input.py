"""Bad input gets one clear message: what is wrong, where, and how to fix it."""

from __future__ import annotations

from pathlib import Path

import pytest

from cep_lightning.run.locate import load_command


def test_nonfinite_loss_stops_the_stage_and_keeps_the_last_good_checkpoint(tmp_path: Path, finished_run: Path) -> None:
    import shutil

    import torch

    from cep_lightning.callbacks.guards import NonFiniteLossError
    from cep_lightning.run.pipeline import run
    from tests.helpers import TINY

    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    shutil.rmtree(run_dir / "critic")
    with pytest.raises(
        NonFiniteLossError,
        match=r"Stage 'critic' stopped at step \d+: the loss is (nan|inf)\. The last good checkpoint is",
    ) as info:
        run(
            load_command(
                [
                    *TINY,
                    "stage=critic",
                    f"run.dir={run_dir}",
                    "critic.lr=1e30",
                    "critic.steps=500",
                    "checkpoint.every_n_steps=1",
                ]
            )
        )
    failed_at = int(str(info.value).split("step ")[1].split(":")[0])
    last = torch.load(run_dir / "critic" / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert last["global_step"] < failed_at
    assert not (run_dir / "critic" / "model.ckpt").exists()
