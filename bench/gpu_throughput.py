"""Benchmark 5: ResNet-152 feature extraction images/s on a GPU, and how close it gets to the peak.

S1's full profile extracts pooled ResNet-152 features at 224 px from 32 px CIFAR images. This
times that forward pass with fp32 (PyTorch's default TF32 convolutions) vs bf16 autocast +
channels_last, and with the 32 → 224 resize done on the CPU (as a torchvision DataLoader would)
vs on the GPU (archlab's ``Preprocess`` after ``iterate_batches`` moved the uint8 batch there).
The last row is the library call the S1 ``features`` stage makes. Random weights: throughput does
not depend on them. The peak is this GPU's own bf16 matrix-product rate, measured in the same run.

    python -m bench gpu_throughput [--images 4096] [--batch-size 128] [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from torch import nn

from bench.common import result

# (label, bf16 autocast, channels_last, resize on the GPU)
VARIANTS = (
    ("fp32, NCHW, resize on CPU", False, False, False),
    ("fp32, NCHW, resize on GPU", False, False, True),
    ("bf16 + channels_last, resize on CPU", True, True, False),
    ("bf16 + channels_last, resize on GPU", True, True, True),
)
LIBRARY = "archlab pooled_activations (bf16 + channels_last, GPU resize)"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def batches(x: np.ndarray, batch_size: int, device: torch.device, size: int, resize_on_device: bool):
    """Normalised size×size batches on ``device``, resized there or on the CPU before the copy."""
    from archlab.data.loaders import Preprocess, iterate_batches

    y = np.zeros(len(x), np.int64)
    where = device if resize_on_device else torch.device("cpu")
    for xb, _ in iterate_batches(x, y, batch_size, where, Preprocess(size=size)):
        yield xb if resize_on_device else xb.to(device)


@torch.no_grad()
def images_per_second(model: nn.Module, x: np.ndarray, batch_size: int, device: torch.device, size: int,
                      amp: bool, channels_last: bool, resize_on_device: bool) -> float:
    from archlab.runtime import autocast

    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    _sync(device)
    t0 = time.perf_counter()
    for xb in batches(x, batch_size, device, size, resize_on_device):
        with autocast(device, amp):
            model(xb.contiguous(memory_format=fmt))
    _sync(device)
    return len(x) / (time.perf_counter() - t0)


def library_images_per_second(model: nn.Module, x: np.ndarray, batch_size: int, device: torch.device, size: int) -> float:
    from archlab.data.loaders import Preprocess
    from archlab.features.extract import pooled_activations

    _sync(device)
    t0 = time.perf_counter()
    pooled_activations(model, x, ["avgpool"], device, Preprocess(size=size), batch_size, amp=True, desc="library")
    _sync(device)
    return len(x) / (time.perf_counter() - t0)


def flops_per_image(model: nn.Module, size: int, device: torch.device) -> float:
    """Counted by PyTorch (a multiply-add is 2 FLOP; torchvision's 11.5 "GFLOPS" for ResNet-152 count it once)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 3, size, size, device=device))
    return float(counter.get_total_flops())


def matmul_peak(device: torch.device, n: int, reps: int = 10) -> float:
    """FLOP/s of an n×n×n bf16 matrix product on random data: the rate the tensor cores really reach."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    for _ in range(3):
        a @ b
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def run(arch: str, n_images: int, batch_size: int, size: int, repeats: int, device: str, peak_size: int) -> dict:
    import archlab  # noqa: F401  (torchvision import fix)
    import torchvision.models as tvm

    from archlab.runtime import pick_device

    dev = pick_device(device)
    model = getattr(tvm, arch)().eval().to(dev)
    flops = flops_per_image(model, size, dev)
    x = np.random.default_rng(0).integers(0, 256, (n_images, 32, 32, 3), dtype=np.uint8)  # CIFAR-sized, random
    rows = {}
    warm = x[: 2 * batch_size]
    for label, amp, cl, on_dev in VARIANTS:
        images_per_second(model, warm, batch_size, dev, size, amp, cl, on_dev)  # cuDNN plans, allocator, clocks
        rows[label] = statistics.median(images_per_second(model, x, batch_size, dev, size, amp, cl, on_dev)
                                        for _ in range(repeats))
    library_images_per_second(model, warm, batch_size, dev, size)
    rows[LIBRARY] = statistics.median(library_images_per_second(model, x, batch_size, dev, size) for _ in range(repeats))
    peak = matmul_peak(dev, peak_size)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    return {"device": name, "torch": torch.__version__, "flops_per_image": flops, "peak_flops": peak,
            "images_per_s": rows, "tf32_convolutions": torch.backends.cudnn.allow_tf32}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench gpu_throughput", description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="resnet152")
    p.add_argument("--images", type=int, default=4096)
    p.add_argument("--batch-size", type=int, default=128, help="S1 full: 128")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--repeats", type=int, default=3, help="timed passes per variant; the median is shown")
    p.add_argument("--device", default="auto", help="auto (a GPU) or e.g. cpu for a smoke run")
    p.add_argument("--peak-size", type=int, default=8192, help="side of the matrix product that measures the peak")
    a = p.parse_args(argv)
    r = run(a.arch, a.images, a.batch_size, a.size, a.repeats, a.device, a.peak_size)
    print(f"{r['device']}, torch {r['torch']}, {a.arch} at {a.size}px from 32px uint8, batch {a.batch_size}, "
          f"{a.images} images, median of {a.repeats}")
    print(f"{r['flops_per_image'] / 1e9:.1f} GFLOP per image; measured bf16 matmul peak {r['peak_flops'] / 1e12:.0f} TFLOP/s; "
          f"fp32 convolutions use TF32: {r['tf32_convolutions']}")
    for label, ips in r["images_per_s"].items():
        frac = ips * r["flops_per_image"] / r["peak_flops"]
        print(f"  {label:<62} {ips:8.0f} images/s  {frac:6.1%} of peak")
    ips = r["images_per_s"]
    best, base = ips[VARIANTS[-1][0]], ips[VARIANTS[0][0]]
    result(f"bf16 + channels_last + GPU resize: {best:.0f} images/s, {best / base:.1f}x fp32 with CPU resize, "
           f"{best * r['flops_per_image'] / r['peak_flops']:.0%} of the measured bf16 peak")
    return r


if __name__ == "__main__":
    main()
