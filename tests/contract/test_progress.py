"""Progress output: lines when stdout is not a terminal (every stage, support included), a clean tqdm bar in one."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.pytorch.demos.boring_classes import BoringModel

from cep_lightning.callbacks.progress import StageProgressBar


def test_terminal_bar_names_the_stage_without_epoch_or_version(tmp_path: Path, capsys) -> None:
    trainer = L.Trainer(
        max_steps=3,
        max_epochs=-1,
        callbacks=[StageProgressBar("behavior")],
        default_root_dir=tmp_path,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    trainer.fit(BoringModel())
    captured = capsys.readouterr()
    err = captured.out + captured.err
    assert "behavior" in err and "3/" in err
    assert "Epoch" not in err and "v_num" not in err
