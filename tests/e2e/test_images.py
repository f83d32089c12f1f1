"""The whole image comparison at a tiny budget: the files it writes, a user's energy beside the class energy, and a
rerun that skips the finished seed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from cep_lightning.images.__main__ import main as images_main

TINY = ["behavior.steps=30", "energy.steps=20", "image.samples=100", "trainer.enable_progress_bar=false"]


def test_the_command_writes_metrics_grids_and_a_figure_and_skips_a_finished_seed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "my_image_energies.py").write_text(
        "def top_ink(images):\n    return images[:, :, :4].mean((1, 2, 3))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_image_energies", raising=False)
    run = tmp_path / "run"
    argv = [
        "task=digits",
        f"run.dir={run}",
        "image.energies=[class]",
        "image.energy=my_image_energies:top_ink",
        "image.methods=[cep,mse]",
        "image.betas=[0,3]",
        *TINY,
    ]
    assert images_main(argv) == 0
    result = json.loads((run / "images.json").read_text())["digits"]
    assert set(result["metrics"]) == {"class", "user"}
    assert set(result["metrics"]["class"]) == {"truth", "tilted", "cep", "mse"}
    assert set(result["metrics"]["user"]["cep"]) == {"0", "3"}
    assert result["classifier_accuracy"] > 0.95
    tv = result["metrics"]["class"]["cep"]["0"]
    assert 0 <= tv <= 1 and result["metrics"]["class"]["mse"]["0"] == tv  # beta = 0: the same unguided samples
    grids = sorted(p.name for p in (run / "grids").glob("*.png"))
    assert len(grids) == 2 * 4 * 2 and "user-cep-beta3.png" in grids
    assert (run / "images.png").stat().st_size > 0 and any((run / "images" / "logs").glob("events.*"))
    with np.load(run / "samples.npz") as samples:
        assert samples["class/cep/3"].shape == (36, 1, 8, 8)
    assert "class energy, TV" in capsys.readouterr().out
    assert images_main(argv) == 0
    assert "already done" in capsys.readouterr().out
