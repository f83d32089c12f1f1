"""Config loading and the wording of its errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cep_lightning.config import available_tasks, load_config
from cep_lightning.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_task_preset_and_overrides_merge_in_order() -> None:
    cfg = load_config([])
    assert cfg.task == "pendulum-mixed" and cfg.stage == "all"
    assert cfg.behavior.steps == 2500  # from conf/task/pendulum-mixed.yaml, not the schema's 600k
    hopper = load_config(["task=hopper-medium-replay-v2", "critic.steps=7", "eval.scales=[0,3]"])
    assert hopper.critic.steps == 7 and list(hopper.eval.scales) == [0.0, 3.0]
    assert hopper.behavior.steps == 600_000 and hopper.behavior.batch_size == 4096  # the paper's values
    assert hopper.eval.env_id == "Hopper-v5" and hopper.eval.ref_max_return == pytest.approx(3234.3)


def test_required_tasks_exist() -> None:
    paper = {f"{env}-{data}-v2" for env in ("halfcheetah", "hopper", "walker2d") for data in ("medium", "medium-replay", "medium-expert")}
    paper |= {f"antmaze-{maze}-v2" for maze in ("umaze", "umaze-diverse", "medium-play", "medium-diverse", "large-play", "large-diverse")}
    assert len(paper) == 15 and paper | {"pendulum-mixed"} <= set(available_tasks())


@pytest.mark.parametrize(
    "override, expected",
    [
        (["critic.stepz=10"], ["Unknown config key 'critic.stepz'", "critic.steps"]),
        (["behaviour.steps=10"], ["Unknown config key 'behaviour'", "behavior"]),
        (["critic.steps=many"], ["critic.steps", "'many'", "an integer"]),
        (["data.download=perhaps"], ["data.download", "'perhaps'", "boolean"]),
        (["stage=critc"], ["Unknown stage 'critc'", "behavior, support, critic, energy, eval, all"]),
        (["task=hopper-medium"], ["Unknown task 'hopper-medium'", "hopper-medium-v2", "pendulum-mixed"]),
        (["energy.loss=kl"], ["energy.loss", "cep, mse, emse"]),
        (["support.M=0"], ["support.M", "positive"]),
        (["seed"], ["key=value"]),
        (["eval.reported_scale=4"], ["eval.reported_scale=4", "not among eval.scales", "fixed beforehand"]),
    ],
)
def test_config_errors_name_key_value_and_choices(override: list[str], expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(override)
    for text in expected:
        assert text in str(info.value)


def test_cli_prints_one_line_error_and_help() -> None:
    bad = subprocess.run([sys.executable, "train.py", "critic.lr=fast"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "critic.lr" in bad.stderr and "a number" in bad.stderr
    helped = subprocess.run([sys.executable, "train.py", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert helped.returncode == 0
    for text in ("behavior, support, critic, energy, eval, all", "hopper-medium-replay-v2", "trainer.devices", "energy.beta"):
        assert text in helped.stdout
