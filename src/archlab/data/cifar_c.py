"""Corrupted test sets: the real CIFAR-100-C, or one generated from the clean test set.

Both are stored in one layout, so evaluation never knows which it reads. ``<dir>/``:
``x.npy`` (uint8 M×H×W×3), ``y.npy`` (int64), ``corruption.npy`` (int16, index into
``meta["corruptions"]``), ``severity.npy`` (int8, 1–5) and ``meta.json``, written last. Rows are in
CIFAR-C's order — corruption, then severity, then test image — and row ``i`` is submission id ``i``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from archlab.data.corruptions import corrupt
from archlab.errors import CorruptResourceError, MissingResourceError
from archlab.io import atomic_path, read_json, write_json

CIFAR100_C_URL = "https://zenodo.org/records/3555552/files/CIFAR-100-C.tar"
CIFAR100_C_MD5 = "11f0ed0f1191edbf9fa23466ae6021d3"
CIFAR100_C_CORRUPTIONS = (
    "gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur", "gaussian_blur",
    "snow", "frost", "fog", "spatter", "brightness", "contrast", "saturate",
    "elastic_transform", "pixelate", "jpeg_compression",
)

Block = tuple[int, int, np.ndarray, np.ndarray]  # corruption index, severity, images, labels


def _write(out_dir: Path, blocks: Iterator[Block], n_rows: int, image_shape: Sequence[int], meta: dict) -> dict:
    """Stream blocks into memory-mapped arrays; meta.json goes last, so its presence means complete."""
    out_dir.mkdir(parents=True, exist_ok=True)
    y = np.empty(n_rows, np.int64)
    corruption = np.empty(n_rows, np.int16)
    severity = np.empty(n_rows, np.int8)
    with atomic_path(out_dir / "x.npy") as tmp:
        x = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n_rows, *image_shape))
        row = 0
        for c, s, xb, yb in blocks:
            end = row + len(yb)
            x[row:end], y[row:end], corruption[row:end], severity[row:end] = xb, yb, c, s
            row = end
        if row != n_rows:
            raise ValueError(f"expected {n_rows} corrupted images, got {row}")
        x.flush()
        del x
    for name, arr in (("y", y), ("corruption", corruption), ("severity", severity)):
        with atomic_path(out_dir / f"{name}.npy") as tmp, open(tmp, "wb") as fh:
            np.save(fh, arr)
    meta = {**meta, "n_images": n_rows, "image_shape": list(image_shape)}
    write_json(out_dir / "meta.json", meta)
    return meta


def generate_corrupted_set(x: np.ndarray, y: np.ndarray, corruptions: Sequence[str],
                           severities: Sequence[int], seed: int, out_dir: str | Path) -> dict:
    """Corrupt clean test images ``x`` with every (corruption, severity); write the layout."""
    def blocks() -> Iterator[Block]:
        for c, name in enumerate(corruptions):
            for s in severities:
                yield c, s, corrupt(np.asarray(x), name, s, seed), y

    meta = {"source": "generated", "corruptions": list(corruptions), "severities": list(severities),
            "seed": seed, "n_clean": len(y)}
    return _write(Path(out_dir), blocks(), len(corruptions) * len(severities) * len(y), x.shape[1:], meta)


def cifar100_c_dir(root: str | Path, download: bool) -> Path:
    """The extracted ``CIFAR-100-C/`` under ``root``. The archive (in ``root``, or downloaded there only if
    ``download``) is md5-checked here, however it came, and extracted (a wrong md5 is a checksum error naming it)."""
    folder = Path(root) / "CIFAR-100-C"
    if (folder / "labels.npy").exists():
        return folder
    archive = Path(root) / CIFAR100_C_URL.rsplit("/", 1)[-1]
    how = (f"download {CIFAR100_C_URL} (md5 {CIFAR100_C_MD5}, 2.9 GB) on a machine with internet "
           f"(`python -m archlab run ood_fetch --profile <profile>` there) and put the archive at {archive} or "
           f"extract it so that {folder}/labels.npy exists, or set ood.corrupted.source: generated to corrupt the "
           f"clean test set instead")
    import archlab  # noqa: F401  (torchvision import fix)
    from torchvision.datasets.utils import calculate_md5, extract_archive

    if not archive.is_file():
        if not download:
            raise MissingResourceError(f"CIFAR-100-C is not at {folder} and download is off; {how}")
        from archlab.data.download import url_to_file

        url_to_file(CIFAR100_C_URL, archive, "CIFAR-100-C", how)
    digest = calculate_md5(str(archive))
    if digest != CIFAR100_C_MD5:
        raise CorruptResourceError(f"{archive} fails its checksum (md5 {digest}, expected {CIFAR100_C_MD5}): a "
                                   f"damaged or partial download; delete it and {how}")
    try:
        extract_archive(str(archive), str(root))
    except (OSError, EOFError) as exc:
        raise CorruptResourceError(f"{archive} cannot be extracted ({exc}); delete it and {how}") from exc
    if not (folder / "labels.npy").exists():
        raise CorruptResourceError(f"the CIFAR-100-C archive in {root} did not contain {folder}/labels.npy; "
                                   f"delete {archive} and {how}")
    return folder


def convert_cifar100_c(folder: str | Path, corruptions: Sequence[str], severities: Sequence[int],
                       out_dir: str | Path, limit: int | None = None) -> dict:
    """Copy the chosen corruptions and severities (first ``limit`` images of each) into the layout."""
    folder = Path(folder)
    unknown = sorted(set(corruptions) - set(CIFAR100_C_CORRUPTIONS))
    if unknown:
        raise ValueError(f"CIFAR-100-C has no corruption {unknown}; it has {list(CIFAR100_C_CORRUPTIONS)}")
    labels = np.load(folder / "labels.npy").astype(np.int64)
    block = len(labels) // 5  # each file stacks severities 1..5 of the whole test set (10 000 images)
    n = min(limit or block, block)

    def blocks() -> Iterator[Block]:
        for c, name in enumerate(corruptions):
            path = folder / f"{name}.npy"
            try:
                images = np.load(path, mmap_mode="r")
            except (OSError, ValueError) as exc:
                raise CorruptResourceError(f"{path} cannot be read ({exc}); delete {folder} and download again") from exc
            if images.shape != (len(labels), 32, 32, 3):
                raise CorruptResourceError(f"{path} has shape {images.shape}, expected ({len(labels)}, 32, 32, 3)")
            for s in severities:
                rows = slice((s - 1) * block, (s - 1) * block + n)
                yield c, s, np.asarray(images[rows]), labels[rows]

    meta = {"source": "cifar100_c", "corruptions": list(corruptions), "severities": list(severities),
            "n_clean": n, "url": CIFAR100_C_URL}
    return _write(Path(out_dir), blocks(), len(corruptions) * len(severities) * n, (32, 32, 3), meta)


class CorruptedSet:
    """Read access to the layout: memory-mapped images, labels, and each row's corruption/severity."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        if not (self.dir / "meta.json").exists():
            raise MissingResourceError(f"corrupted test set {self.dir} is missing (no meta.json); "
                                       f"run the ood_corrupted job first")
        self.meta = read_json(self.dir / "meta.json")
        self.x = np.load(self.dir / "x.npy", mmap_mode="r")
        self.y = np.load(self.dir / "y.npy")
        self.corruption = np.load(self.dir / "corruption.npy")
        self.severity = np.load(self.dir / "severity.npy")

    @property
    def corruptions(self) -> list[str]:
        return self.meta["corruptions"]

    def __len__(self) -> int:
        return len(self.y)
