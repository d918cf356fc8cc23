"""The workflow definition itself: lint-clean, the full DAG builds offline, bad params stop it early."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def _snakemake(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True, env=ENV, timeout=300)


@pytest.mark.parametrize("profile_args", [[], ["--configfile", "config/demo.yaml"]], ids=["full", "demo"])
def test_lint_is_clean(profile_args):
    proc = _snakemake("--lint", *profile_args)
    assert proc.returncode == 0 and "good condition" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_full_profile_dag_builds_without_network():
    proc = _snakemake("-n", "--quiet", "rules")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    for rule in ("data_prepare", "fetch_weights", "resnet_features", "resnet_strategy", "report"):
        assert rule in out


def test_invalid_params_stop_snakemake_before_any_job(project):
    cfg = project / "config" / "demo.yaml"
    cfg.write_text(cfg.read_text().replace("arch: resnet18", "arch: resnet181"))
    proc = _snakemake("-n", "--configfile", "config/demo.yaml", cwd=project)
    assert proc.returncode != 0
    assert "resnet.arch: 'resnet181' is not one of the allowed values" in proc.stdout + proc.stderr


def test_stage_reports_bad_input_in_one_line_with_exit_code_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "archlab", "run", "data_prepare", "name=imagenet", "--profile", "demo",
                           "--root", str(ROOT)], capture_output=True, text=True, env=ENV, cwd=tmp_path)
    assert proc.returncode == 2
    assert "no data_prepare job with {'name': 'imagenet'}" in proc.stderr and "Traceback" not in proc.stderr


def _append(text: str, name: str = "test"):
    return lambda project: (project / "config" / f"{name}.yaml").write_text(
        (project / "config" / "test.yaml").read_text() + text)


def _edit(change):
    import yaml

    def setup(project):
        path = project / "config" / "test.yaml"
        cfg = yaml.safe_load(path.read_text())
        change(cfg)
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return setup


def _vae_run(cfg, name, schedule):
    run = next(r for r in cfg["vae"]["runs"] if r["name"] == name)
    run["schedule"] = schedule


MISTAKES = {
    "second_top_level_block": (_append("\nresnet:\n  arch: resnet18\n"), "test",
                               ["test.yaml: key 'resnet' is given twice", "keep one"]),
    "vae_schedule_ends_at_half": (_edit(lambda c: _vae_run(c, "cosine", {"kind": "constant", "beta": 0.5})), "test",
                                  ["ends at β = 0.5", "vae.runs"]),
    "missing_caption_set": (_edit(lambda c: c["clip"].setdefault("gap", {}).update(caption_set="nope")), "test",
                            ["clip.gap.caption_set", "nope"]),
    "role_names_a_renamed_run": (_edit(lambda c: c["vae"]["runs"][2].update(name="cosine_v2")), "test",
                                 ["vae.roles.annealed", "'cosine' is not a run"]),
    "repeated_seed": (_edit(lambda c: c["gan"].update(seeds=[0, 0])), "test", ["gan.seeds", "lists an entry twice"]),
    "profile_of_another_name": (_append("", name="mytest"), "mytest",
                                ["mytest.yaml: profile: 'test' does not match the file name", "profile: mytest"]),
    "cuda_without_cuda": (_edit(lambda c: c.update(device="cuda")), "test", ["device: cuda", "set `device: auto`"]),
}


@pytest.mark.parametrize("case", sorted(MISTAKES))
def test_dry_run_rejects_each_mistake_before_any_job(project, case):
    import torch

    setup, profile, says = MISTAKES[case]
    if case == "cuda_without_cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    setup(project)
    proc = _snakemake("-n", "--configfile", f"config/{profile}.yaml", cwd=project)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-2000:]
    for part in says:
        assert part in out, f"{part!r} not in {out[-2000:]}"
    assert "rule " not in out and "Traceback" not in out  # stopped before any job was scheduled


def test_exponent_floats_pass_the_dry_run(project):
    cfg = project / "config" / "test.yaml"
    cfg.write_text(cfg.read_text().replace("lr: 2.0e-3", "lr: 2e-3", 1))
    proc = _snakemake("-n", "--configfile", "config/test.yaml", cwd=project)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-2000:]
