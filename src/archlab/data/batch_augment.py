"""Training-only augmentation of whole device batches: random crop, rotation and blur per image.

It runs after :class:`archlab.data.loaders.Preprocess` (already normalised, already resized), so
the evaluation transform is exactly ``Preprocess`` — the same normalisation for clean and
corrupted test images, and no augmentation on either. Shifts and blur widths are given in
32-pixel units and scaled to the batch's size, so a model fed 224-pixel inputs sees the same
augmentation as one fed CIFAR's 32 pixels.

Crop and rotation are one affine warp per image (one ``grid_sample`` for the batch); blur is one
grouped convolution with a per-image Gaussian. Padding value 0 is the dataset mean after
normalisation, as torchvision's pad-then-crop of a normalised tensor. Random draws come from
torch's global CPU generator, which the training loop seeds and checkpoints, so a resumed run
sees the same augmentations as an uninterrupted one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F


@dataclass
class TrainAugment:
    """Per-image random crop (as ``RandomCrop(32, padding=crop_padding)``), rotation, Gaussian blur."""

    crop_padding: int = 4
    max_rotation_deg: float = 15.0
    blur_p: float = 0.5
    blur_sigma: tuple[float, float] = (0.1, 1.0)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.shape[-1] / 32
        return self._blur(self._crop_and_rotate(x, scale), scale)

    def _uniform(self, n: int, low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n)

    def _crop_and_rotate(self, x: torch.Tensor, scale: float) -> torch.Tensor:
        n, _, h, w = x.shape
        angle = torch.deg2rad(self._uniform(n, -self.max_rotation_deg, self.max_rotation_deg))
        pad = self.crop_padding
        shift_px = torch.randint(-pad, pad + 1, (n, 2)).float() * scale
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.stack([
            torch.stack([cos, -sin, 2 * shift_px[:, 0] / w], dim=1),
            torch.stack([sin, cos, 2 * shift_px[:, 1] / h], dim=1),
        ], dim=1).to(x.device, x.dtype)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def _blur(self, x: torch.Tensor, scale: float) -> torch.Tensor:
        n, c, h, w = x.shape
        sigma = self._uniform(n, *self.blur_sigma) * scale
        blurred = torch.rand(n) < self.blur_p
        radius = max(1, math.ceil(3 * self.blur_sigma[1] * scale))
        taps = torch.arange(-radius, radius + 1, dtype=torch.float32)
        kernel = torch.exp(-taps[None] ** 2 / (2 * sigma[:, None] ** 2))
        kernel = torch.where(blurred[:, None], kernel, (taps == 0).float()[None].expand(n, -1))
        kernel = (kernel / kernel.sum(1, keepdim=True)).to(x.device, x.dtype)
        kernel = kernel.repeat_interleave(c, dim=0)  # one 1-D kernel per (image, channel)
        flat = F.pad(x.reshape(1, n * c, h, w), (radius, radius, radius, radius), mode="reflect")
        flat = F.conv2d(flat, kernel[:, None, :, None], groups=n * c)
        flat = F.conv2d(flat, kernel[:, None, None, :], groups=n * c)
        return flat.reshape(n, c, h, w)


def train_and_eval_transforms(preprocess: Callable[[torch.Tensor], torch.Tensor],
                              augment: TrainAugment | None) -> tuple[Callable, Callable]:
    """``(train, eval)``: eval is ``preprocess`` alone; train adds ``augment`` when one is given."""
    if augment is None:
        return preprocess, preprocess
    return (lambda batch: augment(preprocess(batch))), preprocess
