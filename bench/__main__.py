"""``python -m bench``: every benchmark this machine can run; ``python -m bench <name> [args]``: one.

    1 head_cache      head training on cached features vs the naive per-epoch backbone loop
    2 noop_rerun      no-op reruns of snakemake and dvc repro
    3 appendix        per-study time of the demo DAG: CPU from each job's own getrusage record
    4 data_path       images/s of the canonical loader vs torchvision's dataset + PIL transforms
    5 gpu_throughput  ResNet-152 feature extraction on a GPU (only where one is present)
    6 mutual_info     S4's I(x; z) in matrix form vs the N×N×d broadcast it replaced (N = 10 000, d = 64)
    7 gpu_suite       one step of every study: images/s, share of the measured bf16 peak, full-profile time
                      (on a GPU; without CUDA at tiny sizes, as a smoke test)
    8 optimizer_step  a demo S3 GAN / S4 VAE training step: torch's per-tensor optimizer loop vs the fused step
    9 scheduler_rounds  Snakemake's scheduling rounds and CPU on one machine: default job-rate limit vs dropped
   10 cost_check      the cost model's FLOP counts against CPU training time of several full-profile models
   11 job_server      a typical job's imports: a new process vs a fork of the job server, per job and per demo
   12 cpu_pin         a demo S3 GAN / S4 VAE step pinned to AVX2 (same numbers on every x86-64) vs native kernels
   13 batched_seeds   5 demo S3 GAN seeds trained one at a time vs all at once as one stacked network
"""
from __future__ import annotations

import importlib
import sys
import tempfile
import traceback

import archlab  # noqa: F401  (torchvision import fix before any benchmark imports it)

from bench.common import ROOT

NAMES = ("head_cache", "noop_rerun", "appendix", "data_path", "gpu_throughput", "mutual_info", "gpu_suite", "optimizer_step",
         "scheduler_rounds", "cost_check", "job_server", "cpu_pin", "batched_seeds")


def _section(number: int, name: str) -> None:
    print(f"\n── {number}. {name} " + "─" * max(0, 60 - len(name)), flush=True)


def run_all() -> int:
    import torch

    from bench import (appendix, batched_seeds, cost_check, cpu_pin, data_path, gpu_suite, gpu_throughput,
                       head_cache, job_server, mutual_info, noop_rerun, optimizer_step, scheduler_rounds)

    failed = []

    def attempt(number: int, name: str, fn) -> dict | None:
        _section(number, name)
        try:
            return fn()
        except Exception:  # report and go on: one broken benchmark should not hide the others
            traceback.print_exc()
            failed.append(name)
            return None

    attempt(1, "head_cache", lambda: head_cache.main([]))
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        noop = attempt(2, "noop_rerun", lambda: noop_rerun.main(["--workdir", tmp]))
        demo_run = any((ROOT / "results" / "demo").rglob("params.json")) or any(
            (ROOT / "logs" / "demo" / "bench").rglob("*.tsv"))
        if demo_run or noop is None:
            args = ["--root", str(ROOT), "--profile", "demo"]
        else:  # no demo run here yet: the test-profile DAG that benchmark 2 just built from scratch
            args = ["--profile", noop["profile"], "--root", tmp]
        attempt(3, "appendix", lambda: appendix.main(args))
    attempt(4, "data_path", lambda: data_path.main([]))
    if torch.cuda.is_available():
        attempt(5, "gpu_throughput", lambda: gpu_throughput.main([]))
    else:
        _section(5, "gpu_throughput")
        print("skipped: no CUDA GPU on this machine")
    attempt(6, "mutual_info", lambda: mutual_info.main([]))
    # on a GPU the real sizes (≤ 8 min); without CUDA the tiny smoke sizes: its figures then mean nothing
    attempt(7, "gpu_suite", lambda: gpu_suite.main([]))
    attempt(8, "optimizer_step", lambda: optimizer_step.main([]))
    attempt(9, "scheduler_rounds", lambda: scheduler_rounds.main([]))
    attempt(10, "cost_check", lambda: cost_check.main([]))
    attempt(11, "job_server", lambda: job_server.main([]))
    attempt(12, "cpu_pin", lambda: cpu_pin.main([]))
    attempt(13, "batched_seeds", lambda: batched_seeds.main([]))
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    if not argv:
        return run_all()
    if argv[0] in ("-h", "--help") or argv[0] not in NAMES:
        print(__doc__)
        return 0 if argv[0] in ("-h", "--help") else 2
    importlib.import_module(f"bench.{argv[0]}").main(argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
