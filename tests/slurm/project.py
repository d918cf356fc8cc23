"""Scratch copies of the project for the SLURM, DVC and fault tests, and Snakemake's own output parsed.

Copies pin the test profile to the studies a test needs, so studies added to `config/test.yaml`
later do not lengthen (or break) these tests.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}


def copy_project(dest: Path, studies: list[str] | None = None, **test_overrides) -> Path:
    """The project's files (no results, no tests) in ``dest``; the test profile limited to ``studies``."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for rel in listed:
        if rel and not rel.startswith(("src/", "tests/", ".dvc/")) and (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / rel, dest / rel)
    (dest / "src").symlink_to(ROOT / "src")  # the rules import archlab from <project>/src
    if studies is not None or test_overrides:
        edit_yaml(dest / "config" / "test.yaml", lambda cfg: cfg.update(
            test_overrides, **({"studies": studies} if studies is not None else {})))
    return dest


def edit_yaml(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def run(cmd: list[str], cwd: Path, timeout: float, merge: bool = True) -> str:
    """A project command's output (venv first on PATH), stderr interleaved unless ``merge`` is off;
    a failure shows the end of it."""
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merge else subprocess.PIPE,
                          text=True, env=ENV, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{(proc.stdout + (proc.stderr or ''))[-5000:]}"
    return proc.stdout


def snakemake(cwd: Path, *args: str, config: str = "config/test.yaml", timeout: float = 600) -> str:
    """Run Snakemake on a profile (the test profile by default); return its output."""
    return run([sys.executable, "-m", "snakemake", "--configfile", config, *args], cwd, timeout)


def finished_rules(log: str) -> list[str]:
    """The rule of every job Snakemake reports as finished, in order (works with --quiet rules)."""
    return re.findall(r"Finished jobid: \d+ \(Rule: (\w+)\)", log)
