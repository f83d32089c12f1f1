"""The paper's 2-D toy data sets: points x, labels e(x) ∈ [0, 1], and the exact target p ∝ q · exp(beta e).

Each toy has a ``classify`` map from points to a discrete class (mode, moon, ring, column) whose label is
known, so the exact class masses of the target are P(k) ∝ q(k) exp(beta e_k); swissroll's label is a
continuous function of the point and has none: its target is the data's e weighted by exp(beta e), compared in
W1 of e (``maths/targets.py``). The paper's 2spirals label
(1 - arc / 10) is continuous too; here it is the spiral's index, so that its target has exact class masses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.spatial import cKDTree

from cep_lightning.maths.targets import exact_class_masses

Generator = Callable[[int, np.random.Generator], tuple[np.ndarray, np.ndarray]]


def eight_gaussians(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Centre k at angle 90° + 45° k on a circle of radius 4, + N(0, 0.5² I), all / 1.414; e = k / 7."""
    k = rng.integers(0, 8, n)
    angle = np.deg2rad(90.0 + 45.0 * k)
    x = (4.0 * np.stack([np.cos(angle), np.sin(angle)], 1) + 0.5 * rng.standard_normal((n, 2))) / 1.414
    return x.astype(np.float32), (k / 7.0).astype(np.float32)


def moons(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's two moons (noise 0.1), then x · 2 + (-1, -0.2); e = the moon's class."""
    label = rng.integers(0, 2, n)
    theta = rng.uniform(0.0, np.pi, n)
    outer = np.stack([np.cos(theta), np.sin(theta)], 1)
    inner = np.stack([1.0 - np.cos(theta), 1.0 - np.sin(theta) - 0.5], 1)
    x = np.where(label[:, None] == 1, inner, outer) + 0.1 * rng.standard_normal((n, 2))
    return (x * 2.0 + np.array([-1.0, -0.2])).astype(np.float32), label.astype(np.float32)


def checkerboard(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """x1 ~ U(-2, 2), x2 in alternating unit cells, both · 2; e = 1 where 0 < x1 ≤ 2 or x1 ≤ -2."""
    x1 = rng.uniform(-2.0, 2.0, n)
    x2 = rng.uniform(0.0, 1.0, n) - 2.0 * rng.integers(0, 2, n) + np.floor(x1) % 2
    x = 2.0 * np.stack([x1, x2], 1)
    return x.astype(np.float32), checkerboard_class(x).astype(np.float32)


def checkerboard_class(x: np.ndarray) -> np.ndarray:
    return (((x[:, 0] > 0) & (x[:, 0] <= 2)) | (x[:, 0] <= -2)).astype(int)


RING_RADII = np.array([3.0, 2.25, 1.5, 0.75])
RING_LABELS = np.array([0.667, 0.333, 1.0, 0.0])


def rings(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Four rings of radius 3, 2.25, 1.5, 0.75 of equal mass, + N(0, 0.08² I); e = 0.667, 0.333, 1, 0."""
    ring = rng.integers(0, 4, n)
    angle = rng.uniform(0.0, 2 * np.pi, n)
    x = RING_RADII[ring, None] * np.stack([np.cos(angle), np.sin(angle)], 1) + 0.08 * rng.standard_normal((n, 2))
    return x.astype(np.float32), RING_LABELS[ring].astype(np.float32)


def ring_class(x: np.ndarray) -> np.ndarray:
    return np.abs(np.linalg.norm(x, axis=1)[:, None] - RING_RADII[None]).argmin(1)


def swissroll(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's swiss roll (noise 1.0), coordinates 0 and 2, / 5; e = |x|² / 9."""
    t = 1.5 * np.pi * (1.0 + 2.0 * rng.uniform(size=n))
    x = (np.stack([t * np.cos(t), t * np.sin(t)], 1) + rng.standard_normal((n, 2))) / 5.0
    return x.astype(np.float32), swissroll_label(x).astype(np.float32)


def swissroll_label(x: np.ndarray) -> np.ndarray:
    """e(x) = |x|² / 9."""
    return np.sum(x**2, 1) / 9.0


def two_spirals(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The paper's two spirals: arc m = 3π sqrt(u), d = (-m cos m, m sin m) + U(0, 0.5)², spiral k = 1 is -d,
    then / 3 + N(0, 0.1² I); e = k (the paper's label is the continuous 1 - m / 10)."""
    k = rng.integers(0, 2, n)
    m = np.sqrt(rng.uniform(size=n)) * 3.0 * np.pi
    d = np.stack([-np.cos(m) * m, np.sin(m) * m], 1) + 0.5 * rng.uniform(size=(n, 2))
    x = np.where(k[:, None] == 1, -d, d) / 3.0 + 0.1 * rng.standard_normal((n, 2))
    return x.astype(np.float32), k.astype(np.float32)


def eight_gaussians_class(x: np.ndarray) -> np.ndarray:
    angle = np.deg2rad(90.0 + 45.0 * np.arange(8))
    centres = 4.0 * np.stack([np.cos(angle), np.sin(angle)], 1) / 1.414
    return np.linalg.norm(x[:, None] - centres[None], axis=-1).argmin(1)


def nearest_reference_class(x: np.ndarray, reference: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The class of the nearest reference point (moons and spirals overlap only in their noise tails), found in a
    k-d tree: O(n log m) for n points and m references."""
    points, labels = reference
    _, nearest = cKDTree(points).query(x)
    return labels[nearest].astype(int)


@dataclass(frozen=True)
class Toy:
    name: str
    generate: Generator
    class_labels: np.ndarray | None  # e of each class; None for a continuous label
    class_masses: np.ndarray | None  # q(k) of each class in the data
    label: Callable[[np.ndarray], np.ndarray] | None = None  # e(x) of a continuous label

    def exact_class_masses(self, beta: float) -> np.ndarray:
        """P(k) ∝ q(k) exp(beta e_k)."""
        return exact_class_masses(self.class_masses, self.class_labels, beta)

    def energy(self, x: np.ndarray) -> np.ndarray:
        """e(x) of any points: the continuous label, or the label e_k of the class each point falls in."""
        return self.label(x) if self.label is not None else self.class_labels[self.classify(x)]

    def classify(self, x: np.ndarray, rng_seed: int = 0) -> np.ndarray:
        if self.name == "8gaussians":
            return eight_gaussians_class(x)
        if self.name == "moons":
            return nearest_reference_class(x, moons(4000, np.random.default_rng(rng_seed)))
        if self.name == "2spirals":
            return nearest_reference_class(x, two_spirals(8000, np.random.default_rng(rng_seed)))
        if self.name == "checkerboard":
            return checkerboard_class(x)
        if self.name == "rings":
            return ring_class(x)
        raise ValueError(f"toy '{self.name}' has a continuous label and no classes")


TOYS = {
    "8gaussians": Toy("8gaussians", eight_gaussians, np.arange(8) / 7.0, np.full(8, 1 / 8)),
    "moons": Toy("moons", moons, np.array([0.0, 1.0]), np.full(2, 0.5)),
    "checkerboard": Toy("checkerboard", checkerboard, np.array([0.0, 1.0]), np.full(2, 0.5)),
    "rings": Toy("rings", rings, RING_LABELS, np.full(4, 0.25)),
    "swissroll": Toy("swissroll", swissroll, None, None, swissroll_label),
    "2spirals": Toy("2spirals", two_spirals, np.array([0.0, 1.0]), np.full(2, 0.5)),
}


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    """TV(p, q) = ½ Σ_k |p_k - q_k|."""
    return 0.5 * float(np.abs(p - q).sum())


def class_frequencies(classes: np.ndarray, num_classes: int) -> np.ndarray:
    return np.bincount(classes, minlength=num_classes) / len(classes)
