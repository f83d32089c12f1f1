"""Shared fixtures: a private Minari store and quiet, small runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def minari_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("minari"))
    os.environ["MINARI_DATASETS_PATH"] = path
    return path


TINY = [
    "data.builtin_episodes=12",
    "behavior.steps=40",
    "behavior.batch_size=128",
    "behavior.widths=[64,32,16]",
    "support.M=4",
    "support.batch_size=512",
    "critic.steps=30",
    "critic.hidden=32",
    "energy.steps=30",
    "energy.hidden=32",
    "eval.episodes=2",
    "eval.scales=[0.0,2.0]",
    "eval.reported_scale=2.0",
    "eval.solver_steps=4",
    "trainer.enable_progress_bar=false",
    "trainer.log_every_n_steps=10",
    "checkpoint.every_n_steps=10",
    "callbacks.periodic_eval.enabled=false",  # a command on a copy of the fixture's run would inherit the run's own
]


FIXTURE_EXTRAS = [
    "callbacks.ema.enabled=true",
    "callbacks.periodic_eval.enabled=true",
    "callbacks.periodic_eval.every_n_steps=20",
    "callbacks.periodic_eval.episodes=2",
    "callbacks.periodic_eval.scales=[1.0]",
]


def _accumulators(events_dir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    for events in sorted(events_dir.glob("events*")):
        acc = EventAccumulator(str(events))
        acc.Reload()
        yield acc


def scalars(events_dir: Path, tag: str) -> list[tuple[int, float]]:
    """(step, value) of a TensorBoard scalar."""
    return [
        (e.step, e.value)
        for acc in _accumulators(events_dir)
        if tag in acc.Tags()["scalars"]
        for e in acc.Scalars(tag)
    ]


def scalar_tags(events_dir: Path) -> set[str]:
    """Every scalar tag logged in a directory of TensorBoard event files."""
    return {tag for acc in _accumulators(events_dir) for tag in acc.Tags()["scalars"]}


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory, minari_store: str) -> Path:
    """A tiny run of every stage (with EMA and periodic evaluation on), shared by the tests that read it."""
    from cep_lightning.run.locate import load_command
    from cep_lightning.run.pipeline import run

    run_dir = tmp_path_factory.mktemp("run") / "tiny"
    run(load_command([*TINY, *FIXTURE_EXTRAS, f"run.dir={run_dir}"]))
    return run_dir
