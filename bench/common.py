"""What the benchmarks share: synthetic images, timing of child processes, the result line."""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = str(Path(sys.executable).parent)


def synthetic_images(n: int, size: int, seed: int, n_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-like uint8 N×H×W×3 images of the demo's synthetic shapes (learnable, not trivial)."""
    from archlab.data.synthetic import generate

    return generate(n, n_classes, size, 3, seed)


def result(text: str) -> None:
    """The benchmark's last line: its ratio or figure."""
    print(f"==> {text}", flush=True)


@dataclass
class Timed:
    """A finished child process: its wall and CPU seconds (user + system, children included)."""

    wall: float
    cpu: float
    output: str
    returncode: int


def run_timed(cmd: list[str], cwd: Path, check: bool = True, env: dict | None = None) -> Timed:
    """Run ``cmd`` and measure it; CPU time is load-independent, wall time is what a user waits."""
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}", **(env or {})}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = proc.stdout + proc.stderr
    if check and proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed in {cwd} (exit {proc.returncode}):\n{out[-3000:]}")
    return Timed(wall, cpu, out, proc.returncode)
