"""Writing a dataset in the canonical format (:mod:`archlab.data.prepared`) from its source: the
``data_prepare`` job's code, kept apart from the readers so that an edit here reruns no reading job
by its own code version."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from archlab.data.kinds import split_sizes
from archlab.data.prepared import carve_validation
from archlab.data.sources import load_raw
from archlab.io import atomic_path, file_sha256, write_json


def prepare_dataset(name: str, spec: dict, out_dir: str | Path, raw_root: str | Path) -> dict:
    """Materialise dataset ``name`` once in the canonical format; return its meta.

    Sizes (:func:`~archlab.data.kinds.split_sizes`, which also checks them): ``train_size``/``test_size``
    keep the first N images of the source's splits; validation is then carved from train;
    ``train_size_cap`` keeps at most N of the remaining training images (seeded), ``test_size_cap`` at
    most the first N test images. Test
    subsets are always a prefix, so test image k stays the source's test image k (CIFAR-100-C rows)."""
    out_dir, raw_root = Path(out_dir), Path(raw_root)
    kind = spec.get("kind", name)
    raw, classes = load_raw(kind, spec, raw_root, name=name)
    files = raw.pop("files", None)
    origin = raw.pop("origin", None)  # registry sources: package, files and the checksums they passed
    sizes = split_sizes(name, {**spec, "kind": kind}, (len(raw["train"][1]), len(raw["test"][1])))  # checks them
    x_train, y_train = (a[: spec.get("train_size")] for a in raw["train"])
    if len(x_train):
        tr, va = carve_validation(len(x_train), sizes["val"], spec.get("seed", 0), spec.get("train_size_cap"))
    else:
        tr = va = np.zeros(0, np.int64)
    x_test, y_test = (a[: sizes["test"]] for a in raw["test"])  # a prefix: test image k is the source's k
    if files is not None:
        files = files[: len(y_test)]
    arrays = {"train": (x_train[tr], y_train[tr]), "val": (x_train[va], y_train[va]), "test": (x_test, y_test)}
    checksums, sizes = {}, {}
    for split, (x, y) in arrays.items():
        for suffix, arr in (("x", x), ("y", y)):
            path = out_dir / f"{split}_{suffix}.npy"
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, np.ascontiguousarray(arr))
            checksums[path.name] = file_sha256(path)
        sizes[split] = int(len(y))
    meta = {
        "name": name, "kind": kind, "source": spec["source"], "classes": list(classes),
        "image_shape": list(x_test.shape[1:]), "sizes": sizes, "sha256": checksums,
        "train_indices": tr.tolist(), "val_indices": va.tolist(), "files": files,
        "spec": spec, **({"origin": origin} if origin else {}),
    }
    write_json(out_dir / "meta.json", meta)  # written last: its presence means the rest is complete
    return meta
