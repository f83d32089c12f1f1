"""Labelled image sets for the image bandits: scikit-learn's 8 × 8 digits, a folder of class subfolders, an .npz of
``images`` and ``labels``, or MNIST / CIFAR-10 through torchvision (when it is installed).

Every reader returns an ``ImageSet``: images [N, C, H, W] as float32 in [0, 1] and integer labels [N] in
0..K-1 with the K class names. As a bandit (``image_bandit``) an image is an action, flattened to C·H·W values
in [-1, 1], with an empty state; its reward is the energy e(x) being compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cep_lightning.data.transitions import Transitions
from cep_lightning.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
TORCHVISION_SETS = ("mnist", "cifar10")
IMAGE_SET_CHOICES = "digits, mnist, cifar10, a folder of class subfolders of images, or an .npz of images and labels"


@dataclass(frozen=True)
class ImageSet:
    images: np.ndarray  # [N, C, H, W] float32 in [0, 1]
    labels: np.ndarray  # [N] int64 in 0..K-1
    class_names: tuple[str, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    @property
    def class_masses(self) -> np.ndarray:
        """q(c): the fraction of the images in each class."""
        return np.bincount(self.labels, minlength=len(self.class_names)) / len(self.labels)


def load_image_set(name: str, root: str | None = None) -> ImageSet:
    """The image set ``data.images`` names: digits, mnist, cifar10 (under ``root``, default data/torchvision), a
    folder of class subfolders, or an .npz file."""
    if name == "digits":
        return load_digits_set()
    if name in TORCHVISION_SETS:
        return load_torchvision_set(name, root or "data/torchvision")
    path = Path(name)
    if path.suffix == ".npz":
        return load_npz_set(path)
    if path.is_dir():
        return load_folder_set(path)
    raise DataError(f"data.images={name!r} is not an image set; give {IMAGE_SET_CHOICES} (no such file or folder).")


def load_digits_set() -> ImageSet:
    """scikit-learn's copy of the UCI handwritten digits: 1,797 grey 8 × 8 images, values 0..16, labels 0..9."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]
    return ImageSet(images, digits.target.astype(np.int64), tuple(str(k) for k in range(10)))


def load_npz_set(path: Path) -> ImageSet:
    """``images`` [N, H, W], [N, H, W, C] or [N, C, H, W] (C = 1 or 3; uint8 0..255 or floats in [0, 1]) and
    ``labels`` [N] (any values: the sorted distinct values become classes 0..K-1, named by their value)."""
    if not path.is_file():
        raise DataError(f"data.images={path}: no such file.")
    with np.load(path) as saved:
        missing = [key for key in ("images", "labels") if key not in saved.files]
        if missing:
            raise DataError(
                f"{path} has no array {' or '.join(missing)} (it holds {', '.join(saved.files) or 'nothing'}); save "
                "it with np.savez(path, images=..., labels=...)."
            )
        images, labels = saved["images"], saved["labels"]
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(
            f"{path}: labels must be one value per image, got shape {labels.shape} for {len(images)} images."
        )
    names, index = np.unique(labels, return_inverse=True)
    return ImageSet(channels_first(images, str(path)), index.astype(np.int64), tuple(str(n) for n in names))


def channels_first(images: np.ndarray, where: str) -> np.ndarray:
    """[N, H, W] / [N, H, W, C] / [N, C, H, W] (C = 1 or 3) as float32 [N, C, H, W] in [0, 1]."""
    if images.ndim == 3:
        images = images[:, None]
    elif images.ndim == 4 and images.shape[-1] in (1, 3) and images.shape[1] not in (1, 3):
        images = images.transpose(0, 3, 1, 2)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise DataError(
            f"{where}: images must be [N, H, W], [N, H, W, C] or [N, C, H, W] with C = 1 or 3, got {images.shape}."
        )
    if images.dtype == np.uint8:
        return (images / 255.0).astype(np.float32)
    images = images.astype(np.float32)
    if not np.isfinite(images).all() or images.min() < 0 or images.max() > 1:
        raise DataError(f"{where}: float images must lie in [0, 1] (or be uint8 in 0..255), got values outside.")
    return images


def load_folder_set(root: Path) -> ImageSet:
    """<root>/<class name>/<image file>: one class per subfolder (in sorted order), every image of one size; grey
    when every image is grey, else RGB."""
    from PIL import Image

    classes = sorted(p for p in root.iterdir() if p.is_dir())
    files = [(k, f) for k, c in enumerate(classes) for f in sorted(c.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise DataError(
            f"data.images={root} holds no images in class subfolders: lay it out as {root}/<class>/<image>.png."
        )
    opened = [Image.open(f) for _, f in files]
    grey = all(image.mode in ("1", "L", "I", "I;16") for image in opened)
    arrays = [np.asarray(image.convert("L" if grey else "RGB")) for image in opened]
    sizes = {a.shape[:2] for a in arrays}
    if len(sizes) > 1:
        raise DataError(f"data.images={root}: the images differ in size ({sorted(sizes)}); resize them to one size.")
    labels = np.array([k for k, _ in files], dtype=np.int64)
    return ImageSet(channels_first(np.stack(arrays), str(root)), labels, tuple(c.name for c in classes))


def load_torchvision_set(name: str, root: str) -> ImageSet:
    """MNIST or CIFAR-10's training images, downloaded by torchvision into ``root`` the first time."""
    try:
        import torchvision
    except ImportError:
        raise DataError(
            f"data.images={name} is read through torchvision, which is not installed: pip install torchvision "
            f"(or give the images as a folder or an .npz of images and labels)."
        ) from None
    source = {"mnist": torchvision.datasets.MNIST, "cifar10": torchvision.datasets.CIFAR10}[name]
    data = source(root, train=True, download=True)
    images = np.asarray(data.data)
    return ImageSet(channels_first(images, name), np.asarray(data.targets, dtype=np.int64), tuple(data.classes))


def image_bandit(images: np.ndarray, energy: np.ndarray) -> Transitions:
    """The images as a bandit: empty states [N, 0], actions = the images flattened and scaled to [-1, 1]
    (x = 2 · pixel - 1), rewards = the energy e(x) of each image."""
    n = len(images)
    empty = np.zeros((n, 0), dtype=np.float32)
    done = np.ones(n, dtype=bool)
    actions = (2.0 * images.reshape(n, -1) - 1.0).astype(np.float32)
    return Transitions(empty, actions, energy.astype(np.float32), empty, done, ~done)


def bandit_images(actions: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Rows of ``image_bandit`` (or samples of a model of them) back to images [N, C, H, W] in [0, 1] (clipped)."""
    return np.clip((actions.reshape(len(actions), *shape) + 1.0) / 2.0, 0.0, 1.0)
