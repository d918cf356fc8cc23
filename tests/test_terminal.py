"""Issue 29: `make demo` says what it does before the install, shows one line per finished job with the time
left instead of Snakemake's job blocks, and ends with the claim counts and the report's path."""
from __future__ import annotations

import io
import re

from conftest import ROOT

from archlab import terminal

SNAKEMAKE = """Building DAG of jobs...
Provided cores: 2
Job stats:
job      count
-----  -------
b            2
total        2

[Mon Dec  7 05:19:58 2026]
localrule gan_train:
    output: results/demo/gan/runs/baseline_0/history.csv
    jobid: 2
    reason: Missing output files: results/demo/gan/runs/baseline_0/history.csv; Input files updated: """ + "x" * 4800 + """
    wildcards: run=baseline, seed=0

Select jobs to execute...
Execute 2 jobs...
[Mon Dec  7 05:20:58 2026]
Finished jobid: 2 (Rule: gan_train)
1 of 4 steps (25%) done
Error in rule vae_train:
    jobid: 3
    log: logs/demo/vae/vae_train_run=beta1_0.log (check log file(s) for error details)
[Mon Dec  7 05:21:58 2026]
Finished jobid: 5 (Rule: report)
4 of 4 steps (100%) done
"""


def test_progress_shows_each_finished_job_with_the_time_left_and_drops_job_blocks():
    clock = iter([0.0, 60.0, 90.0])
    out = io.StringIO()
    terminal.progress(io.StringIO(SNAKEMAKE), out, now=lambda: next(clock))
    lines = out.getvalue().splitlines()
    assert "[1/4  25%] gan_train done · 1:00 so far, about 3:00 left" in lines
    assert "[4/4 100%] report done · 1:30 so far, about 0:00 left" in lines
    assert max(map(len, lines)) < 120 and not any("reason:" in line or "Select jobs" in line for line in lines)
    # the failed job's block, with its log, stays whole
    assert lines[lines.index("Error in rule vae_train:") + 2].endswith("(check log file(s) for error details)")
    assert "Job stats:" in lines and "" not in lines


def test_summary_counts_the_verdicts_of_the_claims_table(tmp_path):
    claims = tmp_path / "results" / "demo" / "claims" / "claims.csv"
    claims.parent.mkdir(parents=True)
    verdicts = ["reproduced"] * 3 + ["inconclusive"] * 2 + ["not reproduced"]
    claims.write_text("id,verdict,reason\n" + "".join(f"c{i},{v},r\n" for i, v in enumerate(verdicts)))
    (tmp_path / "report" / "demo").mkdir(parents=True)
    (tmp_path / "report" / "demo" / "report.html").write_text("<html>")
    text = terminal.summary("demo", tmp_path)
    assert text.startswith("Claims judged: 6 — 3 reproduced, 1 not reproduced, 2 inconclusive")
    assert f"Report: {tmp_path}/report/demo/report.html (open it in a browser)" in text
    assert "No report.pdf: pdflatex is not installed" in text
    assert terminal.summary("demo", tmp_path / "empty").startswith("No claims table at")
    claims.write_text("id,verdict\nc0,inconclusive\n")
    assert terminal.summary("demo", tmp_path).startswith("Claims judged: 1 — 0 reproduced, 0 not reproduced, 1 inc")


def test_make_demo_announces_the_install_and_pipes_snakemake_through_the_progress_filter():
    makefile = (ROOT / "Makefile").read_text()
    install = makefile.split("$(VENV)/.installed:", 1)[1]
    assert re.match(r"[^\n]*\n\t@echo \"Installing[^\n]*GB[^\n]*minutes", install), "no line before the install"
    demo = makefile.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    assert "set -o pipefail" in demo and "--quiet host" in demo and "-m archlab.terminal progress" in demo
    assert demo.rstrip().splitlines()[-2].strip() == "@$(PY) -m archlab.terminal summary --profile demo"
    assert "SHELL   := /bin/bash" in makefile  # pipefail: a failed run fails make
