"""The exact targets of the bandits (the 2-D toys, the images), p(x) ∝ q(x) exp(beta e(x)), and the distances to them.

A class energy has exact class masses P(c) ∝ q(c) exp(beta e_c); a pixel energy's target distribution of e is
the data's values weighted by exp(beta e) (what importance resampling draws from), compared in 1-D Wasserstein
distance W1 (in the units of e).
"""

from __future__ import annotations

import numpy as np


def exact_class_masses(class_masses: np.ndarray, class_energies: np.ndarray, beta: float) -> np.ndarray:
    """P(c) = q(c) exp(beta e_c) / Σ_c' q(c') exp(beta e_c')."""
    w = class_masses * np.exp(beta * (class_energies - class_energies.max()))
    return w / w.sum()


def importance_weights(e: np.ndarray, beta: float) -> np.ndarray:
    """w_i = exp(beta e_i) / Σ_j exp(beta e_j): the target p ∝ q exp(beta e) on the data points."""
    w = np.exp(beta * (e - e.max()))
    return w / w.sum()


def importance_resample(x: np.ndarray, e: np.ndarray, beta: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """n draws of p ∝ q exp(beta e) from points x of q: x resampled with the weights exp(beta e)."""
    return x[rng.choice(len(x), size=n, p=importance_weights(e, beta))]


def wasserstein_1(x: np.ndarray, y: np.ndarray, y_weights: np.ndarray | None = None) -> float:
    """W1 between the samples x and the (weighted) points y: ∫ |F_x(v) - F_y(v)| dv, the CDFs' area apart,
    summed exactly over the intervals between the sorted values of both."""
    y_weights = np.full(len(y), 1.0 / len(y)) if y_weights is None else y_weights / y_weights.sum()
    values = np.concatenate([x, y])
    mass = np.concatenate([np.full(len(x), 1.0 / len(x)), -y_weights])  # F_x - F_y jumps by these
    order = np.argsort(values, kind="stable")
    gap = np.cumsum(mass[order])[:-1]
    return float(np.sum(np.abs(gap) * np.diff(values[order])))


def resampling_floor(e: np.ndarray, beta: float, n: int, rng: np.random.Generator) -> float:
    """W1 between an n-point importance resample of the data's e and the exact weighted target: what n samples
    drawn from the target itself score (the finite-sample floor of a method's W1)."""
    w = importance_weights(e, beta)
    return wasserstein_1(e[rng.choice(len(e), size=n, p=w)], e, w)
