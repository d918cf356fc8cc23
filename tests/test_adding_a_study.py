"""docs/adding-a-study.md names every place a study must be added: every project file that names each
study is in it, and every per-study path it gives (`.../<study>...`) exists for each study."""
from __future__ import annotations

import re
import subprocess

from archlab.studies import STUDIES
from conftest import ROOT

DOC = ROOT / "docs" / "adding-a-study.md"
GENERATED = {"dvc.yaml"}  # written by a command the doc names


def _files_naming_every_study() -> list[str]:
    tracked = subprocess.run(["git", "ls-files", "params.yaml", "config", "src/archlab", "workflow"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    out = []
    for path in tracked:
        if path in GENERATED or not path.endswith((".yaml", ".py", ".smk")):
            continue
        text = (ROOT / path).read_text()
        if all(re.search(rf"\b{s}\b", text) for s in STUDIES):
            out.append(path)
    return out


def test_every_file_that_lists_the_studies_is_a_documented_step():
    doc = DOC.read_text()
    files = _files_naming_every_study()
    assert "params.yaml" in files and "src/archlab/report/claims.yaml" in files  # the scan sees them
    missing = [f for f in files if f not in doc]
    assert not missing, f"docs/adding-a-study.md does not say to edit {missing}"


def test_every_per_study_path_in_the_doc_exists_for_each_study():
    paths = set(re.findall(r"`((?:src|workflow|tests)/[\w/.{},<>-]*<study>[\w/.{},<>-]*)`", DOC.read_text()))
    assert "workflow/rules/<study>.smk" in paths and "src/archlab/schemas/<study>.yaml" in paths
    for template in paths:
        for study in STUDIES:
            path = template.replace("<study>", study)
            if "{" in path:  # src/archlab/studies/<study>/{__init__,plan,jobs,section}.py
                stem, names, suffix = re.match(r"(.*)\{(.*)\}(.*)", path).groups()
                expected = [f"{stem}{n}{suffix}" for n in names.split(",")]
            else:
                expected = [path]
            for p in expected:
                assert "*" in p or (ROOT / p).exists(), (template, p)


# ------------------------------------------------------------------ a stub study, built by following the doc

STUB_PLAN = '''
from archlab.workflow.plan import Rule, run_files

def check(cfg: dict) -> None:
    """Nothing to cross-check."""

def jobs(cfg: dict, paths) -> list:
    s, out = cfg["stub"], paths.study("stub")
    run_dir = f"{out}/runs/seed{{seed}}"
    train = Rule("stub_train", "stub", "archlab.studies.stub.jobs:train", run_dir,
                 run_files(run_dir, metrics="metrics.json"), gpu=True, gpu_share=0.25)
    runs = [train.job({"data": paths.dataset(s["data"])}, {"seed": seed}, seed=seed) for seed in s["seeds"]]
    sec_dir = f"{out}/section"
    section = Rule("stub_section", "stub", "archlab.studies.stub.section:build", sec_dir,
                   {"section": paths.section("stub"), "metrics": paths.metrics("stub")})
    return [*runs, section.job({"metrics": [j.output["metrics"] for j in runs]}, {"profile": cfg["profile"]})]
'''
STUB_JOBS = "def train(job) -> None:\n    raise NotImplementedError('a dry run never calls it')\n"
STUB_SECTION = "def build(job) -> None:\n    raise NotImplementedError('a dry run never calls it')\n"
STUB_SCHEMA = """type: object
additionalProperties: false
required: [data, seeds]
properties:
  data: {type: string}
  seeds: {$ref: "#/$defs/seeds"}
"""


def _append_study(path, study: str) -> None:
    """Add ``study`` to the file's top-level ``studies: [...]`` list."""
    text = path.read_text()
    new = re.sub(r"^studies: \[(.*?)\]", lambda m: f"studies: [{m.group(1)}, {study}]", text, count=1, flags=re.M)
    assert new != text, path
    path.write_text(new)


def test_a_stub_study_built_by_the_docs_steps_joins_the_dag(tmp_path):
    """Follow the doc's table in a scratch copy; each step first checks that the doc names its file."""
    import os
    import shutil
    import sys

    doc = DOC.read_text()
    root = tmp_path
    for item in ("Snakefile", "params.yaml", "config", "workflow", "report/templates", "src"):
        (shutil.copytree if (ROOT / item).is_dir() else shutil.copy)(ROOT / item, root / item)

    def step(named: str):
        assert named in doc, f"docs/adding-a-study.md lacks the step that edits {named}"
        return root / named.replace("<study>", "stub")

    package = step("src/archlab/studies/<study>/{__init__,plan,jobs,section}.py").parent
    package.mkdir()
    for name, text in (("__init__", '"""A stub study."""\n'), ("plan", STUB_PLAN), ("jobs", STUB_JOBS),
                       ("section", STUB_SECTION)):
        (package / f"{name}.py").write_text(text)
    step("`STUDIES` in `src/archlab/studies/__init__.py`")
    init = root / "src/archlab/studies/__init__.py"
    init.write_text(init.read_text().replace('"ood")', '"ood", "stub")'))
    step("src/archlab/schemas/<study>.yaml").write_text(STUB_SCHEMA)
    for profile_file in ("params.yaml", "config/demo.yaml", "config/test.yaml", "config/smoke.yaml"):
        assert f"`{profile_file}`" in doc, profile_file
    with open(root / "params.yaml", "a") as fh:
        fh.write("stub:\n  data: mnist\n  seeds: [0, 1]\n")
    with open(root / "config/demo.yaml", "a") as fh:  # a profile's seeds are its seeds.confirmation
        assert "`seeds.confirmation`" in doc
        fh.write("stub:\n  seeds: [10, 11]\n")
    with open(root / "config/full.yaml", "a") as fh:
        assert "`<study>: {}` in `config/full.yaml`" in doc
        fh.write("stub: {}\n")
    step("the `studies:` lists of `params.yaml`")
    _append_study(root / "params.yaml", "stub")
    _append_study(root / "config/test.yaml", "stub")
    step("python -m archlab rules --write")
    env = {**os.environ, "PYTHONPATH": str(root / "src"),
           "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    run = lambda *argv: subprocess.run([sys.executable, *argv], cwd=root, env=env, capture_output=True, text=True,
                                       timeout=300)
    wrote = run("-m", "archlab", "rules", "--write")
    assert wrote.returncode == 0 and "workflow/rules/stub.smk" in wrote.stdout, wrote.stderr[-2000:]
    assert "rule stub_train:" in (root / "workflow/rules/stub.smk").read_text()
    assert "stub_train" in (root / "workflow/profiles/slurm-gres/config.yaml").read_text()
    dry = run("-m", "snakemake", "-n", "--configfile", "config/test.yaml", "--workflow-profile", "none",
              "--quiet", "rules")
    assert dry.returncode == 0, dry.stderr[-3000:]
    for rule in ("stub_train", "stub_section"):
        assert rule in dry.stdout + dry.stderr
