"""Fixtures shared by every tier: a private Minari store, and finished tiny runs."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from tests.helpers import FIXTURE_EXTRAS, ROOT, TINY


@pytest.fixture(scope="session")
def minari_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("minari"))
    os.environ["MINARI_DATASETS_PATH"] = path
    return path


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory, minari_store: str) -> Path:
    """A tiny run of every stage (with EMA and periodic evaluation on), shared by the tests that read it."""
    from cep_lightning.run.locate import load_command
    from cep_lightning.run.pipeline import run

    run_dir = tmp_path_factory.mktemp("run") / "tiny"
    run(load_command([*TINY, *FIXTURE_EXTRAS, f"run.dir={run_dir}"]))
    return run_dir


@pytest.fixture
def copied_run(tmp_path: Path, finished_run: Path) -> Path:
    """A copy of the session's finished run, for a test that changes it."""
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    return run_dir


SCRIPTS = ROOT / "scripts"


@pytest.fixture(scope="session")
def slurm() -> Iterator[None]:
    """A one-node SLURM on this machine (scripts/slurm_up.sh); the test skips with the script's one-line reason
    where it cannot start. Daemons started here are stopped after the session (scripts/slurm_down.sh)."""
    up = subprocess.run([SCRIPTS / "slurm_up.sh"], capture_output=True, text=True)
    if up.returncode != 0:
        pytest.skip((up.stderr.strip().splitlines() or ["scripts/slurm_up.sh failed"])[-1])
    yield
    if "already up" not in up.stdout:
        subprocess.run([SCRIPTS / "slurm_down.sh"], capture_output=True)
