# Datasets in the canonical format, and remote weights. Both are local rules: on a cluster they run
# on the submit (login) node, which has internet; compute nodes often have none.


rule prepare_data:
    output:
        f"{RESULTS}/data/{{name}}/meta.json",
    params:
        profile=PROFILE,
        p=lambda wc: params_of("data", wc.name)(),
    log:
        f"{LOGS}/data/{{name}}.log",
    benchmark:
        f"{LOGS}/bench/data/{{name}}.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    conda:
        ENV
    shell:
        "python -m archlab data {wildcards.name} --profile {params.profile} --threads {threads} > {log} 2>&1"


localrules:
    prepare_data,
    fetch_weights,


rule fetch_weights:
    output:
        f"{config['resources']}/weights/{{slug}}.ok",
    wildcard_constraints:
        slug="|".join(REMOTE_WEIGHTS) or "no-remote-weights",
    params:
        spec=lambda wc: REMOTE_WEIGHTS[wc.slug],
        resources=lambda wc, output: Path(output[0]).parents[1],
    log:
        f"{LOGS}/weights/{{slug}}.log",
    conda:
        ENV
    shell:
        "python -m archlab fetch-weights '{params.spec}' --resources {params.resources} > {log} 2>&1"


rule all_data:
    """Every dataset the enabled studies read (the target of DVC's `data` stage)."""
    input:
        [data_files(name) for name in used_datasets()],
