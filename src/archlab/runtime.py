"""Process-level set-up shared by every stage: seeds, device choice, threads, mixed precision."""
from __future__ import annotations

import contextlib
import fcntl
import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch

# One lock file per running GPU job (``<gpu id>@<pid>.lock``, flock-held while the job lives): how
# concurrent local jobs see which visible GPU holds fewest of them. Per user, beside other temporaries.
GPU_LOCKS = Path(tempfile.gettempdir()) / f"archlab-gpus-{os.getuid()}"
_claim: tuple[int, object] | None = None  # this process's (GPU index, its held lock file)


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a torch generator seeded the same way for samplers."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def pick_device(requested: str = "auto") -> torch.device:
    """``auto`` picks cuda > mps > cpu; anything else is taken literally, except that with several
    visible GPUs ``auto`` and ``cuda`` take the one :func:`claim_gpu` gives this job. A numbered CUDA
    device is made current (libraries that say "cuda" then use it too) and set up with
    :func:`configure_cuda`."""
    if requested not in ("auto", "cuda"):
        device = torch.device(requested)
    elif torch.cuda.is_available() or requested == "cuda":
        count = torch.cuda.device_count()
        device = torch.device("cuda", claim_gpu(count)) if count > 1 else torch.device("cuda")
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device = torch.device("mps")
    else:
        device = torch.device("cpu")
    if device.type == "cuda":
        if device.index is not None:
            torch.cuda.set_device(device)
        configure_cuda()
    return device


def claim_gpu(count: int) -> int:
    """The index, among the ``count`` visible GPUs, that holds fewest running archlab jobs; claimed for
    the rest of this process, so jobs Snakemake runs side by side (``--resources gpu=N``) spread over
    the N GPUs instead of all taking GPU 0. GPUs are named by their ``CUDA_VISIBLE_DEVICES`` entry, so
    runs that see different GPUs count each physical GPU once. A lock file whose lock is free was left
    by a job that ended (even by SIGKILL: the kernel drops the lock) and is removed."""
    global _claim
    if _claim is None:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        ids = [i.strip().replace("/", "_") for i in visible.split(",")][:count] if visible else [str(i) for i in range(count)]
        GPU_LOCKS.mkdir(mode=0o700, exist_ok=True)
        with open(GPU_LOCKS / "claim", "w") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)  # one claim at a time: two jobs never count the same files
            held = dict.fromkeys(ids, 0)
            for path in GPU_LOCKS.glob("*@*.lock"):
                with open(path) as other:
                    try:
                        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:  # a running job holds it
                        gpu = path.name.rsplit("@", 1)[0]
                        held[gpu] = held.get(gpu, 0) + 1
                        continue
                path.unlink()
            index = min(range(len(ids)), key=lambda i: held[ids[i]])
            lock = open(GPU_LOCKS / f"{ids[index]}@{os.getpid()}.lock", "w")
            fcntl.flock(lock, fcntl.LOCK_EX)
            _claim = (index, lock)
    return _claim[0]


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
