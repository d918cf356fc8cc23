"""Extract globally pooled activations of named modules once, for every split, into a cache.

The source reports ran the frozen backbone forward in every epoch of head training; extracting
once and training heads on the cached features gives the same result (the backbone is frozen and
in eval mode) for a fraction of the compute.

The hooks keep the pooled features on the device; they are copied to the host once per split, so
a GPU never waits inside the extraction loop.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from archlab.data.kinds import n_batches
from archlab.data.loaders import iterate_batches
from archlab.io import write_npz
from archlab.runtime import autocast, to_channels_last


def pooled_activations(model: nn.Module, x: np.ndarray, layers: list[str], device: torch.device,
                       transform: Callable, batch_size: int = 128, amp: bool = True,
                       desc: str = "features") -> dict[str, np.ndarray]:
    """``{layer: N×C float32}``: each named module's output, averaged over its spatial positions."""
    # kept outside inference mode: parameters converted inside it would become inference tensors
    # that a later training step on the same model could not use
    model.eval().to(device)
    model = to_channels_last(model, device)
    modules = dict(model.named_modules())
    unknown = [name for name in layers if name not in modules]
    if unknown:
        raise ValueError(f"no module named {unknown} in {type(model).__name__}")
    store: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    hooks = [modules[name].register_forward_hook(_pool_into(store[name])) for name in layers]
    try:
        dummy_y = np.zeros(len(x), np.int64)
        with torch.inference_mode():
            for xb, _ in tqdm(iterate_batches(x, dummy_y, batch_size, device, transform),
                              total=n_batches(len(x), batch_size), desc=desc, mininterval=2, leave=False):
                with autocast(device, amp):
                    model(to_channels_last(xb, device))
    finally:
        for h in hooks:
            h.remove()
    return {name: torch.cat(chunks).float().cpu().numpy() for name, chunks in store.items()}


def _pool_into(bucket: list):
    def hook(_module, _inputs, output):
        out = output.flatten(2).mean(2) if output.dim() > 2 else output
        bucket.append(out.detach().float())  # stays on the device: a .cpu() here would sync every batch
    return hook


def extract_to_cache(model: nn.Module, splits: dict[str, tuple[np.ndarray, list[str]]], out_path: str | Path,
                     device: torch.device, transform: Callable, batch_size: int = 128) -> None:
    """Write ``<split>/<layer>`` arrays for each split (each with its own layer list) into one npz."""
    arrays = {}
    for split, (x, layers) in splits.items():
        for layer, feats in pooled_activations(model, x, layers, device, transform, batch_size, desc=split).items():
            arrays[f"{split}/{layer}"] = feats.astype(np.float32)
    write_npz(out_path, **arrays)


def load_cache(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}
