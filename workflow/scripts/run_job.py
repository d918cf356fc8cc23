# Snakemake-side entry point of every archlab job: the rule decided the inputs, outputs and params
# (see workflow/rules/jobs.smk); archlab.runner hands them to the job function named in the plan.
# The job imports the workflow's own src/ (Snakemake runs scripts in the workflow's directory), the
# same code whose version common.smk recorded in the rule's `code` param.
import sys
from pathlib import Path

sys.path.insert(0, str(Path("src").resolve()))
from archlab.runner import run_from_snakemake  # noqa: E402

run_from_snakemake(snakemake)  # noqa: F821  (Snakemake injects `snakemake`)
