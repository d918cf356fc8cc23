"""Figures of the OOD study: accuracy heatmaps, accuracy against severity, corruption examples."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from archlab.plots.style import save


def accuracy_heatmaps(grids: Mapping[str, pd.DataFrame], path: str | Path) -> Path:
    """One corruption × severity panel per model, all on one colour scale, each cell annotated."""
    top = max(float(np.nanmax(g.to_numpy())) for g in grids.values())
    n_rows = len(next(iter(grids.values())))
    fig, axes = plt.subplots(1, len(grids), figsize=(2.2 + 2.0 * len(grids), 0.9 + 0.3 * n_rows),
                             sharey=True, squeeze=False)
    for ax, (model, grid) in zip(axes[0], grids.items()):
        image = ax.imshow(grid.to_numpy(), vmin=0, vmax=top, cmap="viridis", aspect="auto")
        for (r, c), value in np.ndenumerate(grid.to_numpy()):
            ax.text(c, r, f"{value:.0f}", ha="center", va="center", fontsize=7,
                    color="white" if value < 0.6 * top else "black")
        ax.set_xticks(range(grid.shape[1]), [str(s) for s in grid.columns])
        ax.set_yticks(range(n_rows), [name.replace("_", " ") for name in grid.index])
        ax.set_xlabel("severity")
        ax.set_title(model)
        ax.grid(False)
    fig.colorbar(image, ax=axes[0].tolist(), label="accuracy (%)", shrink=0.8)
    return save(fig, path)


def accuracy_vs_severity(grids: Mapping[str, pd.DataFrame], clean: Mapping[str, float], path: str | Path) -> Path:
    """Mean accuracy over corruptions at each severity; ``clean`` (same images, uncorrupted) at severity 0."""
    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    for model, grid in grids.items():
        severities = [0, *map(int, grid.columns)]
        ax.plot(severities, [clean[model], *grid.mean(axis=0).to_numpy()], marker="o", label=model)
    ax.set_xlabel("severity (0 = the same images, clean)")
    ax.set_ylabel("accuracy (%)")
    ax.legend()
    return save(fig, path)


def corruption_examples(clean: np.ndarray, corrupted: np.ndarray, corruptions: Sequence[str],
                        severities: Sequence[int], path: str | Path) -> Path:
    """One test image: clean, then every severity (columns) of every corruption (rows).

    ``corrupted`` is corruption × severity × H × W × 3 uint8.
    """
    rows, cols = len(corruptions), len(severities) + 1
    fig, axes = plt.subplots(rows, cols, figsize=(0.9 * cols + 1.2, 0.9 * rows), squeeze=False)
    for r, name in enumerate(corruptions):
        for c in range(cols):
            ax = axes[r, c]
            ax.imshow(clean if c == 0 else corrupted[r, c - 1], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title("clean" if c == 0 else f"severity {severities[c - 1]}", fontsize=7)
        axes[r, 0].set_ylabel(name.replace("_", " "), fontsize=7, rotation=0, ha="right", va="center")
    return save(fig, path)
