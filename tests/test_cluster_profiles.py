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
    assert [r for r in default["resources"] if r.startswith("gpu=")] == local["resources"] == ["gpu=1"]
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


# ------------------------------------------------------------------ fractional GPU sharing (gpu_slots)

SHARED_TOY = """
rule all:
    input: expand("t/{{i}}.txt", i=range(4))

rule {rule}:
    output: "t/{{i}}.txt"
    resources: gpu=1, gpu_slots={slots}
    shell: "s=$(date +%s.%N); sleep 1; echo $s $(date +%s.%N) > {{output}}"
"""


def _shared_toy(tmp: Path, rule: str, share: float) -> Path:
    """Four 1-second GPU jobs of rule ``rule`` asking what jobs.smk asks for a ``share`` of a GPU."""
    from archlab.plan import Rule

    slots = Rule(rule, "toy", "m:f", "d", {}, gpu=True, gpu_share=share).gpu_slots({})
    toy = _toy(tmp, gpu=1)
    (toy / "Snakefile").write_text(SHARED_TOY.format(rule=rule, slots=slots))
    return toy


def _default_profile() -> dict:
    return yaml.safe_load((PROFILES / "default" / "config.yaml").read_text())


def test_four_quarter_gpu_jobs_share_the_gpu(tmp_path):
    assert _max_overlap(_shared_toy(tmp_path, "gan_train", 0.25), "--cores", "8") == 4, (
        "four gpu_share=0.25 jobs did not run at once: profiles/default must allow gpu_slots=100 and set gpu: 0 "
        "for the shared rules (set-resources)")


@pytest.mark.parametrize("rule", ["cifar_arch_run", "resnet_features"])
def test_whole_gpu_jobs_still_run_one_at_a_time(tmp_path, rule):
    """A whole-GPU job takes all 100 slots, also in a rule whose other jobs share (S6's ResNet-18 runs)."""
    assert _max_overlap(_shared_toy(tmp_path, rule, 1.0), "--cores", "8") == 1


def test_the_slot_limit_is_one_gpu_and_the_command_line_can_raise_it(tmp_path, monkeypatch):
    assert "gpu_slots=100" in _default_profile()["resources"]
    res = dict(_args(tmp_path / "plain", monkeypatch, "--cores", "8").resources)
    assert res["gpu_slots"].value == 100 and res["gpu"].value == 1
    res = dict(_args(tmp_path / "two", monkeypatch, "--cores", "8", "--resources", "gpu=2", "gpu_slots=200").resources)
    assert res["gpu_slots"].value == 200 and res["gpu"].value == 2


def _slots_by_rule() -> dict[str, set[int]]:
    slots: dict[str, set[int]] = {}
    for profile in ("full", "demo", "test"):
        for job in Pipeline(load_params(profile, ROOT), Paths(profile)).jobs:
            if job.rule.gpu:
                slots.setdefault(job.rule.name, set()).add(job.rule.gpu_slots(job.wildcards))
    return slots


def test_the_default_profile_lifts_the_gpu_limit_for_exactly_the_shared_rules():
    slots = _slots_by_rule()
    shared = {rule for rule, values in slots.items() if min(values) < 100}
    assert set(_default_profile()["set-resources"]) == shared, (
        "list every rule with a plan Rule(gpu_share < 1) under set-resources in workflow/profiles/default")
    assert all(res == {"gpu": 0} for res in _default_profile()["set-resources"].values())


def test_small_models_take_a_quarter_gpu_and_the_rest_a_whole_one():
    slots = _slots_by_rule()
    assert slots["gan_train"] == slots["gan_classifier"] == slots["vae_train"] == {25}
    assert slots["cifar_arch_run"] == {25, 100}  # MLP and Mixer share, ResNet-18 does not
    assert slots["resnet_features"] == slots["ood_train"] == {100}
    cifar = Pipeline(load_params("full", ROOT), Paths("full")).jobs_of("cifar_arch_run")
    by_model = {(j.wildcards["model"], j.rule.gpu_slots(j.wildcards)) for j in cifar}
    assert by_model == {("mlp", 25), ("mixer", 25), ("resnet18", 100)}


def test_a_share_outside_one_gpu_is_refused():
    from archlab.plan import Rule

    for share in (0.0, 1.5):
        with pytest.raises(ValueError, match="gpu_share"):
            Rule("r", "s", "m:f", "d", {}, gpu=True, gpu_share=share)
    assert Rule("r", "s", "m:f", "d", {}, gpu=False).gpu_slots({}) == 0
