"""The pipeline end to end on the tiny test profile: report built, no-op rerun, targeted reruns, and
the caching promise: after a complete run, every change to what made a result retrains it for real."""
import contextlib
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

pytestmark = pytest.mark.slow
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "config/test.yaml"]


def _run(project: Path, *extra: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.run([*SNAKEMAKE, *extra], cwd=project, capture_output=True, text=True, env=env, timeout=2700)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stderr + proc.stdout


def _jobs(log: str) -> set[str]:
    return set(re.findall(r"^(?:local)?rule (\w+):", log, flags=re.M))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from conftest import ROOT
    import shutil

    project = tmp_path_factory.mktemp("pipeline")
    for item in ("Snakefile", "params.yaml", "config", "workflow", "report/templates", "bench", "src", "tests/reference"):
        src = ROOT / item
        (project / item).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, project / item, **(
            {"ignore": shutil.ignore_patterns("__pycache__")} if src.is_dir() else {}))
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
    assert (project / "logs/test/resnet/resnet_section.log").exists()
    assert (project / "metrics/test/resnet.json").exists()


def test_snakemake_report_shows_the_figures_with_their_captions(built):
    """`snakemake --report`: every figure a rule tags, captioned with its rule's workflow/report/<rule>.rst."""
    project, _ = built
    _run(project, "--report", "snakemake_report.html")
    html = (project / "snakemake_report.html").read_text()
    assert "confusion matrix of the head-only baseline" in html and "Drawn by the rule" in html
def test_the_run_matches_the_test_profiles_reference_run(built):
    """Pinned CPU numerics (archlab/cpu_pin.py): this machine's test-profile values are the reviewed ones in
    tests/reference/test.json, per claim and seed (regenerate: `python -m archlab reference --profile test --write`
    after a test-profile run, and review the diff)."""
    from archlab.cli import main

    assert main(["reference", "--profile", "test", "--root", str(built[0])]) == 0
    assert "matches the reference run" in (built[0] / "report/test/report.md").read_text()
    record = json.loads((built[0] / "results/test/gan/runs/baseline/params.json").read_text())
    assert record["cpu_numerics"]["pinned"] is (platform.machine() == "x86_64")


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
    s1 = {"resnet_head", "resnet_confusion", "resnet_section", "claims", "bench_section", "report", "all"}
    downstream = {"vit_cnn", "vit_section"}  # S2's Grad-CAM reads the S1 head
    assert s1 <= jobs <= s1 | downstream, jobs


# ---------------------------------------------------------------- the caching promise
def _change(project: Path, change) -> None:
    path = project / "config/test.yaml"
    cfg = yaml.safe_load(path.read_text())
    change(cfg)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _record(path: Path) -> dict:
    """The params.json of the run that wrote ``path``: beside it, or above it (a job of several seeds)."""
    return json.loads(next(d / "params.json" for d in path.parents if (d / "params.json").exists()).read_text())


def _pipeline(project: Path):
    from archlab.commands.data import used_datasets
    from archlab.config import load_params
    from archlab.workflow.pipeline import Paths, Pipeline

    cfg = load_params("test", project)
    with contextlib.chdir(project):  # paths as Snakemake gave them to the jobs: relative to the project
        pipeline = Pipeline(cfg, Paths("test"))
    unused = {f"results/test/data/{n}" for n in cfg["data"]} - {f"results/test/data/{n}" for n in used_datasets(cfg)}
    return [j for j in pipeline.jobs if j.run_dir not in unused]


def _no_resume(project: Path, log: str) -> None:
    assert "Rule: " in log
    logs = [p.read_text() for p in (project / "logs/test").rglob("*.log")]
    assert not any("resuming" in text for text in logs)


def test_every_run_records_the_params_it_received(built):
    project, _ = built
    for job in _pipeline(project):
        record = json.loads((project / job.output["params"]).read_text())
        assert record["params"] == job.params, job.describe()
        assert set(record["inputs"]) == set(job.input) and record["code"]["digest"] == job.rule.code
    head = _record(project / "results/test/resnet/head/resnet10/seed0/metrics.json")["params"]
    setting = json.loads((project / "results/test/resnet/section/section.json").read_text())["setting"]
    assert f"head {head['head']['epochs']} epochs" in setting and f"lr {head['head']['optimizer']['lr']}" in setting


def test_a_data_seed_change_retrains_pretraining(built):
    project, _ = built
    weights = project / "results/test/pretrain/resnet10/weights.pt"
    before = torch.load(weights, weights_only=True)
    _change(project, lambda c: c["data"]["pretrain_shapes"].update(seed=c["data"]["pretrain_shapes"]["seed"] + 1))
    log = _run(project, "--", str(weights.relative_to(project)))
    assert {"data_prepare", "pretrain"} <= _jobs(log)
    _no_resume(project, log)
    after = torch.load(weights, weights_only=True)
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_an_image_size_change_retrains_pretraining_and_the_s1_heads(built):
    project, _ = built
    head = project / "results/test/resnet/head/resnet10/seed0/metrics.json"
    cache = project / "results/test/resnet/features/resnet10/features.npz"
    before = _sha(cache)
    _change(project, lambda c: c["pretrain"].update(image_size=32))
    log = _run(project, "--", str(head.relative_to(project)))
    assert {"pretrain", "resnet_features", "resnet_head"} <= _jobs(log)
    _no_resume(project, log)
    assert _record(project / "results/test/pretrain/resnet10/weights.pt")["params"]["image_size"] == 32
    assert _sha(cache) != before


def test_label_smoothing_and_augment_changes_retrain_an_ood_rung(built):
    project, _ = built
    model = project / "results/test/ood/models/simple/seed0/model.pt"
    before = _sha(model)

    def change(cfg):
        cfg["ood"]["ladder"][0].update(label_smoothing=0.2, augment=True)
    _change(project, change)
    log = _run(project, "--", str(model.relative_to(project)))
    assert "ood_train" in _jobs(log)
    _no_resume(project, log)
    assert _sha(model) != before
    assert _record(model)["params"]["label_smoothing"] == 0.2


def test_a_clip_pretrain_change_retrains_and_writes_every_output(built):
    project, _ = built
    _change(project, lambda c: c["clip"]["pretrain"].update(epochs=c["clip"]["pretrain"]["epochs"] + 1))
    epochs = yaml.safe_load((project / "config/test.yaml").read_text())["clip"]["pretrain"]["epochs"]
    log = _run(project, "--", "results/test/clip/section/section.json")
    assert "clip_pretrain" in _jobs(log)
    _no_resume(project, log)
    history = next((project / "results/test/clip").rglob("history.csv"))
    assert len(history.read_text().strip().splitlines()) == 1 + epochs


def test_a_probe_classifier_change_retrains_the_gan_runs(built):
    project, _ = built
    summary = project / "results/test/gan/runs/baseline/seed0/summary.json"
    before = _record(summary)["identity"]
    _change(project, lambda c: c["gan"]["classifier"].update(epochs=c["gan"]["classifier"]["epochs"] + 1))
    log = _run(project, "--", "results/test/gan/section/section.json")
    assert {"gan_classifier", "gan_train", "gan_section"} <= _jobs(log)
    _no_resume(project, log)
    assert _record(summary)["identity"] != before


def test_forcerun_of_a_gan_run_trains_for_real(built):
    project, _ = built
    history = project / "results/test/gan/runs/baseline/seed0/history.csv"
    log = _run(project, "--forcerun", "gan_train", "--", str(history.relative_to(project)))
    assert "gan_train" in _jobs(log) and history.exists()
    _no_resume(project, log)
    assert not list(history.parent.glob("checkpoint*.pt"))


def test_a_code_edit_reruns_exactly_the_jobs_that_import_it(built):
    project, _ = built
    _run(project)  # bring every job up to date after the targeted runs above
    module = project / "src/archlab/train/gan.py"
    module.write_text(module.read_text() + "\n_EDITED = 1  # a change of meaning: a comment alone reruns nothing\n")
    dry = _run(project, "-n")
    assert "gan_train" in _jobs(dry)
    assert _jobs(dry) <= {"gan_classifier", "gan_train", "gan_section", "claims", "bench_section", "report", "all"}, _jobs(dry)
    summary = project / "results/test/gan/runs/baseline/seed0/summary.json"
    before = _record(summary)["code"]["digest"]
    _run(project)
    assert _record(summary)["code"]["digest"] != before
    assert "Nothing to be done" in _run(project)


def test_every_job_log_tells_what_happened(built):
    """Params at the start, one line per epoch for training jobs, the outputs at the end; no empty logs."""
    project, _ = built
    for job in _pipeline(project):
        stem = "_".join([job.rule.name, *job.wildcards.values()])
        text = (project / "logs/test" / job.rule.study / f"{stem}.log").read_text()
        assert "params: {" in text and "output params:" in text and "done in" in text, job.describe()
        if "history" in job.output:
            assert " epoch 1/" in text, job.describe()


def test_local_cpu_runs_fork_their_jobs_from_the_job_server(built):
    """The test profile runs on the CPU: its jobs start as forks of the job server (torch imported
    already), except the few that start before the server is ready or in runs of under three jobs."""
    project, _ = built
    logs = list((project / "logs/test").rglob("*.log"))
    forked = [log for log in logs if "forked from the archlab job server" in log.read_text()]
    assert len(forked) >= len(logs) / 2, f"{len(forked)} of {len(logs)} job logs say they were forked"
    assert (project / "logs/test/job_server.log").exists()
