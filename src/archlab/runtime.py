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
    """``auto`` picks cuda > mps > cpu; anything else is taken literally."""
    if requested != "auto":
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def set_threads(n: int | None = None) -> None:
    """Respect the scheduler's thread budget (Snakemake exports it) instead of grabbing every core."""
    n = n or int(os.environ.get("ARCHLAB_THREADS", os.environ.get("OMP_NUM_THREADS", "0")) or 0)
    if n > 0:
        torch.set_num_threads(n)


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
