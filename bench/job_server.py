"""The job server's gain per job: N jobs that import what a typical job imports (torch, torchvision, pandas,
matplotlib), each started as a new Python process vs forked from the job server (archlab.workflow.execution.job_server),
side by side, in one run on this machine. The result: seconds saved per job and that saving over the demo's
job count, for comparison with the demo's wall time (does the server still pay >= 10 % of it?).

    python -m bench job_server [--jobs 6]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, result, run_timed

READY_SECONDS = 600  # the server imports torch & co. before it forks a job, on cores that may be busy
IMPORTS = "import archlab, torch, torchvision, pandas, matplotlib.pyplot"  # archlab first: its torchvision fix


def typical_job(_argument) -> None:
    """The job: its imports, nothing else (forked, they are already loaded)."""
    exec(IMPORTS)


def _client() -> list[str]:
    return [sys.executable, "-c", "import sys; from archlab.workflow.execution.job_server import delegate; "
            "code = delegate('bench.job_server:typical_job', None); sys.exit(99 if code is None else code)"]


def main(argv: list[str] | None = None) -> dict:
    from archlab.config import load_params
    from archlab.workflow.execution.job_server import HASH_SEED_VARIABLE, SOCKET_VARIABLE, Server, hash_seed
    from archlab.workflow.pipeline import Paths, Pipeline

    parser = argparse.ArgumentParser(prog="python -m bench job_server")
    parser.add_argument("--jobs", type=int, default=6)
    args = parser.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]), "MPLBACKEND": "Agg",
           HASH_SEED_VARIABLE: hash_seed()}  # the server's: a job asking for another seed is not forked
    fresh = [run_timed([sys.executable, "-c", IMPORTS], ROOT, env=env) for _ in range(args.jobs)]
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        server = Server(ROOT / "src", log)
        try:
            served = {**env, SOCKET_VARIABLE: str(server.socket)}
            probe = run_timed(_client(), ROOT, check=False, env=served)  # waits for the server's imports
            deadline = time.monotonic() + READY_SECONDS
            while probe.returncode == 99:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the job server ran no job within {READY_SECONDS} s ({log.read_text()[-2000:]})")
                probe = run_timed(_client(), ROOT, check=False, env=served)
            forked = [run_timed(_client(), ROOT, env=served) for _ in range(args.jobs)]
        finally:
            server.stop()
    # CPU (user + system of the client and, forked, of nothing else: the fork's CPU is the server's child, not the
    # client's) understates the forked side; wall time on a loaded machine overstates both: report both.
    cpu_fresh = sum(t.cpu for t in fresh) / args.jobs
    wall_fresh = sum(t.wall for t in fresh) / args.jobs
    wall_forked = sum(t.wall for t in forked) / args.jobs
    demo_jobs = len(Pipeline(load_params("demo", ROOT), Paths("demo")).jobs)
    saving = wall_fresh - wall_forked
    out = {"jobs": args.jobs, "fresh_s": wall_fresh, "fresh_cpu_s": cpu_fresh, "forked_s": wall_forked,
           "ratio": wall_fresh / wall_forked, "saving_per_job_s": saving, "demo_jobs": demo_jobs,
           "demo_saving_s": saving * demo_jobs}
    result(f"per job: new process {wall_fresh:.2f} s wall ({cpu_fresh:.2f} s CPU), forked {wall_forked:.2f} s wall "
           f"({out['ratio']:.1f}x); x {demo_jobs} demo jobs = {out['demo_saving_s']:.0f} s of job time, to divide by "
           "the cores and compare with the demo's wall time")
    return out


if __name__ == "__main__":
    main()
