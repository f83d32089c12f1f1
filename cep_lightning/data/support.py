"""Support actions on disk: M behaviour samples for every distinct state, memory-mapped.

The state table is [s_0 .. s_{N-1}, extra next states]: s'_i is the next row's state inside an episode
(nearly every D4RL transition), so only the next states that are not already a row's state get a slot
of their own. ``next_index[i]`` points at the slot of s'_i. Files (``<run>/support/``):
``actions.npy`` [N + K, M, A] float32, ``next_index.npy`` [N] int64, ``written.npy`` [N + K] bool (what an
interrupted stage has already stored), and after the critic stage ``q_values.npy`` [N + K, M], the frozen
critic's values (``data/support_values.py``). The stage counts as finished through its record
(``cep_lightning.run.directory``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cep_lightning.data.transitions import Transitions
from cep_lightning.errors import StorageError


def next_state_index(data: Transitions) -> tuple[np.ndarray, np.ndarray]:
    """(next_index [N], extra rows of the state table): reuse row i+1 when s'_i = s_{i+1} exactly."""
    n = len(data)
    same = np.zeros(n, dtype=bool)
    same[:-1] = np.all(data.next_observations[:-1] == data.observations[1:], axis=1)
    extra = np.flatnonzero(~same)
    index = np.arange(1, n + 1, dtype=np.int64)
    index[extra] = n + np.arange(len(extra))
    return index, extra


def state_table(data: Transitions) -> tuple[np.ndarray, np.ndarray]:
    """(states [N + K, S] whose support actions are drawn, next_index [N])."""
    index, extra = next_state_index(data)
    return np.concatenate([data.observations, data.next_observations[extra]]), index


@dataclass
class SupportStore:
    """The memory-mapped support actions of a run, with a per-state record of what is written."""

    actions: np.ndarray  # [N + K, M, A] memmap
    next_index: np.ndarray  # [N]
    written: np.ndarray  # [N + K] bool memmap: the state's actions are on disk
    q: np.ndarray | None = None  # [N + K, M] the frozen critic's values of the actions, once computed

    @classmethod
    def open(cls, directory: Path, mode: str = "r") -> "SupportStore":
        q_path = directory / "q_values.npy"
        return cls(
            np.load(directory / "actions.npy", mmap_mode=mode),
            np.load(directory / "next_index.npy"),
            np.load(directory / "written.npy", mmap_mode=mode),
            np.load(q_path, mmap_mode="r") if q_path.is_file() else None,
        )

    @classmethod
    def create(
        cls, directory: Path, num_states: int, M: int, action_dim: int, next_index: np.ndarray
    ) -> "SupportStore":
        """Allocate the memmaps the support stage fills, or reopen them (keeping what is written) when the
        shapes match."""
        directory.mkdir(parents=True, exist_ok=True)
        shape = (num_states, M, action_dim)
        np.save(directory / "next_index.npy", next_index)
        if (directory / "actions.npy").is_file() and (directory / "written.npy").is_file():
            store = cls.open(directory, mode="r+")
            if store.actions.shape == shape:
                return store
        actions = _allocated(directory / "actions.npy", np.float32, shape)
        written = _allocated(directory / "written.npy", np.bool_, (num_states,))
        return cls(actions, next_index, written)

    @staticmethod
    def pending(directory: Path, num_states: int) -> np.ndarray:
        """Indices of the states whose actions an interrupted run has not written yet (all of them at first)."""
        path = directory / "written.npy"
        if path.is_file():
            written = np.load(path, mmap_mode="r")
            if written.shape == (num_states,):
                return np.flatnonzero(~written)
        return np.arange(num_states)

    def write(self, index: np.ndarray, actions: np.ndarray) -> None:
        """Store a batch, flushed to disk before it is marked as written."""
        self.actions[index] = actions
        self.actions.flush()
        self.written[index] = True
        self.written.flush()

    @staticmethod
    def clear(directory: Path) -> None:
        """Forget what an earlier run wrote: the next ``create`` starts every state afresh."""
        (directory / "written.npy").unlink(missing_ok=True)


def _allocated(path: Path, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    """A new .npy memmap whose blocks are reserved on disk now: a full disk is a StorageError here, not a
    bus error when a later batch writes into a hole of a sparse file."""
    try:
        array = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        with path.open("r+b") as f:
            os.posix_fallocate(f.fileno(), 0, os.path.getsize(path))
        return array
    except OSError as exc:
        raise StorageError(
            f"Cannot allocate {path} ({np.prod(shape) * np.dtype(dtype).itemsize / 1e6:.1f} MB): "
            f"{exc.strerror or exc}. Free space there or choose another run.dir."
        ) from None
