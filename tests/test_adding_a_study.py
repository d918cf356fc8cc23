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
