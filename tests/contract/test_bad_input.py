"""Bad input gets one clear message: what is wrong, where, and how to fix it."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from cep_lightning.data.hdf5 import load_d4rl_hdf5, write_d4rl_hdf5
from cep_lightning.data.transitions import Transitions
from cep_lightning.data.validate import check_against_env, check_finite
from cep_lightning.envs.evaluation import EnvMaker
from cep_lightning.errors import ConfigError, DataError
from cep_lightning.run.directory import RunDir
from cep_lightning.run.locate import load_command
from cep_lightning.run.pipeline import prepare_run_dir


def pendulum_like(n: int = 50, obs_dim: int = 3) -> Transitions:
    rng = np.random.default_rng(0)
    obs = rng.standard_normal((n + 1, obs_dim)).astype(np.float32)
    return Transitions(
        observations=obs[:-1],
        actions=rng.uniform(-2, 2, (n, 1)).astype(np.float32),
        rewards=rng.standard_normal(n).astype(np.float32),
        next_observations=obs[1:],
        terminals=np.zeros(n, dtype=bool),
        timeouts=np.eye(1, n, n - 1, dtype=bool)[0],
    )


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found.*data.path="):
        load_d4rl_hdf5(tmp_path / "nope.hdf5")


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.hdf5"
    path.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(DataError, match="not a readable HDF5 file"):
        load_d4rl_hdf5(path)


def test_missing_key_is_named(tmp_path: Path) -> None:
    path = write_d4rl_hdf5(pendulum_like(), tmp_path / "d.hdf5")
    with h5py.File(path, "a") as f:
        del f["timeouts"]
    with pytest.raises(DataError, match=r"missing the key\(s\) \['timeouts'\]"):
        load_d4rl_hdf5(path)


def test_mismatched_lengths(tmp_path: Path) -> None:
    path = write_d4rl_hdf5(pendulum_like(), tmp_path / "d.hdf5")
    with h5py.File(path, "a") as f:
        del f["rewards"]
        f["rewards"] = np.zeros(49, dtype=np.float32)
    with pytest.raises(DataError, match="different lengths.*'rewards': 49"):
        load_d4rl_hdf5(path)


def test_nonfinite_rows_refused_or_dropped() -> None:
    data = pendulum_like()
    data.rewards[[3, 7]] = np.nan
    data.actions[10] = np.inf
    with pytest.raises(
        DataError,
        match=r"3 of 50 rows have NaN or inf in \['actions', 'rewards'\] \(first rows: \[3, 7, 10\]\)"
        r".*drop_nonfinite=true",
    ):
        check_finite(data, "d.hdf5", drop=False)
    kept = check_finite(data, "d.hdf5", drop=True)
    assert len(kept) == 47 and np.isfinite(kept.rewards).all()


def test_sizes_must_match_the_evaluation_env(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(DataError, match=r"observations have size \(4,\) but Pendulum-v1 observes \(3,\)"):
        check_against_env(pendulum_like(obs_dim=4), EnvMaker("Pendulum-v1"))
    data = pendulum_like()
    data.actions[:5] = 3.0
    check_against_env(data, EnvMaker("Pendulum-v1"))
    assert "10.00% of the data set's actions lie outside" in caplog.text


def test_run_dir_of_another_task(tmp_path: Path) -> None:
    prepare_run_dir(load_command([f"run.dir={tmp_path}"]), RunDir(tmp_path))
    with pytest.raises(ConfigError, match="belongs to task 'pendulum-mixed', not 'hopper-medium-v2'"):
        load_command(["task=hopper-medium-v2", f"run.dir={tmp_path}"])


def test_checkpoint_of_other_sizes_is_refused(finished_run: Path) -> None:
    from cep_lightning.stages.behavior import BehaviorModule

    with pytest.raises(DataError, match=r"trained on \(state, action\) sizes \(3, 1\), but the data set has \(11, 3\)"):
        RunDir(finished_run).load_checked(BehaviorModule, "behavior", 11, 3)


@pytest.mark.parametrize(("key", "values"), [("terminals", "strings"), ("timeouts", "twos"), ("rewards", "strings")])
def test_columns_of_the_wrong_dtype_are_refused(tmp_path: Path, key: str, values: str) -> None:
    path = write_d4rl_hdf5(pendulum_like(), tmp_path / "data.hdf5")
    with h5py.File(path, "r+") as f:
        n = len(f[key])
        del f[key]
        f[key] = np.array(["no"] * n, dtype="S2") if values == "strings" else np.full(n, 2)
    with pytest.raises(DataError, match=f"'{key}' holds .* values, but a D4RL-format file stores"):
        load_d4rl_hdf5(path)
