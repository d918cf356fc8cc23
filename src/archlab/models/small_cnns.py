"""The two from-scratch rungs of the CIFAR-100 ladder (report D, parts 1 and 2).

``SimpleCNN`` is the course's starter: two 3×3 convolutions with ReLU, each followed by 2×2
max-pooling, then a linear classifier. ``DeeperCNN`` is D's part 2: four convolutions with
LeakyReLU (pooling after the second and the fourth) and a hidden fully-connected layer. Widths
are arguments; the flattened size follows from ``input_size``, so no layer is lazily shaped.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


def _conv(c_in: int, c_out: int, act: nn.Module) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel_size=3, padding=1), act]


class SimpleCNN(nn.Module):
    DEFAULT_CHANNELS = (32, 64)

    def __init__(self, num_classes: int = 100, input_size: int = 32, in_channels: int = 3,
                 channels: Sequence[int] = DEFAULT_CHANNELS):
        super().__init__()
        c1, c2 = channels
        self.features = nn.Sequential(
            *_conv(in_channels, c1, nn.ReLU()), nn.MaxPool2d(2),
            *_conv(c1, c2, nn.ReLU()), nn.MaxPool2d(2),
        )
        self.classifier = nn.Linear(c2 * (input_size // 4) ** 2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class DeeperCNN(nn.Module):
    DEFAULT_CHANNELS = (32, 64, 128, 128)

    def __init__(self, num_classes: int = 100, input_size: int = 32, in_channels: int = 3,
                 channels: Sequence[int] = DEFAULT_CHANNELS, hidden: int = 256,
                 negative_slope: float = 0.01):
        super().__init__()
        c1, c2, c3, c4 = channels

        def act() -> nn.Module:
            return nn.LeakyReLU(negative_slope)

        self.features = nn.Sequential(
            *_conv(in_channels, c1, act()), *_conv(c1, c2, act()), nn.MaxPool2d(2),
            *_conv(c2, c3, act()), *_conv(c3, c4, act()), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(c4 * (input_size // 4) ** 2, hidden), act(), nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))
