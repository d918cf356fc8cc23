"""Figures of the CLIP study: joint 2-D maps of image and text embeddings."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from archlab.plots.style import save

MODALITY_STYLE = {"image": dict(color="tab:blue", marker="o"), "text": dict(color="tab:red", marker="^")}


def plot_joint_projections(panels: Sequence[tuple[str, np.ndarray, np.ndarray]], path: str | Path,
                           title: str, ncols: int = 2) -> Path:
    """One scatter per panel ``(title, image_xy, text_xy)``. Both modalities of a panel come from
    one joint projection, so their separation on the map means something. Colour = modality."""
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 3.0 * nrows), squeeze=False)
    for ax, (panel_title, image_xy, text_xy) in zip(axes.flat, panels):
        for name, xy in (("image", image_xy), ("text", text_xy)):
            ax.scatter(xy[:, 0], xy[:, 1], s=10, alpha=0.7, linewidths=0, label=name, **MODALITY_STYLE[name])
        ax.set_title(panel_title)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    axes.flat[0].legend(loc="best")
    fig.suptitle(title)
    return save(fig, path)
