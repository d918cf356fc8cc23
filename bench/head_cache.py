"""Benchmark 1: head-only transfer on cached features vs the naive loop.

The source reports ran the frozen backbone forward in every epoch of head training. archlab
extracts the pooled features once (``archlab.features.extract``) and trains the head on them.
Both sides here use the library's own pieces — the same backbone, head initialisation, data,
shuffle order, optimizer and epochs — so they must reach the same accuracy; only the time differs.

    python -m bench head_cache [--epochs 5] [--train 2000] [--val 300] [--arch resnet18] [--size 32]
"""
from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from bench.common import result, synthetic_images

POOLED = "avgpool"


def run(epochs: int, n_train: int, n_val: int, arch: str, size: int, batch_size: int, lr: float,
        seed: int, device: str = "cpu") -> dict:
    from archlab.data.loaders import Preprocess
    from archlab.features.extract import extract_to_cache, load_cache
    from archlab.models.resnet import build_resnet
    from archlab.runtime import pick_device, seed_everything
    from archlab.train.classifier import FitConfig, fit, trainable_parameters
    from archlab.train.transfer import apply_strategy

    dev = pick_device(device)
    train, val = synthetic_images(n_train, size, seed), synthetic_images(n_val, size, seed + 1)
    prep = Preprocess(size=size)
    seed_everything(seed)
    # Random init: speed does not depend on the weights, and both sides share the same backbone.
    model = build_resnet(arch, 10, "none")
    frozen = apply_strategy(model, "head")
    head_init = copy.deepcopy(model.fc.state_dict())

    def fit_cfg(**kw) -> FitConfig:
        return FitConfig(epochs=epochs, batch_size=batch_size, seed=seed, live=False, **kw)

    with tempfile.TemporaryDirectory(prefix="bench-head-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        extract_to_cache(model, {"train": (train[0], [POOLED]), "val": (val[0], [POOLED])},
                         tmp / "features.npz", dev, prep, batch_size)
        feats = load_cache(tmp / "features.npz")
        t_extract = time.perf_counter() - t0

        head = nn.Linear(model.fc.in_features, model.fc.out_features)
        # Untimed warm-up: the first optimizer step loads torch modules lazily (seconds).
        warm = copy.deepcopy(head)
        fit(warm, (feats[f"val/{POOLED}"], val[1]), (feats[f"val/{POOLED}"], val[1]),
            torch.optim.Adam(warm.parameters(), lr=lr), FitConfig(epochs=1, batch_size=batch_size, live=False),
            dev, tmp / "warmup")
        head.load_state_dict(head_init)
        t0 = time.perf_counter()
        cached = fit(head, (feats[f"train/{POOLED}"], train[1]), (feats[f"val/{POOLED}"], val[1]),
                     torch.optim.Adam(head.parameters(), lr=lr), fit_cfg(desc="cached head"), dev, tmp / "cached")
        t_cached = time.perf_counter() - t0

        t0 = time.perf_counter()
        naive = fit(model, train, val, torch.optim.Adam(trainable_parameters(model), lr=lr),
                    fit_cfg(train_transform=prep, eval_transform=prep, frozen=frozen, desc="naive"),
                    dev, tmp / "naive")
        t_naive = time.perf_counter() - t0
    return {"extract_s": t_extract, "cached_train_s": t_cached, "naive_train_s": t_naive,
            "cached_val_acc": cached["val_acc"].tolist(), "naive_val_acc": naive["val_acc"].tolist(),
            "speedup": t_naive / t_cached, "speedup_with_extraction": t_naive / (t_extract + t_cached)}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench head_cache", description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--train", type=int, default=2000, help="training images (demo: 2000)")
    p.add_argument("--val", type=int, default=300)
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--size", type=int, default=32, help="image side fed to the backbone (demo: 32)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    a = p.parse_args(argv)
    r = run(a.epochs, a.train, a.val, a.arch, a.size, a.batch_size, a.lr, a.seed, a.device)
    gap = max(abs(c - n) for c, n in zip(r["cached_val_acc"], r["naive_val_acc"]))
    print(f"{a.arch} at {a.size}px, {a.train} train / {a.val} val images, {a.epochs} epochs, batch {a.batch_size}, {a.device}")
    print(f"  feature extraction (once)      {r['extract_s']:8.2f} s")
    print(f"  head on cached features        {r['cached_train_s']:8.2f} s   val acc per epoch {_accs(r['cached_val_acc'])}")
    print(f"  naive loop (backbone forward)  {r['naive_train_s']:8.2f} s   val acc per epoch {_accs(r['naive_val_acc'])}")
    print(f"  largest val-acc difference between the two: {gap * 100:.2f} points "
          f"({'same' if gap <= 1.0 / a.val + 1e-9 else 'DIFFERENT'} within one image of {a.val})")
    result(f"head training {r['speedup']:.0f}x faster on cached features "
           f"({r['speedup_with_extraction']:.1f}x counting the one-time extraction)")
    r["max_val_acc_gap"] = gap
    return r


def _accs(values: list[float]) -> str:
    return " ".join(f"{v:.3f}" for v in values)


if __name__ == "__main__":
    main()
