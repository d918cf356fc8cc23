"""Raw data from each source, as ``{split: (images uint8 N×H×W×C, labels int64)}`` + class names.

Sources: ``torchvision`` (real download, checksums verified by torchvision), ``local`` (files the
user already has, same layout, never downloaded), ``synthetic`` (generated from a seed),
``digits`` (scikit-learn's bundled handwriting, upsampled to 28×28), ``skimage`` (scikit-image's
bundled photos as an image folder).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from archlab.data import synthetic
from archlab.data.kinds import KINDS
from archlab.errors import CorruptResourceError, MissingResourceError

Raw = dict[str, tuple[np.ndarray, np.ndarray]]
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def load_raw(kind: str, spec: dict, raw_root: Path) -> tuple[Raw, list[str]]:
    source = spec["source"]
    if source == "synthetic":
        return _synthetic(kind, spec)
    if source == "digits":
        return _digits(spec)
    if kind == "imagefolder":
        folder = _skimage_folder(raw_root) if source == "skimage" else Path(spec["path"])
        return _image_folder(folder, spec.get("image_size", KINDS[kind].size))
    if source == "torchvision":
        return _torchvision(kind, raw_root / kind, download=spec.get("download", True))
    if source == "local":
        return _torchvision(kind, Path(spec["path"]), download=False)
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


def _torchvision(kind: str, root: Path, download: bool) -> tuple[Raw, list[str]]:
    import archlab  # noqa: F401  (torchvision import fix)
    import torchvision.datasets as tvd

    cls = getattr(tvd, KINDS[kind].torchvision_class)
    how = (f"download it on a machine with internet (`python -m archlab run data_prepare name=<dataset> --profile full`, "
           f"<dataset> being the data: entry of kind {kind}) and copy "
           f"{root} here, or set data.<name>.source: local with path: <your copy> in params")
    raw: Raw = {}
    try:
        for split in ("train", "test"):
            kw = {"split": split} if kind == "stl10" else {"train": split == "train"}
            ds = cls(str(root), download=download, **kw)
            raw[split] = _arrays_of(ds)
    except RuntimeError as exc:  # torchvision: "Dataset not found or corrupted"
        raise MissingResourceError(f"{kind} is missing or corrupt under {root} ({exc}); {how}") from exc
    except OSError as exc:  # no network, or a truncated archive
        raise MissingResourceError(f"{kind} could not be read or downloaded into {root} ({exc}); {how}") from exc
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
    from PIL import Image, UnidentifiedImageError

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
        try:
            with Image.open(p) as im:
                xs.append(np.asarray(im.convert("RGB").resize((size, size), Image.BICUBIC)))
        except (UnidentifiedImageError, OSError) as exc:
            raise CorruptResourceError(f"{p} is not a readable image ({exc}); remove or replace it") from exc
        ys.append(classes.index(p.parent.name) if classes != ["unlabelled"] else 0)
        names.append(str(p.relative_to(folder)))
    empty = np.zeros((0, size, size, 3), np.uint8), np.zeros(0, np.int64)
    raw = {"train": empty, "test": (np.stack(xs), np.asarray(ys, np.int64))}
    raw["files"] = names  # type: ignore[assignment]
    return raw, classes
