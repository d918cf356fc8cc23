"""CIFAR-C-style image corruptions, generated deterministically from a seed.

When CIFAR-100-C itself is not available, the OOD study builds the same kind of test set from the
clean test images. The functions follow Hendrycks & Dietterich's CIFAR recipe
(``make_cifar_c.py``, same per-severity constants, same order corruption → severity → image),
re-written batched on numpy/scipy/PIL so they need no ImageMagick or OpenCV:

- motion blur reproduces ImageMagick's one-sided Gaussian line kernel (radius, sigma, random
  angle in ±45°) by shift-and-add;
- defocus blur uses the same anti-aliased disk kernel (OpenCV's 3×3 Gaussian done with scipy);
- results are rounded to uint8 (the original truncated, a −0.5 grey-level bias).

Every corruption takes and returns uint8 ``N×H×W×3`` arrays; randomness comes only from the
generator passed in, which :func:`corrupt` derives from ``(seed, corruption)``: the severities of
one corruption share their random draws (noise pattern, blur angle), so severity changes only
the strength, never the pattern.
"""
from __future__ import annotations

import io
import zlib
from typing import Callable

import numpy as np
from PIL import Image
import torch
import torch.nn.functional as F
from scipy import ndimage

SEVERITIES = (1, 2, 3, 4, 5)

# CIFAR constants of make_cifar_c.py, one entry per severity 1..5.
_GAUSSIAN_NOISE = (0.04, 0.06, 0.08, 0.09, 0.10)
_SHOT_NOISE = (500, 250, 100, 75, 50)
_IMPULSE_NOISE = (0.01, 0.02, 0.03, 0.05, 0.07)
_SPECKLE_NOISE = (0.06, 0.10, 0.12, 0.16, 0.20)
_GAUSSIAN_BLUR = (0.4, 0.6, 0.7, 0.8, 1.0)
_DEFOCUS_BLUR = ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1))
# CIFAR's severity 4 is (8, 2.0): a longer kernel that a σ=2 Gaussian never reaches, i.e. the same
# blur as severity 3. σ=2.25 makes every severity step stronger, as the severity axis promises.
_MOTION_BLUR = ((6, 1.0), (6, 1.5), (6, 2.0), (8, 2.25), (9, 2.5))
_ZOOM_BLUR = tuple(np.arange(1, top, 0.01) for top in (1.06, 1.11, 1.16, 1.21, 1.26))
_CONTRAST = (0.75, 0.5, 0.4, 0.3, 0.15)
_BRIGHTNESS = (0.05, 0.1, 0.15, 0.2, 0.3)
_JPEG_QUALITY = (80, 65, 58, 50, 40)
_PIXELATE = (0.95, 0.9, 0.85, 0.75, 0.65)

Corruption = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


def _unit(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) / 255.0


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def gaussian_noise(x, severity, rng):
    return _to_uint8(_unit(x) + rng.normal(scale=_GAUSSIAN_NOISE[severity - 1], size=x.shape))


def shot_noise(x, severity, rng):
    photons = _SHOT_NOISE[severity - 1]
    return _to_uint8(rng.poisson(_unit(x) * photons) / photons)


def impulse_noise(x, severity, rng):
    """Salt-and-pepper on individual channel values, half salt, half pepper (skimage's s&p)."""
    out = _unit(x)
    hit = rng.random(x.shape) < _IMPULSE_NOISE[severity - 1]
    salt = rng.random(x.shape) < 0.5
    out[hit] = salt[hit]
    return _to_uint8(out)


def speckle_noise(x, severity, rng):
    u = _unit(x)
    return _to_uint8(u + u * rng.normal(scale=_SPECKLE_NOISE[severity - 1], size=x.shape))


def gaussian_blur(x, severity, rng):
    sigma = _GAUSSIAN_BLUR[severity - 1]
    return _to_uint8(ndimage.gaussian_filter(_unit(x), sigma=(0, sigma, sigma, 0), mode="nearest"))


def _disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """Anti-aliased disk of make_cifar_c.py: a hard disk on a 17×17 grid, then a 3×3 Gaussian."""
    grid = np.arange(-8, 9)
    xx, yy = np.meshgrid(grid, grid)
    disk = (xx**2 + yy**2 <= radius**2).astype(np.float64)
    disk /= disk.sum()
    taps = np.exp(-np.array([1.0, 0.0, 1.0]) / (2 * alias_blur**2))
    taps /= taps.sum()
    for axis in (0, 1):
        disk = ndimage.correlate1d(disk, taps, axis=axis, mode="mirror")
    support = np.nonzero(disk.sum(axis=0) > 1e-12)[0]
    half = max(8 - support.min(), support.max() - 8)
    return disk[8 - half: 9 + half, 8 - half: 9 + half]


def defocus_blur(x, severity, rng):
    kernel = _disk_kernel(*_DEFOCUS_BLUR[severity - 1])
    return _to_uint8(ndimage.correlate(_unit(x), kernel[None, :, :, None], mode="mirror"))


def motion_blur(x, severity, rng):
    """ImageMagick's motion blur: pixel = Σ_i w_i · pixel shifted i steps along a random angle."""
    radius, sigma = _MOTION_BLUR[severity - 1]
    n, h, w, _ = x.shape
    steps = np.arange(2 * radius + 1)
    weights = np.exp(-(steps**2) / (2 * sigma**2))
    weights /= weights.sum()
    angle = np.deg2rad(rng.uniform(-45, 45, size=n))[:, None]
    dx = np.ceil(steps * np.cos(angle) - 0.5).astype(int)
    dy = np.ceil(steps * np.sin(angle) - 0.5).astype(int)
    rows, cols = np.arange(h)[None, :, None], np.arange(w)[None, None, :]
    image = np.arange(n)[:, None, None]
    u = _unit(x)
    out = np.zeros_like(u)
    for i, weight in enumerate(weights):
        r = np.clip(rows + dy[:, i, None, None], 0, h - 1)
        c = np.clip(cols + dx[:, i, None, None], 0, w - 1)
        out += weight * u[image, r, c]
    return _to_uint8(out)


def _clipped_zoom(u: np.ndarray, factor: float) -> np.ndarray:
    """Zoom the centre of every image by ``factor`` and crop back to the original size.

    Bilinear with corners aligned is scipy's ``zoom(order=1)``, done in one batched torch call.
    """
    h = u.shape[1]
    crop = int(np.ceil(h / factor))
    top = (h - crop) // 2
    centre = torch.from_numpy(np.ascontiguousarray(u[:, top:top + crop, top:top + crop]))
    size = round(crop * factor)
    zoomed = F.interpolate(centre.permute(0, 3, 1, 2), size=(size, size), mode="bilinear",
                           align_corners=True).permute(0, 2, 3, 1).numpy()
    trim = (size - h) // 2
    return zoomed[:, trim:trim + h, trim:trim + h]


def zoom_blur(x, severity, rng):
    u = _unit(x)
    factors = _ZOOM_BLUR[severity - 1]
    total = u + sum(_clipped_zoom(u, f) for f in factors)
    return _to_uint8(total / (len(factors) + 1))


def contrast(x, severity, rng):
    u = _unit(x)
    mean = u.mean(axis=(1, 2), keepdims=True)
    return _to_uint8((u - mean) * _CONTRAST[severity - 1] + mean)


def brightness(x, severity, rng):
    """Raise HSV value by c. With hue and saturation fixed, RGB scales with value: rgb · v'/v
    (black, v = 0, becomes grey v'), the closed form of skimage's rgb2hsv → hsv2rgb round trip."""
    u = _unit(x)
    value = u.max(axis=-1, keepdims=True)
    raised = np.minimum(value + _BRIGHTNESS[severity - 1], 1.0)
    scaled = u * (raised / np.maximum(value, 1e-12))
    return _to_uint8(np.where(value > 0, scaled, raised))


def _per_image(x: np.ndarray, fn: Callable[[Image.Image], Image.Image]) -> np.ndarray:
    return np.stack([np.asarray(fn(Image.fromarray(img))) for img in x]).astype(np.uint8)


def jpeg_compression(x, severity, rng):
    quality = _JPEG_QUALITY[severity - 1]

    def roundtrip(img: Image.Image) -> Image.Image:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=quality)
        return Image.open(buf).convert("RGB")

    return _per_image(x, roundtrip)


def pixelate(x, severity, rng):
    scale = _PIXELATE[severity - 1]

    def blocky(img: Image.Image) -> Image.Image:
        small = (int(img.width * scale), int(img.height * scale))
        return img.resize(small, Image.Resampling.BOX).resize(img.size, Image.Resampling.BOX)

    return _per_image(x, blocky)


CORRUPTIONS: dict[str, Corruption] = {
    fn.__name__: fn
    for fn in (
        gaussian_noise, shot_noise, impulse_noise, speckle_noise,
        gaussian_blur, defocus_blur, motion_blur, zoom_blur,
        contrast, brightness, jpeg_compression, pixelate,
    )
}


def corruption_rng(seed: int, name: str) -> np.random.Generator:
    """One independent stream per (seed, corruption): adding a corruption changes no other."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def corrupt(images: np.ndarray, name: str, severity: int, seed: int = 0) -> np.ndarray:
    """Apply corruption ``name`` at ``severity`` (1–5) to uint8 N×H×W×3 images, deterministically."""
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; choose from {sorted(CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity}")
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected uint8 N×H×W×3 images, got {images.dtype} {images.shape}")
    return CORRUPTIONS[name](np.asarray(images), severity, corruption_rng(seed, name))
