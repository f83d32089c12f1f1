"""Aggregate finished runs into the results table: ``python -m cep_lightning.report runs/... [--out DIR]``.

Every ``results.json`` under the given paths is one (task, seed) run. Per task: the reported score (the
preset's guidance scale, fixed before evaluation) as mean ± std over seeds, the best scale of each seed's
sweep (optimistic: chosen after seeing test returns), the paper's QGPO score and the wall-clock per stage.
Writes ``report.md`` and ``report.csv`` into the current directory (or ``--out DIR``) and prints the Markdown
table; a task with a single seed has no std over seeds (n/a).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

import numpy as np
import yaml

from cep_lightning.config.schema import STAGES
from cep_lightning.run.directory import RESULTS, RunDir
from cep_lightning.run.plan import current_results

PAPER_QGPO = {  # D4RL normalized scores of QGPO, Lu et al. (ICML 2023), Table 1
    "halfcheetah-medium-expert-v2": 93.5,
    "hopper-medium-expert-v2": 108.0,
    "walker2d-medium-expert-v2": 110.7,
    "halfcheetah-medium-v2": 54.1,
    "hopper-medium-v2": 98.0,
    "walker2d-medium-v2": 86.0,
    "halfcheetah-medium-replay-v2": 47.6,
    "hopper-medium-replay-v2": 96.9,
    "walker2d-medium-replay-v2": 84.4,
    "antmaze-umaze-v2": 96.4,
    "antmaze-umaze-diverse-v2": 74.4,
    "antmaze-medium-play-v2": 83.6,
    "antmaze-medium-diverse-v2": 83.8,
    "antmaze-large-play-v2": 66.6,
    "antmaze-large-diverse-v2": 64.8,
}
COLUMNS = [
    "task",
    "seeds",
    "reported_scale",
    "score_mean",
    "score_std",
    "best_scale_score_mean",
    "best_scale_score_std",
    "paper_qgpo",
    *[f"{stage}_s" for stage in STAGES],
    "total_s",
]


def find_runs(paths: list[Path]) -> list[Path]:
    """Run directories holding current results under ``paths``, sorted; a run whose results.json was made
    from models retrained since is left out, with a line on stderr."""
    found = set()
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist.")
        found |= {p.parent for p in ([path / RESULTS] if (path / RESULTS).is_file() else path.rglob(RESULTS))}
    stale = {p for p in found if RunDir(p).finished_stages() and current_results(RunDir(p)) is None}
    for p in sorted(stale):
        print(
            f"[cep_lightning] left out {p}: its {RESULTS} is out of date (refresh: python train.py run.dir={p})",
            file=sys.stderr,
        )
    return sorted(found - stale)


def score(entry: dict) -> float:
    """The normalized score, or the mean return where the task has no reference returns."""
    return entry["normalized_score"] if entry["normalized_score"] is not None else entry["mean_return"]


NOT_SETTINGS = ("seed", "run", "stage", "trainer", "progress", "logger", "callbacks")  # how a run ran, not what


def run_settings(run: RunDir) -> dict[str, object]:
    """What a run computed, as flat ``key: value`` pairs of its config.yaml (not its seed, paths, Trainer options
    or logging); empty for a run without one."""
    if not run.config.is_file():
        return {}

    def leaves(tree: object, prefix: str) -> dict[str, object]:
        if not isinstance(tree, dict):
            return {prefix: tree}
        return {k: v for key, value in tree.items() for k, v in leaves(value, f"{prefix}{key}.").items()}

    saved = yaml.safe_load(run.config.read_text()) or {}
    flat = leaves({k: v for k, v in saved.items() if k not in NOT_SETTINGS}, "")
    return {key.rstrip("."): value for key, value in flat.items() if not key.endswith(".trainer.")}


def aggregate(runs: list[Path]) -> list[dict]:
    """One row per task and settings (runs of a task with different settings are never pooled; a task with
    several is labelled by what differs): seeds, reported score and best-scale score (mean, std over seeds),
    paper value, seconds per stage."""
    groups: dict[tuple[str, str], list[tuple[dict, dict]]] = {}
    settings_of: dict[tuple[str, str], dict[str, object]] = {}
    for run_dir in runs:
        run = RunDir(run_dir)
        results = json.loads(run.results.read_text())
        timings = json.loads(run.timings.read_text()) if run.timings.is_file() else {}
        settings = run_settings(run)
        key = (results["task"], json.dumps(settings, sort_keys=True, default=str))
        groups.setdefault(key, []).append((results, timings))
        settings_of[key] = settings
    by_task: dict[str, list[tuple[dict, dict]]] = {}
    for (task, signature), entries in groups.items():
        same_task = [settings_of[k] for k in groups if k[0] == task]
        differing = sorted({k for s in same_task for k in s if any(o.get(k) != s.get(k) for o in same_task)})
        label = settings_of[(task, signature)]
        name = task if len(same_task) == 1 else f"{task} ({', '.join(f'{k}={label.get(k)}' for k in differing)})"
        by_task[name] = entries
    rows = []
    for task, entries in sorted(by_task.items()):
        reported = np.array([score(r["reported"]) for r, _ in entries])
        best = np.array([score(r["best_scale"]) for r, _ in entries])
        seconds = {f"{stage}_s": float(np.mean([t.get(stage, np.nan) for _, t in entries])) for stage in STAGES}
        scales = {r["reported"]["scale"] for r, _ in entries}
        rows.append(
            {
                "task": task,
                "seeds": " ".join(
                    str(r.get("seed", "?")) for r, _ in sorted(entries, key=lambda e: e[0].get("seed", 0))
                ),
                "reported_scale": "/".join(f"{scale:g}" for scale in sorted(scales)),
                "score_mean": float(reported.mean()),
                "score_std": _std_over_seeds(reported),
                "best_scale_score_mean": float(best.mean()),
                "best_scale_score_std": _std_over_seeds(best),
                "paper_qgpo": PAPER_QGPO.get(task.split(" (")[0]),
                **seconds,
                "total_s": float(np.nansum(list(seconds.values()))),
            }
        )
    return rows


def _std_over_seeds(scores: np.ndarray) -> float | None:
    """The std over seeds; None (shown as n/a) for a single seed, which has no spread to show."""
    return float(scores.std()) if len(scores) > 1 else None


def _mean_std(mean: float, std: float | None) -> str:
    return f"{mean:.1f} ± {'n/a' if std is None else f'{std:.1f}'}"


def _minutes(seconds: float) -> str:
    return "-" if np.isnan(seconds) else f"{seconds / 60:.1f}"


def markdown(rows: list[dict]) -> str:
    """The table as Markdown, with the protocol in one line beneath it."""
    stages = " | ".join(STAGES)
    lines = [
        f"| task | seeds | scale | score (reported) | best scale (optimistic) | paper QGPO | {stages} | total (min) |",
        "|---|---|---|---|---|---|" + "---|" * len(STAGES) + "---|",
    ]
    for r in rows:
        paper = "-" if r["paper_qgpo"] is None else f"{r['paper_qgpo']:.1f}"
        times = " | ".join(_minutes(r[f"{stage}_s"]) for stage in STAGES)
        lines.append(
            f"| {r['task']} | {r['seeds']} | {r['reported_scale']} | {_mean_std(r['score_mean'], r['score_std'])} "
            f"| {_mean_std(r['best_scale_score_mean'], r['best_scale_score_std'])} | {paper} | {times} "
            f"| {_minutes(r['total_s'])} |"
        )
    lines.append("")
    lines.append(
        "Scores: D4RL normalized (mean return where a task has no references), mean ± std over seeds (n/a: one seed), "
        "last checkpoint. "
        "'reported' is the preset's guidance scale, fixed before evaluation; 'best scale' picks each seed's best scale "
        "after seeing its test returns and is optimistic. Stage times in minutes (mean over seeds)."
    )
    return "\n".join(lines)


def csv_text(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write_report(paths: list[Path], out: Path) -> str:
    """Aggregate the runs under ``paths`` into out/report.md and out/report.csv; returns the Markdown."""
    runs = find_runs(paths)
    if not runs:
        raise FileNotFoundError(f"No finished runs (results.json) under {', '.join(map(str, paths))}.")
    rows = aggregate(runs)
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(rows)
    (out / "report.md").write_text(text + "\n")
    (out / "report.csv").write_text(csv_text(rows))
    return text


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m cep_lightning.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, help="run directories, or folders searched for them")
    parser.add_argument(
        "--out", type=Path, default=Path("."), help="where report.md and report.csv go (default: the current directory)"
    )
    args = parser.parse_args(argv)
    try:
        print(write_report(args.paths, args.out))
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
