"""The toy comparison over seeds and toys: one run directory per (toy, seed), then mean ± std and one figure.

``python -m cep_lightning.toys task=toy-8gaussians seed=0,1,2`` writes <run>/seed<k>/ (each with its own
toys.json, samples and figure, as a single run) and, in <run>/toys.json,
{task: {method: {beta: {"mean", "std", "per_seed"}}, "seconds": {seed: s}}}; ``task=all`` runs every toy
into <run>/<task>/seed<k>/. The figure <run>/toys.png shows the first seed of every toy.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from cep_lightning.config.loading import available_tasks
from cep_lightning.errors import ConfigError
from cep_lightning.run.locate import load_command
from cep_lightning.run.method_tables import method_rows
from cep_lightning.run.seed_lists import aggregate, mean_std, parse_seeds, timed_once
from cep_lightning.toys.compare import compare, load_samples, metric_name, plot_panels, plt


def toy_tasks() -> list[str]:
    return [t for t in available_tasks() if t.startswith("toy-")]


def seed_configs(argv: list[str]) -> tuple[Path, dict[str, dict[int, DictConfig]]]:
    """The parent run directory and the config of every (task, seed), all checked before anything runs."""
    options = dict(a.split("=", 1) for a in argv if "=" in a)
    seeds = parse_seeds(options.get("seed", "0"))
    task = options.get("task", "")
    tasks = toy_tasks() if task == "all" else [task]
    rest = [a for a in argv if not a.startswith(("seed=", "task=", "run.dir=", "run.name="))]
    where = [f"{k}={options[k]}" for k in ("run.dir", "run.name") if k in options]
    base = load_command([*rest, f"task={tasks[0]}", *where])
    if task == "all":
        name = base.run.name or time.strftime("%Y%m%d-%H%M%S")
        parent = Path(options["run.dir"]) if "run.dir" in options else Path(base.run.root) / "toys" / name
    else:
        parent = Path(base.run.dir)
    configs: dict[str, dict[int, DictConfig]] = {}
    for name in tasks:
        configs[name] = {}
        for seed in seeds:
            seed_dir = parent / (f"{name}/seed{seed}" if task == "all" else f"seed{seed}")
            cfg = load_command([*rest, f"task={name}", f"seed={seed}", f"run.dir={seed_dir}"])
            if cfg.data.source != "toy":
                raise ConfigError(
                    f"python -m cep_lightning.toys needs a toy task ({', '.join(toy_tasks())} or all), got task={name}."
                )
            configs[name][seed] = cfg
    return parent, configs


def run_seed(cfg: DictConfig) -> tuple[dict, float]:
    """One seed's comparison (skipped when its run directory already holds it) and the seconds it took."""
    run_dir = Path(cfg.run.dir)
    done = run_dir / "toys.json"
    saved = json.loads(done.read_text()).get(cfg.task, {}) if done.is_file() else {}
    wanted = {m: {f"{float(b):g}" for b in cfg.toy.betas} for m in ["truth", "tilted", *cfg.toy.methods]}
    complete = all(wanted[m] <= set(saved.get(m, {})) for m in wanted)
    return timed_once(run_dir, "toys", f"{cfg.task} seed {cfg.seed}", saved, complete, lambda: compare(cfg))


def run_seeds(argv: list[str]) -> Path:
    parent, configs = seed_configs(argv)
    parent.mkdir(parents=True, exist_ok=True)
    path = parent / "toys.json"
    summary = json.loads(path.read_text()) if path.is_file() else {}
    for task, by_seed in configs.items():
        results = {seed: run_seed(cfg) for seed, cfg in by_seed.items()}
        summary[task] = aggregate({s: r[0] for s, r in results.items()}, {s: r[1] for s, r in results.items()})
        path.write_text(json.dumps(summary, indent=2))
        print(summary_table(task, summary[task], metric_name(next(iter(by_seed.values())).data.toy)), flush=True)
    figure = all_toys_figure({task: Path(next(iter(by_seed.values())).run.dir) for task, by_seed in configs.items()})
    figure.savefig(parent / "toys.png", dpi=60)
    plt.close(figure)
    print(f"[cep_lightning.toys] {path}, {parent / 'toys.png'}")
    return parent


def summary_table(task: str, result: dict, metric: str = "Total variation") -> str:
    """Mean ± std of the distance over seeds, and the seconds each seed took."""
    seeds = ", ".join(result["seconds"])
    by_method = {m: cells for m, cells in result.items() if m != "seconds"}
    return "\n".join(
        [
            f"{metric} to the exact target ({task}), mean ± std over seeds {seeds}",
            *method_rows(by_method, mean_std, 16),
            "seconds per seed: " + ", ".join(f"seed {s}: {v:.0f}" for s, v in result["seconds"].items()),
        ]
    )


def all_toys_figure(run_dirs: dict[str, Path]) -> plt.Figure:
    """Every toy's samples (rows: ground truth, the exact tilt of q and the methods; columns: beta), two rows of
    up to three toys."""
    cols = min(3, len(run_dirs))
    rows = -(-len(run_dirs) // cols)
    fig = plt.figure(figsize=(7.2 * cols, 9.5 * rows))
    subfigures = np.atleast_1d(fig.subfigures(rows, cols)).ravel()
    for subfigure, (task, run_dir) in zip(subfigures, run_dirs.items()):
        samples = load_samples(run_dir)
        methods, betas = list(samples), list(samples[next(iter(samples))])
        axes = subfigure.subplots(len(methods), len(betas), squeeze=False)
        plot_panels(axes, samples)
        subfigure.suptitle(task.removeprefix("toy-"), fontsize=16)
    return fig
