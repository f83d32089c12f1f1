"""The installed package: a wheel built from a fresh clone, installed into a new venv, runs ``cep-train --help``
and a smoke run from another directory (reusing this environment's installed dependencies: nothing is
downloaded)."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cep_lightning.run.locate import load_command
from tests.helpers import ROOT


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert out.returncode == 0, f"{' '.join(map(str, cmd))}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("setuptools")  # the build backend, taken from this environment (no build isolation)
    tmp = tmp_path_factory.mktemp("wheel")
    checkout_build = _listing(ROOT / "build")  # this checkout's build/, if a wheel was built here before
    _run(["git", "clone", "--quiet", str(ROOT), str(tmp / "clone")])
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp / "dist"),
            str(tmp / "clone"),
        ]
    )
    (found,) = (tmp / "dist").glob("cep_lightning-*.whl")
    assert _listing(ROOT / "build") == checkout_build  # built in the clone: nothing here changed
    return found


def _listing(folder: Path) -> set[tuple[str, int]]:
    """(path, mtime) of every file under ``folder``; empty when it does not exist."""
    return {(str(p.relative_to(folder)), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def test_wheel_holds_the_package_and_its_configs_only(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {
        "cep_lightning",
        wheel.name.split("-py3")[0] + ".dist-info",
    }  # no `callbacks`
    clone = wheel.parent.parent / "clone"  # the tree the wheel was built from (not this checkout's build/ etc.)
    modules = {str(p.relative_to(clone)) for p in (clone / "cep_lightning").rglob("*.py")}
    modules |= {str(p.relative_to(clone)) for p in (clone / "cep_lightning").rglob("assets/*")}  # D4RL's ant
    assert modules <= set(names), sorted(modules - set(names))  # pyproject lists every package of the tree
    configs = {f"cep_lightning/conf/{p.relative_to(clone / 'conf')}" for p in (clone / "conf").rglob("*.yaml")}
    assert configs and configs <= set(names)


def test_installed_cep_train_helps_and_runs_a_smoke_run_elsewhere(
    wheel: Path, tmp_path: Path, minari_store: str
) -> None:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    new_site = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    )
    deps = [*site.getsitepackages(), sysconfig.get_paths()["purelib"]]
    (new_site / "reuse_installed_deps.pth").write_text(
        "\n".join(dict.fromkeys(deps)) + "\n"
    )  # appended after the venv's own
    _run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--force-reinstall", str(wheel)])

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        "PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin",
        "HOME": str(tmp_path),
        "MINARI_DATASETS_PATH": minari_store,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
    }
    where = _run(
        [
            str(python),
            "-c",
            "import cep_lightning, cep_lightning.config.loading as c; print(cep_lightning.__file__, c.CONF_DIR)",
        ],
        cwd=elsewhere,
        env=env,
    ).stdout
    assert str(new_site) in where and str(ROOT) not in where  # the installed copy, its own configs
    help_text = _run([str(bin_dir / "cep-train"), "--help"], cwd=elsewhere, env=env).stdout
    assert (
        "usage: python train.py" in help_text and "hopper-medium-v2" in help_text
    )  # the task presets ship in the wheel

    _run(
        [str(bin_dir / "cep-train"), "smoke=true", "trainer.accelerator=cpu", "run.dir=smoke"],
        cwd=elsewhere,
        env=env,
        timeout=600,
    )
    run_dir = elsewhere / "smoke"
    results = json.loads((run_dir / "results.json").read_text())
    assert results["task"] == "pendulum-mixed" and results["reported"]["episodes"] == 1
    actions = np.load(run_dir / "support" / "actions.npy", mmap_mode="r")
    m = load_command([]).support.M
    assert (
        1000 <= actions.shape[0] <= 1100 and actions.shape[1] == m
    )  # the slice's states (+ final next states), M kept
    assert {"behavior", "critic", "energy"} <= {p.parent.name for p in run_dir.glob("*/model.ckpt")}
