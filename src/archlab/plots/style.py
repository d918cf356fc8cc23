"""One look for every figure, and an atomic save."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from archlab.io import atomic_path

plt.rcParams.update({
    "figure.dpi": 110, "savefig.dpi": 150, "axes.grid": True, "grid.alpha": 0.3,
    "axes.spines.top": False, "axes.spines.right": False, "font.size": 9, "legend.fontsize": 8,
    "axes.titlesize": 10, "figure.constrained_layout.use": True,
})


def save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    plt.close(fig)
    return path
