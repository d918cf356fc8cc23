"""How well classes separate in a feature space, as numbers (not only as a 2-D picture)."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import silhouette_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def knn_accuracy(features: np.ndarray, labels: np.ndarray, k: int = 5, folds: int = 5, seed: int = 0) -> float:
    """Cross-validated k-NN accuracy on standardised features (higher = more separable)."""
    folds = min(folds, int(np.bincount(labels).min()))
    cv = StratifiedKFold(n_splits=max(folds, 2), shuffle=True, random_state=seed)
    clf = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=k))
    return float(cross_val_score(clf, features, labels, cv=cv).mean())


def silhouette(features: np.ndarray, labels: np.ndarray) -> float:
    """Silhouette of the class partition on standardised features, cosine distance, in [-1, 1]."""
    return float(silhouette_score(StandardScaler().fit_transform(features), labels, metric="cosine"))
