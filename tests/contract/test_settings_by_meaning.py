"""Settings are checked by their meaning before anything is loaded or written: ranges, a data setting the chosen
source would ignore, options that would cut a stage short, a preset's YAML syntax, a run name that escapes its
root; and a stage stopped early by a callback is not recorded as finished."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest

from cep_lightning.config import loading
from cep_lightning.errors import CepError, ConfigError
from cep_lightning.run.directory import RunDir
from cep_lightning.run.locate import load_command
from cep_lightning.run.pipeline import run
from tests.helpers import TINY


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("critic.gamma=2", "the discount γ lies in [0, 1)"),
        ("critic.gamma=1", "the discount γ lies in [0, 1)"),
        ("critic.tau=5", "the Polyak rate τ lies in (0, 1]"),
        ("critic.tau=0", "the Polyak rate τ lies in (0, 1]"),
        ("behavior.lr=-1", "'behavior.lr' got -1"),
        ("energy.lr=0", "a learning rate is a positive number"),
        ("energy.beta=nan", "'energy.beta' got nan"),
        ("critic.beta_q=inf", "finite, non-negative"),
        ("behavior.widths=[]", "one or more positive widths"),
        ("seed=-1", "seeds are non-negative"),
        ("eval.scales=[]", "one or more finite guidance scales"),
        ("callbacks.ema.decay=1.5", "an EMA decay lies in (0, 1)"),
    ],
)
def test_values_out_of_their_range_are_refused_by_key(override: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_command([override, "eval.reported_scale=3"] if override.startswith("eval.scales") else [override])
    message = str(info.value)
    assert expected in message and "\n" not in message, message


def test_a_data_setting_the_source_does_not_read_is_refused() -> None:
    with pytest.raises(ConfigError, match="data.path is read only with data.source=hdf5.*builtin"):
        load_command(["data.path=x.hdf5"])
    with pytest.raises(ConfigError, match="data.minari_id is read only with data.source=minari"):
        load_command(["data.minari_id=a/b/c-v0"])
    assert load_command(["data.source=hdf5", "data.path=x.hdf5"]).data.path == "x.hdf5"  # the pair is fine


@pytest.mark.parametrize(
    "option",
    ["trainer.fast_dev_run=true", "support.trainer.limit_predict_batches=2", "critic.trainer.overfit_batches=1"],
)
def test_options_that_cut_a_stage_short_point_to_smoke(option: str) -> None:
    with pytest.raises(ConfigError, match="cuts a stage short.*smoke=true"):
        load_command([option])


def test_a_preset_with_a_yaml_error_is_one_line_with_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "task").mkdir()
    (tmp_path / "base").mkdir()
    (tmp_path / "task" / "broken.yaml").write_text("critic:\n  steps: 10\n bad: [1, 2\n")
    monkeypatch.setattr(loading, "CONF_DIR", tmp_path)
    with pytest.raises(ConfigError) as info:
        load_command(["task=broken"])
    assert "broken.yaml, line 3" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["steps_per_batch=0"], "steps_per_batch must be a positive whole number"),
        (["steps_per_batch=5"], "steps_per_batch=5 runs that many compiled steps .* needs compile=true"),
        (["compile=true", "steps_per_batch=7"], "so it must divide behavior.steps=.*multiple of 7"),
        (["compile=true", "steps_per_batch=10"], "must divide behavior.trainer.log_every_n_steps=25"),
        (["compile=true", "steps_per_batch=5", "checkpoint.every_n_steps=12"], "divide checkpoint.every_n_steps=12"),
    ],
)
def test_steps_per_batch_needs_the_compiled_step_and_divides_every_interval(overrides: list, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_command(overrides)
    assert load_command(["compile=true", "steps_per_batch=5"]).steps_per_batch == 5


@pytest.mark.parametrize("name", ["../../x", "a/b", ".."])
def test_a_run_name_cannot_escape_its_root(name: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a plain name"):
        load_command([f"run.name={name}", f"run.root={tmp_path}"])


class StopAtStepFive(L.Callback):
    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if trainer.global_step >= 5:
            trainer.should_stop = True


def test_a_stage_a_callback_stops_early_is_not_recorded_as_finished(tmp_path: Path, minari_store: str) -> None:
    run_dir = tmp_path / "run"
    args = [
        *TINY,
        "stage=behavior",
        f"run.dir={run_dir}",
        "callbacks.custom.stop.target=tests.contract.test_settings_by_meaning.StopAtStepFive",
        "callbacks.custom.stop.stages=[behavior]",
    ]
    with pytest.raises(CepError, match="behavior: stopped at step 5 of 40 .* not recorded as finished"):
        run(load_command(args))
    assert RunDir(run_dir).record("behavior") is None and RunDir(run_dir).pending("behavior") is not None
