"""Diversity of generated images: the numbers that tell a collapsed generator from a healthy one.

Two classifier-free measures (per-pixel variance across samples and mean pairwise L2 distance,
both on images in [-1, 1], as in source report C) and three that use a digit classifier: which
classes the samples fall into (coverage, histogram entropy) and the Fréchet distance between
generated and real images in the classifier's feature space (an MNIST-scale FID).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


def pixel_variance(images: torch.Tensor) -> float:
    """Variance of each pixel across the samples, averaged over pixels (0 for identical images)."""
    flat = images.reshape(len(images), -1).double()
    return float(flat.var(dim=0, correction=0).mean())


def mean_pairwise_distance(images: torch.Tensor) -> float:
    """Mean Euclidean distance between all distinct pairs of flattened images."""
    flat = images.reshape(len(images), -1).double()
    return float(torch.pdist(flat).mean())


def class_histogram(predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """How many samples the classifier assigns to each class."""
    return np.bincount(np.asarray(predictions), minlength=n_classes)


def class_coverage(histogram: np.ndarray, min_share: float) -> int:
    """Classes receiving at least ``min_share`` of the samples, so a few strays don't count as a mode."""
    histogram = np.asarray(histogram)
    return int((histogram >= min_share * histogram.sum()).sum())


def histogram_entropy(histogram: np.ndarray) -> float:
    """Entropy of the class histogram in bits: log2(n_classes) when uniform, 0 when one class."""
    p = np.asarray(histogram, dtype=float)
    p = p[p > 0] / p.sum()
    return float(-(p * np.log2(p)).sum())


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (the FID formula).

    tr sqrt(Ca Cb) is taken as the sum of square roots of the eigenvalues of the symmetric
    sqrt(Ca) Cb sqrt(Ca), which stays exact when ReLU features make a covariance singular.
    """
    a, b = np.asarray(features_a, dtype=np.float64), np.asarray(features_b, dtype=np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root_a = _psd_sqrt(cov_a)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ cov_b @ root_a), 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * cross)


def _psd_sqrt(cov: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(cov)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


class DiversityProbe:
    """Scores batches of generated images against held-out real ones with a frozen digit classifier.

    The classifier must offer ``features(x)`` (penultimate activations) and ``head(features)``;
    the real images' features are computed once here rather than at every epoch.
    """

    def __init__(self, classifier: nn.Module, real_images: torch.Tensor, n_classes: int,
                 min_share: float, batch_size: int = 1000):
        self.classifier = classifier.eval()
        self.n_classes = n_classes
        self.min_share = min_share
        self.batch_size = batch_size
        self.device = next(classifier.parameters()).device
        self.real_features = self._features(real_images).numpy()

    @torch.no_grad()
    def _features(self, images: torch.Tensor) -> torch.Tensor:
        chunks = [self.classifier.features(images[i:i + self.batch_size].to(self.device)).float().cpu()
                  for i in range(0, len(images), self.batch_size)]
        return torch.cat(chunks)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> dict:
        features = self._features(images)
        predictions = self.classifier.head(features.to(self.device)).argmax(1).cpu().numpy()
        histogram = class_histogram(predictions, self.n_classes)
        images = images.cpu()
        return {
            "pixel_variance": pixel_variance(images),
            "mean_pairwise_distance": mean_pairwise_distance(images),
            "class_coverage": class_coverage(histogram, self.min_share),
            "class_entropy_bits": histogram_entropy(histogram),
            "frechet_distance": frechet_distance(features.numpy(), self.real_features),
            "class_histogram": histogram.tolist(),
        }
