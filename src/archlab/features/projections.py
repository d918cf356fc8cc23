"""2-D projections (t-SNE, UMAP) of one or several point clouds, embedded *jointly*.

Projecting two clouds separately gives each its own arbitrary coordinates, so any apparent gap
or overlap between them is meaningless. Stacking them, projecting once, and splitting the result
keeps them in one map; a single array is the ordinary case.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator, Sequence

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
        with numba_cached():
            import numba
            import umap

            # numba's default OpenMP layer fights scikit-learn's OpenMP runtime: every t-SNE run after
            # a UMAP run in the same process became ~20x slower. The plain thread pool avoids that.
            numba.config.THREADING_LAYER = "workqueue"

            return umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), random_state=seed,
                             n_jobs=1).fit_transform(x)
    raise ValueError(f"unknown projection method {method!r}; choose from {METHODS}")


def numba_cache_dir() -> Path:
    """Where compiled numba code is kept between processes: ``$NUMBA_CACHE_DIR`` if set, else
    ``$XDG_CACHE_HOME/archlab/numba`` (``~/.cache/archlab/numba``)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "archlab" / "numba"


@contextlib.contextmanager
def numba_cached() -> Iterator[None]:
    """Import and run UMAP with its numba code cached on disk, so only the first process compiles.

    Compiling UMAP's jitted functions took about half of a short projection job (45 % of
    ``resnet hierarchy``, 59 % of ``clip projections``), in every process anew: pynndescent marks its
    functions ``cache=True`` but UMAP does not. Inside this block ``numba.njit`` defaults to
    ``cache=True`` (UMAP also jits at call time, hence the block covers the fit too), and
    NUMBA_CACHE_DIR (set before numba is first imported; also inherited by child processes) points
    at :func:`numba_cache_dir`, a user-writable place even when the environment is read-only.
    Numba keys each cache entry by source, bytecode, signature and CPU, so an edited or upgraded
    UMAP recompiles. One exception stays uncached: ``numba.njit(f, parallel=True)`` called on an
    existing function, because UMAP jits one function both with and without ``parallel`` that way
    and numba's cache key (source and signature, not the options) does not tell the two apart.
    """
    cache = numba_cache_dir()
    os.environ.setdefault("NUMBA_CACHE_DIR", str(cache))
    import numba

    if not numba.config.CACHE_DIR:  # numba was imported before the variable was set
        numba.config.CACHE_DIR = str(cache)
    real_njit = numba.njit

    def njit(*args, **options):
        if not (args and callable(args[0]) and options.get("parallel")):
            options.setdefault("cache", True)
        return real_njit(*args, **options)

    numba.njit = njit
    try:
        yield
    finally:
        numba.njit = real_njit
