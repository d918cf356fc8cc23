# Demo only: small backbones pretrained on a synthetic source task with disjoint classes, the
# offline stand-in for ImageNet weights (studies load them as `file:` weights specs).


rule pretrain_resnet:
    input:
        data_files(config["pretrain"]["data"]),
    output:
        weights=f"{RESULTS}/pretrain/{{arch}}/weights.pt",
        metrics=f"{RESULTS}/pretrain/{{arch}}/metrics.json",
    params:
        profile=PROFILE,
        p=params_of("pretrain"),
    log:
        f"{LOGS}/pretrain/{{arch}}.log",
    benchmark:
        f"{LOGS}/bench/pretrain/{{arch}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=GPUS,
    conda:
        ENV
    shell:
        "python -m archlab pretrain {wildcards.arch} --profile {params.profile} --threads {threads} > {log} 2>&1"


rule pretrain_index:
    """What was pretrained for this profile (nothing in the full profile, which uses ImageNet weights)."""
    input:
        expand(f"{RESULTS}/pretrain/{{arch}}/metrics.json", arch=config["pretrain"]["archs"]),
    output:
        f"{RESULTS}/pretrain/index.json",
    params:
        profile=PROFILE,
        p=params_of("pretrain"),
    log:
        f"{LOGS}/pretrain/index.log",
    localrule: True
    run:
        from archlab.io import read_json, write_json

        write_json(output[0], {Path(p).parent.name: read_json(p) for p in input})
