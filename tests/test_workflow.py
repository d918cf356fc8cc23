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
