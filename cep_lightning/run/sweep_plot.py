"""The guidance sweep as a curve: return against scale for every logger, a PNG in the run directory and a
TensorBoard image."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import lightning as L
import numpy as np
from lightning.pytorch.loggers import TensorBoardLogger

PLOT = "return_vs_scale.png"


def scale_multiplier(scales: list[float]) -> int:
    """The smallest 10^k (k <= 3) that turns every scale into an integer step (scalar x-axes are integer steps)."""
    for k in range(4):
        if all(float(scale * 10**k).is_integer() for scale in scales):
            return 10**k
    return 1000


def log_sweep(trainer: L.Trainer, returns: dict[float, np.ndarray], reported_scale: float, run_dir: Path) -> Path:
    """``eval/return_vs_scale`` (mean return, x-axis: the scale; ``_x10``… when scales are fractional) and
    ``eval/return_std_vs_scale`` to every logger; the plot to ``<run>/return_vs_scale.png`` and TensorBoard."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scales = sorted(returns)
    k = scale_multiplier(scales)
    suffix = "" if k == 1 else f"_x{k}"
    for scale in scales:
        step = int(Fraction(scale).limit_denominator(1000) * k)
        for logger in trainer.loggers:
            logger.log_metrics(
                {
                    f"eval/return_vs_scale{suffix}": float(returns[scale].mean()),
                    f"eval/return_std_vs_scale{suffix}": float(returns[scale].std()),
                },
                step=step,
            )
    means = np.array([returns[scale].mean() for scale in scales])
    stds = np.array([returns[scale].std() for scale in scales])
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=100)
    ax.errorbar(scales, means, yerr=stds, marker="o", capsize=3, label="mean ± std over episodes")
    ax.axvline(reported_scale, color="gray", linestyle="--", label=f"reported scale {reported_scale:g}")
    ax.set_xlabel("guidance scale")
    ax.set_ylabel("return")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = run_dir / PLOT
    fig.savefig(path)
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_figure("eval/return_vs_scale", fig, global_step=0)
            logger.experiment.flush()
    plt.close(fig)
    return path
