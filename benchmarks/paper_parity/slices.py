"""A D4RL-format HDF5 file cut to its last N rows, so that both codes train on the same late part of a data set.

``data.max_transitions`` (ours) and ``--max-transitions`` (both) keep the *first* N rows; in a replay data set
those are the behaviour agent's earliest, near-random episodes. The tail is the rows the agent collected last.
Every data set whose first dimension is the file's row count (``observations`` and its siblings, ``infos/*``) is
cut to rows N_total − N .. N_total − 1; every other data set and every attribute is copied as it is.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py


def _copy_tail(source: h5py.Group, target: h5py.Group, rows: int, first: int) -> None:
    target.attrs.update(dict(source.attrs))
    for name, item in source.items():
        if isinstance(item, h5py.Group):
            _copy_tail(item, target.create_group(name), rows, first)
        elif item.shape and item.shape[0] == rows:
            target.create_dataset(name, data=item[first:])
        else:
            target.create_dataset(name, data=item[()])


def tail_file(source: Path, transitions: int, out_dir: Path) -> Path:
    """<out_dir>/<stem>-last<transitions>.hdf5: the last ``transitions`` rows of ``source`` (written once, atomically;
    an existing one is reused)."""
    target = Path(out_dir) / f"{Path(source).stem}-last{transitions}.hdf5"
    if target.is_file():
        return target
    with h5py.File(source, "r") as f:
        rows = f["observations"].shape[0]
        if not 0 < transitions <= rows:
            raise ValueError(f"--last-transitions {transitions}: {source} has {rows} rows; give 1 .. {rows}")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        with h5py.File(partial, "w") as g:
            _copy_tail(f, g, rows, rows - transitions)
    os.replace(partial, target)
    return target
