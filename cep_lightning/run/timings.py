"""What ``timings.json`` says about a run: seconds per stage, each stage's share, and the support stage's rate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from cep_lightning.config.schema import STAGES
from cep_lightning.run.directory import RunDir, atomic_write


def with_shares(run_dir: Path, timings: dict) -> dict:
    """``timings`` (stage -> seconds) plus ``total_s``, ``share`` (stage -> fraction of the total) and
    ``support_actions_per_s`` (states × M of ``support/actions.npy`` / seconds) when the support stage ran."""
    seconds = {stage: float(timings[stage]) for stage in STAGES if stage in timings}
    total = sum(seconds.values())
    shares = {stage: s / total for stage, s in seconds.items()} if total > 0 else {}
    summary: dict = {**seconds, "total_s": total, "share": shares}
    actions = run_dir / "support" / "actions.npy"
    if "support" in seconds and actions.is_file() and seconds["support"] > 0:
        states, M = np.load(actions, mmap_mode="r").shape[:2]
        summary["support_actions_per_s"] = states * M / seconds["support"]
    return summary


def record_timing(run: RunDir, stage: str, seconds: float) -> None:
    """Put a finished stage's seconds into ``timings.json``, with the shares and the support rate updated."""
    previous = json.loads(run.timings.read_text()) if run.timings.is_file() else {}
    atomic_write(run.timings, json.dumps(with_shares(run.path, {**previous, stage: round(seconds, 2)}), indent=2))
