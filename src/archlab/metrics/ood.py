"""Accuracy under corruption: per (corruption, severity), its mean, and the submission table."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


def accuracy_grid(pred: np.ndarray, y: np.ndarray, corruption: np.ndarray, severity: np.ndarray,
                  corruptions: Sequence[str]) -> pd.DataFrame:
    """Accuracy (%) with one row per corruption name and one column per severity."""
    frame = pd.DataFrame({
        "corruption": np.asarray(corruptions)[corruption],
        "severity": severity.astype(int),
        "correct": np.asarray(pred) == np.asarray(y),
    })
    grid = frame.pivot_table(index="corruption", columns="severity", values="correct", aggfunc="mean") * 100
    return grid.reindex(list(corruptions))


def mean_corruption_accuracy(grid: pd.DataFrame) -> float:
    """Mean over every (corruption, severity) cell: each cell weighs the same, as in CIFAR-C."""
    return float(np.nanmean(grid.to_numpy()))


def submission_frame(pred: np.ndarray, num_classes: int) -> pd.DataFrame:
    """``id,label`` with one row per corrupted image, ``id`` the row of the corrupted set."""
    pred = np.asarray(pred, dtype=np.int64)
    if pred.size and (pred.min() < 0 or pred.max() >= num_classes):
        raise ValueError(f"predicted labels must lie in [0, {num_classes}); got {pred.min()}..{pred.max()}")
    return pd.DataFrame({"id": np.arange(len(pred)), "label": pred})
