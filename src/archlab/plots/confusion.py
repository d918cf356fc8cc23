"""Confusion-matrix heatmap, row-normalised so classes of any size read the same."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from archlab.plots.style import save


def plot_confusion(cm: np.ndarray, classes: list[str], path: str | Path, title: str = "") -> Path:
    rates = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    n = len(classes)
    fig, ax = plt.subplots(figsize=(1.0 + 0.45 * n, 0.8 + 0.42 * n))
    im = ax.imshow(rates * 100, cmap="Blues", vmin=0, vmax=100)
    ax.set_xticks(range(n), classes, rotation=45, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.grid(False)
    if n <= 20:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{rates[i, j] * 100:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if rates[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, label="% of true class")
    ax.set_title(title)
    return save(fig, path)
