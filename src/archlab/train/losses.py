"""Label-smoothed cross-entropy and the floor it puts under the training loss.

Smoothing ε replaces the one-hot target by ``q = (1 − ε)·onehot(y) + ε/K`` (Szegedy et al.;
torch's ``label_smoothing``), so the loss is ``−(1 − ε)·log p_y − (ε/K)·Σ_k log p_k``. Its minimum
is the entropy of ``q``, not 0: a smoothed training loss that flattens above zero has converged,
and the report can say how far above the floor each model stopped.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn


def classification_loss(label_smoothing: float = 0.0) -> nn.Module:
    from torch import nn  # here: the floor below is plain math, and S7's section reads it without torch

    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    return nn.CrossEntropyLoss(label_smoothing=label_smoothing)


def smoothed_loss_floor(num_classes: int, label_smoothing: float) -> float:
    """Entropy of the smoothed target: the lowest loss any logits can reach (0 without smoothing)."""
    eps, k = label_smoothing, num_classes
    on, off = 1 - eps + eps / k, eps / k
    return -(on * math.log(on) + (0.0 if off == 0 else (k - 1) * off * math.log(off)))
