"""DVC over the pipeline, in a temporary git repository holding a copy of the project.

The copy runs the test profile with S1 only (dvc.yaml trimmed to its stages, `foreach: [test]`):
`dvc repro` builds the report, a no-op `dvc repro` runs nothing, a one-value change in S1's
params reruns S1 and the report only (checked on DVC's and Snakemake's own output), and
`dvc exp run -S` changes a value that `dvc params diff`, `dvc metrics diff` and `dvc plots diff` then show.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from slurm.project import ENV, ROOT, copy_project, edit_yaml, finished_rules, run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
STUDIES = ["resnet"]
DVC = [str(Path(sys.executable).parent / "dvc")]
STUDY_JOB = re.compile(r"(data_prepare|pretrain|resnet_)")
S1_TARGET, REPORT_TARGET = "results/test/resnet/section/section.json", "report/test/report.md"


def dvc(repo: Path, *args: str) -> str:
    """DVC's output; `--json` commands give their JSON alone (stdout only)."""
    return run([*DVC, *args], repo, timeout=900, merge="--json" not in args)


def git(repo: Path, *args: str) -> None:
    run(["git", "-c", "user.name=archlab-test", "-c", "user.email=test@archlab", *args], repo, timeout=60)


def stages_run(log: str) -> set[str]:
    return set(re.findall(r"^Running stage '([^']+)'", log, re.M))


def stages_skipped(log: str) -> set[str]:
    return set(re.findall(r"^Stage '([^']+)' didn't change, skipping", log, re.M))


def repro_jobs(repo: Path, *dvc_args: str) -> tuple[str, dict[str, list[str]]]:
    """Run DVC; return its output and, per Snakemake call it made (by target), the jobs that ran.

    Each Snakemake call writes its own log under .snakemake/log, its command line first.
    """
    logs = repo / ".snakemake" / "log"
    before = set(logs.glob("*.log"))
    out = dvc(repo, *dvc_args)
    jobs = {}
    for path in sorted(set(logs.glob("*.log")) - before):
        text = path.read_text()
        jobs[re.search(r"Command: .* -- (\S+)", text).group(1)] = sorted(finished_rules(text))
    return out, jobs


def trimmed_dvc_yaml(studies: list[str], profile: str) -> dict:
    """The project's dvc.yaml with only the shared stages and ``studies``, for one profile."""
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    keep = {"data", "pretrain", "claims", "report", *studies}
    spec["stages"] = {name: stage for name, stage in spec["stages"].items() if name in keep}
    for stage in spec["stages"].values():
        stage["foreach"] = [profile]
    other_study = re.compile(r"results/\$\{item\}/(\w+)(/|$)")
    for name in ("claims", "report"):
        stage = spec["stages"][name]["do"]
        stage["deps"] = [d for d in stage["deps"] if not (m := other_study.match(d)) or m.group(1) in {*studies, *keep}]
    return spec


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    path = copy_project(tmp_path_factory.mktemp("dvc") / "repo", studies=STUDIES)
    # S1's image-training strategies add nothing to what DVC is tested for here
    edit_yaml(path / "config" / "test.yaml", lambda c: c["resnet"]["strategies"].update(names=["head"]))
    (path / "dvc.yaml").write_text(yaml.safe_dump(trimmed_dvc_yaml(STUDIES, "test"), sort_keys=False))
    git(path, "init", "-q")
    dvc(path, "init", "-q")
    dvc(path, "config", "core.analytics", "false")
    shutil.copytree(ROOT / ".dvc" / "plots", path / ".dvc" / "plots", dirs_exist_ok=True)  # the `runs` template
    git(path, "add", "-A")
    git(path, "commit", "-qm", "pipeline")
    log = dvc(path, "repro", "report@test")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "first repro")
    return SimpleNamespace(path=path, first=log)


def test_every_profile_file_carries_the_params_its_stages_track(tmp_path):
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())  # also: dvc.yaml is valid YAML
    for name, stage in spec["stages"].items():
        for item in stage["foreach"]:
            for entry in stage["do"].get("params", []):
                for file, keys in entry.items():
                    data = yaml.safe_load((ROOT / file.replace("${item}", item)).read_text())
                    missing = [k for k in keys if k not in data]
                    assert not missing, f"stage {name}@{item} tracks {missing} in {file}, which lacks them (add `<key>: {{}}`)"
    copy_project(tmp_path / "p")
    run([*DVC, "init", "--no-scm", "-q"], tmp_path / "p", timeout=60)
    listed = run([*DVC, "stage", "list"], tmp_path / "p", timeout=120)
    assert "report@demo" in listed and "resnet@full" in listed


def test_repro_builds_the_report(repo):
    assert stages_run(repo.first) == {f"{s}@test" for s in ("data", "pretrain", *STUDIES, "claims", "report")}
    assert {"data_prepare", "pretrain", "resnet_head", "resnet_section", "report"} <= set(finished_rules(repo.first))
    assert "S1 — ResNet transfer learning" in (repo.path / "report/test/report.md").read_text()


def test_noop_repro_runs_nothing(repo):
    log = dvc(repo.path, "repro", "report@test")
    assert "Data and pipelines are up to date." in log
    assert not stages_run(log) and not finished_rules(log)


def test_one_value_change_reruns_that_study_and_the_report_only(repo):
    edit_yaml(repo.path / "config" / "test.yaml", lambda c: c["resnet"].update(confusion={"top_pairs": 3}))
    status = json.loads(dvc(repo.path, "status", "--json"))
    assert set(status) == {"resnet@test"}, status
    log, jobs = repro_jobs(repo.path, "repro", "report@test")
    assert stages_run(log) == {"resnet@test", "claims@test", "report@test"}
    assert stages_skipped(log) == {"data@test", "pretrain@test"}
    # inside the S1 stage Snakemake reruns only what reads the changed value; the report stage
    # rebuilds the report (and its appendix) without touching any study's jobs
    assert jobs[S1_TARGET] == ["resnet_confusion", "resnet_section"]
    assert "report" in jobs[REPORT_TARGET] and not any(STUDY_JOB.match(r) for r in jobs[REPORT_TARGET])
    pairs = (repo.path / "results/test/resnet/confusion/pairs.csv").read_text().strip().splitlines()
    assert len(pairs) == 1 + 3
    git(repo.path, "commit", "-qam", "top 3 pairs")


def test_exp_run_sets_a_param_and_diffs_show_it(repo):
    metrics_file = "metrics/test/resnet.json"
    before = json.loads((repo.path / metrics_file).read_text())
    log, jobs = repro_jobs(repo.path, "exp", "run", "report@test", "-S", "resnet.head.optimizer.lr=0.05")
    assert stages_run(log) == {"resnet@test", "claims@test", "report@test"}
    assert {"resnet_head", "resnet_section"} <= set(jobs[S1_TARGET]) and "resnet_features" not in jobs[S1_TARGET]
    assert "report" in jobs[REPORT_TARGET] and not any(STUDY_JOB.match(r) for r in jobs[REPORT_TARGET])
    params = json.loads(dvc(repo.path, "params", "diff", "--json"))
    assert params == {"params.yaml": {"resnet.head.optimizer.lr": {"old": 0.001, "new": 0.05, "diff": pytest.approx(0.049)}}}
    after = json.loads((repo.path / metrics_file).read_text())
    metrics = json.loads(dvc(repo.path, "metrics", "diff", "--json"))[metrics_file]
    assert metrics["head_only_test_acc"]["old"] == before["head_only_test_acc"]
    assert metrics["head_only_test_acc"]["new"] == after["head_only_test_acc"] != before["head_only_test_acc"]
    # the curves (git-tracked, dvc.yaml's top-level plots folder): the last commit's and the workspace's, no error
    plots = json.loads(dvc(repo.path, "plots", "diff", "--json"))
    assert "errors" not in plots and list(plots["data"]) == ["plots/test/resnet/head_val_acc.csv"], plots.get("errors")
    (plot,) = plots["data"]["plots/test/resnet/head_val_acc.csv"]
    assert {row["rev"] for row in plot["content"]["data"]["values"]} == {"HEAD", "workspace"}


def test_touched_files_with_their_recorded_content_rerun_nothing(repo):
    """A DVC checkout gives files fresh mtimes: each run's own record decides (archlab.workflow.freshness sets the
    time of an input whose content is the recorded one back), so neither the stages' Snakemake calls
    (`--rerun-triggers mtime`) nor a plain Snakemake with all its triggers rerun for that."""
    caches = sorted((repo.path / "results/test/resnet/features").glob("*/features.npz"))
    assert caches and all(p.stat().st_size > 1_000_000 for p in caches)  # above Snakemake's default checksum size
    time.sleep(1)
    for path in caches:
        path.touch()  # newer than everything computed from them, same content
    cmd = yaml.safe_load((ROOT / "dvc.yaml").read_text())["vars"][0]["smk"].split()
    assert cmd[0] == "snakemake" and cmd[cmd.index("--rerun-triggers") + 1:][:1] == ["mtime"]
    target = ["--configfile", "config/test.yaml", "--", "report/test/report.md"]
    assert "Nothing to be done" in run([sys.executable, "-m", *cmd, "-n", *target], repo.path, timeout=300)
    for path in caches:
        path.touch()
    assert "Nothing to be done" in run([sys.executable, "-m", "snakemake", "-n", *target], repo.path, timeout=300)


def test_exp_run_with_a_bad_value_stops_before_any_job_naming_the_key(repo):
    """`dvc exp run -S` writes the value before the stage runs (docs/running.md says so and how to undo it):
    the stage's Snakemake call refuses it in one line naming the key, and no job starts."""
    logs = repo.path / ".snakemake" / "log"
    before = set(logs.glob("*.log"))
    proc = subprocess.run([*DVC, "exp", "run", "resnet@test", "-S", "resnet.head.optimizer.lr=-1"], cwd=repo.path,
                          capture_output=True, text=True, env=ENV, timeout=600)
    try:
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0, out
        assert "resnet.head.optimizer.lr" in out and "Traceback" not in out, out
        assert not any(finished_rules(p.read_text()) for p in set(logs.glob("*.log")) - before)
    finally:
        git(repo.path, "checkout", "--", "params.yaml")  # the undo docs/running.md gives
