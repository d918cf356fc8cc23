"""Benchmark 10: does the cost model's FLOP count predict time? Training steps of the full profile's models
on this machine, side by side in one process, against their rows of the FLOP table.

The GPU-hour table (docs/cost.md, src/archlab/cost.py) turns counted FLOPs into time at one assumed
throughput for every model. That is only as good as FLOPs are a proxy for time: this times a training step
(forward and backward: what the FLOPs count; the optimizer update is per step, not per image) of several full-profile models at their real input size on the CPU, one thread,
and prints each one's effective GFLOP/s (table FLOPs per image / measured seconds per image). Equal rates
mean FLOPs predict time; the spread (fastest / slowest rate) says by how much a per-FLOP estimate can be
off between models, which the safety factor has to cover. The small models' per-step floor
(``cost.STEP_SECONDS``) is a GPU property and is not checked here.

    python -m bench cost_check [--batch-size 32] [--steps 2]
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from archlab import cost
from bench.common import result

# cheap enough for a CPU, and of different shapes: MLP, small CNNs, a CIFAR ResNet, a Mixer
MODELS = ('cifar_arch:mlp:{"activation":"relu","hidden":[1024,512,64,64]}@32', "ood:simple_cnn@32",
          "ood:deeper_cnn@32", 'cifar_arch:resnet18:{"width":64}@32',
          'cifar_arch:mixer:{"dropout":0.0,"embed_dim":256,"mlp_ratio":[0.5,4.0],"num_blocks":4,"patch_size":8}@32')


def seconds_per_image(key: str, batch_size: int, steps: int) -> float:
    model, shape = cost._build(key)
    model.train()
    x = torch.rand(batch_size, *shape)

    def step():
        model.zero_grad(set_to_none=True)
        out = model(x)
        out = out[0] if isinstance(out, tuple) else out
        out.float().sum().backward()

    step()  # warm-up: allocations, first-call paths
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / (steps * batch_size)


def main(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench cost_check", description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    table = json.loads(cost.FLOPS_FILE.read_text())
    rates = {}
    print(f"{'model':<60} {'GFLOP/img':>10} {'ms/img':>8} {'GFLOP/s':>8}")
    for key in MODELS:
        seconds = seconds_per_image(key, args.batch_size, args.steps)
        rates[key] = table[key]["train"] / seconds / 1e9
        print(f"{key[:60]:<60} {table[key]['train'] / 1e9:>10.3f} {seconds * 1000:>8.2f} {rates[key]:>8.1f}")
    spread = max(rates.values()) / min(rates.values())
    result(f"CPU training rate per counted FLOP varies {spread:.1f}x across {len(rates)} models "
           f"(the cost model assumes one rate; its safety factor is {cost.SAFETY:g}x)")
    return {"rates": rates, "spread": spread}
