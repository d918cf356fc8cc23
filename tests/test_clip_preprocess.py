"""S5 batched preprocessing: the uint8 batch resized, cropped and normalised with torch ops (on the model's
device) matches open_clip's own PIL transform to PIL's rounding, and zero-shot predictions do not change.

Tolerance, measured: PIL resamples in two 8-bit passes with fixed-point weights; the batched path copies
the two passes and their 8-bit rounding, leaving at most 2 of 255 levels on a pixel (before normalisation)
and at least 99 % of the pixels identical. (One float pass, as torchvision does on tensors, differs from
PIL by up to 20 levels where bicubic overshoots at a 7x upscale: that is what the two passes fix.)
"""
import archlab  # noqa: F401  (before torchvision, see archlab._torchvision_compat)

import numpy as np
import open_clip
import pytest
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from archlab.models import clip as mc

CPU = torch.device("cpu")
MAX_LEVELS = 2          # of 255, on any pixel
MIN_EQUAL_SHARE = 0.99  # of all pixels, identical to PIL's
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def photos(n: int, height: int, width: int, channels: int | None = 3, seed: int = 0) -> np.ndarray:
    """Blocky images with noise: sharp edges (where bicubic overshoots) and texture, uint8."""
    rng = np.random.default_rng(seed)
    c = channels or 1
    base = rng.integers(0, 256, (n, height // 4 + 1, width // 4 + 1, c)).astype(np.float32)
    x = np.repeat(np.repeat(base, 4, 1), 4, 2)[:, :height, :width]
    x = np.clip(x + rng.normal(0, 20, x.shape), 0, 255).astype(np.uint8)
    return x[..., 0] if channels is None else x


def levels(ours: torch.Tensor, reference: torch.Tensor, std) -> torch.Tensor:
    """Differences in 8-bit levels, undoing the normalisation."""
    return ((ours - reference) * torch.tensor(std).view(1, -1, 1, 1) * 255).abs()


@pytest.mark.parametrize("shape, size", [
    ((24, 24, 3), 224),   # CIFAR-like photos upscaled 9x (the full profile's S5)
    ((40, 56, 3), 32),    # downscale, landscape, centre crop
    ((56, 40, 3), 48),    # portrait
    ((32, 32, 3), 32),    # no resize at all
    ((28, 28, None), 64),  # grey (PIL mode L, made RGB by convert): what MNIST-like data are
])
def test_batched_preprocess_matches_open_clips_pil_transform(shape, size):
    pre = open_clip.image_transform(size, is_train=False)
    bundle = mc.ClipBundle(None, pre, None)
    images = photos(6, *shape)
    reference = mc.pil_preprocess(bundle, images)
    batched = mc.tensor_preprocess(pre)
    assert batched is not None
    ours = batched(torch.from_numpy(images))
    assert ours.shape == reference.shape == (6, 3, size, size) and ours.dtype == torch.float32
    diff = levels(ours, reference, pre.transforms[-1].std)
    assert diff.max() <= MAX_LEVELS + 1e-3
    assert (diff < 0.5).float().mean() >= MIN_EQUAL_SHARE


def test_the_parameters_are_the_transforms_own():
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    pre = open_clip.image_transform(40, is_train=False, mean=mean, std=std, interpolation="bilinear")
    batched = mc.tensor_preprocess(pre)
    assert (batched.size, batched.mode, batched.crop) == (40, "bilinear", (40, 40))
    assert batched.normalise.mean == mean and batched.normalise.std == std
    images = photos(3, 50, 60)
    diff = levels(batched(torch.from_numpy(images)), mc.pil_preprocess(mc.ClipBundle(None, pre, None), images), std)
    assert diff.max() <= MAX_LEVELS + 1e-3


@pytest.mark.parametrize("hw, size, max_size", [((24, 24), 224, None), ((40, 56), 32, None), ((57, 40), 48, None),
                                                 ((30, 90), 20, 50), ((10, 20), (7, 9), None)])
def test_resized_size_is_torchvisions(hw, size, max_size):
    out = TF.resize(torch.zeros(1, *hw), size if isinstance(size, int) else list(size), InterpolationMode.BILINEAR,
                    max_size, antialias=True)
    assert mc.resized_size(*hw, size, max_size) == tuple(out.shape[-2:])


def test_an_unknown_transform_falls_back_to_pil_image_by_image():
    torch.manual_seed(0)
    bundle = mc.build_clip(TINY)
    augmenting = open_clip.image_transform(32, is_train=True)  # random crops: nothing to batch exactly
    assert mc.tensor_preprocess(augmenting) is None
    rgba = photos(4, 32, 32, channels=4)
    expected = bundle.model.encode_image(mc.pil_preprocess(bundle, rgba)).detach().numpy()
    np.testing.assert_allclose(mc.encode_images(bundle, rgba, 3, CPU), expected, atol=1e-5)  # 4 channels: PIL


TINY = {"embed_dim": 16,
        "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 32, "layers": 1, "head_width": 16},
        "text_cfg": {"context_length": 8, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1}}


def test_zero_shot_predictions_agree_with_the_pil_path():
    torch.manual_seed(0)
    bundle = mc.build_clip(TINY)
    images = photos(48, 24, 24, seed=1)
    reference = bundle.model.encode_image(mc.pil_preprocess(bundle, images)).detach().numpy()
    ours = mc.encode_images(bundle, images, 16, CPU)
    scale = np.abs(reference).max()
    assert np.abs(ours - reference).max() <= 0.02 * scale
    classes = mc.encode_texts(bundle, [f"a photo of a {c}." for c in ("disc", "square", "ring", "cross")], CPU)

    def predict(emb):
        emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        return (emb @ (classes / np.linalg.norm(classes, axis=1, keepdims=True)).T).argmax(1)

    assert len(set(predict(reference))) > 1  # not a degenerate one-class model
    np.testing.assert_array_equal(predict(ours), predict(reference))


@cuda
def test_on_cuda_the_batched_path_matches_the_cpu():
    pre = open_clip.image_transform(224, is_train=False)
    images = torch.from_numpy(photos(4, 24, 24))
    batched = mc.tensor_preprocess(pre)
    torch.testing.assert_close(batched(images.cuda()).cpu(), batched(images), atol=1e-4, rtol=0)
