# S7 ood: CIFAR-100 model ladder and accuracy under corruption. One corrupted test set (CIFAR-100-C,
# or generated from the clean test set), one train + one evaluate job per (ladder model, seed):
# changing the corruptions re-evaluates without retraining. See src/archlab/stages/ood.py.
S7 = config["ood"]
S7_OUT = f"{RESULTS}/ood"
S7_MODELS = {entry["name"]: entry for entry in S7["ladder"]}
S7_CIFAR_C = f"{config['resources']}/data/cifar100_c/CIFAR-100-C/labels.npy"


def s7_run(name):
    return f"{S7_OUT}/models/{{model}}/seed{{seed}}/{name}"


localrules:
    ood_fetch,


rule ood_fetch:
    """CIFAR-100-C into resources/ (a local rule: compute nodes may have no internet)."""
    output:
        S7_CIFAR_C,
    log:
        f"{LOGS}/ood/fetch.log",
    conda:
        ENV
    shell:
        "{ARCHLAB} ood fetch {PROFILE_ARGS} > {log} 2>&1"


rule ood_corrupted:
    input:
        data=data_files(S7["data"]),
        cifar_c=[S7_CIFAR_C] if S7["corrupted"]["source"] == "cifar100_c" else [],
    output:
        meta=f"{S7_OUT}/corrupted/meta.json",
        examples=f"{S7_OUT}/figures/corruption_examples.png",
    params:
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
        "{ARCHLAB} ood corrupted {PROFILE_ARGS} --threads {threads} > {log} 2>&1"


rule ood_train:
    input:
        data=data_files(S7["data"]),
        weights=lambda wc: weights_input(S7_MODELS[wc.model]["weights"]),
    output:
        model=s7_run("model.pt"),
        history=s7_run("history.csv"),
        info=s7_run("train.json"),
    wildcard_constraints:
        model="|".join(S7_MODELS),
        seed=r"\d+",
    params:
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
        "{ARCHLAB} ood train {wildcards.model} --seed {wildcards.seed} {PROFILE_ARGS} --threads {threads} > {log} 2>&1"


rule ood_evaluate:
    input:
        model=s7_run("model.pt"),
        info=s7_run("train.json"),
        corrupted=rules.ood_corrupted.output.meta,
    output:
        metrics=s7_run("metrics.json"),
        grid=s7_run("grid.csv"),
        submission=s7_run("submission.csv"),
    wildcard_constraints:
        model="|".join(S7_MODELS),
        seed=r"\d+",
    params:
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
        "{ARCHLAB} ood evaluate {wildcards.model} --seed {wildcards.seed} {PROFILE_ARGS} --threads {threads} > {log} 2>&1"


rule ood_section:
    input:
        metrics=expand(f"{S7_OUT}/models/{{model}}/seed{{seed}}/metrics.json", model=list(S7_MODELS), seed=S7["seeds"]),
        examples=rules.ood_corrupted.output.examples,
    output:
        section=f"{S7_OUT}/section.json",
        metrics=f"{RESULTS}/dvc/ood/metrics.json",
        curves=f"{RESULTS}/dvc/ood/val_acc.csv",
    params:
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
        "{ARCHLAB} ood section {PROFILE_ARGS} > {log} 2>&1"
