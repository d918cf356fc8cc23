"""The MLP generator and discriminator of study S3 (GAN training dynamics on MNIST).

The discriminator returns *logits*; the sigmoid lives in the losses (BCE-with-logits), which is
the same function as "sigmoid output + BCE" but keeps D(G(z)) ≈ 1e-9 from rounding to exactly 0 —
the vanishing-gradient measurement depends on those tiny values being computed, not truncated.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class Generator(nn.Module):
    """z (latent_dim) → hidden ReLU layers → tanh image in [-1, 1], shaped (N, 1, side, side)."""

    def __init__(self, latent_dim: int = 100, hidden: Sequence[int] = (256, 512), image_side: int = 28):
        super().__init__()
        self.latent_dim = latent_dim
        self.image_side = image_side
        widths = [latent_dim, *hidden]
        layers: list[nn.Module] = []
        for w_in, w_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(w_in, w_out), nn.ReLU()]
        layers += [nn.Linear(widths[-1], image_side * image_side), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    @property
    def first_layer(self) -> nn.Linear:
        """The layer farthest from the loss: where vanishing gradients are measured."""
        return self.net[0]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, 1, self.image_side, self.image_side)


class Discriminator(nn.Module):
    """Image → hidden LeakyReLU(0.2) layers (optional dropout after each) → one real/fake logit."""

    def __init__(self, in_dim: int = 784, hidden: Sequence[int] = (256, 256), dropout: float = 0.0):
        super().__init__()
        widths = [in_dim, *hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        for w_in, w_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(w_in, w_out), nn.LeakyReLU(0.2)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(widths[-1], 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def init_normal_(module: nn.Module, std: float = 0.02) -> nn.Module:
    """DCGAN-style init, N(0, std) weights and zero biases, for every linear layer."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, std)
            nn.init.zeros_(m.bias)
    return module
