# archlab: one DAG from data to report. Execution lives in workflow/rules/*.smk; parameters in
# params.yaml (full profile) with config/<profile>.yaml overrides. See README.md.
#   snakemake --cores 2 --configfile config/demo.yaml      # demo profile (offline, CPU)
#   snakemake --cores 8                                      # full profile
configfile: "params.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/resnet.smk"
include: "workflow/rules/vit.smk"
include: "workflow/rules/gan.smk"
include: "workflow/rules/vae.smk"
include: "workflow/rules/clip.smk"
include: "workflow/rules/cifar_arch.smk"
include: "workflow/rules/ood.smk"
include: "workflow/rules/bench.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        REPORT_TARGETS,
    default_target: True
