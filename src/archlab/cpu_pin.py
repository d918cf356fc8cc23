"""The same floating-point numbers from every x86-64 CPU with AVX2: pin the code paths that round.

Why: torch picks its CPU kernels by the widest vector unit it finds (AVX-512 here, AVX2 there), and so
do oneDNN (convolutions) and MKL (matrix products). A wider vector sums in a different order, so the
last bits of a result differ between machines; a small GAN amplifies these bits into a different
phenomenon (issue 26: the same run ended with G's first-layer gradient norm 2.90 on one CPU, 0.00 on
another). Pinning every library to the AVX2 paths, which every x86-64 CPU since 2013 runs, makes a job
compute the same bits on each of them.

What is pinned, through the environment, because each library reads it once, at its first use:
  - ``ATEN_CPU_CAPABILITY=avx2``: torch's own kernels (read at the first tensor operation, not at import).
  - ``ONEDNN_MAX_CPU_ISA=AVX2``: oneDNN (``torch.backends.mkldnn``), convolutions and some linear layers.
  - ``MKL_CBWR=AVX2,STRICT``: MKL's conditional numerical reproducibility: the AVX2 code path on Intel and
    AMD alike, and (``STRICT``) results that do not depend on memory alignment.
  - the thread count (``OMP_NUM_THREADS`` & co., set per job by :func:`archlab.workflow.runner.pin_threads`): a
    reduction split over N threads adds in another order; every rule runs with one thread.

Where: :mod:`archlab`'s ``__init__`` calls :func:`pin` first thing, so every entry point (Snakemake's
rules and ``run_job.py``, the job server before it imports torch, ``python -m archlab run``, SLURM jobs,
which run ``run_job.py``, and the tests) is pinned before torch computes anything, whatever the calling
environment says. :func:`check` (called by the runner before a job) refuses to run a job whose torch was
already set to other paths: a process that imported and used torch before importing archlab.

``ARCHLAB_CPU_PIN=native`` turns the pinning off (the machine's widest paths: faster on AVX-512, but its
numbers are its own); ``bench/cpu_pin.py`` measures what the pinning costs. On other architectures
(ARM: NEON/SVE, no AVX) nothing is pinned: runs there are deterministic on one machine, but their
numbers are not claimed equal to x86-64 ones or between ARM CPUs of different vector widths.

No torch import here: light commands import this too.
"""
from __future__ import annotations

import os
import platform
import sys

SWITCH = "ARCHLAB_CPU_PIN"  # "native": leave every library its machine's widest code paths
PINNED = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2,STRICT"}
TORCH_CAPABILITY = "AVX2"  # what torch.backends.cpu.get_cpu_capability() says once pinned
X86 = ("x86_64", "AMD64", "i686", "i386")


def wanted(environ=os.environ) -> bool:
    """Whether this process pins: on x86-64, unless switched off."""
    return platform.machine() in X86 and environ.get(SWITCH, "avx2") != "native"


def pin(environ=os.environ) -> None:
    """Set :data:`PINNED` in ``environ`` (overriding what the caller set: a stray ``ATEN_CPU_CAPABILITY``
    would silently change the numbers); child processes inherit it."""
    if wanted(environ):
        environ.update(PINNED)


def state() -> dict:
    """What this process's numerics are pinned to, for a run's record (``params.json``)."""
    torch = sys.modules.get("torch")
    record = {"pinned": wanted(), **{k: os.environ.get(k) for k in PINNED}}
    if torch is not None:
        record["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    return record


def check() -> None:
    """Refuse a job whose already-imported torch runs other kernels than the pinned ones (torch's choice
    is fixed at its first operation: a process that computed with torch before importing archlab)."""
    torch = sys.modules.get("torch")
    if torch is None or not wanted():
        return
    found = torch.backends.cpu.get_cpu_capability()
    if found != TORCH_CAPABILITY and _supports_avx2():
        from archlab.errors import ArchlabError

        raise ArchlabError(f"torch in this process runs its {found} kernels, not the pinned {TORCH_CAPABILITY} "
                           f"ones: it computed before `import archlab` could pin them (archlab/cpu_pin.py). Import "
                           f"archlab before using torch, or set {SWITCH}=native to accept this machine's own numbers")


def _supports_avx2() -> bool:
    try:
        with open("/proc/cpuinfo") as fh:
            return any(line.startswith("flags") and " avx2" in line for line in fh)
    except OSError:
        return True
