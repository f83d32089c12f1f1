"""``--cfg`` prints the merged config and runs nothing; a run starts with a summary of what it will do."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from cep_lightning.cli import main
from tests.helpers import ROOT


def test_cfg_prints_the_merged_config_and_runs_nothing(tmp_path: Path, capsys) -> None:
    assert (
        main(["--cfg", "task=hopper-medium-v2", "energy.beta=5.5", f"run.root={tmp_path}", "logger=[tensorboard,csv]"])
        == 0
    )
    printed = OmegaConf.create(capsys.readouterr().out)
    preset = OmegaConf.load(ROOT / "conf" / "task" / "hopper-medium-v2.yaml")
    assert printed.task == "hopper-medium-v2" and printed.energy.beta == 5.5  # the command line
    assert printed.data.minari_id == preset.data.minari_id == "mujoco/hopper/medium-v0"  # the preset
    assert (
        printed.eval.env_id == "Hopper-v5" and printed.eval.ref_max_return == 3234.3
    )  # its base (conf/base/hopper.yaml)
    assert printed.support.M == 16 and list(printed.logger) == [
        "tensorboard",
        "csv",
    ]  # the schema's default and the override
    assert str(printed.run.dir).startswith(str(tmp_path / "hopper-medium-v2"))
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_cfg_of_an_existing_run_shows_its_settings(finished_run: Path, capsys) -> None:
    assert main(["--cfg", f"run.dir={finished_run}"]) == 0
    printed = OmegaConf.create(capsys.readouterr().out)
    assert printed.behavior.steps == 40 and printed.callbacks.ema.enabled  # the run's config.yaml, not the defaults
