"""workflow/rules/<study>.smk: generated from the plans, never stale, and the DAG Snakemake sees is the plans'."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from archlab.workflow import rule_files
from archlab.config import load_params
from archlab.workflow.pipeline import Paths, Pipeline
from conftest import ROOT

ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def test_rule_files_are_generated_from_the_plans():
    assert rule_files.stale(ROOT) == [], "workflow/rules is stale: run `python -m archlab rules --write`"


def _params_copy(tmp: Path) -> Path:
    for item in ("params.yaml", "config", "workflow"):
        (shutil.copytree if (ROOT / item).is_dir() else shutil.copy)(ROOT / item, tmp / item)
    return tmp


def test_a_stale_rule_file_is_found_and_rewritten(tmp_path):
    root = _params_copy(tmp_path)
    vae = root / "workflow" / "rules" / "vae.smk"
    vae.write_text(vae.read_text().replace("mem_mb=8000", "mem_mb=7000"))
    (root / "workflow" / "rules" / "clip.smk").unlink()
    assert sorted(rule_files.stale(root)) == ["workflow/rules/clip.smk", "workflow/rules/vae.smk"]
    assert sorted(rule_files.write(root)) == ["workflow/rules/clip.smk", "workflow/rules/vae.smk"]
    assert rule_files.stale(root) == [] and vae.read_text() == (ROOT / "workflow" / "rules" / "vae.smk").read_text()


def test_every_plan_rule_is_written_once_with_the_plans_resources():
    texts = rule_files.render(ROOT)
    pipeline = Pipeline(load_params("full", ROOT), Paths("full"))
    for name, spec in pipeline.rules.items():
        holders = [path for path, text in texts.items() if f"\nrule {name}:\n" in text]
        assert holders == [f"workflow/rules/{spec.study if spec.study in rule_files.file_units() else 'steps'}.smk"]
        body = texts[holders[0]].split(f"\nrule {name}:\n")[1].split("\n\n\n")[0]
        assert f"mem_mb={spec.mem_mb}," in body and f"threads: {spec.threads}" in body
        assert ("gpu_slots=" in body) == spec.gpu and ("localrule: True" in body) == spec.local


def _rulegraph(profile: str) -> set[tuple[str, str]]:
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--rulegraph", "--configfile", f"config/{profile}.yaml"],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = dict(re.findall(r'(\d+)\[label = "([^"]+)"', proc.stdout))
    return {(names[a], names[b]) for a, b in re.findall(r"(\d+) -> (\d+)", proc.stdout)}


def test_snakemakes_rule_graph_is_the_plans():
    """Every edge between plan rules that Snakemake draws is one the plan's jobs have, and the other way round."""
    pipeline = Pipeline(load_params("test", ROOT), Paths("test"))
    producer = {path: job.rule.name for job in pipeline.jobs for path in job.output.values()}
    planned = {(producer[path], job.rule.name) for job in pipeline.jobs for value in job.input.values()
               for path in ([value] if isinstance(value, str) else value) if path in producer}
    drawn = {(a, b) for a, b in _rulegraph("test") if a in pipeline.rules and b in pipeline.rules}
    assert drawn == planned
