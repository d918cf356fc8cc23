"""Benchmark 1: S1's head-only transfer on cached features vs the naive loop, end to end.

The source reports ran the frozen backbone forward in every epoch of head training. archlab
extracts the pooled features once (``archlab.features.extract``) and trains the head on them.
Both sides here use the library's own pieces — the same backbone, head initialisation, data,
shuffle order, optimizer and epochs — so they must reach the same accuracy; only the time differs.

The headline is the end-to-end ratio: the naive loop's time over the one-off extraction plus the
head's training, what S1 really saves. Both sides are dominated by the same backbone forward
passes, so it hardly depends on the thread count. The ratios are of CPU seconds (this process's,
all threads): on a shared machine, wall seconds stretch with other people's load, which changes
during a run and so changes a wall ratio (wall ratios are printed beside them). The head-only
ratio (naive loop over head training alone) is printed second: it divides by a tiny time that
per-batch overheads dominate, so it moves several-fold with threads and load. torch's threads
are pinned (``torch.set_num_threads``) for each run, once per ``--threads`` value (default 1
and 2), and the line after the runs gives the spread of the headline between them.

    python -m bench head_cache [--threads 1 2] [--epochs 5] [--train 2000] [--val 300] [--arch resnet18] [--size 32]
"""
from __future__ import annotations

import argparse
import contextlib
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
    from archlab.features.extract import extract_to_cache, load_cache, pooled_activations
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

    clock = Clock()
    with tempfile.TemporaryDirectory(prefix="bench-head-") as tmp:
        tmp = Path(tmp)
        # Untimed warm-up of the backbone: the first forward passes set up the CPU kernels
        pooled_activations(model, val[0][:batch_size], [POOLED], dev, prep, batch_size, desc="warm-up")
        with clock("extract"):
            extract_to_cache(model, {"train": (train[0], [POOLED]), "val": (val[0], [POOLED])},
                             tmp / "features.npz", dev, prep, batch_size)
            feats = load_cache(tmp / "features.npz")

        head = nn.Linear(model.fc.in_features, model.fc.out_features)
        # Untimed warm-up: the first optimizer step loads torch modules lazily (seconds).
        warm = copy.deepcopy(head)
        fit(warm, (feats[f"val/{POOLED}"], val[1]), (feats[f"val/{POOLED}"], val[1]),
            torch.optim.Adam(warm.parameters(), lr=lr), FitConfig(epochs=1, batch_size=batch_size, live=False),
            dev, tmp / "warmup")
        head.load_state_dict(head_init)
        with clock("cached_train"):
            cached = fit(head, (feats[f"train/{POOLED}"], train[1]), (feats[f"val/{POOLED}"], val[1]),
                         torch.optim.Adam(head.parameters(), lr=lr), fit_cfg(desc="cached head"), dev, tmp / "cached")

        with clock("naive_train"):
            naive = fit(model, train, val, torch.optim.Adam(trainable_parameters(model), lr=lr),
                        fit_cfg(train_transform=prep, eval_transform=prep, frozen=frozen, desc="naive"),
                        dev, tmp / "naive")
    wall, cpu = clock.wall, clock.cpu
    return {**{f"{k}_s": v for k, v in wall.items()}, **{f"{k}_cpu_s": v for k, v in cpu.items()},
            "cached_val_acc": cached["val_acc"].tolist(), "naive_val_acc": naive["val_acc"].tolist(),
            # the headline and the second figure, from CPU seconds (the machine's load does not change them)
            "speedup_with_extraction": cpu["naive_train"] / (cpu["extract"] + cpu["cached_train"]),
            "speedup": cpu["naive_train"] / cpu["cached_train"],
            "wall_speedup_with_extraction": wall["naive_train"] / (wall["extract"] + wall["cached_train"]),
            "wall_speedup": wall["naive_train"] / wall["cached_train"]}


class Clock:
    """Wall and CPU seconds (this process, all its threads) of named phases."""

    def __init__(self):
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        w0, c0 = time.perf_counter(), time.process_time()
        yield
        self.wall[name], self.cpu[name] = time.perf_counter() - w0, time.process_time() - c0


def pinned(threads: int, fn, *args):
    """``fn(*args)`` with torch's intra-op threads pinned to ``threads`` (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return fn(*args)
    finally:
        torch.set_num_threads(before)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench head_cache", description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                   help="torch threads of each run (default: one run with 1, one with 2)")
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
    print(f"{a.arch} at {a.size}px, {a.train} train / {a.val} val images, {a.epochs} epochs, batch {a.batch_size}, {a.device}")
    runs = {}
    for threads in a.threads:
        r = runs[threads] = pinned(threads, run, a.epochs, a.train, a.val, a.arch, a.size, a.batch_size, a.lr,
                                   a.seed, a.device)
        r["max_val_acc_gap"] = max(abs(c - n) for c, n in zip(r["cached_val_acc"], r["naive_val_acc"]))
        print(f"torch threads: {threads}                 wall s    CPU s")
        print(f"  feature extraction (once)      {r['extract_s']:8.2f} {r['extract_cpu_s']:8.2f}")
        print(f"  head on cached features        {r['cached_train_s']:8.2f} {r['cached_train_cpu_s']:8.2f}   "
              f"val acc per epoch {_accs(r['cached_val_acc'])}")
        print(f"  naive loop (backbone forward)  {r['naive_train_s']:8.2f} {r['naive_train_cpu_s']:8.2f}   "
              f"val acc per epoch {_accs(r['naive_val_acc'])}")
        print(f"  largest val-acc difference between the two: {r['max_val_acc_gap'] * 100:.2f} points "
              f"({'same' if r['max_val_acc_gap'] <= 1.0 / a.val + 1e-9 else 'DIFFERENT'} within one image of {a.val})")
        print(f"  end to end (extraction + head) {r['speedup_with_extraction']:.1f}x faster in CPU seconds "
              f"({r['wall_speedup_with_extraction']:.1f}x in wall seconds); head only {r['speedup']:.0f}x "
              f"({r['wall_speedup']:.0f}x)")
    headline = {t: r["speedup_with_extraction"] for t, r in runs.items()}
    spread = max(headline.values()) / min(headline.values()) - 1
    first = runs[a.threads[0]]
    per_threads = ", ".join(f"{v:.1f}x with {t} thread{'s' * (t != 1)}" for t, v in headline.items())
    if len(runs) > 1:
        print(f"end-to-end ratio between thread counts: {spread:+.0%} from the lowest "
              f"({'stable' if spread <= 0.2 else 'NOT stable'} within 20 %)")
    head_only = ", ".join(f"{r['speedup']:.0f}x" for r in runs.values())
    result(f"S1 head-only transfer end to end (one-off extraction + head training) {per_threads} faster than "
           f"the naive loop; head training alone {head_only} on cached features")
    return {**first, "by_threads": runs, "headline": headline, "headline_spread": spread}


def _accs(values: list[float]) -> str:
    return " ".join(f"{v:.3f}" for v in values)


if __name__ == "__main__":
    main()
