"""What ``timings.json`` says about a run: seconds per stage, each stage's share, and the support stage's rate."""

from __future__ import annotations

import json
from pathlib import Path

from cep_lightning.config import STAGES


def with_shares(run_dir: Path, timings: dict) -> dict:
    """``timings`` (stage -> seconds) plus ``total_s``, ``share`` (stage -> fraction of the total) and
    ``support_actions_per_s`` (states × M / seconds, from ``support/done.json``) when the support stage ran."""
    seconds = {stage: float(timings[stage]) for stage in STAGES if stage in timings}
    total = sum(seconds.values())
    shares = {stage: s / total for stage, s in seconds.items()} if total > 0 else {}
    summary: dict = {**seconds, "total_s": total, "share": shares}
    done = run_dir / "support" / "done.json"
    if "support" in seconds and done.is_file() and seconds["support"] > 0:
        info = json.loads(done.read_text())
        summary["support_actions_per_s"] = info["states"] * info["M"] / seconds["support"]
    return summary
