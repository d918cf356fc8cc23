"""A small CNN that recognises 28×28 digits, used as the judge of what a GAN generates.

It is trained once per profile on the real training images and cached; the GAN study then uses
its predictions (class coverage, histogram entropy) and its penultimate features (Fréchet
distance). Inputs are images in [-1, 1], the GAN's own output range.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from torch import nn

from archlab.data.loaders import Preprocess
from archlab.runtime import seed_everything
from archlab.train.classifier import Arrays, FitConfig, fit


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


def train_digit_classifier(train: Arrays, val: Arrays, n_classes: int, *, epochs: int, batch_size: int,
                           lr: float, seed: int, device: torch.device, out_dir: str | Path) -> tuple[DigitClassifier, pd.DataFrame]:
    """Train (or resume) the judge with the shared classifier loop; returns it in eval mode."""
    seed_everything(seed)
    model = DigitClassifier(n_classes).to(device)
    cfg = FitConfig(epochs=epochs, batch_size=batch_size, seed=seed, train_transform=SIGNED_RANGE,
                    eval_transform=SIGNED_RANGE, desc="digit classifier")
    history = fit(model, train, val, torch.optim.Adam(model.parameters(), lr=lr), cfg, device, out_dir)
    return model.eval(), history
