# Snakemake-side entry point of every archlab job: the rule decided the inputs, outputs and params
# (see workflow/rules/<study>.smk); archlab.workflow.runner hands them to the job function named in the plan.
# The job imports the workflow's own src/ (Snakemake runs scripts in the workflow's directory), the
# same code whose version common.smk recorded in the rule's `code` param. Where this run started a
# job server (local CPU runs, src/archlab/workflow/execution/job_server.py), the job runs in a fork of it, with torch
# and the other heavy libraries already imported; otherwise in this process.
import sys
from pathlib import Path

sys.path.insert(0, str(Path("src").resolve()))
from archlab.workflow.execution.job_server import delegate  # noqa: E402

TARGET = "archlab.workflow.runner:run_from_snakemake"
code = delegate(TARGET, snakemake)  # noqa: F821  (Snakemake injects `snakemake`)
if code is not None:
    sys.exit(code)

from archlab.workflow.runner import run_from_snakemake  # noqa: E402

run_from_snakemake(snakemake)  # noqa: F821
