"""A small CNN that recognises 28×28 digits, used as the judge of what a GAN generates.

It is trained once per profile on the real training images and cached; the GAN study then uses
its predictions (class coverage, histogram entropy) and its penultimate features (Fréchet
distance). Inputs are images in [-1, 1], the GAN's own output range.
"""
from __future__ import annotations

import torch
from torch import nn


class DigitClassifier(nn.Module):
    def __init__(self, n_classes: int = 10, feature_dim: int = 64):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 14×14
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 7×7
            nn.Flatten(), nn.Linear(32 * 7 * 7, feature_dim), nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations: the space the Fréchet distance is measured in."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))
