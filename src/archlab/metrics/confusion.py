"""Confusion matrices and the class pairs a classifier mixes up most."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    return confusion_matrix(y_true, y_pred, labels=np.arange(n_classes))


def most_confused_pairs(cm: np.ndarray, classes: list[str], top: int) -> pd.DataFrame:
    """Unordered class pairs ranked by errors in both directions, as a share of the pair's images."""
    rows = []
    support = cm.sum(1)
    for i in range(len(classes)):
        for j in range(i + 1, len(classes)):
            errors = int(cm[i, j] + cm[j, i])
            if errors:
                rows.append({"class a": classes[i], "class b": classes[j], "a→b": int(cm[i, j]), "b→a": int(cm[j, i]),
                             "errors": errors, "error rate (%)": 100 * errors / max(support[i] + support[j], 1)})
    df = pd.DataFrame(rows, columns=["class a", "class b", "a→b", "b→a", "errors", "error rate (%)"])
    return df.sort_values("errors", ascending=False, kind="stable").head(top).reset_index(drop=True)
