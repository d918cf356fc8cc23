"""Linear probes on frozen features: features in, held-out accuracy out (any study may reuse it).

The regularisation strength is chosen on the validation split and the test split is scored once,
so the reported accuracy is never the one the choice was made on. Features are extracted by the
caller (S2 extracts them once in their own job, so a new C grid never re-extracts them).
"""
from __future__ import annotations

import numpy as np

Split = tuple[np.ndarray, np.ndarray]


def linear_probe(train: Split, val: Split, test: Split, cs: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0),
                 max_iter: int = 2000) -> dict:
    """Standardised features + multinomial logistic regression; C picked by validation accuracy.

    Returns the chosen C, train/val/test accuracy and the validation accuracy of every C tried.
    """
    from sklearn.linear_model import LogisticRegression  # imported here: the CLI imports every stage
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def fit(c: float):
        return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter)).fit(*train)

    val_by_c = {}
    best = None
    for c in cs:
        probe = fit(float(c))
        val_by_c[float(c)] = float(probe.score(*val))
        if best is None or val_by_c[float(c)] > val_by_c[best[0]]:
            best = (float(c), probe)
    c, probe = best
    return {
        "C": c,
        "train_accuracy": float(probe.score(*train)),
        "val_accuracy": val_by_c[c],
        "test_accuracy": float(probe.score(*test)),
        "val_accuracy_by_C": val_by_c,
        "n_train": len(train[1]), "n_val": len(val[1]), "n_test": len(test[1]),
    }
