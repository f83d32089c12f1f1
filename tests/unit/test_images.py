"""The image bandits' parts: the readers, the U-Net, the exact targets and their distances, the user's energy."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cep_lightning.data.image_energies import PixelEnergy, class_energies, import_energy, ink, label_energy
from cep_lightning.data.images import bandit_images, image_bandit, load_image_set
from cep_lightning.errors import ConfigError, DataError
from cep_lightning.images.classifier import ImageClassifier
from cep_lightning.images.compare import Judge, Target
from cep_lightning.maths.diffusion import eps_matching_loss, perturb, sample_train_times
from cep_lightning.maths.targets import exact_class_masses, importance_weights, resampling_floor, wasserstein_1
from cep_lightning.maths.unet import ImageUNet


def test_digits_are_scikit_learns_1797_grey_8x8_images_in_0_1_with_ten_classes() -> None:
    digits = load_image_set("digits")
    assert digits.images.shape == (1797, 1, 8, 8) and digits.images.dtype == np.float32
    assert digits.images.min() == 0.0 and digits.images.max() == 1.0  # 0..16 scaled by 1/16
    assert digits.class_names == tuple("0123456789") and np.bincount(digits.labels).tolist()[:3] == [178, 182, 177]
    assert digits.class_masses.sum() == pytest.approx(1.0)


def test_a_folder_of_class_subfolders_reads_as_labelled_images(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    pixels = {name: rng.integers(0, 256, (n, 6, 4), dtype=np.uint8) for name, n in (("cat", 2), ("dog", 3))}
    for name, images in pixels.items():
        (tmp_path / name).mkdir()
        for i, image in enumerate(images):
            Image.fromarray(image, mode="L").save(tmp_path / name / f"{i}.png")
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    data = load_image_set(str(tmp_path))
    assert data.class_names == ("cat", "dog") and data.labels.tolist() == [0, 0, 1, 1, 1]
    assert data.images.shape == (5, 1, 6, 4)
    np.testing.assert_allclose(data.images[2, 0], pixels["dog"][0] / 255.0, atol=1e-7)
    Image.fromarray(np.zeros((5, 5), np.uint8), mode="L").save(tmp_path / "dog" / "small.png")
    with pytest.raises(DataError, match="differ in size"):
        load_image_set(str(tmp_path))


def test_an_npz_of_images_and_labels_reads_channels_last_uint8_and_float_images(tmp_path: Path) -> None:
    rgb = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    np.savez(tmp_path / "rgb.npz", images=rgb, labels=np.array([7, 3]))
    data = load_image_set(str(tmp_path / "rgb.npz"))
    assert data.images.shape == (2, 3, 4, 4) and data.class_names == ("3", "7") and data.labels.tolist() == [1, 0]
    assert data.images[1, 2, 0, 1] == pytest.approx(rgb[1, 0, 1, 2] / 255.0)
    np.savez(tmp_path / "grey.npz", images=np.full((3, 2, 2), 0.5), labels=np.zeros(3))
    assert load_image_set(str(tmp_path / "grey.npz")).images.shape == (3, 1, 2, 2)
    np.savez(tmp_path / "bright.npz", images=np.full((3, 2, 2), 2.0), labels=np.zeros(3))
    with pytest.raises(DataError, match=r"in \[0, 1\]"):
        load_image_set(str(tmp_path / "bright.npz"))
    np.savez(tmp_path / "unlabelled.npz", images=rgb)
    with pytest.raises(DataError, match="no array labels"):
        load_image_set(str(tmp_path / "unlabelled.npz"))
    with pytest.raises(DataError, match="not an image set"):
        load_image_set(str(tmp_path / "missing"))


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None, reason="torchvision is installed")
def test_mnist_without_torchvision_says_how_to_install_it() -> None:
    with pytest.raises(DataError, match="pip install torchvision"):
        load_image_set("mnist")


def test_images_travel_as_bandit_rows_in_minus_one_one_and_come_back() -> None:
    images = np.random.default_rng(0).uniform(size=(3, 1, 2, 2)).astype(np.float32)
    bandit = image_bandit(images, np.array([0.0, 0.5, 1.0]))
    assert bandit.actions.shape == (3, 4) and bandit.observations.shape == (3, 0)
    np.testing.assert_allclose(bandit.actions[1], 2 * images[1].ravel() - 1, atol=1e-6)
    np.testing.assert_allclose(bandit_images(bandit.actions, (1, 2, 2)), images, atol=1e-6)


def test_the_unet_maps_flat_images_to_flat_noise_of_the_same_shape() -> None:
    torch.manual_seed(0)
    assert ImageUNet((1, 8, 8), (8, 16))(torch.randn(5, 64), torch.rand(5)).shape == (5, 64)
    assert ImageUNet((3, 4, 6), (8, 16))(torch.randn(2, 72), torch.rand(2)).shape == (2, 72)
    with pytest.raises(ValueError, match="even height and width"):
        ImageUNet((1, 7, 8))


def test_the_unet_learns_eps_matching_on_two_images() -> None:
    """Trained 200 Adam steps on two images, its eps-matching loss on fixed draws of (t, z) falls to a third; the
    optimum on two images is far below the untrained net's (about the noise's variance, 64 per image)."""
    torch.manual_seed(0)
    net = ImageUNet((1, 8, 8), (8, 16))
    images = torch.where(torch.arange(64) % 2 == 0, 1.0, -1.0).reshape(1, 64).repeat(2, 1)
    images[1] *= -1
    x0, t, z = images.repeat(32, 1), sample_train_times(64), torch.randn(64, 64)

    def loss() -> float:
        with torch.no_grad():
            return float(eps_matching_loss(net(perturb(x0, t, z), t), z))

    before = loss()
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(200):
        tt, zz = sample_train_times(64), torch.randn(64, 64)
        optimizer.zero_grad()
        eps_matching_loss(net(perturb(x0, tt, zz), tt), zz).backward()
        optimizer.step()
    assert loss() < before / 3


def test_exact_class_masses_and_importance_weights_by_hand() -> None:
    """q = (1/2, 1/2), e = (0, 1), beta = ln 3: P = (1, 3) / 4; three classes, beta = 0: P = q."""
    np.testing.assert_allclose(exact_class_masses(np.array([0.5, 0.5]), np.array([0.0, 1.0]), np.log(3)), [0.25, 0.75])
    q = np.array([0.2, 0.3, 0.5])
    np.testing.assert_allclose(exact_class_masses(q, class_energies(3), 0.0), q)
    np.testing.assert_allclose(class_energies(10), np.arange(10) / 9)
    np.testing.assert_allclose(importance_weights(np.array([0.0, 1.0]), np.log(3)), [0.25, 0.75])


def test_wasserstein_1_by_hand() -> None:
    """W1({0, 1}, {1/2}) = 1/2; W1({1}, 3/4 at 0 + 1/4 at 1) = 3/4; W1(x, x + 0.1) = 0.1."""
    assert wasserstein_1(np.array([0.0, 1.0]), np.array([0.5])) == pytest.approx(0.5)
    assert wasserstein_1(np.array([1.0]), np.array([0.0, 1.0]), np.array([3.0, 1.0])) == pytest.approx(0.75)
    x = np.random.default_rng(0).uniform(size=50)
    assert wasserstein_1(x, x + 0.1) == pytest.approx(0.1)
    assert wasserstein_1(x, x) == pytest.approx(0.0)


def test_the_resampling_floor_shrinks_with_the_number_of_resampled_images() -> None:
    e = np.random.default_rng(1).uniform(size=2000)
    few = np.mean([resampling_floor(e, 3.0, 50, np.random.default_rng(k)) for k in range(20)])
    many = np.mean([resampling_floor(e, 3.0, 5000, np.random.default_rng(k)) for k in range(20)])
    assert many < few / 5 and 0.01 < few < 0.1  # about 1 / sqrt(n) of e's spread


def test_ink_is_the_mean_brightness_normalised_over_the_data() -> None:
    images = np.stack([np.full((1, 2, 2), v) for v in (0.1, 0.3, 0.5)])
    np.testing.assert_allclose(ink(images), [0.1, 0.3, 0.5])
    energy = PixelEnergy.fitted("ink", ink, images)
    np.testing.assert_allclose(energy(images), [0.0, 0.5, 1.0])
    np.testing.assert_allclose(energy(np.full((1, 1, 2, 2), 0.6)), [1.25])  # outside the data's range: beyond 1


def write_module(path: Path, source: str) -> None:
    (path / "my_energies.py").write_text(source)


def test_a_user_energy_is_imported_by_name_and_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_module(
        tmp_path,
        "import numpy as np\n"
        "def top(images):\n    return images[:, :, : images.shape[2] // 2].mean((1, 2, 3))\n"
        "def column(images):\n    return images.mean((1, 2, 3))[:, None]\n"
        "def broken(images):\n    return np.full(len(images), np.nan)\n"
        "constant = 3\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_energies", raising=False)
    images = np.random.default_rng(0).uniform(size=(4, 1, 4, 4))
    energy = PixelEnergy.fitted("top", import_energy("my_energies:top"), images)
    assert energy(images).min() == 0.0 and energy(images).max() == 1.0
    with pytest.raises(ConfigError, match="package.module:function"):
        import_energy("my_energies.top")
    with pytest.raises(ConfigError, match="cannot import module 'no_such_module'"):
        import_energy("no_such_module:top")
    with pytest.raises(ConfigError, match="has no function 'missing'"):
        import_energy("my_energies:missing")
    with pytest.raises(ConfigError, match="has no function 'constant'"):
        import_energy("my_energies:constant")
    with pytest.raises(DataError, match=r"returned shape \(4, 1\).*shape \(4,\)"):
        PixelEnergy.fitted("column", import_energy("my_energies:column"), images)
    with pytest.raises(DataError, match="non-finite"):
        PixelEnergy.fitted("broken", import_energy("my_energies:broken"), images)
    with pytest.raises(DataError, match="one value"):
        PixelEnergy.fitted("ink", ink, np.ones((3, 1, 2, 2)))


def test_the_exact_tilt_of_a_behaviour_model_without_digits_5_to_9_is_the_target_renormalised_on_0_to_4() -> None:
    """Resampled by exp(beta e), samples of digits 0-4 only hold the target's masses of 0-4 renormalised, so their
    TV to the exact masses is the target's mass on 5-9 (about 0.5 at beta 0, 0.84 at beta 3)."""
    image_set = load_image_set("digits")
    judge = Judge(image_set, ImageClassifier.fitted(image_set, 0.2, 0))
    target = Target("class", label_energy(image_set), None)
    behaviour = image_set.images[image_set.labels <= 4]
    rng = np.random.default_rng(0)
    for beta in (0.0, 3.0):
        exact = exact_class_masses(image_set.class_masses, class_energies(10), beta)
        tilted = judge.exact_tilt(target, behaviour, beta, rng)
        seen = np.bincount(judge.classifier.classes(tilted), minlength=10) / len(tilted)
        assert 0.5 * np.abs(seen[:5] - exact[:5] / exact[:5].sum()).sum() < 0.04  # uniform at beta 3: 0.2 off
        assert judge.distance(target, tilted, beta) == pytest.approx(exact[5:].sum(), abs=0.03)
