"""The ``logger`` choice and what every stage logs: hyperparameters (HPARAMS), learning rate, throughput,
gradient norm, and the evaluation's return-vs-scale curve."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from cep_lightning.errors import ConfigError
from cep_lightning.run.locate import load_command
from cep_lightning.run.pipeline import check_command, run
from tests.helpers import TINY, scalar_tags, scalars

TRAINING = ("behavior", "critic", "energy")


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory: pytest.TempPathFactory, minari_store: str) -> Path:
    run_dir = tmp_path_factory.mktemp("logged") / "run"
    run(load_command([*TINY, "logger=[tensorboard,csv]", "eval.envs_per_batch=2", f"run.dir={run_dir}"]))
    return run_dir  # the evaluation in 2 batches (2 scales x 2 episodes), so that its throughput has a rate


def hparams_entries(events_dir: Path) -> tuple[dict[str, object], list[str]]:
    """(hyperparameters of the HPARAMS session, metric tags of its experiment) written in an events directory:
    what ``TensorBoardLogger.log_hyperparams(params, metrics)`` writes for TensorBoard's HPARAMS tab."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    params: dict[str, object] = {}
    metrics: list[str] = []
    for events in sorted(events_dir.glob("events*")):
        acc = EventAccumulator(str(events))
        acc.Reload()
        for content in acc._plugin_to_tag_to_content.get("hparams", {}).values():
            data = plugin_data_pb2.HParamsPluginData.FromString(content)
            if data.WhichOneof("data") == "session_start_info":
                params.update(
                    {
                        k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
                        for k, v in data.session_start_info.hparams.items()
                    }
                )
            elif data.WhichOneof("data") == "experiment":
                metrics += [m.name.tag for m in data.experiment.metric_infos]
    return params, metrics


def test_tensorboard_and_csv_both_write(logged_run: Path) -> None:
    for stage in TRAINING:
        with open(logged_run / stage / "csv" / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
        losses = [
            float(r[f"{stage}/loss" if stage != "critic" else "critic/q_loss"])
            for r in rows
            if r.get(f"{stage}/loss" if stage != "critic" else "critic/q_loss")
        ]
        tb = [
            v
            for _, v in scalars(logged_run / stage / "logs", f"{stage}/loss" if stage != "critic" else "critic/q_loss")
        ]
        assert losses and losses == pytest.approx(tb), stage  # the same curve in both loggers
    assert (logged_run / "eval" / "csv" / "metrics.csv").is_file()


def test_every_training_stage_logs_hparams_lr_throughput_and_grad_norm(logged_run: Path) -> None:
    for stage in TRAINING:
        logs = logged_run / stage / "logs"
        tags = scalar_tags(logs)
        assert {"lr-Adam", "train/device/samples_per_sec", f"{stage}/grad_norm"} <= tags, stage
        lr = load_command(TINY)[stage].lr
        assert all(v == pytest.approx(lr) for _, v in scalars(logs, "lr-Adam"))
        assert all(v > 0 for _, v in scalars(logs, "train/device/samples_per_sec"))
        assert all(v > 0 for _, v in scalars(logs, f"{stage}/grad_norm"))
        params, metrics = hparams_entries(logs)
        assert (
            params["task"] == "pendulum-mixed" and params["seed"] == 0 and params["trainer.precision"] == "32-true"
        ), stage
        assert params[f"{stage}.steps"] == {"behavior": 40, "critic": 30, "energy": 30}[stage]
        assert params[f"{stage}.lr"] == pytest.approx(lr)  # the module's own hyperparameters, under the stage's name
        assert f"hp/{stage}/grad_norm" in metrics and f"hp/{stage}/seconds" in metrics
        assert_hparams_metrics_are_the_last_values(logs, metrics)


def assert_hparams_metrics_are_the_last_values(logs: Path, metrics: list[str]) -> None:
    """Each HPARAMS column hp/<tag> is one point, the last value of <tag>'s curve, which it adds no point to."""
    for column in metrics:
        assert column.startswith("hp/"), column
        tag = column.removeprefix("hp/")
        curve = scalars(logs, tag)  # in the order written
        assert curve, tag
        assert [v for _, v in scalars(logs, column)] == pytest.approx([curve[-1][1]]), tag
    assert {tag for tag in scalar_tags(logs) if tag.startswith("hp/")} == set(metrics)
    seconds = [m.removeprefix("hp/") for m in metrics if m.endswith("/seconds")]
    assert len(seconds) == 1 and len(scalars(logs, seconds[0])) == 1


def test_support_and_eval_log_their_settings_and_throughput(logged_run: Path) -> None:
    logs = logged_run / "support" / "logs"
    params, metrics = hparams_entries(logs)
    assert params["support.M"] == 4 and "hp/support/seconds" in metrics
    assert_hparams_metrics_are_the_last_values(logs, metrics)
    rates = scalars(logs, "predict/device/samples_per_sec")  # states per second, every batch from the second
    assert (
        [step for step, _ in rates] == list(range(2, len(rates) + 2))
        and len(rates) >= 2
        and all(v > 0 for _, v in rates)
    )
    assert [v for _, v in scalars(logs, "predict/batches")] == list(range(1, len(rates) + 2))
    logs = logged_run / "eval" / "logs"
    assert scalars(logs, "test/samples") == [(1, 2), (2, 4)]  # episodes, every batch
    [(step, rate)] = scalars(logs, "test/device/samples_per_sec")  # episodes per second, from the second batch
    assert step == 2 and rate > 0
    params, metrics = hparams_entries(logs)
    assert params["eval.episodes"] == 2 and "hp/eval/reported/return" in metrics and "hp/eval/seconds" in metrics
    assert_hparams_metrics_are_the_last_values(logs, metrics)


def test_eval_logs_return_against_scale(logged_run: Path) -> None:
    import json

    results = json.loads((logged_run / "results.json").read_text())
    curve = scalars(logged_run / "eval" / "logs", "eval/return_vs_scale")
    assert [step for step, _ in sorted(curve)] == [0, 2]  # the x-axis is the guidance scale
    assert [v for _, v in sorted(curve)] == pytest.approx([results["scales"][s]["mean_return"] for s in ("0", "2")])
    png = logged_run / "return_vs_scale.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    images = set()
    for events in (logged_run / "eval" / "logs").glob("events*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        images |= set(acc.Tags()["images"])
    assert "eval/return_vs_scale" in images


def test_fractional_scales_use_a_scaled_axis(tmp_path: Path) -> None:
    from cep_lightning.run.sweep_plot import scale_multiplier

    assert scale_multiplier([0.0, 1.0, 3.0]) == 1
    assert scale_multiplier([0.0, 0.5, 3.0]) == 10
    assert scale_multiplier([0.25, 1.0]) == 100


@pytest.mark.parametrize("package", ["wandb", "mlflow"])
def test_missing_logger_package_is_one_line_before_data(
    package: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    if importlib.util.find_spec(package) is not None:
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == package else object())

    def no_data(*args, **kwargs):
        raise AssertionError("data loaded before the logger check")

    monkeypatch.setattr("cep_lightning.run.pipeline.QGPODataModule", no_data)
    with pytest.raises(ConfigError, match=f"pip install {package}") as exc:
        check_command(load_command([*TINY, f"logger=[tensorboard,{package}]", f"run.dir={tmp_path / 'r'}"]))
    assert "\n" not in str(exc.value)
    assert not (tmp_path / "r").exists()


def test_unknown_logger_and_trainer_logger_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown logger 'tensorbord'.*tensorboard, csv, wandb, mlflow"):
        check_command(load_command([*TINY, "logger=[tensorbord]", f"run.dir={tmp_path / 'r'}"]))
    with pytest.raises(ConfigError, match=r"trainer.logger cannot be set: .*logger=\[tensorboard,csv\]"):
        check_command(load_command([*TINY, "trainer.logger=false", f"run.dir={tmp_path / 'r'}"]))
