"""The CPU pinning (archlab/cpu_pin.py): the same bits from every x86-64 CPU with AVX2.

Each case trains a tiny GAN, VAE and convolutional classifier in a fresh process (tests/cpu_pin_probe.py)
under another starting environment: what a machine with other vector units, or a user with stray
variables, would start from."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from archlab import cpu_pin

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "tests" / "cpu_pin_probe.py"
# what an AVX-512 machine's libraries pick by themselves, set explicitly: pinning must override it
WIDEST = {"ATEN_CPU_CAPABILITY": "avx512", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE", "MKL_CBWR": "AUTO"}
x86_only = pytest.mark.skipif(platform.machine() not in cpu_pin.X86, reason="pinning applies to x86-64 only")


def _clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {*cpu_pin.PINNED, cpu_pin.SWITCH}}
    return {**env, "PYTHONPATH": str(ROOT / "src"), **extra}


def probe(**env: str) -> dict:
    out = subprocess.run([sys.executable, str(PROBE)], env=_clean_env(**env), capture_output=True, text=True,
                         timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _has_avx512() -> bool:
    try:
        return " avx512f" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


@x86_only
def test_pinned_numbers_are_identical_from_any_starting_environment():
    plain, widest = probe(), probe(**WIDEST)
    assert plain["capability"] == widest["capability"] == cpu_pin.TORCH_CAPABILITY
    assert plain == widest


@x86_only
@pytest.mark.skipif(not _has_avx512(), reason="needs a CPU with AVX-512 to show two vector widths")
def test_unpinned_vector_width_changes_the_numbers_and_pinning_gives_the_avx2_ones():
    """The same training on AVX-512 and AVX2 kernels ends with other weights (here the convolutional VAE and
    classifier: oneDNN and torch's kernels round by vector width; the stacked GAN MLP happens to end equal on
    this CPU); pinned, this machine computes exactly what an AVX2-only machine computes."""
    native = probe(**{cpu_pin.SWITCH: "native"})
    avx2_machine = probe(**{cpu_pin.SWITCH: "native", **{k: v.split(",")[0] for k, v in cpu_pin.PINNED.items()}})
    pinned = probe()
    assert native["capability"] == "AVX512" and avx2_machine["capability"] == "AVX2"
    assert native["vae"] != avx2_machine["vae"] and native["classifier"] != avx2_machine["classifier"]
    assert pinned == avx2_machine


def test_pin_overrides_what_the_caller_set_and_native_leaves_it():
    env = dict(WIDEST)
    cpu_pin.pin(env)
    assert env == (cpu_pin.PINNED if cpu_pin.wanted(env) else WIDEST)
    native = {**WIDEST, cpu_pin.SWITCH: "native"}
    cpu_pin.pin(native)
    assert native == {**WIDEST, cpu_pin.SWITCH: "native"}


@x86_only
@pytest.mark.parametrize("entry", ["archlab.workflow.execution.job_server", "archlab.cli", "archlab.workflow.runner"])
def test_every_entry_point_pins_before_torch(entry):
    """Snakemake's run_job.py imports archlab.workflow.execution.job_server first, ``python -m archlab`` archlab.cli, the
    job server (forks included) archlab.workflow.execution.job_server: each pins on import, whatever the environment said."""
    code = f"import {entry}, os, torch; print(torch.backends.cpu.get_cpu_capability(), os.environ['MKL_CBWR'])"
    out = subprocess.run([sys.executable, "-c", code], env=_clean_env(**WIDEST), capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    assert out == [cpu_pin.TORCH_CAPABILITY, cpu_pin.PINNED["MKL_CBWR"]]


@x86_only
@pytest.mark.skipif(not _has_avx512(), reason="needs a CPU whose own kernels are not AVX2")
def test_a_job_refuses_a_torch_that_computed_before_archlab_pinned_it():
    code = ("import torch; torch.ones(2) + 1\n"
            "from archlab import cpu_pin\n"
            "from archlab.errors import ArchlabError\n"
            "try:\n    cpu_pin.check()\nexcept ArchlabError as exc:\n    print('refused:', exc)\n")
    out = subprocess.run([sys.executable, "-c", code], env=_clean_env(), capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.startswith("refused:") and "AVX512" in out and "import archlab" in out.replace("`", "")
