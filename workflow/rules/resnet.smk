# S1 resnet: ResNet transfer learning. Frozen-backbone features are extracted once per variant;
# heads, hierarchy and confusion read the cache. See src/archlab/stages/resnet.py.
S1 = config["resnet"]
S1_OUT = f"{RESULTS}/resnet"
S1_VARIANTS = {m["arch"]: m["weights"] for m in S1["depth"]["models"]} | {
    S1["arch"]: S1["weights"],
    f"{S1['arch']}-noskip": S1["weights"],
}


rule resnet_features:
    input:
        data=data_files(S1["data"]),
        weights=lambda wc: weights_input(S1_VARIANTS[wc.variant]),
    output:
        cache=f"{S1_OUT}/features/{{variant}}.npz",
        meta=f"{S1_OUT}/features/{{variant}}.json",
    wildcard_constraints:
        variant="|".join(S1_VARIANTS),
    params:
        profile=PROFILE,
        p=s1_feature_params,
    log:
        f"{LOGS}/resnet/features_{{variant}}.log",
    benchmark:
        f"{LOGS}/bench/resnet/features_{{variant}}.tsv"
    threads: 1
    resources:
        mem_mb=16000,
        runtime=120,
        gpu=GPUS,
    conda:
        ENV
    shell:
        "python -m archlab resnet features {wildcards.variant} --profile {params.profile} --threads {threads} > {log} 2>&1"


rule resnet_head:
    input:
        f"{S1_OUT}/features/{{variant}}.npz",
    output:
        metrics=f"{S1_OUT}/head/{{variant}}/seed{{seed}}/metrics.json",
        history=f"{S1_OUT}/head/{{variant}}/seed{{seed}}/history.csv",
        pred=f"{S1_OUT}/head/{{variant}}/seed{{seed}}/test_pred.npy",
    wildcard_constraints:
        variant="|".join(S1_VARIANTS),
    params:
        profile=PROFILE,
        p=lambda wc: json.dumps({"head": S1["head"], "batch_size": S1["batch_size"]}, sort_keys=True),
    log:
        f"{LOGS}/resnet/head_{{variant}}_seed{{seed}}.log",
    benchmark:
        f"{LOGS}/bench/resnet/head_{{variant}}_seed{{seed}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        ENV
    shell:
        "python -m archlab resnet head {wildcards.variant} --seed {wildcards.seed} --profile {params.profile} --threads {threads} > {log} 2>&1"


rule resnet_strategy:
    input:
        data=data_files(S1["data"]),
        weights=weights_input(S1["weights"]),
    output:
        metrics=f"{S1_OUT}/strategies/{{strategy}}/seed{{seed}}/metrics.json",
        history=f"{S1_OUT}/strategies/{{strategy}}/seed{{seed}}/history.csv",
    wildcard_constraints:
        strategy="last_block|full|random_init",
    params:
        profile=PROFILE,
        p=lambda wc: json.dumps({k: S1[k] for k in ("strategies", "arch", "weights", "image_size", "batch_size", "data")}, sort_keys=True),
    log:
        f"{LOGS}/resnet/strategy_{{strategy}}_seed{{seed}}.log",
    benchmark:
        f"{LOGS}/bench/resnet/strategy_{{strategy}}_seed{{seed}}.tsv"
    threads: 1
    resources:
        mem_mb=16000,
        runtime=360,
        gpu=GPUS,
    conda:
        ENV
    shell:
        "python -m archlab resnet strategy {wildcards.strategy} --seed {wildcards.seed} --profile {params.profile} --threads {threads} > {log} 2>&1"


rule resnet_hierarchy:
    input:
        f"{S1_OUT}/features/{S1['arch']}.npz",
    output:
        csv=f"{S1_OUT}/hierarchy/separability.csv",
        png=f"{S1_OUT}/hierarchy/projections.png",
    params:
        profile=PROFILE,
        p=lambda wc: json.dumps({"hierarchy": S1["hierarchy"], "seed": S1["seeds"][0]}, sort_keys=True),
    log:
        f"{LOGS}/resnet/hierarchy.log",
    benchmark:
        f"{LOGS}/bench/resnet/hierarchy.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    conda:
        ENV
    shell:
        "python -m archlab resnet hierarchy --profile {params.profile} --threads {threads} > {log} 2>&1"


rule resnet_confusion:
    input:
        f"{S1_OUT}/head/{S1['arch']}/seed{S1['seeds'][0]}/test_pred.npy",
    output:
        png=f"{S1_OUT}/confusion/confusion.png",
        pairs=f"{S1_OUT}/confusion/pairs.csv",
    params:
        profile=PROFILE,
        p=lambda wc: json.dumps(S1["confusion"]),
    log:
        f"{LOGS}/resnet/confusion.log",
    benchmark:
        f"{LOGS}/bench/resnet/confusion.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    shell:
        "python -m archlab resnet confusion --profile {params.profile} > {log} 2>&1"


rule resnet_section:
    input:
        heads=expand(f"{S1_OUT}/head/{{variant}}/seed{{seed}}/metrics.json", variant=list(S1_VARIANTS), seed=S1["seeds"]),
        strategies=expand(
            f"{S1_OUT}/strategies/{{strategy}}/seed{{seed}}/metrics.json",
            strategy=[s for s in S1["strategies"]["names"] if s != "head"],
            seed=S1["seeds"],
        ),
        hierarchy=rules.resnet_hierarchy.output,
        confusion=rules.resnet_confusion.output,
    output:
        section=f"{S1_OUT}/section.json",
        metrics=f"{RESULTS}/dvc/resnet/metrics.json",
        curves=f"{RESULTS}/dvc/resnet/head_val_acc.csv",
    params:
        profile=PROFILE,
        p=params_of("resnet"),
    log:
        f"{LOGS}/resnet/section.log",
    benchmark:
        f"{LOGS}/bench/resnet/section.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    shell:
        "python -m archlab resnet section --profile {params.profile} > {log} 2>&1"
