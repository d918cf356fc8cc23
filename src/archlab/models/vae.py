"""The assignment's convolutional VAE and the priors its generations are drawn from.

Encoder: conv 32 → conv 64 (stride 2 each, 28 → 14 → 7) → fc 256 → (μ, log σ²); decoder mirrors it
and ends in a sigmoid, so pixels live in [0, 1] like the data. Widths and latent size are arguments
so the demo can shrink the net and the full profile can run latent 20 and 64.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import Distribution, Laplace, Normal


class ConvVAE(nn.Module):
    def __init__(self, latent_dim: int = 20, channels: tuple[int, int] = (32, 64), hidden: int = 256,
                 image_size: int = 28, in_channels: int = 1):
        super().__init__()
        if image_size % 4:
            raise ValueError(f"image_size must be divisible by 4 (two stride-2 convs), got {image_size}")
        c1, c2 = channels
        side = image_size // 4
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, c1, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(c2 * side * side, hidden), nn.ReLU(),
        )
        self.to_mu = nn.Linear(hidden, latent_dim)
        self.to_logvar = nn.Linear(hidden, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, c2 * side * side), nn.ReLU(),
            nn.Unflatten(1, (c2, side, side)),
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(c1, in_channels, 4, stride=2, padding=1), nn.Sigmoid(),
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Parameters of q(z|x): mean and log-variance, each N × latent_dim."""
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """Reconstruction from one reparameterised sample z = μ + σ·ε, plus (μ, log σ²)."""
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps
        return self.decode(z), mu, logvar


def make_prior(name: str) -> Distribution:
    """A zero-mean, unit-variance scalar distribution, applied independently to every latent dim.

    Matching the variance to N(0, 1) (Laplace scale b = 1/√2, since Var = 2b²) makes the comparison
    about the *shape* of the prior, not about a scale the decoder never saw.
    """
    priors = {
        "normal": lambda: Normal(0.0, 1.0),
        "laplace": lambda: Laplace(0.0, 1.0 / math.sqrt(2.0)),
    }
    if name not in priors:
        raise ValueError(f"unknown prior {name!r}; choose one of {sorted(priors)}")
    return priors[name]()


def sample_prior(prior: Distribution, n: int, latent_dim: int, generator: torch.Generator) -> torch.Tensor:
    """n × latent_dim draws by inverse CDF of seeded uniforms, so every prior is reproducible."""
    u = torch.rand(n, latent_dim, generator=generator).clamp(1e-6, 1 - 1e-6)
    return prior.icdf(u)


@torch.no_grad()
def interpolate(model: ConvVAE, x_a: torch.Tensor, x_b: torch.Tensor, steps: int) -> torch.Tensor:
    """Decodings along the straight line between the posterior means of x_a[i] and x_b[i]:
    pairs × steps × C × H × W, endpoints included."""
    model.eval()
    mu_a, _ = model.encode(x_a)
    mu_b, _ = model.encode(x_b)
    t = torch.linspace(0, 1, steps, device=mu_a.device)[None, :, None]
    z = (1 - t) * mu_a[:, None] + t * mu_b[:, None]
    return model.decode(z.flatten(0, 1)).unflatten(0, (len(x_a), steps))
