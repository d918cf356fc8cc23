"""The Snakemake profiles: plain `snakemake` on one machine never runs more GPU jobs at once than
configured (the workflow profile profiles/default), and the local, SLURM and SLURM-with-GRES profiles
agree with it and with the rules the plans declare."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from archlab.config import load_params
from archlab.pipeline import Paths, Pipeline
from conftest import ROOT

PROFILES = ROOT / "workflow" / "profiles"
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
TOY = """
rule all:
    input: expand("t/{{i}}.txt", i=range(4))

rule job:
    output: "t/{{i}}.txt"
    resources: gpu={gpu}
    shell: "s=$(date +%s.%N); sleep 1; echo $s $(date +%s.%N) > {{output}}"
"""


def _toy(tmp: Path, gpu: int) -> Path:
    """Four 1-second jobs asking `gpu` GPUs each, in a copy of the project's layout: the Snakefile at
    the root, and the project's profiles where the project keeps them (profiles/ and workflow/profiles/)."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "Snakefile").write_text(TOY.format(gpu=gpu))
    shutil.copytree(PROFILES, tmp / "workflow" / "profiles")
    if (ROOT / "profiles").exists():
        shutil.copytree(ROOT / "profiles", tmp / "profiles", symlinks=True)
    return tmp


def _max_overlap(tmp: Path, *args: str) -> int:
    proc = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=tmp, env=ENV, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    spans = [tuple(map(float, f.read_text().split())) for f in sorted((tmp / "t").glob("*.txt"))]
    assert len(spans) == 4, spans
    return max(sum(s < end and start < e for s, e in spans) for start, end in spans)


def test_plain_snakemake_runs_one_gpu_job_at_a_time(tmp_path):
    toy = _toy(tmp_path, gpu=1)
    assert _max_overlap(toy, "--cores", "8") == 1, (
        "GPU jobs overlapped under plain `snakemake --cores 8`: Snakemake reads the workflow profile only from "
        "profiles/default/ next to the Snakefile; link it there: `ln -s ../workflow/profiles/default profiles/default`")


def test_resources_on_the_command_line_raise_the_limit(tmp_path):
    assert _max_overlap(_toy(tmp_path, gpu=1), "--cores", "8", "--resources", "gpu=2") == 2


def test_jobs_asking_no_gpu_are_not_held_back(tmp_path):
    """The demo and test profiles' rules ask gpu=0: the limit leaves them in parallel as before."""
    assert _max_overlap(_toy(tmp_path, gpu=0), "--cores", "8") >= 2


def _args(tmp: Path, monkeypatch, *argv: str):
    from snakemake.cli import parse_args

    monkeypatch.chdir(_toy(tmp, gpu=1))
    return parse_args(list(argv))[1]


def _gpu_limit(args) -> int | None:
    res = dict(args.resources or {})
    return res["gpu"].value if "gpu" in res else None


def test_the_profiles_agree_on_the_one_machine_gpu_limit(tmp_path, monkeypatch):
    default = yaml.safe_load((PROFILES / "default" / "config.yaml").read_text())
    local = yaml.safe_load((PROFILES / "local" / "config.yaml").read_text())
    assert default["resources"] == local["resources"] == ["gpu=1"]
    assert _gpu_limit(_args(tmp_path / "plain", monkeypatch, "--cores", "8")) == 1
    assert _gpu_limit(_args(tmp_path / "local", monkeypatch, "--profile", "workflow/profiles/local")) == 1


def test_the_documented_slurm_commands_lift_the_one_machine_limit(tmp_path, monkeypatch):
    text = (PROFILES / "slurm" / "config.yaml").read_text()
    plain = "snakemake --profile workflow/profiles/slurm --workflow-profile none"
    gres = "snakemake --profile workflow/profiles/slurm --workflow-profile workflow/profiles/slurm-gres"
    assert plain in text and gres in text
    for name, command in (("plain", plain), ("gres", gres)):
        args = _args(tmp_path / name, monkeypatch, *command.split()[1:])
        assert args.executor == "slurm" and args.retries == 3 and _gpu_limit(args) is None, (command, args.resources)
    assert dict(args.set_resources["vae_train"])["gres"].raw == "gpu:1"  # sent as --gres=gpu:1


def test_the_slurm_profile_holds_its_keys():
    cfg = yaml.safe_load((PROFILES / "slurm" / "config.yaml").read_text())
    assert cfg["executor"] == "slurm" and cfg["retries"] >= 3 and cfg["rerun-incomplete"] is True
    assert cfg["default-resources"]["mem_mb"] >= 4000 and cfg["default-resources"]["runtime"] >= 60
    assert cfg["slurm-init-seconds-before-status-checks"] * 3 <= 300  # squeue usable at SLURM's default MinJobAge
    assert cfg["seconds-between-status-checks"] < 300
    text = (PROFILES / "slurm" / "config.yaml").read_text()
    for documented in ("slurm-status-command: squeue", "MinJobAge", "sacct", "--gres=gpu:N", "slurm-requeue"):
        assert documented in text, documented


def _gpu_rules() -> set[str]:
    names = set()
    for profile in ("full", "demo", "test"):
        cfg = load_params(profile, ROOT)
        names |= {r.name for r in Pipeline(cfg, Paths(profile)).rules.values() if r.gpu}
    return names


def test_the_gres_profile_rewrites_exactly_the_gpu_rules():
    cfg = yaml.safe_load((PROFILES / "slurm-gres" / "config.yaml").read_text())
    per_rule = cfg["set-resources"]
    assert set(per_rule) == _gpu_rules(), "list every plan Rule(gpu=True) in workflow/profiles/slurm-gres"
    gpus = load_params("full", ROOT)["gpus_per_job"]
    for rule, res in per_rule.items():
        assert res["gpu"] == 0, rule  # else the plugin sends --gpus as well
        assert re.fullmatch(rf"gpu(:[A-Za-z0-9_.]+)?:{gpus}", res["gres"]), (rule, res)


MEASURED_PEAK_MB = {"vae_train": 3700}  # S4's mutual-information diagnostic, full profile (issue 15)


def test_requested_memory_covers_the_measured_peaks():
    rules = Pipeline(load_params("full", ROOT), Paths("full")).rules
    for name, peak in MEASURED_PEAK_MB.items():
        assert rules[name].mem_mb >= 2 * peak, (name, rules[name].mem_mb, peak)
