"""The energies e(x) ∈ [0, 1] of the image bandits: the class energy on the labels, the ink on the pixels, and a
function of the user's own (``image.energy=package.module:function``).

A pixel energy is a function of images [N, C, H, W] in [0, 1] returning [N] values; its values are normalised to
[0, 1] by the data's range, e = (g(x) - min_data g) / (max_data g - min_data g), the same map on the data and on
generated samples (whose e may fall slightly outside [0, 1]).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from cep_lightning.data.images import ImageSet
from cep_lightning.errors import ConfigError, DataError

PixelFunction = Callable[[np.ndarray], np.ndarray]


def class_energies(num_classes: int) -> np.ndarray:
    """e_c = c / (K - 1) of each class c = 0..K-1 (digits: 0, 1/9, ..., 1)."""
    return np.arange(num_classes) / max(1, num_classes - 1)


def ink(images: np.ndarray) -> np.ndarray:
    """The mean brightness of each image, (1 / CHW) Σ pixels (the analogue of the paper's colour control)."""
    return images.reshape(len(images), -1).mean(1)


def import_energy(spec: str) -> PixelFunction:
    """The function ``package.module:function`` names (``image.energy``)."""
    module_name, _, function_name = spec.partition(":")
    if not module_name or not function_name:
        raise ConfigError(
            f"image.energy={spec!r} is not of the form package.module:function (e.g. image.energy=mypkg.energies:ink)."
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"image.energy={spec}: cannot import module '{module_name}' ({exc}). Put it on PYTHONPATH or install it."
        ) from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ConfigError(f"image.energy={spec}: module '{module_name}' has no function '{function_name}'.")
    return function


@dataclass(frozen=True)
class PixelEnergy:
    """A pixel energy g and the data's range of it: ``__call__`` is the normalised e(x)."""

    name: str
    function: PixelFunction
    low: float
    high: float

    @classmethod
    def fitted(cls, name: str, function: PixelFunction, images: np.ndarray) -> "PixelEnergy":
        values = evaluate(name, function, images)
        low, high = float(values.min()), float(values.max())
        if not high > low:
            raise DataError(f"energy '{name}' takes one value ({low}) on every image: it cannot guide anything.")
        return cls(name, function, low, high)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return (evaluate(self.name, self.function, images) - self.low) / (self.high - self.low)


def evaluate(name: str, function: PixelFunction, images: np.ndarray) -> np.ndarray:
    """g(images) as float64 [N], refused unless it is one finite number per image."""
    values = np.asarray(function(images), dtype=np.float64)
    if values.shape != (len(images),):
        raise DataError(
            f"energy '{name}' returned shape {values.shape} for images {images.shape}; it must return one number per "
            f"image, shape ({len(images)},)."
        )
    if not np.isfinite(values).all():
        raise DataError(f"energy '{name}' returned non-finite values (NaN or inf) on some images.")
    return values


def label_energy(image_set: ImageSet) -> np.ndarray:
    """e(x) = e_c of the image's class c."""
    return class_energies(len(image_set.class_names))[image_set.labels]
