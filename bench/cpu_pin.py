"""Benchmark 10: what pinning the CPU code paths to AVX2 (archlab/cpu_pin.py) costs a training step.

The pinning is fixed when torch first computes, so the two sides run in alternating child processes:
one pinned (the pipeline's default), one with ``ARCHLAB_CPU_PIN=native`` (this machine's widest
paths: AVX-512 here, where available). Each child times the demo's S3 GAN step and S4 VAE step
(bench/optimizer_step.py's: the library's own step functions, the demo's sizes, one thread) and
reports the CPU time per step; the medians over ``--repeats`` alternations are compared. On a
machine without AVX-512 both sides run the same kernels and the ratio is 1.

    python -m bench cpu_pin [--steps 200] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from archlab import cpu_pin
from bench.common import ROOT, result

SIDES = {"pinned (AVX2)": "avx2", "native": "native"}


def _child(steps: int) -> None:
    import torch

    from bench.optimizer_step import _gan_step, _time_steps, _vae_step

    torch.set_num_threads(1)
    times = {name: _time_steps(make, True, steps, 0)[0] for name, make in (("gan", _gan_step), ("vae", _vae_step))}
    print(json.dumps({"capability": torch.backends.cpu.get_cpu_capability(), **times}))


def _run_child(switch: str, steps: int) -> dict:
    """One side in a fresh process: without the variables this (pinned) process set, so that the native
    side finds the machine's own paths."""
    env = {k: v for k, v in os.environ.items() if k not in cpu_pin.PINNED}
    env |= {cpu_pin.SWITCH: switch, "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"}
    out = subprocess.run([sys.executable, "-m", "bench.cpu_pin", "--child", "--steps", str(steps)], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str]) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench cpu_pin", description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200, help="training steps per timing")
    ap.add_argument("--repeats", type=int, default=3, help="alternations of the two sides")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args.steps)
        return {}
    runs: dict[str, list[dict]] = {side: [] for side in SIDES}
    for _ in range(args.repeats):
        for side, switch in SIDES.items():
            runs[side].append(_run_child(switch, args.steps))
    medians = {side: {m: statistics.median(r[m] for r in rs) for m in ("gan", "vae")} for side, rs in runs.items()}
    print(f"{args.steps} steps × {args.repeats} alternations, 1 thread, CPU ms per step (median)")
    for side, rs in runs.items():
        print(f"  {side:14s} torch kernels {rs[0]['capability']:7s} "
              + "   ".join(f"{m.upper()} {medians[side][m] * 1e3:7.2f}" for m in ("gan", "vae")))
    cost = {m: medians["pinned (AVX2)"][m] / medians["native"][m] for m in ("gan", "vae")}
    result(f"pinning to AVX2 costs {', '.join(f'{m.upper()} {c:.2f}x' for m, c in cost.items())} the native "
           f"step's CPU ({runs['native'][0]['capability']} kernels natively)")
    return {"medians": medians, "cost": cost, "native_capability": runs["native"][0]["capability"]}


if __name__ == "__main__":
    main(sys.argv[1:])
