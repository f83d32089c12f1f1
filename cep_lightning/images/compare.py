"""The exactness comparison on images: one behaviour U-Net q(x) of the images, one energy model per (energy, method,
beta), guided samples from each, and their distance to the exact target p(x) ∝ q(x) exp(beta e(x)).

Run as ``python -m cep_lightning.images task=digits [key=value ...]``. Writes ``images.json`` (the metrics),
``samples.npz`` (the first images of every panel), ``grids/<energy>-<method>-beta<b>.png``, ``images.png`` (every
panel in one figure) and TensorBoard scalars and images into the run directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig

from cep_lightning.data.datamodule import QGPODataModule
from cep_lightning.data.image_energies import PixelEnergy, class_energies, import_energy, ink, label_energy
from cep_lightning.data.images import ImageSet, bandit_images, image_bandit, load_image_set
from cep_lightning.data.toy_datasets import class_frequencies, total_variation
from cep_lightning.errors import ConfigError
from cep_lightning.images.classifier import ImageClassifier
from cep_lightning.images.report import report
from cep_lightning.maths.targets import (
    exact_class_masses,
    importance_resample,
    importance_weights,
    resampling_floor,
    wasserstein_1,
)
from cep_lightning.policy import QGPOPolicy
from cep_lightning.run.bandit_energy import train_bandit_energy
from cep_lightning.run.directory import RunDir
from cep_lightning.run.pipeline import prepare_run_dir, train_once
from cep_lightning.run.plan import stage_settings
from cep_lightning.stages.behavior import BehaviorModule

BUILTIN_ENERGIES = ("class", "ink")
METHODS = ("cep", "mse", "emse")


@dataclass(frozen=True)
class Target:
    """An energy being compared: its value e(x) ∈ [0, 1] on every image, and how samples are judged: by the
    classifier's class masses (``pixel`` None: the class energy) or by the W1 of ``pixel``'s e(x)."""

    name: str
    values: np.ndarray  # [N]
    pixel: PixelEnergy | None


def check_settings(cfg: DictConfig) -> None:
    """The image settings by their meaning, before anything is trained."""
    c = cfg.image
    if cfg.data.source != "images":
        raise ConfigError(f"python -m cep_lightning.images needs an image task (task=digits), got task={cfg.task}.")
    unknown = [e for e in c.energies if e not in BUILTIN_ENERGIES]
    if unknown or (not c.energies and c.energy is None):
        raise ConfigError(
            f"image.energies={list(c.energies)}: valid energies are {', '.join(BUILTIN_ENERGIES)} (and your own "
            "with image.energy=package.module:function); name one or more."
        )
    if [m for m in c.methods if m not in METHODS] or not c.methods:
        raise ConfigError(f"image.methods={list(c.methods)}: name one or more of {', '.join(METHODS)}.")
    if not c.betas or any(not (np.isfinite(b) and b >= 0) for b in c.betas):
        raise ConfigError(f"image.betas={list(c.betas)}: give one or more finite, non-negative inverse temperatures.")
    if c.samples <= 0 or not 0 <= c.holdout < 1 or len(c.channels) != 2 or min(c.channels) <= 0:
        raise ConfigError(
            f"image.samples={c.samples}, image.holdout={c.holdout}, image.channels={list(c.channels)}: samples must be "
            "positive, holdout in [0, 1), channels two positive widths (e.g. [32,64])."
        )
    if c.M > cfg.energy.batch_size or c.M == 1 or c.M < 0:
        raise ConfigError(
            f"image.M={c.M} with energy.batch_size={cfg.energy.batch_size}: a contrastive set holds 2 to "
            "energy.batch_size images (0: the whole batch is one set)."
        )


def targets(cfg: DictConfig, image_set: ImageSet) -> list[Target]:
    """The energies ``image.energies`` and ``image.energy`` name, evaluated on the images."""
    found = []
    for name in cfg.image.energies:
        if name == "class":
            found.append(Target("class", label_energy(image_set), None))
        else:
            pixel = PixelEnergy.fitted(name, ink, image_set.images)
            found.append(Target(name, pixel(image_set.images), pixel))
    if cfg.image.energy is not None:
        pixel = PixelEnergy.fitted(cfg.image.energy, import_energy(cfg.image.energy), image_set.images)
        found.append(Target("user", pixel(image_set.images), pixel))
    return found


def energy_run_name(target: str, method: str, beta: float) -> str:
    return f"energy-{target}-{method}-beta{beta:g}"


def train_behavior(cfg: DictConfig, run_dir: Path, data: QGPODataModule, shape: tuple[int, ...]) -> BehaviorModule:
    """The U-Net q(x) of the images (trained once per run directory and settings)."""
    c = cfg.behavior
    L.seed_everything(cfg.seed, verbose=False)
    settings = {
        **stage_settings(cfg, "behavior", data.fingerprint),
        "image.channels": list(cfg.image.channels),
        "image.lr_decay": cfg.image.lr_decay,
    }
    path = train_once(
        cfg,
        "behavior",
        RunDir(run_dir),
        data.use(c.batch_size, c.steps),
        settings,
        lambda: BehaviorModule(
            0,
            data.action_dim,
            lr=c.lr,
            cond_dim=c.cond_dim,
            lr_decay=cfg.image.lr_decay,
            image_shape=shape,
            channels=list(cfg.image.channels),
        ),
    )
    return BehaviorModule.load_from_checkpoint(path, map_location="cpu", weights_only=True)


DRAW_CHUNK = 256  # rows sampled together: larger batches cost the CPU more (memory mapped per step), not less


def draw(policy: QGPOPolicy, n: int, scale: float, seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """n guided samples as images [n, C, H, W] in [0, 1], drawn DRAW_CHUNK at a time from one seeded generator."""
    generator = torch.Generator().manual_seed(seed)
    chunks = [
        policy.sample(torch.zeros(min(DRAW_CHUNK, n - start), 0), scale, generator=generator).numpy()
        for start in range(0, n, DRAW_CHUNK)
    ]
    return bandit_images(np.concatenate(chunks), shape)


@dataclass
class Judge:
    """Measures samples against the exact target of each energy: TV of the classifier's class masses to
    P(c) ∝ q(c) exp(beta e_c) (class energy), W1 of e(x) to the data's e weighted by exp(beta e) (pixel energies)."""

    image_set: ImageSet
    classifier: ImageClassifier

    def distance(self, target: Target, images: np.ndarray, beta: float) -> float:
        if target.pixel is None:
            num_classes = len(self.image_set.class_names)
            exact = exact_class_masses(self.image_set.class_masses, class_energies(num_classes), beta)
            return total_variation(class_frequencies(self.classifier.classes(images), num_classes), exact)
        return wasserstein_1(target.pixel(images), target.values, importance_weights(target.values, beta))

    def floor(self, target: Target, beta: float, n: int, rng: np.random.Generator) -> tuple[float, np.ndarray]:
        """The "ground truth" row: n images importance-resampled from the data, and their distance (the
        classifier's error on them; for a pixel energy, the resampling floor of W1), with the images."""
        images = importance_resample(self.image_set.images, target.values, beta, n, rng)
        if target.pixel is None:
            return self.distance(target, images, beta), images
        return resampling_floor(target.values, beta, n, rng), images

    def exact_tilt(self, target: Target, unguided: np.ndarray, beta: float, rng: np.random.Generator) -> np.ndarray:
        """What exact guidance of the behaviour model draws, q(x) exp(beta e(x)) / Z: its own unguided samples
        importance-resampled by exp(beta e(x)), e(x) the energy of the class the classifier sees (class energy) or
        the pixel energy. No energy model can do better: the floor of every method at beta."""
        e = self.energy(target, unguided)
        return importance_resample(unguided, e, beta, len(e), rng)

    def energy(self, target: Target, images: np.ndarray) -> np.ndarray:
        """e(x) of images as they are judged: the energy of the class the classifier sees (class energy), or the
        pixel energy; [N]."""
        if target.pixel is None:
            return class_energies(len(self.image_set.class_names))[self.classifier.classes(images)]
        return target.pixel(images)


def compare(cfg: DictConfig) -> dict:
    """Train, sample and measure every (energy, method, beta); return
    {"metrics": {energy: {method: {beta: distance}}}, "classifier_accuracy": a} ("truth": resampled data;
    "tilted": the behaviour model's samples resampled by exp(beta e), the exact tilt of q)."""
    check_settings(cfg)
    run_dir = Path(cfg.run.dir)
    prepare_run_dir(cfg, RunDir(run_dir))
    image_set = load_image_set(cfg.data.images)
    shape = image_set.shape
    judge = Judge(image_set, ImageClassifier.fitted(image_set, cfg.image.holdout, cfg.seed))
    found = targets(cfg, image_set)
    no_energy = np.zeros(len(image_set.labels))
    images_only = QGPODataModule.of_transitions(cfg.data, image_bandit(image_set.images, no_energy), cfg.seed)
    behavior = train_behavior(cfg, run_dir, images_only, shape).net.eval()
    n, steps, sampler = cfg.image.samples, cfg.eval.solver_steps, cfg.eval.sampler
    betas = [float(b) for b in cfg.image.betas]
    unguided = draw(QGPOPolicy(behavior, None, steps, sampler=sampler), n, 0.0, cfg.seed, shape)
    rng = np.random.default_rng(cfg.seed)
    tilt_rng = np.random.default_rng([cfg.seed, 1])  # its own stream: the data's resampled rows stay as they were
    metrics: dict = {}
    samples: dict = {}
    for target in found:
        data = QGPODataModule.of_transitions(cfg.data, image_bandit(image_set.images, target.values), cfg.seed)
        floors = {b: judge.floor(target, b, n, rng) for b in betas}
        metrics[target.name] = {"truth": {f"{b:g}": floors[b][0] for b in betas}}
        samples[target.name] = {"truth": {b: floors[b][1] for b in betas}}
        samples[target.name]["tilted"] = {b: judge.exact_tilt(target, unguided, b, tilt_rng) for b in betas}
        metrics[target.name]["tilted"] = {f"{b:g}": judge.distance(target, samples[target.name]["tilted"][b], b)
                                          for b in betas}  # fmt: skip
        for method in cfg.image.methods:
            metrics[target.name][method], samples[target.name][method] = {}, {}
            for beta in betas:
                if beta == 0:
                    x = unguided  # beta = 0: the behaviour model alone, the error floor
                else:
                    name = energy_run_name(target.name, method, beta)
                    energy = train_bandit_energy(cfg, run_dir, data, name, method, beta, "image").energy.eval()
                    x = draw(QGPOPolicy(behavior, energy, steps, sampler=sampler), n, 1.0, cfg.seed, shape)
                metrics[target.name][method][f"{beta:g}"] = judge.distance(target, x, beta)
                samples[target.name][method][beta] = x
    result = {"metrics": metrics, "classifier_accuracy": judge.classifier.accuracy}
    report(cfg, run_dir, result, samples)
    return result
