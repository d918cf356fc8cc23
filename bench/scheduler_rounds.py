"""Benchmark 9: Snakemake's scheduling rounds on one machine, with its default job-rate limit
(``--max-jobs-per-timespan 100/1s``) and with the limit dropped as archlab's ``onstart`` does
(``archlab.workflow.execution.local_scheduling``).

A toy workflow shaped like the demo's bottleneck: more ready jobs than cores, each job with a few
input files and sleeping (so the cores are free for Snakemake and its CPU time is its own
bookkeeping). Both runs use the same workflow; the second calls
``archlab.workflow.execution.local_scheduling.drop_default_rate_limit`` in ``onstart``. Rounds are counted from
Snakemake's ``--verbose`` log (one "Ready jobs" line per round); CPU seconds are Snakemake's own
(children: the job shells, which only sleep).

    python -m bench scheduler_rounds [--jobs 40] [--seconds 2] [--inputs 20] [--cores 2]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.common import ROOT, result, run_timed

SNAKEFILE = """\
import os, sys
sys.path.insert(0, {src!r})
from archlab.workflow.execution import local_scheduling

INPUTS = [f"inputs/{{i}}.txt" for i in range({inputs})]

onstart:
    if os.environ.get("DROP_RATE_LIMIT") == "1":
        local_scheduling.drop_default_rate_limit(workflow.scheduler)

rule all:
    input: expand("out/{{i}}.txt", i=range({jobs}))

rule job:
    input: INPUTS
    output: "out/{{i}}.txt"
    shell: "sleep {seconds} && touch {{output}}"
"""


def run_toy(workdir: Path, jobs: int, seconds: float, inputs: int, cores: int, drop: bool) -> dict:
    """One run of the toy workflow from scratch: scheduling rounds, Snakemake's CPU and wall seconds."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "inputs").mkdir(exist_ok=True)
    for i in range(inputs):
        (workdir / "inputs" / f"{i}.txt").write_text(str(i))
    (workdir / "Snakefile").write_text(SNAKEFILE.format(src=str(ROOT / "src"), inputs=inputs, jobs=jobs,
                                                        seconds=seconds))
    timed = run_timed(["snakemake", "--cores", str(cores), "--verbose", "--forceall", "--workflow-profile", "none"],
                      workdir, env={"DROP_RATE_LIMIT": "1" if drop else "0"})
    rounds = sum(line.startswith("Ready jobs") for line in timed.output.splitlines())
    return {"rounds": rounds, "cpu_s": timed.cpu, "wall_s": timed.wall}


def main(argv: list[str]) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench scheduler_rounds", description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=2.0, help="each job's sleep")
    ap.add_argument("--inputs", type=int, default=20, help="input files per job")
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args(argv)
    runs = {}
    with tempfile.TemporaryDirectory(prefix="bench-rounds-") as tmp:
        for label, drop in (("default limit", False), ("limit dropped", True)):
            runs[label] = run_toy(Path(tmp) / label.replace(" ", "_"), args.jobs, args.seconds, args.inputs,
                                  args.cores, drop)
    print(f"{args.jobs} jobs of {args.seconds:g} s sleep, {args.inputs} inputs each, --cores {args.cores}")
    for label, r in runs.items():
        print(f"  {label:14s} {r['rounds']:6d} scheduling rounds   Snakemake CPU {r['cpu_s']:6.2f} s   "
              f"wall {r['wall_s']:6.1f} s")
    before, after = runs["default limit"], runs["limit dropped"]
    result(f"scheduling rounds {before['rounds']} -> {after['rounds']} "
           f"({before['rounds'] / max(after['rounds'], 1):.1f}x fewer), Snakemake CPU "
           f"{before['cpu_s']:.1f} s -> {after['cpu_s']:.1f} s")
    return {"jobs": args.jobs, "seconds": args.seconds, "inputs": args.inputs, "cores": args.cores, **{
        k.replace(" ", "_"): v for k, v in runs.items()}}


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
