"""Grids of 2-D projections coloured by class, one panel per (row, column)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from archlab.plots.style import save


def scatter_grid(panels: dict[tuple[str, str], np.ndarray], labels: np.ndarray, classes: list[str],
                 path: str | Path, subtitles: dict[tuple[str, str], str] | None = None) -> Path:
    """``panels[(row, col)]`` = N×2 coordinates of the same N points; colour = class."""
    rows = list(dict.fromkeys(r for r, _ in panels))
    cols = list(dict.fromkeys(c for _, c in panels))
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(2.4 * len(cols) + 1.2, 2.4 * len(rows)), squeeze=False)
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for (r, c), xy in panels.items():
        ax = axes[rows.index(r), cols.index(c)]
        ax.scatter(xy[:, 0], xy[:, 1], c=[cmap(i % cmap.N) for i in labels], s=4, linewidths=0)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{r} · {c}" + (f"\n{subtitles[(r, c)]}" if subtitles else ""), fontsize=8)
    handles = [plt.Line2D([], [], marker="o", ls="", color=cmap(i % cmap.N), label=name) for i, name in enumerate(classes)]
    fig.legend(handles=handles, loc="outside right center", frameon=False, fontsize=7)
    return save(fig, path)
