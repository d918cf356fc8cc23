"""Benchmark 3: where a profile's DAG spends its time, from each job's own resource usage.

Every job writes ``params.json`` last (``archlab.workflow.runner.run_job``), with ``cpu_seconds`` and
``max_rss_mb`` from the kernel's accounting of its own process (``getrusage``: every CPU second
from the interpreter's start, imports included) and ``startup_cpu_seconds``, the part of it spent
before the job function ran (interpreter, imports of the runner and the job module, input
checksums); :func:`startup_share` sums that start-up tax over the DAG. Snakemake's ``benchmark:`` files
(``logs/<profile>/bench/<study>/…tsv``) give each job's wall time, but their CPU time and memory
are *sampled* and miss most of a short job (one job: 3.85 s recorded, 9.6 s real), so they count
only for jobs without such a record (rules that write no ``params.json``, runs from before the
field existed). This sums the jobs per study into the report's appendix
(``results/<profile>/bench/section.json``, built by the ``bench_section`` rule) and prints them.

    python -m bench appendix [--profile demo] [--root .] [--write]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import result

TITLE = "Appendix — where the time goes"
PARAMS_FILE = "params.json"  # archlab.workflow.plan.PARAMS_FILE (not imported: this module imports no torch)
OWN, SAMPLED = "getrusage", "benchmark (sampled)"
COLUMNS = ["study", "job", "s", "cpu_time", "startup", "max_rss", "cpu_from"]


def read_benchmarks(bench_dir: str | Path) -> pd.DataFrame:
    """One row per job: ``study`` (first folder), ``job``, wall ``s``, ``cpu_time`` s, ``max_rss`` MB.

    Files directly in ``bench_dir`` belong to the report's own rules, which run after this table
    is built, so they are left out. A file with several rows (``repeat``) counts by its mean.
    """
    bench_dir = Path(bench_dir)
    rows = []
    for path in sorted(bench_dir.rglob("*.tsv")):
        rel = path.relative_to(bench_dir)
        if len(rel.parts) < 2:
            continue
        runs = pd.read_csv(path, sep="\t", na_values=["-", "NA"])
        rows.append({"study": rel.parts[0], "job": rel.with_suffix("").as_posix(), "s": runs["s"].mean(),
                     "cpu_time": runs["cpu_time"].mean(), "max_rss": runs["max_rss"].max()})
    return pd.DataFrame(rows, columns=["study", "job", "s", "cpu_time", "max_rss"])


def read_run_records(results_dir: str | Path) -> pd.DataFrame:
    """One row per job's ``params.json`` under ``results_dir`` (``results/<profile>``): ``study`` (first
    folder), ``job`` named as its benchmark file is (``<study>/<rule>_<wildcard values>``), the job
    function's own wall ``seconds``, ``cpu_time``, its ``startup`` CPU and ``max_rss`` (NaN where the record
    predates them)."""
    results_dir = Path(results_dir)
    rows = []
    for path in sorted(results_dir.rglob(PARAMS_FILE)):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise SystemExit(f"{path}: not a readable run record ({exc}); delete it or rerun its job") from None
        if not isinstance(record, dict) or "rule" not in record:
            continue  # some other params.json, not a run record of archlab.workflow.runner
        study = path.relative_to(results_dir).parts[0]
        stem = "_".join([record["rule"], *map(str, (record.get("wildcards") or {}).values())])
        rows.append({"study": study, "job": f"{study}/{stem}", "seconds": record.get("seconds", np.nan),
                     "cpu_time": record.get("cpu_seconds", np.nan), "startup": record.get("startup_cpu_seconds", np.nan),
                     "max_rss": record.get("max_rss_mb", np.nan)})
    return pd.DataFrame(rows, columns=["study", "job", "seconds", "cpu_time", "startup", "max_rss"]).astype(
        {"seconds": float, "cpu_time": float, "startup": float, "max_rss": float})


def read_jobs(results_dir: str | Path, bench_dir: str | Path) -> pd.DataFrame:
    """Every job of a profile, one row each: wall ``s`` from its benchmark file (the job function's own
    seconds where it has none), ``cpu_time`` and ``max_rss`` from its ``params.json`` and, only where that
    has none, from the benchmark file; ``cpu_from`` says which. ``startup`` (the CPU spent before the job
    function ran) comes only from ``params.json``: NaN for the others."""
    own = read_run_records(results_dir).set_index("job")
    sampled = read_benchmarks(bench_dir).set_index("job")
    jobs = own.merge(sampled, how="outer", left_index=True, right_index=True, suffixes=("_own", "_sampled"))
    has_own = jobs["cpu_time_own"].notna()
    out = pd.DataFrame({
        "study": jobs["study_own"].fillna(jobs["study_sampled"]),
        "s": jobs["s"].fillna(jobs["seconds"]),
        "cpu_time": jobs["cpu_time_own"].where(has_own, jobs["cpu_time_sampled"]),
        "startup": jobs["startup"].where(has_own),
        "max_rss": jobs["max_rss_own"].where(jobs["max_rss_own"].notna(), jobs["max_rss_sampled"]),
        "cpu_from": np.where(has_own, OWN, SAMPLED),
    }, index=jobs.index).reset_index()
    return out[COLUMNS]


def per_study(jobs: pd.DataFrame) -> pd.DataFrame:
    """Jobs, summed wall and CPU seconds, the slowest job and peak memory per study, plus a total row."""
    g = jobs.groupby("study", sort=False)
    slowest = jobs.loc[g["s"].idxmax()].set_index("study")
    table = pd.DataFrame({"jobs": g.size(), "wall (s)": g["s"].sum(), "CPU (s)": g["cpu_time"].sum(),
                          "slowest job": slowest["job"].str.split("/", n=1).str[1],
                          "its wall (s)": slowest["s"], "peak RSS (MB)": g["max_rss"].max()})
    table = table.sort_values("wall (s)", ascending=False).reset_index()
    total = {"study": "total", "jobs": len(jobs), "wall (s)": jobs["s"].sum(), "CPU (s)": jobs["cpu_time"].sum(),
             "slowest job": jobs.loc[jobs["s"].idxmax(), "job"], "its wall (s)": jobs["s"].max(),
             "peak RSS (MB)": jobs["max_rss"].max()}
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)


def sources(jobs: pd.DataFrame) -> str:
    """How many jobs' CPU time came from their own record and how many from a sampled benchmark file."""
    own = int((jobs["cpu_from"] == OWN).sum())
    text = f"{own} of {len(jobs)} jobs' CPU time from their own getrusage record"
    return text if own == len(jobs) else f"{text}, {len(jobs) - own} from Snakemake's sampled benchmark file"


def startup_share(jobs: pd.DataFrame) -> dict:
    """The per-job start-up tax over the jobs whose own record has it: ``share`` = sum of start-up CPU / sum
    of CPU, the ``median_s`` start-up per job, ``heavy`` = how many jobs spent more than half their CPU
    starting, of ``n`` such jobs (NaN share and median when none has it)."""
    known = jobs[jobs["startup"].notna() & jobs["cpu_time"].notna()]
    cpu = known["cpu_time"].sum()
    return {"n": len(known), "share": known["startup"].sum() / cpu if cpu > 0 else np.nan,
            "median_s": known["startup"].median() if len(known) else np.nan,
            "heavy": int((known["startup"] > 0.5 * known["cpu_time"]).sum())}


def describe_startup(tax: dict) -> str:
    if not tax["n"]:
        return "no job records its start-up CPU (runs from before `startup_cpu_seconds` existed)"
    return (f"start-up (interpreter, imports, input checksums before the job function runs) is {tax['share']:.0%} of "
            f"the CPU of the {tax['n']} jobs that record it; median {tax['median_s']:.1f} s per job; "
            f"{tax['heavy']} of {tax['n']} jobs spend more than half their CPU starting")


def build_section(jobs: pd.DataFrame, profile: str, bench_dir: str, results_dir: str):
    from archlab.report.section import Section

    table = per_study(jobs)
    total = table.iloc[-1]
    sec = Section(study="bench", title=TITLE, profile=profile,
                  setting=f"the last run of each of the {len(jobs)} jobs of the {profile} profile: wall time from "
                          f"Snakemake's benchmark files in `{bench_dir}`, CPU time and peak memory from each job's "
                          f"`params.json` in `{results_dir}` ({sources(jobs)})")
    sec.text("Wall time is summed over a study's jobs, so it is what the study costs when its jobs run one "
             "after another; with `--cores N` independent jobs overlap and the DAG finishes sooner. CPU time "
             "does not depend on how busy the machine was: each job records its process's own user + system "
             "seconds (`getrusage`, from the interpreter's start, so start-up and imports count), which "
             "Snakemake's sampled benchmark files under-count for short jobs; they are used only for jobs "
             "without that record. The report's own rules run after this table and are not in it. "
             f"Per-job {describe_startup(startup_share(jobs))}.")
    sec.table(table, caption=f"Time per study, {profile} profile ({total['wall (s)']:.0f} s of job wall time in total).",
              digits=1)
    slowest = jobs.nlargest(10, "s")[["job", "s", "cpu_time", "max_rss"]]
    sec.table(slowest.rename(columns={"s": "wall (s)", "cpu_time": "CPU (s)", "max_rss": "peak RSS (MB)"}),
              caption="The ten slowest jobs.", digits=1)
    sec.metric("wall_s_total", total["wall (s)"])
    sec.metric("cpu_s_total", total["CPU (s)"])
    tax = startup_share(jobs)
    if tax["n"]:
        sec.metric("startup_cpu_share", tax["share"])
        sec.metric("startup_cpu_s_median", tax["median_s"])
        sec.metric("startup_heavy_jobs", tax["heavy"])
    for study, wall in zip(table["study"].iloc[:-1], table["wall (s)"].iloc[:-1]):
        sec.metric(f"wall_s_{study}", wall)
    return sec


def main(argv: list[str] | None = None) -> pd.DataFrame:
    p = argparse.ArgumentParser(prog="python -m bench appendix", description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="demo")
    p.add_argument("--root", type=Path, default=Path("."), help="project root holding logs/ and results/")
    p.add_argument("--bench-dir", type=Path, default=None, help="default: <root>/logs/<profile>/bench")
    p.add_argument("--results-dir", type=Path, default=None,
                   help="where the jobs' params.json files are; default: <root>/results/<profile>")
    p.add_argument("--write", action="store_true",
                   help="write results/<profile>/bench/section.json (+ results/<profile>/dvc/bench/) for the report")
    a = p.parse_args(argv)
    bench_dir = a.bench_dir or a.root / "logs" / a.profile / "bench"
    results_dir = a.results_dir or a.root / "results" / a.profile
    jobs = read_jobs(results_dir, bench_dir)
    if jobs.empty:
        raise SystemExit(f"no job records (params.json) under {results_dir} and no Snakemake benchmark files under "
                         f"{bench_dir}: run the {a.profile} DAG first "
                         f"(`snakemake --configfile config/{a.profile}.yaml`, or `make demo`)")
    table = per_study(jobs)
    if a.write:
        results = a.root / "results" / a.profile

        def shown(path: Path) -> str:
            return str(path.relative_to(a.root) if path.is_relative_to(a.root) else path)

        build_section(jobs, a.profile, shown(bench_dir), shown(results_dir)).write(
            results / "bench" / "section.json", results / "dvc" / "bench" / "metrics.json")
    with pd.option_context("display.width", 160, "display.max_columns", 10):
        print(table.round(1).to_string(index=False))
    print(sources(jobs))
    tax = startup_share(jobs)
    print(f"Per-job {describe_startup(tax)}")
    total = table.iloc[-1]
    startup = f", start-up {tax['share']:.0%} of the CPU" if tax["n"] else ""
    result(f"{a.profile} DAG: {int(total['jobs'])} jobs, {total['wall (s)']:.0f} s of job wall time "
           f"({total['CPU (s)']:.0f} s CPU{startup}) — {table.iloc[0]['study']} takes "
           f"{table.iloc[0]['wall (s)'] / total['wall (s)']:.0%}")
    return table


if __name__ == "__main__":
    main()
