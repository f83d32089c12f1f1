"""The judge of the class energy: a classifier of the images trained on the data alone, never on samples."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.svm import SVC

from cep_lightning.data.images import ImageSet

MAX_TRAIN = 10_000  # an SVC's fit grows with the square of its images: larger sets (MNIST, CIFAR-10) are subsampled


@dataclass
class ImageClassifier:
    """An RBF support-vector classifier on the pixels, fitted on all but a held-out fraction of the images (at most
    MAX_TRAIN of them); ``accuracy`` is its accuracy on that held-out fraction."""

    model: SVC
    accuracy: float

    @classmethod
    def fitted(cls, image_set: ImageSet, holdout: float, seed: int) -> "ImageClassifier":
        x = image_set.images.reshape(len(image_set.images), -1)
        order = np.random.default_rng(seed).permutation(len(x))
        test, train = order[: int(holdout * len(x))], order[int(holdout * len(x)) :][:MAX_TRAIN]
        model = SVC(C=10.0, gamma="scale").fit(x[train], image_set.labels[train])
        accuracy = float((model.predict(x[test]) == image_set.labels[test]).mean()) if len(test) else float("nan")
        return cls(model, accuracy)

    def classes(self, images: np.ndarray) -> np.ndarray:
        """The predicted class of each image [N, C, H, W] in [0, 1]."""
        return self.model.predict(images.reshape(len(images), -1)).astype(np.int64)
