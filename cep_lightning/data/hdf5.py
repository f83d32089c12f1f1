"""D4RL-format HDF5 files, read and written with h5py (no d4rl package needed)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np

from cep_lightning.data.transitions import Transitions
from cep_lightning.errors import DataError

REQUIRED_KEYS = ("observations", "actions", "rewards", "terminals", "timeouts")


def load_d4rl_hdf5(path: str | os.PathLike) -> Transitions:
    """Read ``observations, actions, rewards, terminals, timeouts`` (+ optional ``next_observations``).

    Without ``next_observations``, s'_i = s_{i+1} inside an episode; an episode's last row keeps
    s'_i = s_i when it is a terminal (the target ignores s' there) and is dropped when it ends in a
    time-out or at the end of the file, where s' is unknown (as D4RL's ``qlearning_dataset`` does).
    """
    return transitions_from_arrays(read_d4rl_arrays(path), str(path))


def read_d4rl_arrays(
    path: str | os.PathLike, optional: Sequence[str] = ("next_observations",)
) -> dict[str, np.ndarray]:
    """The arrays ``REQUIRED_KEYS`` and those of ``optional`` the file has (HDF5 paths such as ``infos/goal``)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"D4RL HDF5 file not found: '{path}'. Download it (e.g. from the D4RL data mirror) and pass "
            f"its location with data.path=/path/to/file.hdf5."
        )
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in REQUIRED_KEYS if k not in f]
            if missing:
                raise DataError(
                    f"'{path}' is missing the key(s) {missing}; a D4RL-format file needs {list(REQUIRED_KEYS)} "
                    f"(and optionally 'next_observations'). Keys found: {sorted(f.keys())}."
                )
            return {k: f[k][()] for k in (*REQUIRED_KEYS, *optional) if k in f}
    except OSError as exc:
        raise DataError(f"'{path}' is not a readable HDF5 file ({exc}). Re-download it or check the path.") from exc


def transitions_from_arrays(arrays: dict[str, np.ndarray], where: str) -> Transitions:
    """``Transitions`` from the arrays of a D4RL-format file (``load_d4rl_hdf5`` says how s' is found)."""
    n = len(arrays["observations"])
    lengths = {k: len(v) for k, v in arrays.items()}
    if any(length != n for length in lengths.values()):
        raise DataError(
            f"'{where}': arrays have different lengths {lengths}; every key must have one row per transition."
        )
    _check_dtypes(arrays, where)
    obs = arrays["observations"].astype(np.float32).reshape(n, -1)
    actions = arrays["actions"].astype(np.float32).reshape(n, -1)
    rewards = arrays["rewards"].astype(np.float32).reshape(n)
    terminals = arrays["terminals"].astype(bool).reshape(n)
    timeouts = arrays["timeouts"].astype(bool).reshape(n)
    if "next_observations" in arrays:
        next_obs = arrays["next_observations"].astype(np.float32).reshape(n, -1)
        keep = np.ones(n, dtype=bool)
    else:
        next_obs = np.empty_like(obs)
        next_obs[:-1] = obs[1:]
        next_obs[-1] = obs[-1]
        episode_end = terminals | timeouts
        episode_end[-1] = True
        next_obs[terminals] = obs[terminals]
        keep = ~episode_end | terminals
    return Transitions(
        observations=obs[keep],
        actions=actions[keep],
        rewards=rewards[keep],
        next_observations=next_obs[keep],
        terminals=terminals[keep],
        timeouts=timeouts[keep],
    )


def write_d4rl_hdf5(data: Transitions, path: str | os.PathLike, with_next_observations: bool = True) -> Path:
    """Write transitions as a D4RL-format file (written to a temporary name, then renamed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        f["observations"] = data.observations
        f["actions"] = data.actions
        f["rewards"] = data.rewards
        f["terminals"] = data.terminals
        f["timeouts"] = data.timeouts
        if with_next_observations:
            f["next_observations"] = data.next_observations
    os.replace(tmp, path)
    return path


def _check_dtypes(arrays: dict[str, np.ndarray], where: str) -> None:
    """Numbers where numbers belong; flags as booleans or 0/1 (a string column would turn into all-True)."""
    for key, values in arrays.items():
        kind = values.dtype.kind
        flag = key in ("terminals", "timeouts")
        numeric = kind in "biuf" if not flag else kind == "b" or (kind in "iuf" and np.isin(values, (0, 1)).all())
        if not numeric:
            expected = "booleans (or 0/1)" if flag else "numbers"
            raise DataError(
                f"'{where}': '{key}' holds {values.dtype} values, but a D4RL-format file stores {expected} there. "
                f"Rewrite the file with that column converted."
            )
