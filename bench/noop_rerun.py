"""Benchmark 2: seconds for a rerun of ``snakemake`` and ``dvc repro`` when nothing changed.

A no-op rerun must be cheap, or people stop rerunning the pipeline after each edit. Both tools run
in a scratch copy of the project (definition + results), never in the checkout itself, so the
benchmark neither takes the checkout's Snakemake lock nor writes a ``dvc.lock`` there.

Which results: the demo profile's, copied from the checkout, when they are complete (``make demo``
ran and nothing changed since); otherwise the test profile, built from scratch in the copy first.

    python -m bench noop_rerun [--profile auto|demo|test] [--scope all|data]
"""
from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

from bench.common import ROOT, result, run_timed

DEFINITION = ("Snakefile", "params.yaml", "config", "workflow", "report/templates", "dvc.yaml", "bench")
TARGET_OK = 5.0  # seconds; the target for each tool
SMOKE_DATASET = "cifar10"  # --scope data: one dataset every profile defines offline-capable in test


def copy_definition(root: Path, dest: Path) -> None:
    """The files that define the pipeline; ``src`` is linked (the rules import archlab from it)."""
    for item in DEFINITION:
        src, dst = root / item, dest / item
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst)
    (dest / "src").symlink_to(root / "src")


def copy_results(root: Path, dest: Path, profile: str) -> None:
    """A profile's results, logs and report plus Snakemake's provenance records, mtimes kept."""
    for rel in (f"results/{profile}", f"logs/{profile}", f"report/{profile}", ".snakemake/metadata"):
        if (root / rel).exists():
            shutil.copytree(root / rel, dest / rel, copy_function=shutil.copy2, symlinks=True)


def snakemake(profile: str, targets: list[str], *flags: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", f"config/{profile}.yaml", *flags,
            "--", *targets]


def pending_jobs(project: Path, profile: str, target: list[str], *extra: str) -> int:
    """Jobs a run would execute now (0: the results are complete and up to date)."""
    flags = ["-n", "--quiet", "rules", *extra]
    out = run_timed(snakemake(profile, target, *flags), project).output
    match = re.search(r"^total\s+(\d+)", out, flags=re.M)
    return int(match.group(1)) if match else 0


def smk_targets(profile: str, scope: str) -> list[str]:
    return [f"results/{profile}/data/{SMOKE_DATASET}/meta.json"] if scope == "data" else []


def dag_size(project: Path, profile: str, target: list[str]) -> int:
    return pending_jobs(project, profile, target, "--forceall")


def dvc_targets(project: Path, profile: str, scope: str) -> list[str]:
    """``report@<profile>`` when every study it reads is enabled in the profile, else the enabled studies' stages."""
    if scope == "data":
        return [f"data@{profile}"]
    studies = yaml.safe_load((project / "params.yaml").read_text())["studies"]
    studies = yaml.safe_load((project / f"config/{profile}.yaml").read_text()).get("studies", studies)
    report_deps = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]["report"]["do"]["deps"]
    read = {m.group(1) for d in report_deps if (m := re.match(r"results/\$\{item\}/(\w+)/section/section\.json", str(d)))}
    return [f"report@{profile}"] if read <= set(studies) else [f"{s}@{profile}" for s in studies]


def record_dvc_lock(project: Path, profile: str, targets: list[str]) -> None:
    """Make the copy a DVC repo (no git) whose ``foreach`` stages exist for ``profile``, and record
    ``dvc.lock`` from the results already there (``dvc commit``), as a finished ``dvc repro`` would."""
    dvc = [sys.executable, "-m", "dvc"]
    run_timed([*dvc, "init", "--no-scm", "-q"], project)
    run_timed([*dvc, "config", "cache.type", "hardlink"], project)  # the copy's own files: no second copy
    spec = yaml.safe_load((project / "dvc.yaml").read_text())
    for stage in spec["stages"].values():
        if "foreach" in stage:
            stage["foreach"] = [profile]
    (project / "dvc.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    run_timed([*dvc, "commit", "--force", "--with-deps", *targets], project)


def run(project: Path, profile: str = "auto", scope: str = "all", root: Path = ROOT) -> dict:
    """Measure in ``project`` (an empty scratch folder the caller removes)."""
    info = {}
    if profile == "auto":
        pending = pending_jobs(root, "demo", smk_targets("demo", scope), "--nolock")
        profile = "demo" if pending == 0 and (root / "results/demo").exists() else "test"
        info["why"] = (f"the demo results of {root} are complete: measuring on a copy of them" if profile == "demo" else
                       f"the demo results of {root} are incomplete ({pending} jobs pending; `make demo` builds them): "
                       "measuring on the test profile instead")
    smk_target = smk_targets(profile, scope)
    copy_definition(root, project)
    if profile == "demo":
        copy_results(root, project, profile)
    else:
        info["build_s"] = run_timed(snakemake(profile, smk_target), project).wall
    smk = run_timed(snakemake(profile, smk_target), project)
    if "Nothing to be done" not in smk.output:
        raise RuntimeError(f"the rerun in {project} was not a no-op:\n{smk.output[-2000:]}")
    targets = dvc_targets(project, profile, scope)
    record_dvc_lock(project, profile, targets)
    dvc = run_timed([sys.executable, "-m", "dvc", "repro", *targets], project)
    ran = re.findall(r"Running stage '([^']+)'", dvc.output)
    assert not ran, f"dvc repro reran {ran} although nothing changed:\n{dvc.output[-2000:]}"
    stages = len(yaml.safe_load((project / "dvc.lock").read_text())["stages"])
    info.update(profile=profile, dvc_targets=targets, snakemake_jobs=dag_size(project, profile, smk_target),
                dvc_stages=stages, snakemake_wall=smk.wall, snakemake_cpu=smk.cpu, dvc_wall=dvc.wall, dvc_cpu=dvc.cpu)
    return info


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench noop_rerun", description=__doc__.splitlines()[0])
    p.add_argument("--profile", choices=["auto", "demo", "test"], default="auto",
                   help="auto: demo when its results are complete, else test built in the scratch copy")
    p.add_argument("--scope", choices=["all", "data"], default="all", help=f"data: only the {SMOKE_DATASET} dataset and the data stage (smoke test)")
    p.add_argument("--workdir", type=Path, default=None,
                   help="an empty folder for the scratch copy, kept afterwards (default: a temporary one)")
    a = p.parse_args(argv)
    if a.workdir is None:
        with tempfile.TemporaryDirectory(prefix="bench-noop-") as tmp:
            r = run(Path(tmp), a.profile, a.scope)
    else:
        r = run(a.workdir, a.profile, a.scope)
    if "why" in r:
        print(r["why"])
    if "build_s" in r:
        print(f"built the {r['profile']} profile from scratch in the scratch copy: {r['build_s']:.0f} s")
    print(f"snakemake, {r['snakemake_jobs']} jobs in the DAG:   wall {r['snakemake_wall']:6.1f} s   CPU {r['snakemake_cpu']:5.1f} s")
    print(f"dvc repro {' '.join(r['dvc_targets'])}, {r['dvc_stages']} stages:   wall {r['dvc_wall']:6.1f} s   CPU {r['dvc_cpu']:5.1f} s")
    print("(CPU seconds do not depend on how busy the machine is; wall seconds are what a user waits)")
    verdict = "within" if max(r["snakemake_wall"], r["dvc_wall"]) <= TARGET_OK else (
        "CPU within" if max(r["snakemake_cpu"], r["dvc_cpu"]) <= TARGET_OK else "over")
    result(f"no-op rerun ({r['profile']} profile): snakemake {r['snakemake_wall']:.1f} s, dvc repro {r['dvc_wall']:.1f} s "
           f"wall ({r['snakemake_cpu']:.1f} s / {r['dvc_cpu']:.1f} s CPU); {verdict} the {TARGET_OK:.0f} s target")
    return r


if __name__ == "__main__":
    main()
