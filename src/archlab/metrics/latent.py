"""Posterior-collapse diagnostics for a diagonal-Gaussian encoder q(z|x) = N(μ(x), diag σ²(x)).

Collapse means q(z|x) no longer depends on x. What shows it is the *mean*: a dimension whose μ(x)
barely moves across inputs carries no information, whatever its σ. A ratio built from σ alone (the
anchor mistake) calls a sharp but input-independent posterior "active" and a broad but informative
one "collapsed". Hence active units (Burda et al., 2016) and an I(x; z) estimate, beside KL per dim.
"""
from __future__ import annotations

import math

import numpy as np
import torch

BLOCK_ENTRIES = 2**24  # entries of the log q(z_i | x_j) table held at once: 128 MB in float64


def gaussian_kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, 1)) per image and dimension, in nats: ½(μ² + σ² − 1 − log σ²)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def mean_variances(mu: np.ndarray) -> np.ndarray:
    """Per dimension, the variance over inputs x of E[z|x] = μ(x) (population variance)."""
    return np.asarray(mu, dtype=np.float64).var(axis=0)


def active_units(mu: np.ndarray, threshold: float = 0.01) -> int:
    """Number of dimensions with Var_x(E[z|x]) > threshold (0.01 in Burda et al. and the assignment)."""
    return int((mean_variances(mu) > threshold).sum())


def mutual_information(mu: np.ndarray, logvar: np.ndarray, seed: int = 0,
                       device: torch.device | str | None = None) -> float:
    """Estimate I_q(x; z) = E_x E_{q(z|x)}[log q(z|x)] − E_{q(z)}[log q(z)], in nats.

    The aggregate posterior q(z) is the mixture of the N given posteriors (as in He et al., 2019,
    "Lagging inference networks"), with one z drawn per x and both log-densities taken at that same
    z, which keeps the Monte-Carlo noise low: exactly 0 when every x has the same posterior, and
    never above log N, reached when the posteriors do not overlap at all.

    Matrix form: with precisions P = exp(−logvar), every log q(z_i | x_j) is one entry of
    ``[z, z²] @ [μ·P, −½P]ᵀ + c_j``, c_j = −½ Σ_k (logvar_jk + μ_jk² P_jk + log 2π), so the N × N table
    is a single (N × 2d)·(2d × N) matmul per row block instead of an N × N × d broadcast. It stays in
    float64: the expanded square cancels terms of size μ²P, which float32 would leave at ~1e-3 nats.
    It runs on ``device`` (default CPU); the noise is drawn on the CPU either way, so the value does
    not depend on the device beyond rounding.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    mu_t = torch.as_tensor(np.asarray(mu), dtype=torch.float64)
    logvar_t = torch.as_tensor(np.asarray(logvar), dtype=torch.float64)
    n, d = mu_t.shape
    generator = torch.Generator().manual_seed(seed)
    eps = torch.randn(n, d, generator=generator, dtype=torch.float64)
    mu_t, logvar_t, eps = (t.to(device) for t in (mu_t, logvar_t, eps))
    z = mu_t + torch.exp(0.5 * logvar_t) * eps
    log_q_z_given_x = _log_normal(z, mu_t, logvar_t).sum(dim=1)
    precision = torch.exp(-logvar_t)
    left = torch.cat([z, z * z], dim=1)                                # N × 2d
    right = torch.cat([mu_t * precision, -0.5 * precision], dim=1).T  # 2d × N
    const = -0.5 * (logvar_t + mu_t * mu_t * precision + math.log(2 * math.pi)).sum(dim=1)
    # log q(z_i) = log mean_j q(z_i | x_j), in row blocks of ≤ BLOCK_ENTRIES entries each.
    block = max(1, min(n, BLOCK_ENTRIES // max(n, 1)))
    log_q_z = torch.cat([torch.logsumexp(torch.addmm(const, left[i:i + block], right), dim=1)
                         for i in range(0, n, block)]) - math.log(n)
    return float((log_q_z_given_x - log_q_z).mean())


def _log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu).pow(2) / logvar.exp())


def diagnose(mu: np.ndarray, logvar: np.ndarray, threshold: float = 0.01, seed: int = 0,
             device: torch.device | str | None = None) -> dict:
    """All collapse diagnostics of one encoder on one set of inputs, ready to write as JSON.

    ``collapsed_fraction`` = 1 − active/latent_dim is the mean-based counterpart of report C's
    "collapse ratio", so the two can sit side by side. ``device`` is where I(x; z) is computed.
    """
    kl = gaussian_kl_per_dim(torch.as_tensor(mu), torch.as_tensor(logvar)).mean(dim=0).numpy()
    active = active_units(mu, threshold)
    return {
        "latent_dim": int(mu.shape[1]),
        "active_units": active,
        "collapsed_fraction": 1.0 - active / mu.shape[1],
        "kl_per_dim": kl.astype(float).tolist(),
        "kl_total": float(kl.sum()),
        "mean_variance_per_dim": mean_variances(mu).tolist(),
        "mutual_information": mutual_information(mu, logvar, seed=seed, device=device),
        "threshold": threshold,
    }
