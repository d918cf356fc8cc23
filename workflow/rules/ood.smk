# S7 ood: CIFAR-100 model ladder and accuracy under corruption. One corrupted test set (CIFAR-100-C,
# or generated from the clean test set), one train + one evaluate job per (ladder model, seed):
# changing the corruptions re-evaluates without retraining. See src/archlab/stages/ood.py.
S7 = config["ood"]
S7_OUT = f"{RESULTS}/ood"
S7_MODELS = {entry["name"]: entry for entry in S7["ladder"]}
S7_CIFAR_C = f"{config['resources']}/data/cifar100_c/CIFAR-100-C/labels.npy"
S7_RUN = f"{S7_OUT}/models/{{model}}/seed{{seed}}"


rule ood_fetch:
    """CIFAR-100-C into resources/ (a local rule: compute nodes may have no internet)."""
    output:
        S7_CIFAR_C,
    params:
        profile=PROFILE,
    log:
        f"{LOGS}/ood/fetch.log",
    benchmark:
        f"{LOGS}/bench/ood/fetch.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    conda:
        ENV
    shell:
        "python -m archlab ood fetch --profile {params.profile} > {log} 2>&1"


rule ood_corrupted:
    input:
        data=data_files(S7["data"]),
        cifar_c=[S7_CIFAR_C] if S7["corrupted"]["source"] == "cifar100_c" else [],
    output:
        meta=f"{S7_OUT}/corrupted/meta.json",
        examples=f"{S7_OUT}/figures/corruption_examples.png",
    params:
        profile=PROFILE,
        p=lambda wc: json.dumps({"data": S7["data"], "corrupted": S7["corrupted"]}, sort_keys=True),
    log:
        f"{LOGS}/ood/corrupted.log",
    benchmark:
        f"{LOGS}/bench/ood/corrupted.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    conda:
        ENV
    shell:
        "python -m archlab ood corrupted --profile {params.profile} --threads {threads} > {log} 2>&1"


rule ood_train:
    input:
        data=data_files(S7["data"]),
        weights=lambda wc: weights_input(S7_MODELS[wc.model]["weights"]),
    output:
        model=f"{S7_RUN}/model.pt",
        history=f"{S7_RUN}/history.csv",
        info=f"{S7_RUN}/train.json",
    wildcard_constraints:
        model="|".join(S7_MODELS),
        seed=r"\d+",
    params:
        profile=PROFILE,
        p=lambda wc: json.dumps({"data": S7["data"], "model": S7_MODELS[wc.model], "augment": S7["augment"]}, sort_keys=True),
    log:
        f"{LOGS}/ood/train_{{model}}_seed{{seed}}.log",
    benchmark:
        f"{LOGS}/bench/ood/train_{{model}}_seed{{seed}}.tsv"
    threads: 1
    resources:
        mem_mb=16000,
        runtime=720,
        gpu=GPUS,
    conda:
        ENV
    shell:
        "python -m archlab ood train {wildcards.model} --seed {wildcards.seed} --profile {params.profile} --threads {threads} > {log} 2>&1"


rule ood_evaluate:
    input:
        model=f"{S7_RUN}/model.pt",
        info=f"{S7_RUN}/train.json",
        corrupted=rules.ood_corrupted.output.meta,
    output:
        metrics=f"{S7_RUN}/metrics.json",
        grid=f"{S7_RUN}/grid.csv",
        submission=f"{S7_RUN}/submission.csv",
    wildcard_constraints:
        model="|".join(S7_MODELS),
        seed=r"\d+",
    params:
        profile=PROFILE,
        p=lambda wc: json.dumps({"model": S7_MODELS[wc.model], "eval_batch_size": S7["eval_batch_size"]}, sort_keys=True),
    log:
        f"{LOGS}/ood/evaluate_{{model}}_seed{{seed}}.log",
    benchmark:
        f"{LOGS}/bench/ood/evaluate_{{model}}_seed{{seed}}.tsv"
    threads: 1
    resources:
        mem_mb=16000,
        runtime=120,
        gpu=GPUS,
    conda:
        ENV
    shell:
        "python -m archlab ood evaluate {wildcards.model} --seed {wildcards.seed} --profile {params.profile} --threads {threads} > {log} 2>&1"


rule ood_section:
    input:
        metrics=expand(f"{S7_OUT}/models/{{model}}/seed{{seed}}/metrics.json", model=list(S7_MODELS), seed=S7["seeds"]),
        examples=rules.ood_corrupted.output.examples,
    output:
        section=f"{S7_OUT}/section.json",
        metrics=f"{RESULTS}/dvc/ood/metrics.json",
        curves=f"{RESULTS}/dvc/ood/val_acc.csv",
    params:
        profile=PROFILE,
        p=params_of("ood"),
    log:
        f"{LOGS}/ood/section.log",
    benchmark:
        f"{LOGS}/bench/ood/section.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    shell:
        "python -m archlab ood section --profile {params.profile} > {log} 2>&1"
