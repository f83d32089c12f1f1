"""Shared fixtures: a private Minari store and quiet, small runs."""

from __future__ import annotations

import os
import warnings

import pytest

warnings.filterwarnings("ignore")
os.environ.setdefault("PYTHONWARNINGS", "ignore")


@pytest.fixture(scope="session")
def minari_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("minari"))
    os.environ["MINARI_DATASETS_PATH"] = path
    return path


TINY = [
    "data.builtin_episodes=12",
    "behavior.steps=40", "behavior.batch_size=128", "behavior.widths=[64,32,16]",
    "support.M=4", "support.batch_size=512",
    "critic.steps=30", "critic.hidden=32",
    "energy.steps=30", "energy.hidden=32",
    "eval.episodes=2", "eval.scales=[0.0,2.0]", "eval.solver_steps=4",
    "trainer.enable_progress_bar=false", "trainer.log_every_n_steps=10", "trainer.checkpoint_every_n_steps=10",
]
