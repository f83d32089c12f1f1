"""The image comparison over seeds: one run directory per seed, then mean ± std and one figure.

``python -m cep_lightning.images task=digits seed=0,1,2`` writes <run>/seed<k>/ (each with its own images.json,
samples and figures, as a single run) and, in <run>/images.json, {task: {"metrics": {energy: {method: {beta:
{"mean", "std", "per_seed"}}}}, "classifier_accuracy": {...}, "seconds": {seed: s}}}; <run>/images.png shows the
first seed's samples. A rerun skips the seeds already done.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from omegaconf import DictConfig

from cep_lightning.config.loading import CONF_DIR, available_tasks, preset_chain, read_yaml
from cep_lightning.errors import ConfigError
from cep_lightning.images.compare import compare
from cep_lightning.images.report import metric_name
from cep_lightning.run.locate import load_command
from cep_lightning.run.method_tables import method_rows
from cep_lightning.run.seed_lists import aggregate, mean_std, parse_seeds, timed_once


def image_tasks() -> list[str]:
    """The presets whose data.source is images (the last of their files that sets it says so)."""
    return [t for t in available_tasks() if preset_source(t) == "images"]


def preset_source(task: str) -> str | None:
    sources = [
        read_yaml(path).get("data", {}).get("source") for path in preset_chain(CONF_DIR / "task" / f"{task}.yaml")
    ]
    return next((source for source in reversed(sources) if source is not None), None)


def seed_configs(argv: list[str]) -> tuple[Path, dict[int, DictConfig]]:
    """The parent run directory and the config of every seed, all checked before anything runs."""
    options = dict(a.split("=", 1) for a in argv if "=" in a)
    seeds = parse_seeds(options.get("seed", "0"))
    rest = [a for a in argv if not a.startswith(("seed=", "run.dir="))]
    base = load_command([*rest, *([f"run.dir={options['run.dir']}"] if "run.dir" in options else [])])
    if base.data.source != "images":
        raise ConfigError(
            f"python -m cep_lightning.images needs an image task ({', '.join(image_tasks())}), got task={base.task}."
        )
    parent = Path(base.run.dir)
    rest = [a for a in rest if not a.startswith("run.name=")]
    configs = {seed: load_command([*rest, f"seed={seed}", f"run.dir={parent / f'seed{seed}'}"]) for seed in seeds}
    return parent, configs


def run_seed(cfg: DictConfig) -> tuple[dict, float]:
    """One seed's comparison (skipped when its run directory already holds it) and the seconds it took."""
    run_dir = Path(cfg.run.dir)
    done = run_dir / "images.json"
    saved = json.loads(done.read_text()).get(cfg.task, {}) if done.is_file() else {}
    names = [*cfg.image.energies, *(["user"] if cfg.image.energy is not None else [])]
    betas = {f"{float(b):g}" for b in cfg.image.betas}
    metrics = saved.get("metrics", {})
    complete = all(betas <= set(metrics.get(e, {}).get(m, {})) for e in names for m in ["tilted", *cfg.image.methods])
    return timed_once(run_dir, "images", f"{cfg.task} seed {cfg.seed}", saved, complete, lambda: compare(cfg))


def summarize(results: dict[int, tuple[dict, float]]) -> dict:
    """Mean ± std over seeds of every metric and of the classifier's accuracy, and the seconds of each seed."""
    seconds = {s: r[1] for s, r in results.items()}
    energies = next(iter(results.values()))[0]["metrics"]
    metrics = {e: aggregate({s: r[0]["metrics"][e] for s, r in results.items()}, seconds) for e in energies}
    accuracy = aggregate({s: {"classifier": {"accuracy": r[0]["classifier_accuracy"]}} for s, r in results.items()}, {})
    for cells in metrics.values():
        cells.pop("seconds")
    return {
        "metrics": metrics,
        "classifier_accuracy": accuracy["classifier"]["accuracy"],
        "seconds": {str(s): round(v, 1) for s, v in seconds.items()},
    }


def run_seeds(argv: list[str]) -> Path:
    parent, configs = seed_configs(argv)
    parent.mkdir(parents=True, exist_ok=True)
    task = next(iter(configs.values())).task
    summary = summarize({seed: run_seed(cfg) for seed, cfg in configs.items()})
    path = parent / "images.json"
    path.write_text(json.dumps({task: summary}, indent=2))
    shutil.copyfile(Path(next(iter(configs.values())).run.dir) / "images.png", parent / "images.png")
    print(summary_table(task, summary), flush=True)
    print(f"[cep_lightning.images] {path}, {parent / 'images.png'}")
    return parent


def summary_table(task: str, summary: dict) -> str:
    """Mean ± std of each distance over seeds, the classifier's accuracy, and the seconds each seed took."""
    seeds = ", ".join(summary["seconds"])
    lines = [f"Distance to the exact target ({task}), mean ± std over seeds {seeds}; lower is better"]
    for energy, by_method in summary["metrics"].items():
        lines += [f"{energy} energy, {metric_name(energy)}:", *method_rows(by_method, mean_std, 16, "  ")]
    lines.append(f"classifier accuracy (held out): {mean_std(summary['classifier_accuracy'])}")
    lines.append("seconds per seed: " + ", ".join(f"seed {s}: {v:.0f}" for s, v in summary["seconds"].items()))
    return "\n".join(lines)
