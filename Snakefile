# archlab: one DAG from data to report. Parameters: params.yaml (full profile) with
# config/<profile>.yaml overrides; the jobs and their paths: the plans in src/archlab/. See README.md.
#   snakemake --cores 2 --configfile config/demo.yaml      # demo profile (offline, CPU)
#   snakemake --cores 8                                      # full profile
configfile: "params.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/jobs.smk"
include: "workflow/rules/weights.smk"
include: "workflow/rules/bench.smk"


rule all:
    input:
        PIPELINE.targets(),
    default_target: True
