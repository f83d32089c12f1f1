"""What an image comparison writes: images.json, samples.npz, a grid of samples per panel (PNG and TensorBoard), one
figure of every panel, the metrics as TensorBoard scalars, and a printed table."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from lightning.pytorch.loggers import TensorBoardLogger  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from cep_lightning.run.method_tables import METHOD_NAMES, method_rows, value  # noqa: E402

GRID_SIDE = 6  # a panel shows GRID_SIDE × GRID_SIDE samples (and samples.npz keeps them)
SCALE = 4  # grid PNGs: each pixel as SCALE × SCALE


def metric_name(energy: str) -> str:
    """TV of the class masses for the class energy, W1 of e(x) for the pixel energies."""
    return "TV" if energy == "class" else "W1"


def mosaic(images: np.ndarray, side: int = GRID_SIDE) -> np.ndarray:
    """The first side² images [n, C, H, W] as one image [C, side (H + 1) - 1, side (W + 1) - 1], 1-pixel gaps."""
    c, h, w = images.shape[1:]
    tiles = np.ones((side * side, c, h + 1, w + 1), dtype=np.float32)
    count = min(len(images), side * side)
    tiles[:count, :, :h, :w] = images[:count]
    grid = tiles.reshape(side, side, c, h + 1, w + 1).transpose(2, 0, 3, 1, 4).reshape(c, side * (h + 1), -1)
    return grid[:, :-1, :-1]


def as_picture(grid: np.ndarray) -> np.ndarray:
    """[C, H, W] -> [H, W] (grey) or [H, W, 3], for matplotlib."""
    return grid[0] if grid.shape[0] == 1 else grid.transpose(1, 2, 0)


def report(cfg: DictConfig, run_dir: Path, result: dict, samples: dict) -> None:
    """images.json, samples.npz, grids/*.png, images.png, TensorBoard, and the printed table."""
    (run_dir / "images.json").write_text(json.dumps({cfg.task: result}, indent=2))
    kept = {f"{e}/{m}/{b:g}": x[: GRID_SIDE**2] for e, by_m in samples.items() for m, by_b in by_m.items()
            for b, x in by_b.items()}  # fmt: skip
    np.savez_compressed(run_dir / "samples.npz", **kept)
    (run_dir / "grids").mkdir(exist_ok=True)
    logger = TensorBoardLogger(save_dir=run_dir, name="images", version="logs", default_hp_metric=False)
    for key, images in kept.items():
        grid = mosaic(images)
        picture = as_picture(grid).repeat(SCALE, 0).repeat(SCALE, 1)
        energy, method, beta = key.split("/")
        plt.imsave(run_dir / "grids" / f"{energy}-{method}-beta{beta}.png", picture, cmap="gray", vmin=0, vmax=1)
        logger.experiment.add_image(f"images/{key}", grid)
    figure = panel_figure(load_samples(run_dir), cfg.task)
    figure.savefig(run_dir / "images.png", dpi=80)
    logger.experiment.add_figure("images/samples", figure)
    plt.close(figure)
    scalars = {
        f"images/{metric_name(e)}_{e}_{m}_beta{b}": v
        for e, by_m in result["metrics"].items()
        for m, by_b in by_m.items()
        for b, v in by_b.items()
    }
    logger.log_metrics({**scalars, "images/classifier_accuracy": result["classifier_accuracy"]})
    logger.finalize("success")
    print(metrics_table(cfg.task, result))


def load_samples(run_dir: Path) -> dict:
    """{energy: {method: {beta: images}}} as ``report`` saved them."""
    samples: dict = {}
    with np.load(run_dir / "samples.npz") as saved:
        for key in saved.files:
            energy, method, beta = key.split("/")
            samples.setdefault(energy, {}).setdefault(method, {})[float(beta)] = saved[key]
    return samples


def panel_figure(samples: dict, title: str) -> plt.Figure:
    """One row per (energy, method), ground truth first, one column per beta; each panel a grid of samples."""
    rows = [(e, m) for e, by_m in samples.items() for m in by_m]
    betas = list(next(iter(next(iter(samples.values())).values())))
    fig, axes = plt.subplots(len(rows), len(betas), figsize=(1.9 * len(betas), 1.9 * len(rows)), squeeze=False)
    for i, (energy, method) in enumerate(rows):
        for j, beta in enumerate(betas):
            ax = axes[i, j]
            ax.imshow(as_picture(mosaic(samples[energy][method][beta])), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"β = {beta:g}")
            if j == 0:
                ax.set_ylabel(f"{energy}: {METHOD_NAMES.get(method, method)}", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def metrics_table(task: str, result: dict) -> str:
    """Each energy's distances to its exact target, method by beta."""
    lines = [f"Distance to the exact target ({task}); lower is better"]
    for energy, by_method in result["metrics"].items():
        lines += [f"{energy} energy, {metric_name(energy)}:", *method_rows(by_method, value, 11, "  ")]
    lines.append(f"classifier accuracy (held out): {result['classifier_accuracy']:.3f}")
    return "\n".join(lines)
