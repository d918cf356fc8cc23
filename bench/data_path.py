"""Benchmark 4: images/s of archlab's canonical loader vs torchvision's dataset class + PIL transforms.

The source reports read CIFAR through ``torchvision.datasets.CIFAR10`` with PIL transforms, one
image at a time. archlab batches straight from the prepared uint8 arrays and converts, resizes and
normalises a whole batch as one tensor (``archlab.data.loaders.iterate_batches`` + ``Preprocess``).
To compare with real torchvision offline, the same synthetic images are written in CIFAR-10's
on-disk format (pickled ``data_batch_*``), which ``CIFAR10`` then reads and checksums as usual.

Both run in one process with the same torch thread budget (default 1, what the pipeline's rules
give a job). At the demo's 32 px no resize is needed; at 224 px on a CPU the resize dominates both
paths (archlab moves it to the GPU there, see ``gpu_throughput``).

    python -m bench data_path [--images 2000] [--size 32] [--batch-size 128] [--threads 1]
"""
from __future__ import annotations

import argparse
import hashlib
import pickle
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench.common import result, synthetic_images


def write_cifar10(root: Path, x: np.ndarray, y: np.ndarray, classes: list[str], n_files: int = 5) -> type:
    """Write ``x``/``y`` as CIFAR-10's python batches under ``root``; return a CIFAR10 class for them.

    The returned subclass differs from torchvision's only in the md5 sums of the files it expects,
    so its own integrity check, unpickling and PIL conversion all run unchanged.
    """
    import archlab  # noqa: F401  (torchvision import fix)
    from torchvision.datasets import CIFAR10

    folder = root / CIFAR10.base_folder
    folder.mkdir(parents=True, exist_ok=True)

    def dump(name: str, obj: dict) -> list[str]:
        with open(folder / name, "wb") as fh:
            pickle.dump(obj, fh, protocol=2)
        return [name, hashlib.md5((folder / name).read_bytes()).hexdigest()]

    flat = x.transpose(0, 3, 1, 2).reshape(len(x), -1)  # rows of 3072 bytes: R plane, G plane, B plane
    train_list = [dump(f"data_batch_{i + 1}", {"batch_label": f"training batch {i + 1} of {n_files}",
                                                "data": part, "labels": labels.tolist()})
                  for i, (part, labels) in enumerate(zip(np.array_split(flat, n_files), np.array_split(y, n_files)))]
    test_list = [dump("test_batch", {"batch_label": "testing batch 1 of 1", "data": flat[:1], "labels": y[:1].tolist()})]
    meta_file, meta_md5 = dump("batches.meta", {"label_names": classes, "num_cases_per_batch": len(x) // n_files,
                                                "num_vis": flat.shape[1]})
    return type("SyntheticCIFAR10", (CIFAR10,), {
        "train_list": train_list, "test_list": test_list,
        "meta": {"filename": meta_file, "key": "label_names", "md5": meta_md5}})


def canonical_batches(x: np.ndarray, y: np.ndarray, size: int, batch_size: int):
    from archlab.data.loaders import Preprocess, iterate_batches

    return iterate_batches(x, y, batch_size, torch.device("cpu"), Preprocess(size=size))


def torchvision_batches(dataset_cls: type, root: Path, size: int, batch_size: int, workers: int):
    """The source reports' path: PIL image → Resize → ToTensor → Normalize, batched by a DataLoader."""
    from torch.utils.data import DataLoader
    from torchvision import transforms as T

    from archlab.data.loaders import IMAGENET_MEAN, IMAGENET_STD

    tf = T.Compose([T.Resize(size, interpolation=T.InterpolationMode.BILINEAR), T.ToTensor(),
                    T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    return DataLoader(dataset_cls(str(root), train=True, transform=tf), batch_size=batch_size, num_workers=workers)


def images_per_second(batches) -> tuple[float, torch.Tensor]:
    """Consume every batch; return images/s and the first batch (to check both paths agree)."""
    n, first = 0, None
    t0 = time.perf_counter()
    for xb, _ in batches:
        first = xb if first is None else first
        n += len(xb)
    return n / (time.perf_counter() - t0), first


def run(n_images: int, size: int, batch_size: int, workers: int, threads: int, seed: int = 0) -> dict:
    from archlab.data.synthetic import class_names

    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _compare(n_images, size, batch_size, workers, seed, class_names(10))
    finally:
        torch.set_num_threads(saved)


def _compare(n_images: int, size: int, batch_size: int, workers: int, seed: int, classes: list[str]) -> dict:
    x, y = synthetic_images(n_images, 32, seed)
    with tempfile.TemporaryDirectory(prefix="bench-cifar-") as tmp:
        dataset_cls = write_cifar10(Path(tmp), x, y, classes)
        # The canonical loader reads the prepared arrays memory-mapped, as stages do.
        np.save(Path(tmp) / "train_x.npy", x)
        x_mm = np.load(Path(tmp) / "train_x.npy", mmap_mode="r")
        images_per_second(canonical_batches(x_mm[:batch_size], y[:batch_size], size, batch_size))  # warm-up
        ours, ours_first = images_per_second(canonical_batches(x_mm, y, size, batch_size))
        theirs, theirs_first = images_per_second(torchvision_batches(dataset_cls, Path(tmp), size, batch_size, workers))
    return {"canonical_ips": ours, "torchvision_ips": theirs, "speedup": ours / theirs,
            "max_abs_diff": float((ours_first - theirs_first).abs().max())}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench data_path", description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--size", type=int, default=32, help="side fed to the model (demo: 32, no resize; S1 full: 224)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers (0: same single process as ours)")
    p.add_argument("--threads", type=int, default=1, help="torch threads for both (the pipeline's rules use 1)")
    a = p.parse_args(argv)
    r = run(a.images, a.size, a.batch_size, a.workers, a.threads)
    print(f"{a.images} images 32px → {a.size}px, batch {a.batch_size}, CPU, {a.threads} torch threads, "
          f"{a.workers} DataLoader workers")
    print(f"  torchvision CIFAR10 + PIL transforms  {r['torchvision_ips']:9.0f} images/s")
    print(f"  archlab iterate_batches + Preprocess  {r['canonical_ips']:9.0f} images/s")
    print(f"  first batch, largest difference between the two: {r['max_abs_diff']:.3f} (normalised units; "
          "PIL rounds to uint8 after resizing)")
    result(f"canonical loader {r['speedup']:.1f}x the images/s of torchvision's dataset + PIL transforms")
    return r


if __name__ == "__main__":
    main()
