"""Checkpoints are written atomically in the run directory; a truncated resume point is set aside, not a
traceback; a full disk or a read-only directory is one line naming the path."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from cep_lightning.data.support import SupportStore
from cep_lightning.errors import StorageError
from cep_lightning.run.checkpoint_io import AtomicCheckpointIO, intact
from cep_lightning.run.directory import RunDir
from cep_lightning.run.locate import load_command
from cep_lightning.run.pipeline import run
from tests.helpers import TINY, make_pending


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 1 MB tmpfs (skipped where this process may not mount one)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip() or done.returncode}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_checkpoint_is_whole_or_absent_and_a_full_disk_is_one_line(small_disk: Path) -> None:
    io, path = AtomicCheckpointIO(), small_disk / "last.ckpt"
    io.save_checkpoint({"w": torch.zeros(1000)}, path)
    assert intact(path)
    with pytest.raises(StorageError, match=f"Cannot write the checkpoint {path}: No space left"):
        io.save_checkpoint({"w": torch.zeros(400_000)}, path)  # 1.6 MB on a 1 MB disk
    assert intact(path) and torch.load(path, weights_only=True)["w"].shape == (1000,)  # the old one stays
    assert sorted(p.name for p in small_disk.iterdir()) == ["last.ckpt"]  # no temporary file left


def test_support_actions_that_do_not_fit_are_refused_at_allocation(small_disk: Path) -> None:
    with pytest.raises(StorageError, match="Cannot allocate .*actions.npy.*No space left"):
        SupportStore.create(small_disk / "support", 100_000, 16, 1, np.arange(100_000))


def test_a_truncated_resume_checkpoint_is_set_aside_and_the_stage_restarts(
    tmp_path: Path, minari_store: str, capsys: pytest.CaptureFixture
) -> None:
    """A finished behaviour stage turned back into an interrupted one whose last.ckpt was cut in half (what a full
    disk left with an in-place write): the rerun says so, keeps the damaged file aside and trains afresh."""
    run_dir = tmp_path / "run"
    args = [*TINY, "stage=behavior", f"run.dir={run_dir}"]
    run(load_command(args))
    last = RunDir(run_dir).last_checkpoint("behavior")
    make_pending(run_dir, "behavior")  # interrupted with the same settings: a resume
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    run(load_command(args))
    assert "is truncated or corrupt: set aside as last.ckpt.damaged" in capsys.readouterr().out
    assert RunDir(run_dir).record("behavior") is not None and (run_dir / "behavior" / "last.ckpt.damaged").is_file()


def test_a_read_only_run_root_is_one_line(tmp_path: Path, minari_store: str) -> None:
    if os.geteuid() == 0:
        root = tmp_path / "ro"
        root.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(root)], capture_output=True)
        if done.returncode != 0:
            pytest.skip("cannot mount a read-only tmpfs here")
    else:
        root = tmp_path / "ro"
        root.mkdir(mode=0o500)
    try:
        with pytest.raises(StorageError, match=f"Cannot create the run directory {root / 'run'}"):
            run(load_command([*TINY, f"run.dir={root / 'run'}"]))
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(root)], check=False)
