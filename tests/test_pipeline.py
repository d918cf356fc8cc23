"""The pipeline end to end on the tiny test profile: report built, no-op rerun, targeted reruns."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "config/test.yaml"]


def _run(project: Path, *extra: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.run([*SNAKEMAKE, *extra], cwd=project, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stderr + proc.stdout


def _jobs(log: str) -> set[str]:
    return set(re.findall(r"^(?:local)?rule (\w+):", log, flags=re.M))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from conftest import ROOT
    import shutil

    project = tmp_path_factory.mktemp("pipeline")
    for item in ("Snakefile", "params.yaml", "config", "workflow", "report/templates", "bench"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, project / item)
    (project / "src").symlink_to(ROOT / "src")
    log = _run(project)
    return project, log


def test_report_is_built_from_artifacts(built):
    project, log = built
    md = (project / "report/test/report.md").read_text()
    for title in ("S1 — ResNet", "S2 —", "S3 —", "S4 —", "S5 —", "S6 —", "S7 —"):
        assert f"## {title}" in md, title
    assert "Most confused class pairs" in md and "published (source: setting)" in md
    for fig in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (project / "report/test" / fig).resolve().exists(), fig
    assert (project / "logs/test/resnet/section.log").exists()
    assert (project / "results/test/dvc/resnet/metrics.json").exists()


def test_second_run_does_nothing(built):
    project, _ = built
    log = _run(project)
    assert "Nothing to be done" in log and not _jobs(log)


def test_changing_one_head_param_reruns_only_what_it_touches(built):
    project, _ = built
    cfg_path = project / "config/test.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["resnet"]["head"]["epochs"] = 3
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    jobs = _jobs(_run(project))
    s1 = {"resnet_head", "resnet_confusion", "resnet_section", "bench_section", "report", "all"}
    downstream = {"vit_cnn", "vit_section"}  # S2's Grad-CAM reads the S1 head
    assert s1 <= jobs <= s1 | downstream, jobs
