"""The seam between rules and jobs: plans, code versions, the runner's provenance, light commands."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from archlab.config import load_params
from archlab.workflow.pipeline import STUDIES, Paths, Pipeline
from archlab.workflow.provenance import code_digest, code_files
from conftest import ROOT


@pytest.fixture(scope="module")
def demo():
    return Pipeline(load_params("demo", ROOT), Paths("demo"))


def test_every_job_declares_a_params_json_in_its_run_dir(demo):
    for job in demo.jobs:
        assert job.output["params"] == f"{job.run_dir}/params.json"
        assert all(isinstance(v, (str, list)) for v in job.input.values())


def test_outputs_are_unique_across_jobs(demo):
    seen = {}
    for job in demo.jobs:
        for path in job.output.values():
            assert path not in seen, f"{path} is written by {job.describe()} and {seen[path]}"
            seen[path] = job.describe()


def test_every_input_is_some_jobs_output_or_a_resource(demo):
    outputs = {p for job in demo.jobs for p in job.output.values()}
    outputs.add(f"{demo.paths.results}/bench/section.json")  # the timing appendix (workflow/rules/bench.smk)
    for job in demo.jobs:
        for value in job.input.values():
            for path in [value] if isinstance(value, str) else value:
                assert path in outputs or path.startswith(("resources/", "report/templates/", "tests/reference/")) or (
                    path.startswith(f"{demo.paths.results}/.identity/")), (job.describe(), path)  # archlab.workflow.freshness


@pytest.mark.parametrize("section, train", [("gan_section", "gan_train"), ("vae_section", "vae_train"),
                                            ("ood_section", "ood_train"), ("resnet_section", "resnet_head"),
                                            ("cifar_arch_section", "cifar_arch_run")])
def test_sections_read_every_seeds_history_so_dvc_plots_draw_every_run(demo, section, train):
    """The per-epoch CSVs that ``dvc plots show`` draws hold one line per run and seed, not the first seed's."""
    histories = {h for job in demo.jobs_of(section) for h in job.input["histories"]}
    by_seed = [job.files_by_seed("history") for job in demo.jobs_of(train)]  # a multi-seed job: one per seed
    trained = {path for files in by_seed for path in files.values()}
    assert len({seed for files in by_seed for seed in files}) >= (1 if train == "cifar_arch_run" else 3)
    assert trained <= histories, sorted(trained - histories)[:3]


def test_code_version_follows_the_import_closure():
    gan = {p.name for p in code_files("archlab.studies.gan.jobs")}
    resnet = {p.name for p in code_files("archlab.studies.resnet.jobs")}
    assert "classifier.py" in resnet and "gan.py" in gan and "gan.py" not in resnet
    assert code_digest("archlab.studies.resnet.jobs") != code_digest("archlab.studies.gan.jobs")


def test_rules_carry_their_code_version(demo):
    for name, rule in demo.rules.items():
        assert rule.code == code_digest(rule.module), name


def test_dvc_yaml_is_generated_from_the_plans():
    from archlab.workflow.dvc_stages import render

    assert (ROOT / "dvc.yaml").read_text() == render(ROOT), "dvc.yaml is stale: run `python -m archlab dvc-yaml --write`"


def test_dvc_stage_code_deps_are_the_units_own():
    from archlab.workflow.dvc_stages import stages

    deps = {name: stage["do"]["deps"] for name, stage in stages(ROOT)["stages"].items()}
    assert "src/archlab/train/gan.py" in deps["gan"]
    assert "src/archlab/train/gan.py" not in deps["resnet"] and "src/archlab/train/classifier.py" in deps["resnet"]
    assert set(deps) == {"data", "pretrain", *STUDIES, "claims", "report"}
    assert "src/archlab/report/published.yaml" in deps["resnet"] and "src/archlab/report/claims.yaml" in deps["claims"]


@pytest.mark.parametrize("argv", [["list", "--profile", "demo"], ["validate", "--profile", "demo"], ["rules"], ["-h"]])
def test_light_commands_import_no_torch(argv):
    code = ("import sys, runpy; sys.argv = ['archlab', *%r]\n"
            "try:\n    runpy.run_module('archlab', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')") % (argv,)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120).stdout
    assert out.strip().endswith("NO-TORCH"), out[-500:]


def test_run_writes_params_json_with_provenance(tmp_path):
    from archlab.cli import main
    from conftest import copy_params

    root = copy_params(tmp_path / "p")
    assert main(["run", "data_prepare", "name=mnist", "--profile", "test", "--root", str(root)]) == 0
    record = json.loads((root / "results/test/data/mnist/params.json").read_text())
    assert record["params"]["name"] == "mnist" and record["rule"] == "data_prepare"
    assert set(record["inputs"]) == {"identity"}  # its identity file (archlab.workflow.freshness), no other input
    assert record["code"]["digest"] == code_digest("archlab.commands.data_prepare")
    assert {"python", "numpy"} <= set(record["packages"]) and record["identity"]


def test_the_import_scan_finds_what_the_python_parser_finds():
    """provenance reads imports with a line scan (fast DAG builds); it must agree with ast on every source file."""
    import ast

    from archlab.workflow import provenance

    def parsed(path):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        return {n for n in names if provenance._module_file(n) is not None}

    files = sorted(provenance.SRC.joinpath("archlab").rglob("*.py"))
    assert len(files) > 50
    assert {f: parsed(f) for f in files} == {f: set(provenance._direct_imports(f)) for f in files}


def test_the_import_scan_reads_multiline_and_aliased_imports(tmp_path):
    from archlab.workflow import provenance

    src = tmp_path / "mod.py"
    src.write_text("import archlab.io as io\nfrom archlab.train import (checkpoint,  # resume\n    optim as o)\n"
                   "def f():\n    from archlab.data.prepared import PreparedDataset\n")
    found = provenance._direct_imports(src)
    assert {"archlab.io", "archlab.train.checkpoint", "archlab.train.optim", "archlab.data.prepared"} <= found


def test_a_finished_job_ends_at_once_with_its_logs_and_output_flushed(tmp_path):
    """run_from_snakemake ends the process with os._exit (no ~1 s interpreter teardown): nothing buffered is lost."""
    script = ("import logging, sys\n"
              "from archlab.workflow.runner import end_process_now\n"
              "logging.basicConfig(stream=open(sys.argv[1], 'w'), level=logging.INFO)\n"
              "logging.getLogger('archlab.job').info('done in 1.0 s')\n"
              "sys.stdout.write('no newline at the end')\n"
              "end_process_now()\n"
              "raise SystemExit(3)\n")
    log = tmp_path / "job.log"
    proc = subprocess.run([sys.executable, "-c", script, str(log)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert proc.returncode == 0 and proc.stdout == "no newline at the end"
    assert "done in 1.0 s" in log.read_text()


def test_rules_heading_long_chains_run_first(demo):
    """Snakemake's priority is the longest downstream chain of jobs: pretraining outranks the short GAN runs."""
    assert demo.priority("pretrain") > demo.priority("resnet_features") > demo.priority("resnet_strategy")
    assert demo.priority("pretrain") > demo.priority("gan_train") > demo.priority("gan_section") > demo.priority("report") == 1
    assert 'priority: job_priority("resnet_features")' in (ROOT / "workflow/rules/resnet.smk").read_text()


def test_rules_that_may_download_run_before_every_other_rule():
    """Offline, a run fails at once on the data, CIFAR-100-C or weights it cannot fetch, not after long jobs."""
    full = Pipeline(load_params("full", ROOT), Paths("full"))
    fetching = {"data_prepare", "ood_fetch"}
    assert {name for name, rule in full.rules.items() if rule.local} == fetching
    assert {full.priority(name) for name in fetching} == {Pipeline.FETCH_PRIORITY}
    assert max(full.priority(name) for name in full.rules if name not in fetching) < Pipeline.FETCH_PRIORITY
    assert "priority: Pipeline.FETCH_PRIORITY" in (ROOT / "workflow/rules/weights.smk").read_text()  # fetch_weights
