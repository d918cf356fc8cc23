"""Figures of the ViT study: attention / Grad-CAM overlays, head statistics, masking curves."""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from archlab.plots.style import save  # noqa: E402
from archlab.report.page import FIGURE_MAX_HEIGHT_IN, TEXT_WIDTH_IN  # noqa: E402

CELL_IN = (1.9, 2.0)  # width, height of one panel as drawn, before the figure is fitted to the page
LABEL_IN = 1.2  # the labels left of the rows
CHAR_EM = 0.62  # mean width of a DejaVu Sans character, in em: how many characters a title line may hold


def overlay_grid(images: np.ndarray, maps: Mapping[str, np.ndarray], path: str | Path,
                 row_titles: Sequence[str] = (), alpha: float = 0.5) -> None:
    """For each image: the image, then each named (N, H, W) map in [0, 1] over it.

    The images run down the rows when they are no more than the panels, else across the columns (so seven
    images fill the page's width instead of shrinking to its height). Along the short side each row or
    column is labelled once at the left (image titles: name and prediction; or the panel names); along the
    long side the titles head the columns, wrapped to a column's printed width, so no title runs into
    another."""
    n, panels = len(images), ["image", *maps]
    across = n > len(panels)
    shape = (len(panels), n) if across else (n, len(panels))
    size = (LABEL_IN + CELL_IN[0] * shape[1], CELL_IN[1] * shape[0] + 0.3)
    # save() shrinks the figure, not its fonts, into the page; the labels at the left keep their width
    scale = min(1.0, (TEXT_WIDTH_IN - LABEL_IN) / (size[0] - LABEL_IN), FIGURE_MAX_HEIGHT_IN / size[1])
    column_chars = max(6, int(CELL_IN[0] * scale * 72 / (8 * CHAR_EM)))
    label_chars = int(LABEL_IN * 72 / (7 * CHAR_EM))
    fig, axes = plt.subplots(*shape, figsize=size, squeeze=False)
    cell = axes.T if across else axes  # cell[i, j]: image i, panel j
    for i in range(n):
        cell[i, 0].imshow(images[i])
        for ax, stack in zip(cell[i, 1:], maps.values()):
            ax.imshow(images[i])
            ax.imshow(stack[i], cmap="jet", alpha=alpha, vmin=0, vmax=1,
                      extent=(-0.5, images.shape[2] - 0.5, images.shape[1] - 0.5, -0.5))
    titles = [row_titles[i] if i < len(row_titles) else "" for i in range(n)]
    heads, labels = (titles, panels) if across else (panels, titles)
    for ax, text in zip(axes[0], heads):
        ax.set_title(textwrap.fill(text, column_chars), fontsize=8 if not across else 7)
    for ax, text in zip(axes[:, 0], labels):
        ax.set_ylabel(textwrap.fill(text, label_chars), fontsize=7, rotation=0, ha="right", va="center")
    for ax in axes.flat:  # no ticks or frame, but keep the axes so their labels are drawn
        ax.set_xticks([])
        ax.set_yticks([])
        ax.spines[:].set_visible(False)
        ax.grid(False)
    save(fig, path)


def head_statistics(distance: np.ndarray, entropy: np.ndarray, path: str | Path) -> None:
    """Mean attention distance of every head against depth (as in Dosovitskiy et al., Fig. 7) and
    the normalised entropy of each head's CLS attention."""
    layers, heads = distance.shape
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for head in range(heads):
        left.scatter(np.arange(1, layers + 1), distance[:, head], s=14, label=f"head {head}")
    left.set(xlabel="layer", ylabel="mean attention distance (pixels)", title="attention distance per head",
             xticks=range(1, layers + 1))
    left.legend(fontsize=6, ncol=2)
    im = right.imshow(entropy, aspect="auto", cmap="viridis", vmin=0, vmax=1)
    right.set(xlabel="head", ylabel="layer", title="CLS attention entropy / log(#patches)",
              xticks=range(heads), yticks=range(layers), yticklabels=range(1, layers + 1))
    right.grid(False)
    fig.colorbar(im, ax=right)
    save(fig, path)


def masking_curves(summary: pd.DataFrame, path: str | Path, published: Sequence[Mapping] = ()) -> None:
    """Agreement (solid) / accuracy (dashed) and mean confidence vs masked fraction, one colour per
    method × strategy, ± std over seeds; ``published`` points ({label, fraction, metric, value})
    are drawn as black markers on the panel of their metric."""
    fig, (score_ax, conf_ax) = plt.subplots(1, 2, figsize=(11, 3.8))
    groups = summary.groupby(["method", "strategy"], sort=True)
    for ((method, strategy), g), colour in zip(groups, plt.cm.tab10.colors):
        g = g.sort_values("fraction")
        label = f"{strategy} ({method})"
        _band(score_ax, g, "agreement", colour, "-", f"{label} agreement")
        if g["accuracy_mean"].notna().any():
            _band(score_ax, g, "accuracy", colour, "--", f"{label} accuracy")
        _band(conf_ax, g, "confidence", colour, "-", label)
    for marker, point in zip("osD^v", published):
        ax = conf_ax if point["metric"] == "confidence" else score_ax
        ax.scatter([point["fraction"]], [point["value"]], color="black", marker=marker, zorder=5,
                   label=f"published: {point['label']}")
    score_ax.set(xlabel="fraction of patches masked", ylabel="fraction of images", ylim=(0, 1.02),
                 title="agreement with unmasked top-1 (—) / accuracy (--)")
    conf_ax.set(xlabel="fraction of patches masked", ylabel="mean top-1 probability", ylim=(0, 1.02),
                title="confidence")
    for ax in (score_ax, conf_ax):
        ax.legend(fontsize=6)
    save(fig, path)


def _band(ax, g: pd.DataFrame, metric: str, colour, style: str, label: str) -> None:
    mean, std = g[f"{metric}_mean"].to_numpy(), g[f"{metric}_std"].fillna(0).to_numpy()
    ax.plot(g["fraction"], mean, style, color=colour, marker=".", label=label)
    ax.fill_between(g["fraction"], mean - std, mean + std, color=colour, alpha=0.15)

