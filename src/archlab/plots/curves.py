"""Training curves: the four panels (train/val loss and accuracy vs epoch), one line per setting."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from archlab.plots.style import save

PANELS = (("train_loss", "train loss"), ("val_loss", "validation loss"),
          ("train_acc", "train accuracy (%)"), ("val_acc", "validation accuracy (%)"))


def plot_histories(histories: dict[str, pd.DataFrame], path: str | Path, title: str = "") -> Path:
    """``histories``: label → per-epoch frame with epoch, train/val loss, train/val acc (fractions)."""
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.1), sharex=True)
    colours = plt.cm.tab10.colors
    for i, (label, df) in enumerate(histories.items()):
        for ax, (col, name) in zip(axes, PANELS):
            scale = 100 if col.endswith("acc") else 1
            ax.plot(df["epoch"], df[col] * scale, marker="o", ms=3, color=colours[i % 10], label=label)
            ax.set_title(name)
            ax.set_xlabel("epoch")
    axes[-1].legend(loc="best", frameon=False)
    if title:
        fig.suptitle(title)
    return save(fig, path)
