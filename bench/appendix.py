"""Benchmark 3: where a profile's DAG spends its time, from Snakemake's own benchmark files.

Every rule has a ``benchmark:`` file under ``logs/<profile>/bench/<study>/…tsv`` (wall seconds,
CPU seconds, peak memory of that job). This sums them per study into the report's appendix
(``results/<profile>/bench/section.json``, built by the ``bench_section`` rule) and prints them.

    python -m bench appendix [--profile demo] [--write]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from bench.common import result

TITLE = "Appendix — where the time goes"


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


def build_section(jobs: pd.DataFrame, profile: str, bench_dir: str):
    from archlab.report.section import Section

    table = per_study(jobs)
    total = table.iloc[-1]
    sec = Section(study="bench", title=TITLE, profile=profile,
                  setting=f"the last run of each of the {len(jobs)} jobs of the {profile} profile, "
                          f"from Snakemake's benchmark files in `{bench_dir}`")
    sec.text("Wall time is summed over a study's jobs, so it is what the study costs when its jobs run one "
             "after another; with `--cores N` independent jobs overlap and the DAG finishes sooner. CPU time "
             "does not depend on how busy the machine was. The report's own rules run after this table and "
             "are not in it.")
    sec.table(table, caption=f"Time per study, {profile} profile ({total['wall (s)']:.0f} s of job wall time in total).",
              digits=1)
    slowest = jobs.nlargest(10, "s")[["job", "s", "cpu_time", "max_rss"]]
    sec.table(slowest.rename(columns={"s": "wall (s)", "cpu_time": "CPU (s)", "max_rss": "peak RSS (MB)"}),
              caption="The ten slowest jobs.", digits=1)
    sec.metric("wall_s_total", total["wall (s)"])
    sec.metric("cpu_s_total", total["CPU (s)"])
    for study, wall in zip(table["study"].iloc[:-1], table["wall (s)"].iloc[:-1]):
        sec.metric(f"wall_s_{study}", wall)
    return sec


def main(argv: list[str] | None = None) -> pd.DataFrame:
    p = argparse.ArgumentParser(prog="python -m bench appendix", description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="demo")
    p.add_argument("--root", type=Path, default=Path("."), help="project root holding logs/ and results/")
    p.add_argument("--bench-dir", type=Path, default=None, help="default: <root>/logs/<profile>/bench")
    p.add_argument("--write", action="store_true",
                   help="write results/<profile>/bench/section.json (+ results/<profile>/dvc/bench/) for the report")
    a = p.parse_args(argv)
    bench_dir = a.bench_dir or a.root / "logs" / a.profile / "bench"
    jobs = read_benchmarks(bench_dir)
    if jobs.empty:
        raise SystemExit(f"no Snakemake benchmark files under {bench_dir}: run the {a.profile} DAG first "
                         f"(`snakemake --configfile config/{a.profile}.yaml`, or `make demo`)")
    table = per_study(jobs)
    if a.write:
        results = a.root / "results" / a.profile
        shown = bench_dir.relative_to(a.root) if bench_dir.is_relative_to(a.root) else bench_dir
        build_section(jobs, a.profile, str(shown)).write(results / "bench" / "section.json", results / "dvc" / "bench" / "metrics.json")
    with pd.option_context("display.width", 160, "display.max_columns", 10):
        print(table.round(1).to_string(index=False))
    total = table.iloc[-1]
    result(f"{a.profile} DAG: {int(total['jobs'])} jobs, {total['wall (s)']:.0f} s of job wall time "
           f"({total['CPU (s)']:.0f} s CPU) — {table.iloc[0]['study']} takes {table.iloc[0]['wall (s)'] / total['wall (s)']:.0%}")
    return table


if __name__ == "__main__":
    main()
