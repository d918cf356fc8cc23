"""S7 library: corruptions, corrupted-set layout, transforms, label smoothing, metrics, models."""
import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import ndimage

import archlab  # noqa: F401  (before torchvision)
from archlab.data import corruptions as C
from archlab.data.batch_augment import TrainAugment, train_and_eval_transforms
from archlab.data.cifar_c import CorruptedSet, cifar100_c_dir, convert_cifar100_c, generate_corrupted_set
from archlab.data.loaders import Preprocess
from archlab.errors import MissingResourceError
from archlab.metrics.ood import accuracy_grid, mean_corruption_accuracy, submission_frame
from archlab.models.small_cnns import DeeperCNN, SimpleCNN
from archlab.train.losses import classification_loss, smoothed_loss_floor

torch.set_num_threads(1)
RANDOM_CORRUPTIONS = {"gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "motion_blur"}
REQUIRED = {"gaussian_noise", "shot_noise", "gaussian_blur", "motion_blur", "defocus_blur",
            "contrast", "brightness", "jpeg_compression", "pixelate"}


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """Natural-ish test images: smooth colour fields plus fine texture, away from 0 and 255."""
    rng = np.random.default_rng(0)
    coarse = rng.uniform(30, 220, size=(6, 8, 8, 3))
    x = ndimage.zoom(coarse, (1, 4, 4, 1), order=1) + rng.normal(0, 10, size=(6, 32, 32, 3))
    return np.clip(x, 0, 255).astype(np.uint8)


def test_the_required_corruptions_exist():
    assert REQUIRED <= set(C.CORRUPTIONS)


@pytest.mark.parametrize("name", sorted(C.CORRUPTIONS))
def test_corruption_is_deterministic_and_keeps_shape_and_dtype(images, name):
    first = C.corrupt(images, name, 3, seed=7)
    assert first.dtype == np.uint8 and first.shape == images.shape
    np.testing.assert_array_equal(first, C.corrupt(images, name, 3, seed=7))
    if name in RANDOM_CORRUPTIONS:
        assert not np.array_equal(first, C.corrupt(images, name, 3, seed=8))


@pytest.mark.parametrize("name", sorted(C.CORRUPTIONS))
def test_corruption_gets_stronger_with_severity(images, name):
    distance = [np.abs(C.corrupt(images, name, s, seed=1).astype(float) - images).mean() for s in C.SEVERITIES]
    assert distance[0] > 0
    assert np.all(np.diff(distance) > 0), distance


def test_corrupt_rejects_bad_input(images):
    with pytest.raises(ValueError, match="severity"):
        C.corrupt(images, "contrast", 6)
    with pytest.raises(ValueError, match="uint8"):
        C.corrupt(images.astype(np.float32), "contrast", 1)
    with pytest.raises(ValueError, match="unknown corruption"):
        C.corrupt(images, "fog", 1)


def test_brightness_matches_the_hsv_round_trip(images):
    from skimage import color

    hsv = color.rgb2hsv(images / 255.0)
    hsv[..., 2] = np.clip(hsv[..., 2] + 0.3, 0, 1)
    reference = np.rint(np.clip(color.hsv2rgb(hsv), 0, 1) * 255)
    black = np.zeros((1, 32, 32, 3), np.uint8)
    assert np.abs(C.corrupt(images, "brightness", 5).astype(float) - reference).max() <= 1
    assert np.all(C.corrupt(black, "brightness", 5) == round(0.3 * 255))


def test_zoom_matches_scipy(images):
    u = images.astype(np.float32) / 255
    crop = int(np.ceil(32 / 1.2))
    top = (32 - crop) // 2
    expected = ndimage.zoom(u[:, top:top + crop, top:top + crop], (1, 1.2, 1.2, 1), order=1)
    trim = (expected.shape[1] - 32) // 2
    np.testing.assert_allclose(C._clipped_zoom(u, 1.2), expected[:, trim:trim + 32, trim:trim + 32], atol=1e-5)


def test_generated_set_layout_and_order(images, tmp_path):
    y = np.arange(len(images)) % 3
    meta = generate_corrupted_set(images, y, ["contrast", "gaussian_noise"], [2, 5], seed=3, out_dir=tmp_path)
    ds = CorruptedSet(tmp_path)
    n = len(images)
    assert len(ds) == meta["n_images"] == 4 * n and ds.corruptions == ["contrast", "gaussian_noise"]
    np.testing.assert_array_equal(ds.corruption, np.repeat([0, 1], 2 * n))
    np.testing.assert_array_equal(ds.severity, np.tile(np.repeat([2, 5], n), 2))
    np.testing.assert_array_equal(ds.y, np.tile(y, 4))
    np.testing.assert_array_equal(ds.x[3 * n:], C.corrupt(images, "gaussian_noise", 5, seed=3))


def test_cifar100_c_conversion_picks_severity_blocks(tmp_path):
    folder = tmp_path / "CIFAR-100-C"
    folder.mkdir()
    block = 4
    labels = np.tile(np.arange(block), 5).astype(np.uint8)
    images = np.repeat(np.arange(5 * block, dtype=np.uint8), 32 * 32 * 3).reshape(5 * block, 32, 32, 3)
    np.save(folder / "labels.npy", labels)
    np.save(folder / "fog.npy", images)
    assert cifar100_c_dir(tmp_path, download=False) == folder
    convert_cifar100_c(folder, ["fog"], [2, 4], tmp_path / "out", limit=3)
    ds = CorruptedSet(tmp_path / "out")
    np.testing.assert_array_equal(ds.x[:, 0, 0, 0], [4, 5, 6, 12, 13, 14])
    np.testing.assert_array_equal(ds.y, [0, 1, 2, 0, 1, 2])
    np.testing.assert_array_equal(ds.severity, [2, 2, 2, 4, 4, 4])


def test_missing_cifar100_c_offline_says_how_to_get_it(tmp_path, monkeypatch):
    with pytest.raises(MissingResourceError, match="zenodo.org.*generated"):
        cifar100_c_dir(tmp_path, download=False)
    import torchvision.datasets.utils as tv_utils

    def no_network(url, root, filename=None, md5=None):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(tv_utils, "download_url", no_network)
    with pytest.raises(MissingResourceError, match="could not be downloaded.*unreachable"):
        cifar100_c_dir(tmp_path, download=True)


def _batch(n=6, size=32) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8))


def test_eval_transform_has_no_augmentation():
    preprocess = Preprocess(size=None, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
    train, evaluate = train_and_eval_transforms(preprocess, TrainAugment())
    batch = _batch()
    torch.testing.assert_close(evaluate(batch), preprocess(batch))
    torch.testing.assert_close(evaluate(batch), evaluate(batch))
    first, second = train(batch), train(batch)
    assert first.shape == evaluate(batch).shape
    assert not torch.allclose(first, evaluate(batch)) and not torch.allclose(first, second)


def test_augment_is_reproducible_from_the_torch_seed():
    x = torch.randn(4, 3, 32, 32)
    torch.manual_seed(3)
    first = TrainAugment()(x)
    torch.manual_seed(3)
    torch.testing.assert_close(TrainAugment()(x), first)


def test_augment_crop_is_an_integer_shift_with_zero_fill():
    torch.manual_seed(1)
    x = torch.randn(8, 3, 32, 32)
    out = TrainAugment(crop_padding=4, max_rotation_deg=0, blur_p=0)(x)
    for img, got in zip(x, out):
        shifts = [(dx, dy) for dx in range(-4, 5) for dy in range(-4, 5)
                  if torch.allclose(got, _shift(img, dx, dy), atol=1e-5)]
        assert len(shifts) == 1
    identity = TrainAugment(crop_padding=0, max_rotation_deg=0, blur_p=0)(x)
    torch.testing.assert_close(identity, x, atol=1e-5, rtol=0)


def _shift(img: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """Output pixel (i, j) takes input (i + dy, j + dx); outside the image is 0."""
    out = torch.zeros_like(img)
    h, w = img.shape[-2:]
    out[:, max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)] = \
        img[:, max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)]
    return out


def test_augment_blur_is_per_image_and_keeps_the_mean():
    torch.manual_seed(2)
    x = torch.randn(16, 3, 32, 32)
    out = TrainAugment(crop_padding=0, max_rotation_deg=0, blur_p=0.5, blur_sigma=(0.8, 1.0))(x)
    changed = ~torch.isclose(out, x, atol=1e-5).flatten(1).all(1)
    assert 0 < changed.sum() < len(x)
    assert out[changed].std() < x[changed].std()
    torch.testing.assert_close(out.mean((1, 2, 3)), x.mean((1, 2, 3)), atol=0.02, rtol=0)


def test_label_smoothing_matches_closed_form():
    logits, y, eps = [2.0, 1.0, 0.1, -1.0], 1, 0.2
    log_z = math.log(sum(math.exp(v) for v in logits))
    log_p = [v - log_z for v in logits]
    expected = -(1 - eps) * log_p[y] - eps / len(logits) * sum(log_p)
    got = classification_loss(eps)(torch.tensor([logits]), torch.tensor([y])).item()
    assert got == pytest.approx(expected, rel=1e-6)
    assert classification_loss(0.0)(torch.tensor([logits]), torch.tensor([y])).item() == pytest.approx(-log_p[y])


def test_smoothed_loss_floor_is_reached_by_the_smoothed_target():
    k, eps, y = 5, 0.1, 2
    target = torch.full((k,), eps / k)
    target[y] += 1 - eps
    at_target = classification_loss(eps)(target.log()[None], torch.tensor([y])).item()
    assert at_target == pytest.approx(smoothed_loss_floor(k, eps), rel=1e-5)
    assert smoothed_loss_floor(k, 0.0) == 0.0
    with pytest.raises(ValueError):
        classification_loss(1.0)


def test_accuracy_grid_and_mean():
    names = ["a", "b"]
    corruption = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    severity = np.array([1, 1, 2, 2, 1, 1, 2, 2])
    y = np.zeros(8, int)
    pred = np.array([0, 0, 0, 1, 1, 1, 0, 1])
    grid = accuracy_grid(pred, y, corruption, severity, names)
    np.testing.assert_allclose(grid.to_numpy(), [[100, 50], [0, 50]])
    assert list(grid.index) == names and list(grid.columns) == [1, 2]
    assert mean_corruption_accuracy(grid) == pytest.approx(50.0)


def test_submission_csv_has_one_valid_row_per_corrupted_image(images, tmp_path):
    generate_corrupted_set(images, np.arange(len(images)), ["pixelate", "contrast"], [1, 3, 5], 0, tmp_path / "c")
    ds = CorruptedSet(tmp_path / "c")
    pred = np.random.default_rng(0).integers(0, 10, len(ds))
    submission_frame(pred, num_classes=10).to_csv(tmp_path / "s.csv", index=False)
    sub = pd.read_csv(tmp_path / "s.csv")
    assert list(sub.columns) == ["id", "label"] and len(sub) == len(ds) == 6 * len(images)
    assert sub["id"].is_unique and sub["label"].between(0, 9).all()
    with pytest.raises(ValueError, match="labels"):
        submission_frame(np.array([0, 10]), num_classes=10)


@pytest.mark.parametrize("size", [32, 64])
def test_ladder_cnns_classify_any_input_size(size):
    x = torch.randn(2, 3, size, size)
    simple, deeper = SimpleCNN(100, input_size=size), DeeperCNN(100, input_size=size)
    assert simple(x).shape == deeper(x).shape == (2, 100)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in simple.modules()) == 2
    assert sum(isinstance(m, torch.nn.Conv2d) for m in deeper.modules()) == 4
    assert any(isinstance(m, torch.nn.LeakyReLU) for m in deeper.modules())
    assert not any(isinstance(m, torch.nn.LeakyReLU) for m in simple.modules())


def test_plots_are_written(images, tmp_path):
    from archlab.plots import ood as plots

    grid = pd.DataFrame([[50.0, 30.0], [40.0, 10.0]], index=["contrast", "pixelate"], columns=[1, 2])
    assert plots.accuracy_heatmaps({"m1": grid, "m2": grid / 2}, tmp_path / "h.png").stat().st_size > 0
    assert plots.accuracy_vs_severity({"m1": grid}, {"m1": 60.0}, tmp_path / "s.png").stat().st_size > 0
    corrupted = np.stack([np.stack([images[0]] * 2)] * 2)
    assert plots.corruption_examples(images[0], corrupted, ["contrast", "pixelate"], [1, 2], tmp_path / "e.png").exists()
