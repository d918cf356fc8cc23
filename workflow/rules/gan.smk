# S3 gan: MLP GAN training dynamics on MNIST. A digit classifier is trained once and judges the
# samples of every run; runs = baseline + per scenario a pathology run and its mitigation.
# See src/archlab/stages/gan.py.
S3 = config["gan"]
S3_OUT = f"{RESULTS}/gan"
S3_RUNS = ["baseline", *[f"{name}{suffix}" for name in S3["scenarios"] for suffix in ("", "_mitigated")]]


rule gan_classifier:
    input:
        data_files(S3["data"]),
    output:
        model=f"{S3_OUT}/classifier/model.pt",
        metrics=f"{S3_OUT}/classifier/metrics.json",
    params:
        profile=PROFILE,
        p=lambda wc: json.dumps({"classifier": S3["classifier"], "data": S3["data"]}, sort_keys=True),
    log:
        f"{LOGS}/gan/classifier.log",
    benchmark:
        f"{LOGS}/bench/gan/classifier.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
        gpu=GPUS,
    conda:
        ENV
    shell:
        "python -m archlab gan classifier --profile {params.profile} --threads {threads} > {log} 2>&1"


rule gan_train:
    input:
        data=data_files(S3["data"]),
        classifier=rules.gan_classifier.output.model,
    output:
        history=f"{S3_OUT}/runs/{{run}}/seed{{seed}}/history.csv",
        grids=f"{S3_OUT}/runs/{{run}}/seed{{seed}}/grids.npz",
        summary=f"{S3_OUT}/runs/{{run}}/seed{{seed}}/summary.json",
    wildcard_constraints:
        run="|".join(S3_RUNS),
    params:
        profile=PROFILE,
        p=lambda wc: json.dumps({"baseline": S3["baseline"], "eval": S3["eval"], "data": S3["data"],
                                 "scenario": S3["scenarios"].get(wc.run.removesuffix("_mitigated"))}, sort_keys=True),
    log:
        f"{LOGS}/gan/train_{{run}}_seed{{seed}}.log",
    benchmark:
        f"{LOGS}/bench/gan/train_{{run}}_seed{{seed}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=GPUS,
    conda:
        ENV
    shell:
        "python -m archlab gan train {wildcards.run} --seed {wildcards.seed} --profile {params.profile} --threads {threads} > {log} 2>&1"


rule gan_section:
    input:
        summaries=expand(f"{S3_OUT}/runs/{{run}}/seed{{seed}}/summary.json", run=S3_RUNS, seed=S3["seeds"]),
        classifier=rules.gan_classifier.output.metrics,
    output:
        section=f"{S3_OUT}/section.json",
        metrics=f"{RESULTS}/dvc/gan/metrics.json",
        grad_curves=f"{RESULTS}/dvc/gan/g_grad_norm.csv",
        coverage_curves=f"{RESULTS}/dvc/gan/class_coverage.csv",
    params:
        profile=PROFILE,
        p=params_of("gan"),
    log:
        f"{LOGS}/gan/section.log",
    benchmark:
        f"{LOGS}/bench/gan/section.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    shell:
        "python -m archlab gan section --profile {params.profile} > {log} 2>&1"
