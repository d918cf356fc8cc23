"""How well classes separate in a feature space, as numbers (not only as a 2-D picture)."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import silhouette_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def knn_correct(features: np.ndarray, labels: np.ndarray, k: int = 5, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Whether each image's cross-validated k-NN prediction (standardised features) is right: its mean is the
    k-NN accuracy (higher = more separable), and per image it lets two layers be compared image by image."""
    folds = min(folds, int(np.bincount(labels).min()))
    cv = StratifiedKFold(n_splits=max(folds, 2), shuffle=True, random_state=seed)
    clf = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=k))
    return cross_val_predict(clf, features, labels, cv=cv) == np.asarray(labels)


def silhouette(features: np.ndarray, labels: np.ndarray) -> float:
    """Silhouette of the class partition on standardised features, cosine distance, in [-1, 1]."""
    return float(silhouette_score(StandardScaler().fit_transform(features), labels, metric="cosine"))
