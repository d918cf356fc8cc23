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


def gaussian_kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, 1)) per image and dimension, in nats: ½(μ² + σ² − 1 − log σ²)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def mean_variances(mu: np.ndarray) -> np.ndarray:
    """Per dimension, the variance over inputs x of E[z|x] = μ(x) (population variance)."""
    return np.asarray(mu, dtype=np.float64).var(axis=0)


def active_units(mu: np.ndarray, threshold: float = 0.01) -> int:
    """Number of dimensions with Var_x(E[z|x]) > threshold (0.01 in Burda et al. and the assignment)."""
    return int((mean_variances(mu) > threshold).sum())


def mutual_information(mu: np.ndarray, logvar: np.ndarray, seed: int = 0) -> float:
    """Estimate I_q(x; z) = E_x E_{q(z|x)}[log q(z|x)] − E_{q(z)}[log q(z)], in nats.

    The aggregate posterior q(z) is the mixture of the N given posteriors (as in He et al., 2019,
    "Lagging inference networks"), with one z drawn per x and both log-densities taken at that same
    z, which keeps the Monte-Carlo noise low: exactly 0 when every x has the same posterior, and
    never above log N, reached when the posteriors do not overlap at all.
    """
    mu_t = torch.as_tensor(np.asarray(mu), dtype=torch.float64)
    logvar_t = torch.as_tensor(np.asarray(logvar), dtype=torch.float64)
    n, d = mu_t.shape
    generator = torch.Generator().manual_seed(seed)
    eps = torch.randn(n, d, generator=generator, dtype=torch.float64)
    z = mu_t + torch.exp(0.5 * logvar_t) * eps
    log_q_z_given_x = _log_normal(z, mu_t, logvar_t).sum(dim=1)
    # log q(z_i) = log mean_j q(z_i | x_j), in row blocks to bound memory at block × N × d.
    log_q_z = torch.cat([
        torch.logsumexp(_log_normal(z[i:i + 256, None, :], mu_t[None], logvar_t[None]).sum(-1), dim=1)
        for i in range(0, n, 256)
    ]) - math.log(n)
    return float((log_q_z_given_x - log_q_z).mean())


def _log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu).pow(2) / logvar.exp())


def diagnose(mu: np.ndarray, logvar: np.ndarray, threshold: float = 0.01, seed: int = 0) -> dict:
    """All collapse diagnostics of one encoder on one set of inputs, ready to write as JSON.

    ``collapsed_fraction`` = 1 − active/latent_dim is the mean-based counterpart of report C's
    "collapse ratio", so the two can sit side by side.
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
        "mutual_information": mutual_information(mu, logvar, seed=seed),
        "threshold": threshold,
    }
