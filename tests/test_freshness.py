"""The run's own record decides what is up to date (archlab.workflow.freshness), with no `.snakemake/` at all.

A copy of the project is given a finished test profile without running a job: every output is written
as a placeholder and every run's params.json records what the runner would (params, code version, input
checksums, the identity file among them). Snakemake's dry run must then plan nothing, and after each edit
exactly the jobs the edit concerns; each test reverts its edit (content decides, so the plan is empty again).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archlab.config import load_files
from archlab.workflow.freshness import in_order
from archlab.workflow.pipeline import Paths, Pipeline
from archlab.workflow.provenance import input_checksums
from conftest import ROOT

ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
BENCH = ["bench/__main__.py", "bench/common.py", "bench/appendix.py"]  # as in workflow/rules/bench.smk
RECORD = "results/test/bench/identity.json"
LOCAL = "local_images"  # a `source: local` dataset of the copied project
EXTRA_OUTPUTS = ["results/test/pretrain/index.json", "results/test/bench/section.json",
                 "results/test/dvc/bench/metrics.json"]  # rules that are not plan jobs


def _dry_run(project: Path, *targets: str) -> tuple[set[str], set[str]]:
    """The rules Snakemake plans, and those judged out of date by their own params.json (the cause)."""
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", *targets, "--configfile", "config/test.yaml"],
                          cwd=project, capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    return (set(re.findall(r"^(?:local)?rule (\w+):", out, flags=re.M)),
            set(re.findall(r"^archlab: (\w+)\b.* is out of date: ", out, flags=re.M)))


def _planned(project: Path, *targets: str) -> set[str]:
    return _dry_run(project, *targets)[0]


def _pipeline(project: Path) -> Pipeline:
    cfg = load_files([project / "params.yaml", project / "config" / "test.yaml"])
    return Pipeline(cfg, Paths("test", resources_dir=cfg["resources"]))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    project = tmp_path_factory.mktemp("finished")
    for item in ("Snakefile", "params.yaml", "config", "workflow", "report/templates", "bench", "src"):
        src = ROOT / item
        (project / item).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, project / item, **(
            {"ignore": shutil.ignore_patterns("__pycache__")} if src.is_dir() else {}))
    (project / "profiles").mkdir()
    (project / "profiles" / "default").symlink_to("../workflow/profiles/default")  # as in the project
    (project / LOCAL / "a").mkdir(parents=True)
    (project / LOCAL / "a" / "1.png").write_bytes(b"image one")
    text = (project / "config" / "test.yaml").read_text().replace(
        "\ndata:\n", f"\ndata:\n  mine: {{kind: imagefolder, source: local, path: {LOCAL}, image_size: 8}}\n", 1)
    (project / "config" / "test.yaml").write_text(text)
    old = os.getcwd()
    os.chdir(project)
    try:
        pipeline = _pipeline(project)
        pipeline.refresh()
        for job in in_order(pipeline.jobs):
            for value in job.input.values():
                for path in [value] if isinstance(value, str) else value:
                    if not Path(path).exists():  # a file no plan job writes (weights marker, bench section)
                        Path(path).parent.mkdir(parents=True, exist_ok=True)
                        if path == EXTRA_OUTPUTS[1]:  # bench.smk copies its identity file first: its record
                            shutil.copy(pipeline.code_identity("bench_section", BENCH, ["archlab.report.section"],
                                                               "none"), RECORD)
                        Path(path).write_text(path)
            for name, path in job.output.items():
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                if name != "params":
                    Path(path).write_text(path)
            sums = input_checksums(job.input)
            Path(job.output["params"]).write_text(json.dumps({
                "rule": job.rule.name, "wildcards": job.wildcards, "params": job.params,
                "inputs": {k: {"path": job.input[k], "sha256": v} for k, v in sums.items()},
                "code": {"module": job.rule.module, "digest": job.rule.code}}))
        for path in EXTRA_OUTPUTS:  # after the study sections they are made of, before the report reads them
            if not Path(path).exists():
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                Path(path).write_text(path)
    finally:
        os.chdir(old)
    assert not (project / ".snakemake").exists()
    assert _planned(project) == set(), "a finished project plans nothing"
    return project


def _edit(path: Path, old: str, new: str) -> str:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))
    return text


def test_a_param_change_is_seen_without_snakemake_metadata(finished):
    config = finished / "config" / "test.yaml"
    before = _edit(config, "  epochs: 1\n", "  epochs: 2\n")  # pretrain.epochs
    try:
        assert shutil.rmtree(finished / ".snakemake", ignore_errors=True) is None
        planned = _planned(finished)
        assert "pretrain" in planned and "data_prepare" not in planned
    finally:
        config.write_text(before)
    assert _planned(finished) == set()


def test_a_replaced_image_of_a_local_folder_reruns_its_dataset(finished):
    image = finished / LOCAL / "a" / "1.png"
    image.write_bytes(b"another image")
    try:
        assert _planned(finished, "results/test/data/mine/meta.json") == {"data_prepare"}
    finally:
        image.write_bytes(b"image one")
    assert _planned(finished, "results/test/data/mine/meta.json") == set()


def test_touching_files_reruns_nothing(finished):
    later = time.time() + 5
    for path in [finished / "workflow" / "scripts" / "run_job.py", finished / "src" / "archlab" / "io.py",
                 finished / "results" / "test" / "data" / "cifar10" / "meta.json"]:
        os.utime(path, (later, later))
    assert _planned(finished) == set()


@pytest.mark.parametrize("path, old, new, stale", [
    # a comment and a reworded docstring: no job's code changes meaning
    ("src/archlab/io.py", "\ndef write_json(", "\n# a comment\n\n\ndef write_json(", set()),
    ("src/archlab/data/sources.py", '"""', '"""Reworded. ', set()),
    # a downloader: what it fetches is pinned by checksums the converting code checks, so nothing reruns
    ("src/archlab/data/download.py", "\ndef url_to_file(", "\nDOWNLOAD_RETRIES = 2\n\n\ndef url_to_file(", set()),
    # the code turning a source's files into arrays: the datasets are prepared again (and what reads them waits
    # for them), no reading job's own code version changes
    ("src/archlab/data/sources.py", "\ndef _arrays_of(", "\nCONVERTED = 2\n\n\ndef _arrays_of(",
     {"data_prepare"}),
    # a class map: the S2 jobs (their module reads the class maps' folder)
    ("src/archlab/features/class_maps/cifar10_imagenet1k.yaml", "\n", "\n# edited\nextra: 1\n", "vit"),
], ids=["comment", "docstring", "downloader", "converter", "class-map"])
def test_an_edit_reruns_exactly_what_it_concerns(finished, path, old, new, stale):
    before = _edit(finished / path, old, new)
    try:
        planned, judged = _dry_run(finished)
        if stale == "vit":
            assert "vit_masking" in judged and all(rule.startswith("vit_") for rule in judged), judged
        else:
            assert judged == stale
        if not stale:
            assert planned == set()
    finally:
        (finished / path).write_text(before)


def test_an_appendix_edit_reruns_the_bench_section(finished):
    appendix = finished / "bench" / "appendix.py"
    before = _edit(appendix, "\ndef ", "\nEDITED = 1\n\n\ndef ")
    try:
        assert _planned(finished) == {"bench_section", "report", "all"}
    finally:
        appendix.write_text(before)
    assert _planned(finished) == set()


def _dvc(project: Path, *args: str) -> str:
    proc = subprocess.run([str(Path(sys.executable).parent / "dvc"), *args], cwd=project, capture_output=True,
                          text=True, env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def _dvc_stage(project: Path, name: str) -> None:
    """dvc.yaml holding the one stage ``name`` for the test profile (upstream results left out), committed
    as if `dvc repro` had made what the copy holds."""
    import yaml

    from archlab.workflow.dvc_stages import stages

    stage = stages(project)["stages"][name]
    stage["foreach"] = ["test"]
    stage["do"]["deps"] = [d for d in stage["do"]["deps"] if not d.startswith("results/")]
    for key in ("metrics", "plots"):
        stage["do"].pop(key, None)
    (project / "dvc.yaml").write_text(yaml.safe_dump({"vars": stages(project)["vars"], "stages": {name: stage}},
                                                     sort_keys=False))
    if not (project / ".dvc").exists():
        _dvc(project, "init", "--no-scm", "-q")
    _dvc(project, "commit", "-f", "-q", f"{name}@test")
    assert "up to date" in _dvc(project, "status", f"{name}@test")


def test_dvc_status_sees_a_top_level_key_every_job_receives(finished):
    """`compile` reaches the model jobs' params; DVC's stages used to track only their own section."""
    _dvc_stage(finished, "resnet")
    params = finished / "params.yaml"
    before = _edit(params, "\ncompile: auto", "\ncompile: false")
    try:
        status = _dvc(finished, "status", "resnet@test")
        assert "modified:" in status and "compile" in status, status
    finally:
        params.write_text(before)


def test_dvc_repro_reruns_a_changed_param_without_snakemake_metadata(finished):
    """The issue's case: `dvc repro` after a param change in a copy holding finished results and no
    `.snakemake/` ran Snakemake, which did nothing, and dvc.lock then recorded a value no run had used.
    Last in this file: it rebuilds one dataset for real (the bundled digits, seconds)."""
    _dvc_stage(finished, "data")
    config = finished / "config" / "test.yaml"
    _edit(config, "  mnist: {source: digits, val_size: 100, seed: 0}", "  mnist: {source: digits, val_size: 100, seed: 3}")
    shutil.rmtree(finished / ".snakemake", ignore_errors=True)
    _dvc(finished, "repro", "data@test")
    record = json.loads((finished / "results/test/data/mnist/params.json").read_text())
    assert record["params"]["spec"]["seed"] == 3
    lock = (finished / "dvc.lock").read_text()
    assert "seed: 3" in lock and "up to date" in _dvc(finished, "status", "data@test")


def test_the_what_reruns_table_is_generated_from_the_code():
    from archlab.workflow.what_reruns import DOC, table

    assert (ROOT / DOC).read_text() == table(ROOT), "run `python -m archlab.workflow.what_reruns --write`"
