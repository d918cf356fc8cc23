"""2-D projections (t-SNE, UMAP) of one or several point clouds, embedded *jointly*.

Projecting two clouds separately gives each its own arbitrary coordinates, so any apparent gap
or overlap between them is meaningless. Stacking them, projecting once, and splitting the result
keeps them in one map; a single array is the ordinary case.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

METHODS = ("tsne", "umap")


def project_2d(arrays: Sequence[np.ndarray] | np.ndarray, method: str, seed: int) -> list[np.ndarray]:
    """Embed the rows of every array in one 2-D map; return one (n_i, 2) array per input."""
    if isinstance(arrays, np.ndarray):
        arrays = [arrays]
    stacked = np.concatenate([np.asarray(a, dtype=np.float32).reshape(len(a), -1) for a in arrays])
    coords = _embed(stacked, method, seed)
    return np.split(coords, np.cumsum([len(a) for a in arrays])[:-1])


def _embed(x: np.ndarray, method: str, seed: int) -> np.ndarray:
    n = len(x)
    if n < 4:
        raise ValueError(f"need at least 4 points for a 2-D projection, got {n}")
    if method == "tsne":
        from sklearn.manifold import TSNE

        # perplexity must stay below n; 30 is sklearn's default for larger sets
        return TSNE(n_components=2, perplexity=min(30.0, (n - 1) / 3), init="pca",
                    random_state=seed).fit_transform(x)
    if method == "umap":
        import numba
        import umap

        # numba's default OpenMP layer fights scikit-learn's OpenMP runtime: every t-SNE run after
        # a UMAP run in the same process became ~20x slower. The plain thread pool avoids that.
        numba.config.THREADING_LAYER = "workqueue"

        return umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), random_state=seed,
                         n_jobs=1).fit_transform(x)
    raise ValueError(f"unknown projection method {method!r}; choose from {METHODS}")
