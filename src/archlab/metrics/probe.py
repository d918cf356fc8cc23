"""Linear probes on frozen features: features in, held-out accuracy out (any study may reuse it).

The regularisation strength is chosen on the validation split and the test split is scored once,
so the reported accuracy is never the one the choice was made on. Features are cached on disk with
a fingerprint of what produced them, so a probe rerun (new C grid, new seed) never re-extracts.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from archlab.io import write_npz

Split = tuple[np.ndarray, np.ndarray]
_FINGERPRINT = "__fingerprint__"


def cached_features(path: str | Path, fingerprint: dict, extract: Callable[[], dict[str, np.ndarray]]
                    ) -> dict[str, np.ndarray]:
    """Arrays from ``path`` if it was written for the same ``fingerprint``; else ``extract()`` them and
    write them there atomically."""
    path = Path(path)
    stamp = json.dumps(fingerprint, sort_keys=True)
    if path.exists():
        with np.load(path, allow_pickle=False) as stored:
            if _FINGERPRINT in stored.files and str(stored[_FINGERPRINT]) == stamp:
                return {k: stored[k] for k in stored.files if k != _FINGERPRINT}
    arrays = extract()
    write_npz(path, **arrays, **{_FINGERPRINT: np.array(stamp)})
    return arrays


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
