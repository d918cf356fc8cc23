"""The canonical prepared format every study reads.

``<dir>/{train,val,test}_x.npy`` (uint8 N×H×W×C), ``{train,val,test}_y.npy`` (int64) and
``meta.json`` (kind, source, classes, sizes, sha256 of every array, the indices of the original
training set that became train and val). Validation is carved from train — never from test — and
the two are disjoint by construction.

Readers only: the code that converts and writes a dataset is :mod:`archlab.data.prepare` (and
:mod:`archlab.data.sources`), which this module does not import, so editing it changes the code version
of ``data_prepare`` alone, not of every job that reads a prepared dataset (the downloaders,
:mod:`archlab.data.download`, are in no code version).
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from archlab.data.kinds import profile_of, snakemake_command
from archlab.errors import CorruptResourceError, MissingResourceError, ParamsError
from archlab.io import file_sha256, read_json

SPLITS = ("train", "val", "test")


def carve_validation(n_train: int, val_size: int, seed: int, cap: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One seeded permutation split into disjoint (train, val) index arrays; ``cap`` keeps at most that
    many of the training indices (``train_size_cap``: never an error)."""
    if val_size >= n_train:
        raise ParamsError(f"val_size {val_size} must be smaller than the {n_train} training images; "
                          f"lower data.<name>.val_size (or val_fraction), or raise data.<name>.train_size")
    order = np.random.default_rng(seed).permutation(n_train)
    val, train = order[:val_size], order[val_size:]
    return np.sort(train[:cap]), np.sort(val)


class PreparedDataset:
    """Read access to a prepared dataset; arrays are memory-mapped and checksum-verified once."""

    def __init__(self, directory: str | Path, verify: bool = True):
        """``directory`` is the dataset's folder or its ``meta.json`` (the file a plan names as input)."""
        self.dir = Path(directory)
        if self.dir.name == "meta.json":
            self.dir = self.dir.parent
        meta_path = self.dir / "meta.json"
        if not meta_path.exists():
            raise MissingResourceError(
                f"prepared dataset {self.dir} is missing (no meta.json); run the data_prepare rule "
                f"(`{snakemake_command(meta_path)}` or `python -m archlab run data_prepare name={self.dir.name} "
                f"--profile {profile_of(meta_path)}`)")
        try:
            self.meta = read_json(meta_path)
        except ValueError as exc:
            raise CorruptResourceError(f"{meta_path} is not valid JSON ({exc}); delete {self.dir} and rerun the data_prepare job") from exc
        self._verify = verify

    @property
    def classes(self) -> list[str]:
        return self.meta["classes"]

    def describe(self, detail: str = "") -> str:
        """``name (source, train/val/test sizes, detail)`` — how every report setting names its data."""
        sizes = self.meta["sizes"]
        extra = f", {detail}" if detail else ""
        return (f"{self.meta['name']} ({self.meta['source']}, {sizes['train']}/{sizes['val']}/{sizes['test']} "
                f"train/val/test{extra})")

    @cached_property
    def _verified(self) -> bool:
        if self._verify:
            for fname, digest in self.meta["sha256"].items():
                path = self.dir / fname
                if not path.exists() or file_sha256(path) != digest:
                    raise CorruptResourceError(
                        f"{path} is missing or does not match its checksum; delete {self.dir} and rerun the data_prepare job")
        return True

    def split(self, name: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of a split; ``limit`` takes the first n (sources store classes interleaved)."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; choose from {SPLITS}")
        assert self._verified
        try:
            x = np.load(self.dir / f"{name}_x.npy", mmap_mode="r")
            y = np.load(self.dir / f"{name}_y.npy")
        except (ValueError, OSError) as exc:
            raise CorruptResourceError(f"{self.dir}/{name}_*.npy cannot be read ({exc}); rerun the data_prepare job") from exc
        if limit is not None:
            if limit > len(y):
                raise ParamsError(f"a subset of {limit} {name} images was asked for but {self.dir} has only "
                                  f"{len(y)}; lower the study's subset size or enlarge the dataset under data:")
            x, y = x[:limit], y[:limit]
        return x, y


