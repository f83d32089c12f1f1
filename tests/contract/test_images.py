"""The image comparison's quick checks: its config and settings, the seed lists and their summary, train.py's
refusal of an image task."""

from __future__ import annotations

from pathlib import Path

import pytest

from cep_lightning.errors import ConfigError
from cep_lightning.images.__main__ import main as images_main
from cep_lightning.images.compare import check_settings
from cep_lightning.images.seeds import image_tasks, seed_configs, summarize, summary_table
from cep_lightning.run.locate import load_command
from cep_lightning.run.pipeline import check_command


def test_digits_is_the_image_task_and_train_py_sends_it_to_the_image_comparison(tmp_path: Path) -> None:
    assert image_tasks() == ["digits"]
    cfg = load_command(["task=digits", f"run.dir={tmp_path}"])
    assert (cfg.data.source, cfg.data.images, cfg.data.reward_transform) == ("images", "digits", "none")
    with pytest.raises(ConfigError, match="python -m cep_lightning.images task=digits"):
        check_command(cfg)


def test_the_seed_list_lays_out_one_run_per_seed(tmp_path: Path) -> None:
    parent, configs = seed_configs(["task=digits", "seed=0,2", f"run.dir={tmp_path}", "energy.steps=7"])
    assert parent == tmp_path and list(configs) == [0, 2]
    assert [(c.seed, c.run.dir, c.energy.steps) for c in configs.values()] == [
        (0, str(tmp_path / "seed0"), 7),
        (2, str(tmp_path / "seed2"), 7),
    ]
    with pytest.raises(ConfigError, match="comma-separated list of integers"):
        seed_configs(["task=digits", "seed=1,x"])
    with pytest.raises(ConfigError, match="needs an image task"):
        seed_configs(["task=toy-moons", "seed=0,1", f"run.dir={tmp_path / 'toy'}"])


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("image.energies=[colour]", "valid energies are class, ink"),
        ("image.methods=[cep,ddpm]", "one or more of cep, mse, emse"),
        ("image.betas=[-1]", "non-negative"),
        ("image.M=1", "a contrastive set holds 2 to"),
        ("image.channels=[32]", "two positive widths"),
    ],
)
def test_image_settings_are_checked_before_anything_is_trained(tmp_path: Path, setting: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_settings(load_command(["task=digits", f"run.dir={tmp_path}", setting]))


def test_the_summary_is_the_mean_and_std_over_seeds() -> None:
    def result(tv: float, w1: float, accuracy: float) -> dict:
        return {
            "metrics": {"class": {"cep": {"0": 0.1, "3": tv}}, "ink": {"cep": {"0": 0.2, "3": w1}}},
            "classifier_accuracy": accuracy,
        }

    summary = summarize({0: (result(0.01, 0.02, 0.99), 100.0), 1: (result(0.03, 0.04, 0.97), 120.0)})
    assert summary["metrics"]["class"]["cep"]["3"]["mean"] == pytest.approx(0.02)
    assert summary["metrics"]["class"]["cep"]["3"]["std"] == pytest.approx(0.01)
    assert summary["metrics"]["ink"]["cep"]["3"]["per_seed"] == {"0": 0.02, "1": 0.04}
    assert summary["classifier_accuracy"]["mean"] == pytest.approx(0.98)
    assert summary["seconds"] == {"0": 100.0, "1": 120.0}
    table = summary_table("digits", summary)
    assert "0.020 ± 0.010" in table and "class energy, TV" in table and "ink energy, W1" in table


def test_help_names_the_task_and_the_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert images_main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "digits" in text and "image.energy=package.module:function" in text and "seed=0,1,2" in text
