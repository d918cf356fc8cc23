# archlab: one DAG from data to report. Parameters: params.yaml (full profile) with
# config/<profile>.yaml overrides; the jobs and their paths: the plans in src/archlab/. See README.md.
#   snakemake --cores 2 --configfile config/demo.yaml      # demo profile (offline, CPU)
#   snakemake --cores 8                                      # full profile
configfile: "params.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/steps.smk"  # data, pretrain, claims, report


for study in config["studies"]:  # one rule file per study, generated from its plan

    include: f"workflow/rules/{study}.smk"


include: "workflow/rules/weights.smk"
include: "workflow/rules/bench.smk"


_unwritten = sorted(set(PIPELINE.rules) - {r.name for r in workflow.rules})
if _unwritten:
    raise WorkflowError(f"the plans have rules without a rule file: {_unwritten}; run `python -m archlab rules --write`")


rule all_data:
    """Every dataset the enabled studies read (the target of DVC's `data` stage)."""
    input:
        [PIPELINE.paths.dataset(name) for name in used_datasets(config)],


rule pretrain_index:
    """What was pretrained for this profile (nothing in the full profile, which uses ImageNet weights)."""
    input:
        [job.output["metrics"] for job in PIPELINE.jobs if job.rule.name == "pretrain"],
    output:
        f"{RESULTS}/pretrain/index.json",
    log:
        f"{LOGS}/pretrain/index.log",
    localrule: True
    run:
        from archlab.io import read_json, write_json

        write_json(output[0], {Path(p).parent.name: read_json(p) for p in input})


rule all:
    input:
        PIPELINE.targets(),
    default_target: True
