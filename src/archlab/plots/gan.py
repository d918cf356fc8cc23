"""Figures for the GAN study: each pathology run drawn next to its mitigation run.

Curves come from the per-epoch history tables (one pandas DataFrame per run), sample grids
and class histograms from the arrays the training stage saved.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from archlab.plots.style import save

STYLE = {False: "-", True: "--"}  # pathology solid, mitigation dashed


def pair_curves(histories: Mapping[str, pd.DataFrame], pairs: Sequence[str], metrics: Sequence[str],
                path: str | Path, ylabel: str, log: bool = False) -> None:
    """One panel per scenario (``baseline`` alone, others with ``<name>_mitigated``), one colour per metric."""
    fig, axes = plt.subplots(1, len(pairs), figsize=(3.6 * len(pairs), 3.0), sharey=log, squeeze=False)
    for ax, pair in zip(axes[0], pairs):
        for mitigated in (False, True):
            run = f"{pair}_mitigated" if mitigated else pair
            if run not in histories:
                continue
            h = histories[run]
            for colour, metric in enumerate(metrics):
                y = h[metric].to_numpy(dtype=float)
                if log:  # an exactly-zero gradient (underflow) is drawn at the bottom, not dropped
                    y = np.maximum(y, 1e-12)
                ax.plot(h["epoch"], y, STYLE[mitigated], color=f"C{colour}",
                        label=f"{metric}{' (mitigated)' if mitigated else ''}")
        ax.set_title(pair)
        ax.set_xlabel("epoch")
        if log:
            ax.set_yscale("log")
    axes[0][0].set_ylabel(ylabel)
    axes[0][-1].legend(fontsize=7, loc="best")
    save(fig, path)


def sample_grids(grids: Mapping[str, Mapping[int, np.ndarray]], path: str | Path, per_side: int = 4) -> None:
    """Rows: runs; columns: the epochs at which the fixed noise batch was rendered."""
    runs = list(grids)
    epochs = sorted({e for g in grids.values() for e in g})
    fig, axes = plt.subplots(len(runs), len(epochs), figsize=(1.5 * len(epochs), 1.5 * len(runs)),
                             squeeze=False)
    for r, run in enumerate(runs):
        for c, epoch in enumerate(epochs):
            ax = axes[r][c]
            ax.set_xticks([]), ax.set_yticks([])
            if epoch in grids[run]:
                ax.imshow(tile(grids[run][epoch], per_side), cmap="gray", vmin=0, vmax=255)
            if r == 0:
                ax.set_title(f"epoch {epoch}", fontsize=8)
            if c == 0:
                ax.set_ylabel(run, fontsize=7)
    save(fig, path)


def tile(images: np.ndarray, per_side: int) -> np.ndarray:
    """The first per_side² images (N, H, W) as one square mosaic."""
    n, h, w = per_side * per_side, *images.shape[1:]
    padded = np.zeros((n, h, w), dtype=images.dtype)
    padded[:min(n, len(images))] = images[:n]
    return padded.reshape(per_side, per_side, h, w).transpose(0, 2, 1, 3).reshape(per_side * h, per_side * w)


def class_histograms(histograms: Mapping[str, Sequence[int]], classes: Sequence[str], path: str | Path) -> None:
    """Share of generated samples per predicted class, one small bar chart per run."""
    runs = list(histograms)
    fig, axes = plt.subplots(1, len(runs), figsize=(2.2 * len(runs), 2.4), sharey=True, squeeze=False)
    for ax, run in zip(axes[0], runs):
        counts = np.asarray(histograms[run], dtype=float)
        ax.bar(range(len(counts)), counts / max(counts.sum(), 1))
        ax.set_xticks(range(len(classes)), classes, fontsize=6)
        ax.set_title(run, fontsize=8)
    axes[0][0].set_ylabel("share of samples")
    save(fig, path)
