"""Benchmark 11: S seeds of the demo's S3 GAN trained one at a time (``train_gan`` per seed) vs all at once
as one stacked network (``train_gan_seeds``), side by side in one process, one thread.

The demo's baseline sizes (G 100→128→256→784, D 784→128→128→1, batch 32, 3 D-steps per G-step) on
synthetic images, with a trivial diversity probe (the same on both sides); ``--repeats`` alternations, the
median CPU time of each side compared. Both sides must end with the same weights bit for bit, which the
benchmark checks: a speed-up that changed the numbers would be no speed-up.

    python -m bench batched_seeds [--seeds 5] [--images 640] [--epochs 2] [--repeats 2]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from bench.common import result


def _setup(n_images: int, epochs: int):
    from archlab.train.gan import GanConfig

    images = torch.rand(n_images, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    cfg = GanConfig(g_hidden=(128, 256), d_hidden=(128, 128), batch_size=32, lr_g=2e-3, lr_d=2e-3, d_steps=3,
                    epochs=epochs)
    return cfg, images


def _probe(fake: torch.Tensor) -> dict:
    return {"pixel_variance": float(fake.var(dim=0).mean()), "class_histogram": []}


def _one_at_a_time(cfg, images, seeds):
    from archlab.train.gan import train_gan

    return [train_gan(cfg, images, images[:200], _probe, seed=s, device=torch.device("cpu"), n_eval=200,
                      progress=False) for s in seeds]


def _all_at_once(cfg, images, seeds):
    from archlab.train.gan import train_gan_seeds

    return train_gan_seeds(cfg, images, images[:200], _probe, seeds=seeds, device=torch.device("cpu"), n_eval=200,
                           progress=False)


def main(argv: list[str]) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench batched_seeds", description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--images", type=int, default=640, help="training images (images // 32 G-steps per epoch)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2, help="alternations of the two sides")
    args = ap.parse_args(argv)
    cfg, images = _setup(args.images, args.epochs)
    seeds = list(range(args.seeds))
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    times: dict[str, list[float]] = {"one at a time": [], "all at once": []}
    try:
        for _ in range(args.repeats):
            for side, train in (("one at a time", _one_at_a_time), ("all at once", _all_at_once)):
                c0 = time.process_time()
                runs = train(cfg, images, seeds)
                times[side].append(time.process_time() - c0)
                weights = [torch.cat([p.flatten() for p in r.G.parameters()]) for r in runs]
                if side == "one at a time":
                    alone = weights
                elif not all(torch.equal(a, b) for a, b in zip(alone, weights)):
                    raise AssertionError("the stacked seeds ended with other weights than the seeds trained alone")
    finally:
        torch.set_num_threads(previous)
    medians = {side: statistics.median(t) for side, t in times.items()}
    steps = args.epochs * (args.images // 32)
    print(f"{args.seeds} seeds × {steps} G-steps (3 D-steps each), {args.repeats} alternations, 1 thread, CPU s (median)")
    for side, t in medians.items():
        print(f"  {side:14s} {t:7.2f} s   {t / (args.seeds * steps) * 1e3:6.2f} ms per seed-step")
    speedup = medians["one at a time"] / medians["all at once"]
    result(f"{args.seeds} GAN seeds trained at once: {speedup:.2f}x less CPU than one at a time, same weights bit for bit")
    return {"medians": medians, "speedup": speedup, "seeds": args.seeds}


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
