"""Grad-CAM maps of a CNN classifier (via the ``grad-cam`` library), in the same [0, 1] image-size
format as the ViT attention maps so the two can be shown and compared side by side."""
from __future__ import annotations

import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn


def gradcam_maps(model: nn.Module, target_layer: nn.Module, pixels: torch.Tensor,
                 classes: list[int] | None = None) -> np.ndarray:
    """(N, H, W) Grad-CAM of ``classes`` (default: each image's top-1) at ``target_layer``.

    The library scales every map to [0, 1] and resizes it to the input; the model is put in eval
    mode so batch-norm statistics are not updated by the backward pass.
    """
    model.eval()
    targets = None if classes is None else [ClassifierOutputTarget(int(c)) for c in classes]
    with GradCAM(model=model, target_layers=[target_layer]) as cam:
        return cam(input_tensor=pixels, targets=targets).astype(np.float32)


def map_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-image Spearman rank correlation between two stacks of (N, H, W) maps."""
    from scipy.stats import spearmanr

    return np.array([spearmanr(x.ravel(), y.ravel()).statistic for x, y in zip(a, b)])
