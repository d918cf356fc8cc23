"""Figures of the VAE study: ELBO-term curves, image grids, KL per latent dimension."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from archlab.plots.style import save


def elbo_curves(histories: Mapping[str, Sequence[Mapping]], betas: Mapping[str, tuple[np.ndarray, np.ndarray]],
                path: str | Path) -> Path:
    """Reconstruction and KL per image, train (solid) and validation (dashed), per run; and each
    run's β per optimisation step (``betas[name]`` = (epoch position, β)), where it was trained."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for (name, rows), colour in zip(histories.items(), plt.cm.tab10.colors):
        epochs = [r["epoch"] for r in rows]
        for ax, term in zip(axes[:2], ("recon", "kl")):
            ax.plot(epochs, [r[f"train_{term}"] for r in rows], color=colour, label=name)
            ax.plot(epochs, [r[f"val_{term}"] for r in rows], color=colour, linestyle="--")
        axes[2].plot(*betas[name], color=colour, label=name)
    axes[0].set(title="reconstruction (Σ squared error / image)", xlabel="epoch")
    axes[1].set(title="KL(q(z|x) ‖ p(z)) (nats / image)", xlabel="epoch")
    axes[2].set(title="KL weight β", xlabel="epoch")
    axes[2].set_yscale("symlog", linthresh=1.0)
    axes[0].legend(fontsize=7, title="solid train, dashed val", title_fontsize=7)
    return save(fig, path)


def image_grid(rows: Mapping[str, np.ndarray], path: str | Path, title: str = "") -> Path:
    """One labelled row per entry; each value is n × H × W (or n × 1 × H × W) in [0, 1]."""
    n_cols = max(len(images) for images in rows.values())
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(0.9 * n_cols + 1.2, 0.95 * len(rows) + 0.4),
                             squeeze=False)
    for ax_row, (label, images) in zip(axes, rows.items()):
        for col, ax in enumerate(ax_row):
            ax.set_xticks([]), ax.set_yticks([])
            ax.grid(False)
            ax.spines[:].set_visible(False)
            if col < len(images):
                ax.imshow(np.squeeze(images[col]), cmap="gray", vmin=0, vmax=1)
        ax_row[0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return save(fig, path)


def kl_per_dim(diagnostics: Mapping[str, Mapping], path: str | Path) -> Path:
    """KL per latent dimension for each run; dims counted as active units are drawn dark."""
    fig, axes = plt.subplots(len(diagnostics), 1, figsize=(8, 1.5 * len(diagnostics) + 0.5),
                             sharex=True, squeeze=False)
    for ax, (name, diag) in zip(axes[:, 0], diagnostics.items()):
        kl = np.asarray(diag["kl_per_dim"])
        active = np.asarray(diag["mean_variance_per_dim"]) > diag["threshold"]
        ax.bar(np.arange(len(kl)), kl, color=np.where(active, "tab:blue", "lightgray"))
        ax.set_ylabel("KL (nats)", fontsize=8)
        ax.set_title(f"{name}: {diag['active_units']}/{diag['latent_dim']} active units, "
                     f"KL {diag['kl_total']:.2f}", fontsize=8)
    axes[-1, 0].set_xlabel("latent dimension (dark = active: Var_x E[z|x] > threshold)")
    return save(fig, path)
