"""Figures of study S6: first-layer kernels, Mixer token-mixing units, gradient flow.

The per-sweep learning curves use the shared :func:`archlab.plots.curves.plot_histories`.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator, NullFormatter

from archlab.plots.style import save

def _tile(images: np.ndarray, cols: int, pad_value: float) -> np.ndarray:
    """(n, h, w[, c]) -> one mosaic with a 1-pixel ``pad_value`` gap between tiles."""
    n, h, w = images.shape[:3]
    rows = math.ceil(n / cols)
    mosaic = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1, *images.shape[3:]), pad_value, dtype=float)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        mosaic[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = img
    return mosaic


def kernel_mosaic(weight: np.ndarray, zoom: int = 1) -> np.ndarray:
    """(out, 3, kh, kw) conv kernels -> RGB mosaic in [0, 1], each kernel min-max scaled on its own.

    Per-kernel scaling (as M did) shows each filter's colour/orientation pattern, not its magnitude.
    ``zoom`` repeats each weight into zoom x zoom pixels so the 1-pixel gaps stay thin.
    """
    w = np.asarray(weight, dtype=float).transpose(0, 2, 3, 1)  # -> out, kh, kw, rgb
    lo = w.min(axis=(1, 2, 3), keepdims=True)
    span = w.max(axis=(1, 2, 3), keepdims=True) - lo
    scaled = ((w - lo) / np.where(span > 0, span, 1.0)).repeat(zoom, axis=1).repeat(zoom, axis=2)
    return _tile(scaled, cols=math.ceil(math.sqrt(len(w))), pad_value=1.0)


def plot_kernel_grids(kernels: Mapping[str, np.ndarray], path, title: str) -> Path:
    """One panel per setting, each the grid of first-layer kernels (8x8 for 64 filters)."""
    fig, axes = plt.subplots(1, len(kernels), figsize=(3.2 * len(kernels), 3.6), squeeze=False)
    for ax, (label, weight) in zip(axes[0], kernels.items()):
        ax.imshow(kernel_mosaic(weight, zoom=4), interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    fig.suptitle(title)
    return save(fig, path)


def spatial_frequency(units: np.ndarray) -> np.ndarray:
    """Amplitude-weighted mean radial frequency of each (g, g) unit: low = smooth, high = fine detail."""
    spectrum = np.abs(np.fft.fft2(units - units.mean(axis=(1, 2), keepdims=True)))
    fy, fx = np.meshgrid(np.fft.fftfreq(units.shape[1]), np.fft.fftfreq(units.shape[2]), indexing="ij")
    radius = np.hypot(fy, fx)
    return (spectrum * radius).sum(axis=(1, 2)) / np.maximum(spectrum.sum(axis=(1, 2)), 1e-12)


def token_mixing_order(weight: np.ndarray) -> list[int]:
    """Order hidden units as in the MLP-Mixer paper's Fig. 5: opposite-phase pairs, low frequency first.

    Units are paired greedily by most negative cosine similarity; pairs are sorted by their mean
    spatial frequency; an odd unit out goes last.
    """
    w = np.asarray(weight, dtype=float)
    g = math.isqrt(w.shape[1])
    unit = w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-12)
    sim = unit @ unit.T
    np.fill_diagonal(sim, np.inf)
    remaining, pairs = set(range(len(w))), []
    while len(remaining) > 1:
        idx = np.array(sorted(remaining))
        sub = sim[np.ix_(idx, idx)]
        i, j = np.unravel_index(np.argmin(sub), sub.shape)
        pairs.append((int(idx[i]), int(idx[j])))
        remaining -= {int(idx[i]), int(idx[j])}
    freq = spatial_frequency(w.reshape(len(w), g, g))
    pairs.sort(key=lambda p: freq[list(p)].mean())
    return [u for p in pairs for u in p] + sorted(remaining)


def plot_token_mixing(weights: Mapping[str, np.ndarray], path, title: str, cols: int = 16) -> Path:
    """Each hidden unit of block 1's first token-mixing layer as a (grid x grid) image over patches.

    ``bwr`` colour map, each unit scaled by its own max |w| so white is exactly zero.
    """
    mosaics = {}
    for label, weight in weights.items():
        w = np.asarray(weight, dtype=float)[token_mixing_order(weight)]
        g = math.isqrt(w.shape[1])
        w = w / np.maximum(np.abs(w).max(axis=1, keepdims=True), 1e-12)
        mosaics[label] = (len(w), g, _tile(w.reshape(len(w), g, g), cols=min(cols, len(w)), pad_value=np.nan))
    heights = [m.shape[0] / m.shape[1] for _, _, m in mosaics.values()]
    fig, axes = plt.subplots(len(weights), 1, figsize=(10, 10 * sum(heights) + 0.5 * len(weights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, (label, (n, g, mosaic)) in zip(axes[:, 0], mosaics.items()):
        ax.imshow(mosaic, cmap="bwr", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(f"{label}: {n} units over {g}x{g} patches", fontsize=9)
        ax.axis("off")
    fig.suptitle(title)
    return save(fig, path)


def plot_gradflow(names: Sequence[str], epoch_mean: np.ndarray, pooled_mean: np.ndarray, pooled_std: np.ndarray,
                  path, title: str) -> Path:
    """Heatmap of log10 weight-gradient norm (layer x epoch), with mean ± std over training beside it."""
    layers = [n.removesuffix(".weight") for n in names]
    fig, (ax_map, ax_bar) = plt.subplots(1, 2, figsize=(11, max(3.2, 1.0 + 0.3 * len(layers))), sharey=True,
                                         gridspec_kw={"width_ratios": [3, 2]})
    image = ax_map.imshow(np.log10(np.maximum(epoch_mean, 1e-12)), aspect="auto", cmap="viridis",
                          extent=(0.5, epoch_mean.shape[1] + 0.5, len(layers) - 0.5, -0.5))
    ax_map.set_yticks(range(len(layers)), layers, fontsize=7)
    ax_map.set_xlabel("epoch")
    ax_map.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_map.grid(False)
    fig.colorbar(image, ax=ax_map, label="log10 ||grad W||  (mean over steps)")
    ax_bar.barh(range(len(layers)), pooled_mean, xerr=pooled_std, color="tab:blue", alpha=0.7,
                error_kw={"elinewidth": 0.8})
    ax_bar.set_xscale("log")
    ax_bar.xaxis.set_minor_formatter(NullFormatter())
    ax_bar.set_xlabel("||grad W|| over all steps (mean ± std)")
    ax_bar.grid(axis="x", alpha=0.3)
    fig.suptitle(title)
    return save(fig, path)
