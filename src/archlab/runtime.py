"""Process-level set-up shared by every stage: seeds, device choice, threads, mixed precision."""
from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a torch generator seeded the same way for samplers."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def pick_device(requested: str = "auto") -> torch.device:
    """``auto`` picks cuda > mps > cpu; anything else is taken literally. A CUDA device is set up
    with :func:`configure_cuda`."""
    if requested != "auto":
        device = torch.device(requested)
    elif torch.cuda.is_available():
        device = torch.device("cuda")
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device = torch.device("mps")
    else:
        device = torch.device("cpu")
    if device.type == "cuda":
        configure_cuda()
    return device


def configure_cuda() -> None:
    """cuDNN autotuning: each new input shape tries the convolution algorithms once and keeps the
    fastest (the loops here see a handful of fixed shapes, so this pays after the first batches).
    Its choice may differ between runs, so GPU results are reproducible only to rounding; set
    ``ARCHLAB_CUDNN_BENCHMARK=0`` to turn it off. Nothing changes on the CPU."""
    torch.backends.cudnn.benchmark = os.environ.get("ARCHLAB_CUDNN_BENCHMARK", "1") != "0"


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast on CUDA (AMP); a no-op context elsewhere, where it rarely pays off."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_channels_last(module_or_tensor, device: torch.device):
    """channels_last memory format helps convolutions on GPUs with tensor cores; skip it on CPU."""
    if device.type == "cuda":
        return module_or_tensor.to(memory_format=torch.channels_last)
    return module_or_tensor
