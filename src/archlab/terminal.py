"""What `make demo` prints: Snakemake's progress as one line per finished job with an estimate of the time
left, then what the run found (the claim counts, from the claims table the run wrote) and where the report is.

    snakemake ... --quiet rules host 2>&1 | python -m archlab.terminal progress
    python -m archlab.terminal summary --profile demo

Standard library only: it runs beside the workflow and must not slow it or import torch.
"""
from __future__ import annotations

import argparse
import csv
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable, TextIO

PROGRESS = re.compile(r"^(\d+) of (\d+) steps \((\d+)%\) done")
FINISHED = re.compile(r"^Finished jobid: \d+ \(Rule: ([^)\s]+)\)")
# Snakemake's bookkeeping between jobs, which says nothing a person needs while the demo runs
NOISE = re.compile(r"^(\[\w{3} \w{3} +\d+ [\d:]+ \d{4}\]|Select jobs to execute\.\.\.|Execute \d+ jobs\.\.\."
                   r"|Assuming unrestricted shared filesystem usage\.|Using shell: .*"
                   r"|Rules claiming more threads will be scaled down\.)\s*$")
RULE_BLOCK = re.compile(r"^(local)?(rule|checkpoint) \S+:$")  # a job's start: its rule, then indented details
VERDICT_ORDER = ("reproduced", "not reproduced", "inconclusive")


def clock(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour on."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress(lines: Iterable[str], out: TextIO, now: Callable[[], float] = time.monotonic) -> None:
    """Copy Snakemake's output to ``out``, each "N of M steps done" turned into one line naming the rule that
    finished, the time so far and the time left (at the mean pace so far: an estimate, as jobs differ). Left
    out: each starting job's block (its rule, output, wildcards and "reason", one line of which can run to
    thousands of characters) and the bookkeeping lines between jobs. Errors (with the failed job's block and
    log path) and everything else pass through unchanged, blank lines aside."""
    start, rule, in_block = now(), None, False
    for line in lines:
        text = line.rstrip("\n")
        finished = PROGRESS.match(text)
        if in_block and text.startswith(" "):
            continue
        in_block = bool(RULE_BLOCK.match(text))
        if in_block:
            continue
        if FINISHED.match(text):
            rule = FINISHED.match(text).group(1)
        elif finished:
            done, total, percent = (int(g) for g in finished.groups())
            elapsed = now() - start
            left = elapsed / done * (total - done) if done else 0.0
            width = len(str(total))
            out.write(f"[{done:>{width}}/{total} {percent:>3}%] {rule or 'job'} done · {clock(elapsed)} so far, "
                      f"about {clock(left)} left\n")
            rule = None
        elif text.strip() and not NOISE.match(text):
            out.write(text + "\n")
        out.flush()


def verdict_counts(claims_csv: Path) -> Counter:
    """How many claims got each verdict, read from the claims table the ``claims`` rule wrote."""
    with open(claims_csv, newline="") as f:
        return Counter(row["verdict"] for row in csv.DictReader(f))


def summary(profile: str, root: Path = Path(".")) -> str:
    """The run's last lines: the claim counts and the report files that exist."""
    claims = root / "results" / profile / "claims" / "claims.csv"
    report = root / "report" / profile
    lines = []
    if claims.exists():
        counts = verdict_counts(claims)
        order = [*VERDICT_ORDER, *sorted(set(counts) - set(VERDICT_ORDER))]  # the three verdicts, also at 0
        lines.append(f"Claims judged: {sum(counts.values())} — " + ", ".join(f"{counts[v]} {v}" for v in order)
                     + f" (each with its reason: {claims})")
    else:
        lines.append(f"No claims table at {claims}: the run did not reach the claims rule (see the errors above).")
    files = [report / f"report.{ext}" for ext in ("html", "pdf", "md", "tex")]
    found = [str(f) for f in files if f.exists()]
    if found:
        lines.append(f"Report: {found[0]} (open it in a browser)" + (f"; also {', '.join(found[1:])}"
                                                                       if found[1:] else ""))
        if not (report / "report.pdf").exists():
            lines.append("No report.pdf: pdflatex is not installed (report.html holds the same report).")
    else:
        lines.append(f"No report in {report}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m archlab.terminal", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("progress", help="filter Snakemake's output (stdin) into one line per finished job with an ETA")
    s = sub.add_parser("summary", help="print the claim counts and the report's path")
    s.add_argument("--profile", default="demo")
    args = parser.parse_args(argv)
    if args.command == "progress":
        progress(sys.stdin, sys.stdout)
    else:
        print(summary(args.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
