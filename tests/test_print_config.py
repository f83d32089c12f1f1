"""``--cfg`` prints the merged config and runs nothing; a run starts with a summary of what it will do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from cep_lightning.cli import main
from cep_lightning.run.locate import load_command
from cep_lightning.run.pipeline import run
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parent.parent


def test_cfg_prints_the_merged_config_and_runs_nothing(tmp_path: Path, capsys) -> None:
    assert (
        main(
            [
                "--cfg",
                "task=hopper-medium-v2",
                "energy.beta=5.5",
                f"run.root={tmp_path}",
                "logger=[tensorboard,csv]",
            ]
        )
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
    assert (
        printed.behavior.steps == 40 and printed.callbacks.ema.enabled
    )  # the run's config.yaml, not the defaults


@pytest.mark.slow
def test_cfg_with_a_bad_key_is_one_line() -> None:
    out = subprocess.run(
        [sys.executable, "train.py", "--cfg", "energy.bta=1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().count("\n") == 0 and "Did you mean: energy.beta" in out.stderr


@pytest.mark.slow
def test_a_run_starts_with_its_summary(tmp_path: Path, capsys) -> None:
    run(load_command([*TINY, "trainer.accelerator=cpu", "eval.episodes=1", f"run.dir={tmp_path / 'r'}"]))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "[cep_lightning] task pendulum-mixed, seed 0"
    assert lines[1] == "  data      the built-in data set: 2400 transitions, state 3, action 1"
    assert lines[2] == f"  run dir   {tmp_path / 'r'}"
    assert lines[3] == "  stages    behavior, support, critic, energy, eval"
    assert lines[4] == "  device    cpu × 1 (SingleDevice), precision 32-true"
    assert lines[6] == f"[cep_lightning] plan for {tmp_path / 'r'}:"


@pytest.mark.slow
def test_toy_task_through_train_py_points_to_the_toys_command(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "train.py", "task=toy-8gaussians", f"run.root={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "python -m cep_lightning.toys task=toy-8gaussians" in out.stderr
    assert list(tmp_path.iterdir()) == []  # nothing loaded or written
