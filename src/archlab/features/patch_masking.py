"""Masking ViT patches at inference: which patches (random or centre) and how (fill or drop).

Masks are boolean arrays over the patch grid in row-major order (the ViT's token order), True =
masked. Two ways to hide a patch:

- ``fill``: overwrite its pixels in the model's input space (after normalisation) with a constant;
  0.0 there is the processor's mean colour, mid-grey for a mean = std = 0.5 checkpoint.
- ``drop``: remove its token. Done with the attention mask (no query may attend to a masked key),
  which gives the CLS token exactly what a sequence without those tokens would give it.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd
import torch
import yaml

from archlab.features import CLASS_MAPS

STRATEGIES = ("random", "centre")
METHODS = ("fill", "drop")


def n_masked(fraction: float, n_patches: int) -> int:
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"mask fraction must lie in [0, 1], got {fraction}")
    return int(round(fraction * n_patches))


def centre_mask(grid: tuple[int, int], fraction: float) -> np.ndarray:
    """The ``round(fraction * patches)`` patches closest to the image centre: a square that grows with
    the fraction (Chebyshev rings, nearest-first inside a ring, point-symmetric pairs kept together
    so the mask stays centred). Shape (patches,)."""
    rows, cols = grid
    r, c = np.divmod(np.arange(rows * cols), cols)
    dy, dx = r - (rows - 1) / 2, c - (cols - 1) / 2
    mirror = (rows - 1 - r) * cols + (cols - 1 - c)
    pair = np.minimum(np.arange(rows * cols), mirror)
    order = np.lexsort((mirror < np.arange(rows * cols), pair, np.hypot(dy, dx), np.maximum(abs(dy), abs(dx))))
    mask = np.zeros(rows * cols, dtype=bool)
    mask[order[: n_masked(fraction, rows * cols)]] = True
    return mask


def random_masks(grid: tuple[int, int], fraction: float, n_images: int, seed: int) -> np.ndarray:
    """A uniformly random set of ``round(fraction * patches)`` patches per image: (images, patches).

    One random patch order per image and seed, cut at the fraction, so for a given seed a larger
    fraction masks a superset of the patches a smaller one masked (smoother curves).
    """
    n_patches = grid[0] * grid[1]
    order = np.argsort(np.random.default_rng(seed).random((n_images, n_patches)), axis=1)
    masks = np.zeros((n_images, n_patches), dtype=bool)
    np.put_along_axis(masks, order[:, : n_masked(fraction, n_patches)], True, axis=1)
    return masks


def make_masks(strategy: str, grid: tuple[int, int], fraction: float, n_images: int, seed: int) -> np.ndarray:
    if strategy == "random":
        return random_masks(grid, fraction, n_images, seed)
    if strategy == "centre":
        return np.tile(centre_mask(grid, fraction), (n_images, 1))
    raise ValueError(f"unknown mask strategy {strategy!r}; allowed: {STRATEGIES}")


def fill_patches(pixels: torch.Tensor, masks: torch.Tensor, patch_size: int, value: float = 0.0) -> torch.Tensor:
    """Copy of ``pixels`` (N, C, H, W) with every masked patch set to ``value``."""
    n, _, height, width = pixels.shape
    rows, cols = height // patch_size, width // patch_size
    m = masks.view(n, 1, rows, 1, cols, 1).expand(n, 1, rows, patch_size, cols, patch_size)
    return pixels.masked_fill(m.reshape(n, 1, height, width), value)


@torch.no_grad()
def masked_logits(model, pixels: torch.Tensor, masks: torch.Tensor, method: str, fill: float = 0.0) -> torch.Tensor:
    """Logits of a HF ViT classifier with the masked patches filled or dropped."""
    if method == "fill":
        return model(pixel_values=fill_patches(pixels, masks, model.config.patch_size, fill)).logits.float()
    if method == "drop":
        keep = torch.cat([masks.new_ones(masks.shape[0], 1), ~masks], dim=1).to(pixels.dtype)
        return model(pixel_values=pixels, attention_mask=keep).logits.float()
    raise ValueError(f"unknown masking method {method!r}; allowed: {METHODS}")


def masking_curves(
    model,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    n_images: int,
    grid: tuple[int, int],
    fractions: list[float],
    strategies: list[str],
    seeds: list[int],
    methods: list[str],
    fill: float = 0.0,
) -> pd.DataFrame:
    """Accuracy, agreement with the unmasked top-1 and mean confidence for every condition.

    ``batches`` yields (pixels, labels) in a fixed order; labels are model class indices, or -1
    where an image's label has no counterpart among the model's classes (then only agreement
    counts), or a boolean (images, model classes) matrix of the classes that count as correct for
    each image (a class map: several ImageNet classes per CIFAR class; a row of False = agreement
    only). One row per (method, strategy, fraction, seed); the centre mask ignores the seed.
    """
    conditions = [
        (method, strategy, float(f), seed)
        for method in methods
        for strategy in strategies
        for f in fractions
        for seed in (seeds if strategy == "random" else seeds[:1])
    ]
    masks = {c: make_masks(c[1], grid, c[2], n_images, c[3]) for c in conditions}
    totals = {c: np.zeros(4) for c in conditions}  # correct, labelled, agree, confidence
    offset = 0
    for pixels, labels in batches:
        n = pixels.shape[0]
        labels = labels.to(pixels.device)
        reference = model(pixel_values=pixels).logits.argmax(dim=-1)
        for c in conditions:
            m = torch.from_numpy(masks[c][offset : offset + n]).to(pixels.device)
            probs = masked_logits(model, pixels, m, c[0], fill).softmax(dim=-1)
            confidence, pred = probs.max(dim=-1)
            correct, labelled = _scored(pred, labels)
            totals[c] += [
                float(correct.sum()),
                float(labelled.sum()),
                float((pred == reference).sum()),
                float(confidence.sum()),
            ]
        offset += n
    if offset != n_images:
        raise ValueError(f"batches yielded {offset} images, expected {n_images}")
    rows = []
    for (method, strategy, fraction, seed), (correct, labelled, agree, conf) in totals.items():
        rows.append({
            "method": method, "strategy": strategy, "fraction": fraction, "seed": seed,
            "masked_patches": n_masked(fraction, grid[0] * grid[1]), "images": n_images,
            "accuracy": correct / labelled if labelled else float("nan"),
            "agreement": agree / n_images, "confidence": conf / n_images,
        })
    return pd.DataFrame(rows)


def _scored(pred: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(correct, labelled) per image, for index labels (-1 = none) or a boolean matrix of accepted classes."""
    if labels.ndim == 2:
        labelled = labels.any(dim=1)
        return labels.gather(1, pred[:, None]).squeeze(1) & labelled, labelled
    labelled = labels >= 0
    return (pred == labels) & labelled, labelled


def summarise_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per (method, strategy, fraction)."""
    keys = ["method", "strategy", "fraction", "masked_patches"]
    stats = curves.groupby(keys)[["accuracy", "agreement", "confidence"]].agg(["mean", "std"])
    stats.columns = [f"{metric}_{stat}" for metric, stat in stats.columns]
    return stats.reset_index()


def load_class_map(name: str) -> dict:
    """A class map file ``class_maps/<name>.yaml``: ``{num_classes, classes: {dataset class: [model indices]}}``."""
    path = CLASS_MAPS / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in CLASS_MAPS.glob("*.yaml"))
        raise ValueError(f"no class map {name!r} ({path}); known: {known}")
    return yaml.safe_load(path.read_text())


def accepted_classes(dataset_classes: list[str], model_classes: list[str], label_map: dict[str, str] | None = None,
                     class_map: dict | None = None) -> np.ndarray:
    """Boolean (dataset classes, model classes): which model predictions count as correct for each dataset class.

    A dataset class the ``class_map`` lists accepts the model indices listed for it (e.g. every ImageNet dog
    breed for CIFAR-10's dog; none for deer); any other class accepts the model class of the same name, or
    of its ``label_map`` name; a class with no counterpart accepts none (its images count for agreement only).
    """
    accept = np.zeros((len(dataset_classes), len(model_classes)), dtype=bool)
    listed = (class_map or {}).get("classes", {})
    if any(name in listed for name in dataset_classes) and class_map["num_classes"] != len(model_classes):
        raise ValueError(f"the class map is for a {class_map['num_classes']}-class model, but this model has "
                         f"{len(model_classes)} classes; remove vit.masking.class_map or use a matching model")
    index = {name: i for i, name in enumerate(model_classes)}
    for row, name in enumerate(dataset_classes):
        if name in listed:
            accept[row, listed[name]] = True
        elif (i := index.get((label_map or {}).get(name, name))) is not None:
            accept[row, i] = True
    return accept

