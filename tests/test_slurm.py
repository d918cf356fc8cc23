"""The SLURM profile on a real single-node SLURM cluster (Debian's slurmctld, slurmd and munge).

Part of the test-profile DAG (data → pretrain → features → head) runs with
`--profile workflow/profiles/slurm`; the scheduler's own records show which jobs it ran and with
what resources, and the results must equal a run of the same DAG with the local profile. The
cluster declares one (count-only) GPU so that GPU requests are scheduled without hardware.
Skips, with the reason, where no cluster can be started (not root, no apt-get).
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from slurm import cluster
from slurm.project import copy_project, finished_rules, snakemake

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.timeout(900)]
TARGET = "results/test/resnet/head/resnet10/seed0/metrics.json"
# This test cluster has no accounting database (so no sacct, no accounts) and finishes jobs in
# seconds: poll squeue often. A real cluster keeps the profile's settings.
TEST_CLUSTER = ["--slurm-status-command", "squeue", "--slurm-no-account",
                "--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "2"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    reason = cluster.why_unavailable()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("slurm")
    on_slurm = copy_project(base / "slurm", studies=["resnet"], gpus_per_job=1)
    local = copy_project(base / "local", studies=["resnet"], gpus_per_job=1)
    with cluster.running_cluster(base / "state", gpus=1) as running:
        log = snakemake(on_slurm, "--profile", "workflow/profiles/slurm", *TEST_CLUSTER, "--", TARGET, timeout=600)
        jobs = _scontrol_jobs()
        controller_log = running.controller_log.read_text()
    local_log = snakemake(local, "--profile", "workflow/profiles/local", "--cores", "2", "--", TARGET)
    return SimpleNamespace(project=on_slurm, log=log, jobs=jobs, controller_log=controller_log,
                           local=local, local_log=local_log, cluster=running)


def test_compute_jobs_went_through_sbatch_and_fetching_stayed_local(runs):
    submitted = dict(re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\.", runs.log))
    remote = [r for r in finished_rules(runs.log) if not re.search(rf"^localrule {r}:", runs.log, re.M)]
    assert sorted(remote) == sorted(_rule_of(runs.jobs[i]) for i in submitted), (remote, runs.jobs)
    assert {"pretrain", "resnet_features", "resnet_head"} <= set(remote)
    for jobid, slurm_log in submitted.items():
        job = runs.jobs[jobid]
        assert job["JobState"] == "COMPLETED" and job["ExitCode"] == "0:0" and job["BatchFlag"] == "1", job
        assert f"_slurm_rpc_submit_batch_job: JobId={jobid} " in runs.controller_log  # sbatch's RPC
        assert Path(slurm_log).is_file() and Path(slurm_log).is_relative_to(runs.project / "logs" / "slurm")
    # data preparation is a local rule: it ran on the submit host, never through SLURM
    assert re.search(r"^localrule data_prepare:", runs.log, re.M)
    assert not any(_rule_of(j) == "data_prepare" for j in runs.jobs.values())


def test_each_job_asked_for_its_rules_resources(runs):
    declared = _declared_resources(runs.log)
    kinds = set()
    for job in runs.jobs.values():
        res = declared[_rule_of(job)]
        assert job["MinMemoryNode"] == f"{res['mem_mb']}M", (job["MinMemoryNode"], res)
        assert _minutes(job["TimeLimit"]) == int(res["runtime"]), (job["TimeLimit"], res)
        gpus = int(res.get("gpu", 0))
        assert job.get("TresPerJob", "") == (f"gres:gpu:{gpus}" if gpus else ""), (job, res)
        kinds.add(bool(gpus))
    assert kinds == {True, False}, "the target should exercise both a GPU rule and a CPU-only rule"


def test_outputs_equal_a_local_run(runs):
    ours = sorted(p.relative_to(runs.project) for p in (runs.project / "results").rglob("*")
                  if p.is_file() and "dvclive" not in p.parts and p.name != "checkpoint.pt")
    assert ours == sorted(p.relative_to(runs.local) for p in (runs.local / "results").rglob("*")
                          if p.is_file() and "dvclive" not in p.parts and p.name != "checkpoint.pt")
    compared = [rel for rel in ours if _same_artifact(runs.project / rel, runs.local / rel)]
    assert compared == ours
    assert any(p.suffix == ".pt" for p in compared) and any(p.suffix == ".npz" for p in compared)


CPU_ONLY = re.compile(r"section|report|projection|plot|confusion|hierarchy|metrics|index")
FETCHING = re.compile(r"fetch|data_prepare|download")


@pytest.mark.timeout(300)
def test_every_rule_of_the_full_dag_suits_a_cluster(tmp_path):
    """Without a cluster: CPU-only rules ask for no GPU, GPU rules do, and fetching stays local."""
    project = copy_project(tmp_path / "p")
    declared = _declared_resources(snakemake(project, "-n", "--forceall", "--cores", "8", config="config/full.yaml"))
    gpu_rules = {rule for rule, res in declared.items() if int(res.get("gpu", 0))}
    assert gpu_rules and not {r for r in gpu_rules if CPU_ONLY.search(r)}, gpu_rules
    assert all("gres" not in res for res in declared.values())
    local = _local_rules(project)
    fetching = {rule for rule in declared if FETCHING.search(rule)}
    assert {"data_prepare", "fetch_weights"} <= fetching <= local, (fetching, local)


def test_cluster_is_stopped_afterwards(runs):
    assert runs.cluster.processes and all(p.poll() is not None for p in runs.cluster.processes)
    assert not (cluster.CONF_DIR / "slurm.conf").exists()


# ---------------------------------------------------------------- helpers
def _scontrol_jobs() -> dict[str, dict[str, str]]:
    """Every job the controller still remembers (MinJobAge=300 keeps finished ones), by id."""
    out = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True, timeout=30, check=True).stdout
    jobs = [dict(re.findall(r"(\S+?)=(\S*)", line)) for line in out.splitlines() if line.startswith("JobId=")]
    return {job["JobId"]: job for job in jobs}


def _rule_of(job: dict) -> str:
    """The rule name the SLURM plugin writes into the job's comment: rule_<name>[_wildcards_…]."""
    return re.match(r"rule_(\w+?)(?:_wildcards_.*)?$", job["Comment"]).group(1)


def _declared_resources(log: str) -> dict[str, dict[str, str]]:
    """Each rule's resources as Snakemake printed them before submitting its job."""
    blocks = re.findall(r"^rule (\w+):\n((?:    .*\n)+)", log, re.M)
    out = {}
    for rule, body in blocks:
        line = re.search(r"resources: (.*)", body).group(1)
        out[rule] = dict(item.split("=", 1) for item in line.split(", "))
    return out


def _local_rules(project: Path) -> set[str]:
    """Rules the rule files mark local (`localrules:`, `localrule: True`) plus the plans' local Rules."""
    from archlab.config import load_params
    from archlab.workflow.pipeline import Paths, Pipeline

    names = set()
    for smk in [project / "Snakefile", *(project / "workflow" / "rules").glob("*.smk")]:
        text = smk.read_text()
        for listed in re.findall(r"^localrules:(.*\n(?:[ \t]+.*\n)*)", text, re.M):
            names |= set(re.findall(r"\w+", listed))
        for rule, body in re.findall(r"^rule (\w+):\n((?:[ \t]+.*\n|[ \t]*\n)*)", text, re.M):
            if re.search(r"^[ \t]+localrule:\s*True", body, re.M):
                names.add(rule)
    pipeline = Pipeline(load_params("full", project), Paths("full"))
    return names | {name for name, rule in pipeline.rules.items() if rule.local}


def _minutes(limit: str) -> int:
    days, _, hms = limit.rpartition("-")
    h, m, s = (int(x) for x in hms.split(":"))
    return int(days or 0) * 1440 + h * 60 + m + (s > 0)


def _same_artifact(a: Path, b: Path) -> bool:
    """Equal content, ignoring what a run measures about itself (times, memory) and file-format noise."""
    if a.suffix == ".npy":
        np.testing.assert_array_equal(np.load(a), np.load(b), err_msg=str(a))
    elif a.suffix == ".npz":
        with np.load(a) as x, np.load(b) as y:
            assert sorted(x.files) == sorted(y.files)
            for key in x.files:
                np.testing.assert_array_equal(x[key], y[key], err_msg=f"{a}:{key}")
    elif a.suffix == ".pt":
        x, y = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
        assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x), a
    elif a.suffix == ".json":
        assert _untimed(json.loads(a.read_text())) == _untimed(json.loads(b.read_text())), a
    elif a.suffix == ".csv":
        x, y = pd.read_csv(a), pd.read_csv(b)
        keep = [c for c in x.columns if "seconds" not in c]
        pd.testing.assert_frame_equal(x[keep], y[keep], obj=str(a))
    else:
        assert a.read_bytes() == b.read_bytes(), a
    return True


MEASURED = {"started", "max_rss_mb"}  # params.json's record of this execution, not of what made the result


def _untimed(node):
    if isinstance(node, dict):
        return {k: _untimed(v) for k, v in node.items() if "seconds" not in k and k not in MEASURED}
    if isinstance(node, list):
        return [_untimed(v) for v in node]
    return node
