# Snakemake-side entry point of every archlab job: the rule decided the inputs, outputs and params
# (see workflow/rules/jobs.smk); archlab.runner hands them to the job function named in the plan.
from archlab.runner import run_from_snakemake

run_from_snakemake(snakemake)  # noqa: F821  (Snakemake injects `snakemake`)
