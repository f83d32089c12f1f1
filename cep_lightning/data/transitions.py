"""The offline data set as one typed container, and what is derived from its episode structure."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields

import numpy as np


@dataclass
class Transitions:
    """D4RL-style transitions; row i is (s_i, a_i, r_i, s'_i) with episode flags."""

    observations: np.ndarray  # [N, S] float32
    actions: np.ndarray  # [N, A] float32
    rewards: np.ndarray  # [N] float32
    next_observations: np.ndarray  # [N, S] float32
    terminals: np.ndarray  # [N] bool, true environment terminations only
    timeouts: np.ndarray  # [N] bool, episode cut by a time limit (not a terminal)

    def __len__(self) -> int:
        return len(self.rewards)

    def fingerprint(self) -> str:
        """A content hash of every array (shapes, dtypes and values): equal data, equal fingerprint."""
        digest = hashlib.blake2b(digest_size=8)
        for f in fields(self):
            array = np.ascontiguousarray(getattr(self, f.name))
            digest.update(f"{f.name}{array.shape}{array.dtype}".encode())
            digest.update(array.data)
        return digest.hexdigest()

    def head(self, n: int) -> "Transitions":
        """The first ``n`` rows; an episode the cut runs through ends there as a time-limit cut (``timeouts``)."""
        if n >= len(self):
            return self
        part = {f.name: getattr(self, f.name)[:n].copy() for f in fields(self)}
        part["timeouts"][-1] |= not part["terminals"][-1]
        return Transitions(**part)
