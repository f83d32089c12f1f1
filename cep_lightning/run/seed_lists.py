"""A comparison over a list of seeds (the toys' and the images'): one run directory per seed, each seed's run
skipped when it is done, and the mean ± std of every metric over the seeds."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import numpy as np

from cep_lightning.errors import ConfigError

TIMINGS = "timings.json"


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(k) for k in text.split(",") if k.strip()]
    except ValueError:
        seeds = []
    if not seeds:
        raise ConfigError(f"seed={text} is not an integer or a comma-separated list of integers (e.g. seed=0,1,2).")
    return seeds


def timed_once(
    run_dir: Path, name: str, what: str, saved: dict, complete: bool, compute: Callable[[], dict]
) -> tuple[dict, float]:
    """``compute()`` and the seconds it took, kept as ``name`` in <run_dir>/timings.json (so that a seed run alone
    counts in a later seed list); when that time is kept and the saved result is ``complete``, the saved result and
    its time without computing anything. ``what`` names the run in the printed lines (task and seed)."""
    timings = json.loads((run_dir / TIMINGS).read_text()) if (run_dir / TIMINGS).is_file() else {}
    if name in timings and complete:
        print(f"[cep_lightning.{name}] {what}: already done in {run_dir}, skipped", flush=True)
        return saved, timings[name]
    print(f"[cep_lightning.{name}] {what}: {run_dir}", flush=True)
    start = time.time()
    result = compute()
    seconds = time.time() - start
    (run_dir / TIMINGS).write_text(json.dumps({**timings, name: seconds}, indent=2))  # of the call that finished it
    return result, seconds


def aggregate(per_seed: dict[int, dict], seconds: dict[int, float]) -> dict:
    """{method: {beta: {"mean", "std", "per_seed"}}, "seconds": {seed: s}} from each seed's {method: {beta: value}}
    (a value None, a metric that does not apply, gives a mean and std of None)."""
    first = next(iter(per_seed.values()))
    result: dict = {}
    for method, by_beta in first.items():
        result[method] = {}
        for beta in by_beta:
            values = [per_seed[seed][method][beta] for seed in per_seed]
            known = [v for v in values if v is not None]
            result[method][beta] = {
                "mean": float(np.mean(known)) if known else None,
                "std": float(np.std(known)) if known else None,
                "per_seed": dict(zip(map(str, per_seed), values)),
            }
    result["seconds"] = {str(s): round(v, 1) for s, v in seconds.items()}
    return result


def mean_std(cell: dict) -> str:
    return "-" if cell["mean"] is None else f"{cell['mean']:.3f} ± {cell['std']:.3f}"
