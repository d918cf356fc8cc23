"""Benchmark 6: S4's I(x; z) estimate in matrix form vs the broadcast loop it replaced.

``archlab.metrics.latent.mutual_information`` fills the N × N table of log q(z_i | x_j) with one
(N × 2d)·(2d × N) matmul per row block; the reference below (the implementation before issue 16,
kept here as the yardstick and for the equality test) broadcast an N × N × d float64 tensor per
block of 256 rows. Both get the same synthetic VAE-like posteriors (some informative dimensions,
some collapsed ones, float32 as an encoder returns them), the same seed and the same torch thread
budget (default 1, what the pipeline gives a job), and must agree to 1e-6 relative. The ratio is
one of CPU times (load-independent on a shared machine); with ``--device cuda`` the new side is
timed by the wall clock.

    python -m bench mutual_info [--n 10000] [--d 64] [--threads 1] [--device cpu]
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from bench.common import result


def reference_mutual_information(mu: np.ndarray, logvar: np.ndarray, seed: int = 0) -> float:
    """The pre-issue-16 implementation, verbatim: O(N²·d) broadcast in float64, 256 rows at a time."""
    mu_t = torch.as_tensor(np.asarray(mu), dtype=torch.float64)
    logvar_t = torch.as_tensor(np.asarray(logvar), dtype=torch.float64)
    n, d = mu_t.shape
    generator = torch.Generator().manual_seed(seed)
    eps = torch.randn(n, d, generator=generator, dtype=torch.float64)
    z = mu_t + torch.exp(0.5 * logvar_t) * eps
    log_q_z_given_x = _log_normal(z, mu_t, logvar_t).sum(dim=1)
    log_q_z = torch.cat([
        torch.logsumexp(_log_normal(z[i:i + 256, None, :], mu_t[None], logvar_t[None]).sum(-1), dim=1)
        for i in range(0, n, 256)
    ]) - math.log(n)
    return float((log_q_z_given_x - log_q_z).mean())


def _log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu).pow(2) / logvar.exp())


def synthetic_posteriors(n: int, d: int, seed: int = 0, active: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """μ, log σ² (float32) of a mostly collapsed encoder: ``active`` dims move with x, the rest do not.

    The informative posteriors overlap (σ ≈ 0.6 against a spread of 1), so many mixture terms count
    in every log q(z_i) and the estimate sits well inside (0, log N), not at the log N ceiling.
    """
    rng = np.random.default_rng(seed)
    informative = np.arange(d) < min(active, d)
    mu = np.where(informative, rng.normal(0.0, 1.0, (n, d)), rng.normal(0.0, 0.01, (n, d)))
    logvar = np.where(informative, rng.normal(-1.0, 0.2, (n, d)), rng.normal(0.0, 0.05, (n, d)))
    return mu.astype(np.float32), logvar.astype(np.float32)


def _timed(fn, device: torch.device) -> tuple[float, float, float]:
    """(value, seconds, wall seconds). On CPU the seconds are the process's CPU time, which other
    jobs on a shared machine do not inflate (with one thread it equals the wall time of an idle
    machine); on a GPU they are wall time, the CPU only waits there."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    c0, t0 = time.process_time(), time.perf_counter()
    value = fn()  # returns a Python float: the device work is finished when it returns
    wall = time.perf_counter() - t0
    return value, (time.process_time() - c0 if device.type == "cpu" else wall), wall


def main(argv: list[str]) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench mutual_info", description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="inputs (S4 diagnoses 10 000 test images)")
    ap.add_argument("--d", type=int, default=64, help="latent dimensions")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for both")
    ap.add_argument("--device", default="cpu", help="where the new implementation runs (the old one: CPU)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from archlab.metrics.latent import mutual_information

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        mu, logvar = synthetic_posteriors(args.n, args.d, args.seed)
        device = torch.device(args.device)
        mutual_information(mu[:64], logvar[:64], seed=args.seed, device=device)  # warm-up (CUDA context, kernels)
        new, new_s, new_wall = _timed(lambda: mutual_information(mu, logvar, seed=args.seed, device=device), device)
        old, old_s, old_wall = _timed(lambda: reference_mutual_information(mu, logvar, seed=args.seed),
                                      torch.device("cpu"))
    finally:
        torch.set_num_threads(previous_threads)
    rel = abs(new - old) / max(abs(old), 1e-300)
    kind = "CPU" if device.type == "cpu" else "wall"
    print(f"N = {args.n}, d = {args.d}, {args.threads} thread(s); new on {device}; {kind} seconds (wall in brackets)")
    print(f"  reference (N×N×d broadcast): {old_s:8.3f} s ({old_wall:.3f})   I = {old:.12g} nats")
    print(f"  matrix form (one matmul)   : {new_s:8.3f} s ({new_wall:.3f})   I = {new:.12g} nats"
          f"   (relative difference {rel:.1e})")
    speedup = old_s / max(new_s, 1e-9)
    result(f"mutual information at N = {args.n}, d = {args.d}: {speedup:.1f}x faster, "
           f"same value to {rel:.1e} relative")
    return {"n": args.n, "d": args.d, "threads": args.threads, "device": str(device), "old_s": old_s, "new_s": new_s,
            "old_wall_s": old_wall, "new_wall_s": new_wall,
            "speedup": speedup, "old": old, "new": new, "relative_difference": rel}


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
