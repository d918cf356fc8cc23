"""Benchmark 8: a training step of the demo's S3 GAN and S4 VAE with torch's per-tensor optimizer
loop vs the fused optimizer step that ``archlab.train.optim.make_optimizer`` now picks on the CPU.

The fused side gets its optimizer from ``make_optimizer``, as the pipeline does. Both sides run the
library's own step functions (``archlab.train.gan.discriminator_step`` and
``generator_step``; the S4 objective through ``archlab.train.vae.elbo_terms``) on the demo's model
sizes and batch, one torch thread (what the pipeline gives a job), the same seed. The two
optimizers are alternated ``--repeats`` times and the median CPU time per step is compared (CPU
time: other people's load on a shared machine does not inflate it). After one step from the same
weights both models agree to rounding (about 1e-6): the two compute the same update. Over many
steps the runs drift apart, as any change of rounding makes them: Adam moves a weight whose
gradient is near zero by about ±lr whatever that gradient's rounding, and GAN training amplifies
small differences.

    python -m bench optimizer_step [--steps 200] [--repeats 3] [--threads 1]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from bench.common import result


def _adam(params, fused: bool, **spec) -> torch.optim.Optimizer:
    """The fused side is what the pipeline's factory gives; the other, torch's per-tensor CPU loop."""
    from archlab.train.optim import make_optimizer

    if fused:
        return make_optimizer(params, {"name": "adam", **spec})
    return torch.optim.Adam(params, foreach=False, **spec)


def _gan_step(fused: bool, seed: int):
    from archlab.models.gan import Discriminator, Generator
    from archlab.train.gan import discriminator_step, generator_step

    torch.manual_seed(seed)
    G, D = Generator(100, (128, 256)), Discriminator(784, (128, 128))  # the demo's half-width MLPs
    opt_g = _adam(G.parameters(), fused, lr=2e-3, betas=(0.5, 0.999))
    opt_d = _adam(D.parameters(), fused, lr=2e-3, betas=(0.5, 0.999))
    real = torch.rand(32, 1, 28, 28) * 2 - 1

    def step():  # the demo's baseline: 3 D-steps per G-step, batch 32
        for _ in range(3):
            discriminator_step(G, D, opt_d, real, torch.randn(32, 100), 1.0)
        generator_step(G, D, opt_g, torch.randn(32, 100), "non_saturating")

    return step, G


def _vae_step(fused: bool, seed: int):
    from archlab.models.vae import ConvVAE
    from archlab.train.vae import elbo_terms, objective

    torch.manual_seed(seed)
    model = ConvVAE(20, (16, 32), 128)  # the demo's half-width VAE
    opt = _adam(model.parameters(), fused, lr=1e-3)
    x = torch.rand(32, 1, 28, 28)

    def step():
        recon, kl = elbo_terms(model, x)
        loss = objective(recon, kl, 1.0, 0.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step, model


def _time_steps(make, fused: bool, steps: int, seed: int) -> tuple[float, torch.nn.Module]:
    step, model = make(fused, seed)
    step()  # warm-up (allocations, first-call dispatch); also the one step _one_step_difference compares
    c0 = time.process_time()
    for _ in range(steps):
        step()
    return (time.process_time() - c0) / max(steps, 1), model


def _one_step_difference(make, seed: int) -> float:
    """Largest weight difference between the two optimizers after one step from the same start."""
    _, loop = _time_steps(make, False, 0, seed)
    _, fused = _time_steps(make, True, 0, seed)
    with torch.no_grad():
        return max(float((p - q).abs().max()) for p, q in zip(loop.parameters(), fused.parameters()))


def main(argv: list[str]) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench optimizer_step", description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200, help="training steps per timing")
    ap.add_argument("--repeats", type=int, default=3, help="alternations of the two optimizers")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    previous = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    out = {"steps": args.steps, "repeats": args.repeats, "threads": args.threads, "models": {}}
    try:
        print(f"{args.steps} steps × {args.repeats} alternations, {args.threads} thread(s), CPU ms per step (median)")
        for name, make in (("S3 GAN (3 D-steps + 1 G-step)", _gan_step), ("S4 VAE", _vae_step)):
            times: dict[bool, list[float]] = {False: [], True: []}
            for _ in range(args.repeats):
                for fused in (False, True):
                    times[fused].append(_time_steps(make, fused, args.steps, args.seed)[0])
            loop, fused_s = statistics.median(times[False]), statistics.median(times[True])
            diff = _one_step_difference(make, args.seed)
            print(f"  {name:32s} per-tensor loop {loop * 1e3:7.2f}   fused {fused_s * 1e3:7.2f}   "
                  f"{loop / fused_s:4.2f}x   largest weight difference after one step {diff:.1e}")
            out["models"][name] = {"loop_s": loop, "fused_s": fused_s, "speedup": loop / fused_s,
                                   "one_step_difference": diff}
    finally:
        torch.set_num_threads(previous)
    result("fused optimizer step on the CPU: " + ", ".join(
        f"{name.split(' (')[0]} {m['speedup']:.2f}x" for name, m in out["models"].items()) + " per training step")
    return out


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
