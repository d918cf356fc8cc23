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
from archlab.workflow.pipeline import Paths, Pipeline
from conftest import ROOT

PROFILES = ROOT / "workflow" / "profiles"
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
TOY = """
rule all:
    input: expand("t/{{i}}.txt", i=range(4))

onstart:
    from archlab.workflow.execution import gpu_bound

    gpu_bound.check(workflow, gpu_jobs={slots} > 0)  # as workflow/rules/common.smk does

rule job:
    output: "t/{{i}}.txt"
    resources: gpu=1, gpu_slots={slots}
    shell: "s=$(date +%s.%N); sleep 1; echo $s $(date +%s.%N) > {{output}}"
"""


def _toy(tmp: Path, slots: int) -> Path:
    """Four 1-second jobs asking `slots` GPU slots each (100: a whole GPU), in a copy of the project's layout:
    the Snakefile at the root, and the project's profiles where the project keeps them (profiles/ and
    workflow/profiles/)."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "Snakefile").write_text(TOY.format(slots=slots))
    shutil.copytree(PROFILES, tmp / "workflow" / "profiles")
    if (ROOT / "profiles").exists():
        shutil.copytree(ROOT / "profiles", tmp / "profiles", symlinks=True)
    return tmp


def _snakemake(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=tmp, env=ENV, capture_output=True,
                          text=True, timeout=300)


def _max_overlap(tmp: Path, *args: str) -> int:
    proc = _snakemake(tmp, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    spans = [tuple(map(float, f.read_text().split())) for f in sorted((tmp / "t").glob("*.txt"))]
    assert len(spans) == 4, spans
    return max(sum(s < end and start < e for s, e in spans) for start, end in spans)


def test_plain_snakemake_runs_one_gpu_job_at_a_time(tmp_path):
    toy = _toy(tmp_path, slots=100)
    assert _max_overlap(toy, "--cores", "8") == 1, (
        "GPU jobs overlapped under plain `snakemake --cores 8`: Snakemake reads the workflow profile only from "
        "profiles/default/ next to the Snakefile; link it there: `ln -s ../workflow/profiles/default profiles/default`")


def test_resources_on_the_command_line_raise_the_limit(tmp_path):
    assert _max_overlap(_toy(tmp_path, slots=100), "--cores", "8", "--resources", "gpu_slots=200") == 2


def test_jobs_asking_no_gpu_are_not_held_back(tmp_path):
    """The demo and test profiles' rules ask no slots: the limit leaves them in parallel as before."""
    assert _max_overlap(_toy(tmp_path, slots=0), "--cores", "8", "--resources", "mem_mb=4000") >= 2


def _args(tmp: Path, monkeypatch, *argv: str):
    from snakemake.cli import parse_args

    monkeypatch.chdir(_toy(tmp, slots=100))
    return parse_args(list(argv))[1]


def _gpu_limit(args) -> int | None:
    res = dict(args.resources or {})
    return res["gpu_slots"].value if "gpu_slots" in res else None


def test_the_profiles_agree_on_the_one_machine_gpu_limit(tmp_path, monkeypatch):
    default = yaml.safe_load((PROFILES / "default" / "config.yaml").read_text())
    local = yaml.safe_load((PROFILES / "local" / "config.yaml").read_text())
    assert default["resources"] == local["resources"] == ["gpu_slots=100"]
    assert "set-resources" not in default, "the GPU shares come from the plans (the rule files), not rule names here"
    assert _gpu_limit(_args(tmp_path / "plain", monkeypatch, "--cores", "8")) == 100
    assert _gpu_limit(_args(tmp_path / "local", monkeypatch, "--profile", "workflow/profiles/local")) == 100


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
    assert set(per_rule) == _gpu_rules(), "regenerate workflow/profiles/slurm-gres: `python -m archlab rules --write`"
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
    from archlab.workflow.plan import Rule

    slots = Rule(rule, "toy", "m:f", "d", {}, gpu=True, gpu_share=share).gpu_slots({})
    toy = _toy(tmp, slots=slots)
    (toy / "Snakefile").write_text(SHARED_TOY.format(rule=rule, slots=slots))
    return toy


def _default_profile() -> dict:
    return yaml.safe_load((PROFILES / "default" / "config.yaml").read_text())


def test_four_quarter_gpu_jobs_share_the_gpu(tmp_path):
    assert _max_overlap(_shared_toy(tmp_path, "gan_train", 0.25), "--cores", "8") == 4, (
        "four gpu_share=0.25 jobs did not run at once: profiles/default must allow gpu_slots=100 and no gpu limit")


@pytest.mark.parametrize("rule", ["cifar_arch_run", "resnet_features"])
def test_whole_gpu_jobs_still_run_one_at_a_time(tmp_path, rule):
    """A whole-GPU job takes all 100 slots, also in a rule whose other jobs share (S6's ResNet-18 runs)."""
    assert _max_overlap(_shared_toy(tmp_path, rule, 1.0), "--cores", "8") == 1


def test_the_slot_limit_is_one_gpu_and_the_command_line_can_raise_it(tmp_path, monkeypatch):
    assert "gpu_slots=100" in _default_profile()["resources"]
    res = dict(_args(tmp_path / "plain", monkeypatch, "--cores", "8").resources)
    assert res["gpu_slots"].value == 100 and "gpu" not in res
    res = dict(_args(tmp_path / "two", monkeypatch, "--cores", "8", "--resources", "gpu_slots=200").resources)
    assert res["gpu_slots"].value == 200


def _slots_by_rule() -> dict[str, set[int]]:
    slots: dict[str, set[int]] = {}
    for profile in ("full", "demo", "test"):
        for job in Pipeline(load_params(profile, ROOT), Paths(profile)).jobs:
            if job.rule.gpu:
                slots.setdefault(job.rule.name, set()).add(job.rule.gpu_slots(job.wildcards))
    return slots


def test_small_models_take_a_quarter_gpu_and_the_rest_a_whole_one():
    slots = _slots_by_rule()
    assert slots["gan_train"] == slots["gan_classifier"] == slots["vae_train"] == {25}
    assert slots["cifar_arch_run"] == {25, 100}  # MLP and Mixer share, ResNet-18 does not
    assert slots["resnet_features"] == slots["ood_train"] == {100}
    cifar = Pipeline(load_params("full", ROOT), Paths("full")).jobs_of("cifar_arch_run")
    by_model = {(j.wildcards["model"], j.rule.gpu_slots(j.wildcards)) for j in cifar}
    assert by_model == {("mlp", 25), ("mixer", 25), ("resnet18", 100)}


def test_a_share_outside_one_gpu_is_refused():
    from archlab.workflow.plan import Rule

    for share in (0.0, 1.5):
        with pytest.raises(ValueError, match="gpu_share"):
            Rule("r", "s", "m:f", "d", {}, gpu=True, gpu_share=share)
    assert Rule("r", "s", "m:f", "d", {}, gpu=False).gpu_slots({}) == 0


# ------------------------------------------------------------------ the documented command lines (issue 27)

def _documented_local_commands() -> list[str]:
    """Every one-machine `snakemake --cores N [--resources ...]` line of docs/full-profile.md's code blocks."""
    text = (ROOT / "docs" / "full-profile.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    return sorted({line for line in lines if re.fullmatch(r"snakemake --cores \d+( --resources .+)?", line)})


def test_the_documented_commands_keep_gpu_jobs_bounded(tmp_path):
    """Run each documented one-machine command on four whole-GPU toy jobs: as many run at once as its
    gpu_slots allow (one GPU, or the N it names), never all four."""
    commands = _documented_local_commands()
    assert any("mem_mb=" in c for c in commands) and any("gpu_slots=200" in c for c in commands), commands
    for i, command in enumerate(commands):
        args = command.replace("<MB available>", "64000").split()[1:]
        slots = re.search(r"gpu_slots=(\d+)", command)
        expected = int(slots.group(1)) // 100 if slots else 1
        assert _max_overlap(_toy(tmp_path / str(i), slots=100), *args) == expected, command


def test_resources_without_a_gpu_limit_stop_a_run_with_gpu_jobs(tmp_path):
    """The memory advice alone (`--resources mem_mb=...`) would drop the profile's gpu_slots: refused, with the fix."""
    proc = _snakemake(_toy(tmp_path, slots=100), "--cores", "8", "--resources", "mem_mb=64000")
    assert proc.returncode != 0 and not (tmp_path / "t").exists()
    assert "--resources mem_mb=64000 gpu_slots=100" in proc.stderr + proc.stdout


def test_the_gpu_check_lets_cluster_runs_and_cpu_runs_pass():
    from archlab.workflow.execution.gpu_bound import problem

    assert problem({}, local=False, gpu_jobs=True) is None  # SLURM: each job has its own GPU
    assert problem({"mem_mb": 1}, local=True, gpu_jobs=False) is None  # the demo: no job asks a GPU
    assert problem({"gpu_slots": 100}, local=True, gpu_jobs=True) is None
    assert "gpu_slots=100" in problem({"mem_mb": 1}, local=True, gpu_jobs=True)


def test_the_workflow_refuses_an_unbounded_gpu_run_before_any_job(project):
    """The real Snakefile (common.smk's onstart): GPU rules asking a GPU, a --resources list without gpu_slots."""
    cfg = project / "config" / "test.yaml"
    cfg.write_text(cfg.read_text().replace("gpus_per_job: 0", "gpus_per_job: 1"))
    args = ["results/test/data/mnist/meta.json", "--cores", "1", "--configfile", "config/test.yaml"]
    proc = _snakemake(project, *args, "--resources", "mem_mb=64000")
    assert proc.returncode != 0 and "gpu_slots=100" in proc.stdout + proc.stderr, proc.stderr[-3000:]
    # no job ran: under results/ only the jobs' expected identities, written while the DAG is built (freshness)
    made = [p for p in (project / "results").rglob("*") if p.is_file() and ".identity" not in p.parts]
    assert not made, made
    assert _snakemake(project, *args, "--resources", "mem_mb=64000", "gpu_slots=100", "-n").returncode == 0
