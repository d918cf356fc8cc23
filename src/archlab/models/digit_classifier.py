"""A small CNN that recognises 28×28 digits, used as the judge of what a GAN generates.

It is trained once per profile on the real training images and cached; the GAN study then uses
its predictions (class coverage, histogram entropy) and its penultimate features (Fréchet
distance). Inputs are images in [-1, 1], the GAN's own output range.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from archlab.data.loaders import Preprocess


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


# uint8 N×H×W×1 → float N×1×H×W in [-1, 1]: the generator's range, so real and fake look alike to it
SIGNED_RANGE = Preprocess(size=None, mean=(0.5,), std=(0.5,), channels=1)


def save_digit_classifier(model: DigitClassifier, path: str | Path) -> None:
    from archlab.io import save_torch

    save_torch(path, {"model": model.state_dict(), "n_classes": model.head.out_features})


def load_digit_classifier(path: str | Path, device: torch.device) -> DigitClassifier:
    """A classifier saved by :func:`save_digit_classifier`, on ``device``, in eval mode."""
    state = torch.load(path, map_location=device)
    model = DigitClassifier(state["n_classes"]).to(device)
    model.load_state_dict(state["model"])
    return model.eval()
