"""Config loading and the wording of its errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import DictConfig, OmegaConf

from cep_lightning.cli import main
from cep_lightning.config import loading as config
from cep_lightning.config.loading import CONF_DIR, available_tasks, load_config, preset_chain
from cep_lightning.config.schema import Config, settings
from cep_lightning.errors import ConfigError

SNAPSHOT = Path(__file__).resolve().parents[1] / "snapshots" / "resolved_presets.json"


def _without_extends(path: Path) -> DictConfig:
    layer = OmegaConf.load(path)
    layer.pop("extends", None)
    return layer


def _leaves(tree: dict, prefix: str = "") -> list[tuple[str, object]]:
    out = []
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out += _leaves(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out


def test_defaults_task_preset_and_overrides_merge_in_order() -> None:
    cfg = load_config([])
    assert cfg.task == "pendulum-mixed" and cfg.stage == "all"
    assert cfg.behavior.steps == 2500  # from conf/task/pendulum-mixed.yaml, not the schema's 600k
    hopper = load_config(["task=hopper-medium-replay-v2", "critic.steps=7", "eval.scales=[0,3]"])
    assert hopper.critic.steps == 7 and list(hopper.eval.scales) == [0.0, 3.0]
    assert hopper.behavior.steps == 600_000 and hopper.behavior.batch_size == 4096  # the paper's values
    assert hopper.eval.env_id == "Hopper-v5" and hopper.eval.ref_max_return == pytest.approx(3234.3)


def test_required_tasks_exist() -> None:
    paper = {
        f"{env}-{data}-v2"
        for env in ("halfcheetah", "hopper", "walker2d")
        for data in ("medium", "medium-replay", "medium-expert")
    }
    paper |= {
        f"antmaze-{maze}-v2"
        for maze in ("umaze", "umaze-diverse", "medium-play", "medium-diverse", "large-play", "large-diverse")
    }
    assert len(paper) == 15 and paper | {"pendulum-mixed"} <= set(available_tasks())


@pytest.mark.parametrize(
    "override, expected",
    [
        (["critic.stepz=10"], ["Unknown config key 'critic.stepz'", "critic.steps"]),
        (["behaviour.steps=10"], ["Unknown config key 'behaviour'", "behavior"]),
        (["critic.steps=many"], ["critic.steps", "'many'", "an integer"]),
        (["data.download=perhaps"], ["data.download", "'perhaps'", "boolean"]),
        (["stage=critc"], ["'stage' got 'critc'", "behavior, support, critic, energy, eval, all"]),
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


@pytest.mark.parametrize("task", available_tasks())
def test_preset_resolves_to_its_snapshot(task: str) -> None:
    """Every preset's resolved config, key by key, equals the snapshot taken before presets were composed from
    shared bases (a deliberate change of a preset updates tests/snapshots/resolved_presets.json with it)."""
    snapshot = json.loads(SNAPSHOT.read_text())
    resolved = OmegaConf.to_container(load_config([f"task={task}", "run.dir=/nonexistent/snapshot"]), resolve=True)
    assert resolved == snapshot[task]


def test_presets_hold_only_what_differs_from_their_bases() -> None:
    """No preset or base restates a value it would inherit anyway (from the schema or from its bases)."""
    for path in sorted((CONF_DIR / "task").glob("*.yaml")) + sorted((CONF_DIR / "base").glob("*.yaml")):
        layer = OmegaConf.load(path)
        below = OmegaConf.structured(Config)
        for base in preset_chain(path)[:-1]:
            below = OmegaConf.merge(below, _without_extends(base))
        for key, value in _leaves(OmegaConf.to_container(_without_extends(path))):
            inherited = OmegaConf.select(below, key, default="<absent>")
            if OmegaConf.is_config(inherited):
                inherited = OmegaConf.to_container(inherited)
            assert inherited != value, f"{path.name} restates {key}: {value!r}"
        assert layer  # not an empty file


def test_extends_merges_bases_in_order_and_names_a_bad_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "task").mkdir()
    (tmp_path / "base" / "a.yaml").write_text("critic:\n  tau: 0.1\n  gamma: 0.5\n")
    (tmp_path / "base" / "b.yaml").write_text("extends: a\ncritic:\n  gamma: 0.9\n")
    (tmp_path / "task" / "mine.yaml").write_text("extends: [b]\ncritic:\n  steps: 7\n")
    (tmp_path / "task" / "typo.yaml").write_text("extends: antmaz\n")
    (tmp_path / "base" / "c.yaml").write_text("extends: d\n")
    (tmp_path / "base" / "d.yaml").write_text("extends: c\n")
    (tmp_path / "task" / "loop.yaml").write_text("extends: c\n")
    monkeypatch.setattr(config, "CONF_DIR", tmp_path)
    cfg = load_config(["task=mine", "critic.tau=0.2", f"run.dir={tmp_path / 'run'}"])
    assert (cfg.critic.steps, cfg.critic.gamma, cfg.critic.tau, cfg.critic.lr) == (7, 0.9, 0.2, 3e-4)
    with pytest.raises(
        ConfigError, match=r"base/antmaz.yaml does not exist \(extended by typo.yaml\). Bases: a, b, c, d"
    ):
        load_config(["task=typo"])
    with pytest.raises(ConfigError, match="cycle: loop.yaml -> c.yaml -> d.yaml -> c.yaml"):
        load_config(["task=loop"])


def test_help_lists_every_setting_with_its_default_and_choices(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    helped = capsys.readouterr().out
    for item in settings():
        if not item.key.endswith("trainer"):
            assert f"  {item.key}=" in helped, item.key
    assert "critic.tau=0.005" in helped and "energy.loss=cep" in helped and "[cep | mse | emse]" in helped
    assert "eval.sampler=dpm_solver++_2s" in helped and "dpm_solver_2m]" in helped
