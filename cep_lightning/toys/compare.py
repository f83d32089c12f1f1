"""The exactness comparison: one behaviour model, one energy model per (method, beta), TV to the exact target.

Run as ``python -m cep_lightning.toys task=toy-8gaussians [key=value ...]``. Writes ``toys.json``
({task: {method: {beta: distance}}}: TV to the exact class masses, or for a continuous label W1 of e),
``samples.npz`` (the first points of every panel), ``toys.png`` and TensorBoard scalars/figure into the run
directory.
"""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch.loggers import TensorBoardLogger  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from cep_lightning.data.datamodule import QGPODataModule  # noqa: E402
from cep_lightning.data.toy_datasets import TOYS, class_frequencies, total_variation  # noqa: E402
from cep_lightning.errors import ConfigError  # noqa: E402
from cep_lightning.maths.targets import importance_resample, importance_weights, wasserstein_1  # noqa: E402
from cep_lightning.policy import QGPOPolicy  # noqa: E402
from cep_lightning.run.bandit_energy import train_bandit_energy
from cep_lightning.run.directory import RunDir  # noqa: E402
from cep_lightning.run.method_tables import METHOD_NAMES, method_rows, value  # noqa: E402
from cep_lightning.run.pipeline import behavior_module, prepare_run_dir, train_once  # noqa: E402
from cep_lightning.run.plan import stage_settings  # noqa: E402
from cep_lightning.stages.behavior import BehaviorModule  # noqa: E402


def energy_run_name(method: str, beta: float) -> str:
    return f"energy-{method}-beta{beta:g}"


def train_behavior(cfg: DictConfig, run_dir: Path, data: QGPODataModule) -> BehaviorModule:
    """The behaviour model q(x) of the toy's points (trained once per run directory and settings)."""
    c = cfg.behavior
    L.seed_everything(cfg.seed, verbose=False)
    settings = {**stage_settings(cfg, "behavior", data.fingerprint), "toy.lr_decay": cfg.toy.lr_decay}
    path = train_once(
        cfg,
        "behavior",
        RunDir(run_dir),
        data.use(c.batch_size, c.steps),
        settings,
        lambda: behavior_module(cfg, data.state_dim, data.action_dim, cfg.toy.lr_decay),
    )
    return BehaviorModule.load_from_checkpoint(path, map_location="cpu", weights_only=True)


def draw(policy: QGPOPolicy, n: int, scale: float, seed: int) -> np.ndarray:
    """n guided samples of the bandit (empty state)."""
    generator = torch.Generator().manual_seed(seed)
    return policy.sample(torch.zeros(n, 0), scale, generator=generator).numpy()


def exact_tilt(toy_name: str, unguided: np.ndarray, beta: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """What exact guidance of this behaviour model draws, q(x) exp(beta e(x)) / Z: its own unguided samples
    importance-resampled by exp(beta e(x)). No energy model can do better, so this is every method's floor at
    beta (where few unguided samples carry the weight, an estimate of it)."""
    return importance_resample(unguided, TOYS[toy_name].energy(unguided), beta, n, rng)


def tv_to_target(toy_name: str, samples: np.ndarray, beta: float) -> float:
    """TV between the samples' class frequencies and the exact class masses P(k) ∝ q(k) exp(beta e_k)."""
    toy = TOYS[toy_name]
    freq = class_frequencies(toy.classify(samples), len(toy.class_labels))
    return total_variation(freq, toy.exact_class_masses(beta))


def distance_to_target(toy_name: str, samples: np.ndarray, beta: float, data_e: np.ndarray) -> float:
    """TV to the exact class masses; for a continuous label e(x), the W1 between the samples' e and the
    data's e weighted by exp(beta e) (the exact target's distribution of e, up to the data's finite sample)."""
    toy = TOYS[toy_name]
    if toy.label is None:
        return tv_to_target(toy_name, samples, beta)
    return wasserstein_1(toy.label(samples), data_e, importance_weights(data_e, beta))


def metric_name(toy_name: str) -> str:
    return "Total variation" if TOYS[toy_name].label is None else "W1 of e"


def compare(cfg: DictConfig) -> dict:
    """Train, sample and measure every (method, beta) of ``cfg.toy``; return {method: {beta: tv}} (and samples)."""
    if cfg.data.source != "toy":
        raise ConfigError(
            f"python -m cep_lightning.toys needs a toy task (task=toy-8gaussians, ...), got task={cfg.task}."
        )
    if cfg.toy.M > cfg.energy.batch_size:
        raise ConfigError(
            f"toy.M={cfg.toy.M} is larger than energy.batch_size="
            f"{cfg.energy.batch_size}; lower it (0: the whole batch is one contrastive set)."
        )
    run_dir = Path(cfg.run.dir)
    prepare_run_dir(cfg, RunDir(run_dir))
    data = QGPODataModule(cfg.data, seed=cfg.seed)
    data.setup()
    behavior = train_behavior(cfg, run_dir, data).net.eval()
    n, steps, sampler, toy = cfg.toy.samples, cfg.eval.solver_steps, cfg.eval.sampler, cfg.data.toy
    betas = [float(b) for b in cfg.toy.betas]
    rng = np.random.default_rng(cfg.seed)
    samples = {
        "truth": {b: importance_resample(data.transitions.actions, data.transitions.rewards, b, n, rng) for b in betas}
    }
    unguided = draw(QGPOPolicy(behavior, None, steps, sampler=sampler), n, 0.0, cfg.seed)
    samples["tilted"] = {b: exact_tilt(toy, unguided, b, n, rng) for b in betas}
    for method in cfg.toy.methods:
        samples[method] = {}
        for beta in betas:
            if beta == 0:
                samples[method][beta] = unguided  # beta = 0: the behaviour model alone, the error floor
                continue
            energy = train_bandit_energy(cfg, run_dir, data, energy_run_name(method, beta), method, beta, "toy")
            energy = energy.energy.eval()
            samples[method][beta] = draw(QGPOPolicy(behavior, energy, steps, sampler=sampler), n, 1.0, cfg.seed)
    e = data.transitions.rewards
    tv = {m: {f"{b:g}": distance_to_target(toy, x, b, e) for b, x in by_beta.items()} for m, by_beta in samples.items()}
    report(cfg, run_dir, tv, samples)
    return tv


PANEL_POINTS = 5000  # points drawn per panel (and kept in samples.npz)


def report(cfg: DictConfig, run_dir: Path, tv: dict, samples: dict) -> None:
    """toys.json, samples.npz, the figure (PNG + TensorBoard), the TV scalars, and a printed table."""
    path = run_dir / "toys.json"
    previous = json.loads(path.read_text()) if path.is_file() else {}
    previous[cfg.task] = tv
    path.write_text(json.dumps(previous, indent=2))
    kept = {f"{m}/{b:g}": x[:PANEL_POINTS] for m, by_beta in samples.items() for b, x in by_beta.items()}
    np.savez_compressed(run_dir / "samples.npz", **kept)
    figure = scatter_grid(samples, cfg.task)
    figure.savefig(run_dir / "toys.png", dpi=80)
    logger = TensorBoardLogger(save_dir=run_dir, name="toys", version="logs", default_hp_metric=False)
    logger.experiment.add_figure("toys/samples", figure)
    logger.log_metrics(
        {f"toys/tv_{m}_beta{b}": v for m, by_beta in tv.items() for b, v in by_beta.items() if v is not None}
    )
    logger.finalize("success")
    plt.close(figure)
    print(tv_table(cfg.task, tv, metric_name(cfg.data.toy)))


def load_samples(run_dir: Path) -> dict:
    """{method: {beta: points}} as ``report`` saved them."""
    samples: dict = {}
    with np.load(run_dir / "samples.npz") as saved:
        for key in saved.files:
            method, beta = key.split("/")
            samples.setdefault(method, {})[float(beta)] = saved[key]
    return samples


def scatter_grid(samples: dict, title: str) -> plt.Figure:
    """One row per method (ground truth and the exact tilt of q first), one column per beta."""
    rows, cols = len(samples), len(next(iter(samples.values())))
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows), squeeze=False)
    plot_panels(axes, samples)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_panels(axes: np.ndarray, samples: dict) -> None:
    """samples[method][beta] into axes[method row, beta column], all at the extent of the first panel's data."""
    methods = list(samples)
    betas = list(samples[methods[0]])
    lo, hi = np.percentile(samples[methods[0]][betas[0]], [0.5, 99.5], axis=0)  # the data's extent
    for i, method in enumerate(methods):
        for j, beta in enumerate(betas):
            ax = axes[i, j]
            x = samples[method][beta][:PANEL_POINTS]
            color = "C0" if method == "truth" else f"C{i}"
            ax.scatter(x[:, 0], x[:, 1], s=0.5, alpha=0.4, color=color, rasterized=True)
            ax.set_xlim(lo[0] - 0.5, hi[0] + 0.5)
            ax.set_ylim(lo[1] - 0.5, hi[1] + 0.5)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"β = {beta:g}")
            if j == 0:
                ax.set_ylabel(METHOD_NAMES.get(method, method))


def tv_table(task: str, tv: dict, metric: str = "Total variation") -> str:
    return "\n".join([f"{metric} to the exact target ({task}); lower is better", *method_rows(tv, value, 11)])
