"""Figures of the VAE study: ELBO-term curves, image grids, KL per latent dimension."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

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


def image_grid(rows: Mapping[str, np.ndarray], path: str | Path, title: str = "", pad: int = 2) -> Path:
    """One labelled row per entry; each value is n × C × H × W in [0, 1] (C = 1 or 3). The tiles
    are pasted into one mosaic and drawn with a single imshow: fast, and crisp at any size."""
    tiles = [np.moveaxis(np.asarray(images), 1, -1) for images in rows.values()]  # n × H × W × C
    n_cols = max(len(t) for t in tiles)
    h, w, c = tiles[0].shape[1:]
    canvas = np.ones((len(tiles) * (h + pad) - pad, n_cols * (w + pad) - pad, c))
    for r, row in enumerate(tiles):
        for col, tile in enumerate(row):
            canvas[r * (h + pad):r * (h + pad) + h, col * (w + pad):col * (w + pad) + w] = tile
    fig, ax = plt.subplots(figsize=(0.6 * n_cols + 1.6, 0.6 * len(tiles) + 0.5))
    ax.imshow(canvas.squeeze(-1) if c == 1 else canvas, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks([r * (h + pad) + h / 2 for r in range(len(tiles))], list(rows), fontsize=8)
    ax.set_xticks([])
    ax.grid(False)
    ax.spines[:].set_visible(False)
    if title:
        ax.set_title(title, fontsize=9)
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
    axes[-1, 0].xaxis.set_major_locator(MaxNLocator(integer=True))
    return save(fig, path)
