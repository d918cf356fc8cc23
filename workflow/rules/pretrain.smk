# Demo only: small backbones pretrained on a synthetic source task with disjoint classes, the
# offline stand-in for ImageNet weights (studies load them as `file:` weights specs).


rule pretrain_resnet:
    input:
        data_files(config["pretrain"]["data"]),
    output:
        weights=f"{RESULTS}/pretrain/{{arch}}/weights.pt",
        metrics=f"{RESULTS}/pretrain/{{arch}}/metrics.json",
    params:
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
    shell:
        "{ARCHLAB} pretrain {wildcards.arch} {PROFILE_ARGS} --threads {threads} > {log} 2>&1"
