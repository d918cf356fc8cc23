"""Batches straight from the canonical uint8 arrays, converted and resized on the device.

Sending uint8 to the GPU and converting there moves 4× fewer bytes than float tensors and lets
the GPU do the resize to 224; on CPU the same code path runs unchanged.

On CUDA nothing here waits for the device: a split that fits (:func:`to_device`; CIFAR's 50 000
training images are 154 MB in uint8) is uploaded once and batches are gathered on the GPU; a larger
one goes batch by batch from pinned memory with non-blocking copies. The normalisation constants
are built once per device, not copied to it with every batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    """uint8 N×H×W×C → normalised float N×C×size×size, the one transform a model's weights expect."""

    size: int | None = None
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    channels: int = 3

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        x = batch.permute(0, 3, 1, 2).float().div_(255)
        if x.shape[1] != self.channels:
            x = x.expand(-1, self.channels, -1, -1) if x.shape[1] == 1 else x.mean(1, keepdim=True)
        if self.size is not None and x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        mean = _channel_constant(self.mean[: self.channels], x.device)
        std = _channel_constant(self.std[: self.channels], x.device)
        # contiguous: backpropagating through a CPU convolution from a permuted (strided) batch crashed
        # torch 2.13 with one thread ("double free or corruption"), seen with the CIFAR ResNet-18
        return ((x - mean) / std).contiguous()


@lru_cache(maxsize=64)
def _channel_constant(values: tuple[float, ...], device: torch.device) -> torch.Tensor:
    """A 1×C×1×1 float32 tensor on ``device``, made once (a fresh one per batch is a blocking copy on CUDA).

    Made outside inference mode even when first asked for inside it, so training code can use it too.
    """
    with torch.inference_mode(False):
        return torch.tensor(values, dtype=torch.float32, device=device).view(1, -1, 1, 1)


Array = np.ndarray | torch.Tensor


def to_device(x: np.ndarray, y: np.ndarray, device: torch.device,
              max_bytes: int = 2 * 1024**3) -> tuple[Array, Array]:
    """On CUDA, ``(x, y)`` as tensors resident on the device when they fit; otherwise unchanged.

    Fits = at most ``max_bytes`` and a quarter of the device's free memory. :func:`iterate_batches`
    then gathers each batch on the device: one upload per split instead of a copy per batch. On other
    devices the arrays stay as they are, so the CPU path (and its results) do not change.
    """
    if device.type != "cuda" or isinstance(x, torch.Tensor):
        return x, y
    nbytes = np.asarray(x[:1]).nbytes * len(x) + np.asarray(y[:1]).nbytes * len(y)
    free, _ = torch.cuda.mem_get_info(device)
    if nbytes > min(max_bytes, free // 4):
        return x, y
    return (torch.from_numpy(np.ascontiguousarray(x)).to(device),
            torch.from_numpy(np.ascontiguousarray(y)).to(device))


def iterate_batches(x: Array, y: Array, batch_size: int, device: torch.device,
                    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                    shuffle: bool = False, seed: int = 0, epoch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(inputs, labels)`` on ``device``; the shuffle order depends only on (seed, epoch).

    ``x``/``y`` are numpy arrays (each batch copied to the device; from pinned memory without
    blocking on CUDA) or tensors already on ``device`` (from :func:`to_device`; gathered there).
    """
    n = len(y)
    order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)
    if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor) and x.device == y.device == _resolved(device):
        order_t = torch.from_numpy(order).to(device) if shuffle else None  # one upload per epoch
        for start in range(0, n, batch_size):
            if order_t is None:
                xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            else:
                idx = order_t[start:start + batch_size]
                xb, yb = x.index_select(0, idx), y.index_select(0, idx)
            yield (transform(xb) if transform else xb), yb
        return
    x, y = (t.cpu().numpy() if isinstance(t, torch.Tensor) else t for t in (x, y))
    pin = device.type == "cuda"
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        xb = torch.from_numpy(np.ascontiguousarray(x[idx]))
        yb = torch.from_numpy(np.asarray(y[idx]))
        if pin:
            xb, yb = xb.pin_memory(), yb.pin_memory()
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        yield (transform(xb) if transform else xb), yb


def _resolved(device: torch.device) -> torch.device:
    """``cuda`` means the current CUDA device; tensors always carry an index."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


