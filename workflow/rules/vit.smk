# S2 vit: ViT attention, patch masking, linear probes and Grad-CAM beside attention.
# See src/archlab/stages/vit.py. In the demo the ViT comes from vit_pretrain (file: weights).
S2 = config["vit"]
S2_OUT = f"{RESULTS}/vit"
S2_MODEL = weights_input(S2["weights"])
S2_PHOTOS = data_files(S2["predict"]["dataset"])
S2_HEAD = f"{RESULTS}/resnet/head/{config['resnet']['arch']}/seed{config['resnet']['seeds'][0]}/metrics.json"


if "pretrain" in S2:

    rule vit_pretrain:
        input:
            data_files(S2["pretrain"]["data"]),
        output:
            model=f"{S2_OUT}/pretrain/model/config.json",
            metrics=f"{S2_OUT}/pretrain/metrics.json",
            history=f"{S2_OUT}/pretrain/history.csv",
        params:
            profile=PROFILE,
            p=params_of("vit", "pretrain"),
        log:
            f"{LOGS}/vit/pretrain.log",
        benchmark:
            f"{LOGS}/bench/vit/pretrain.tsv"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=60,
            gpu=GPUS,
        conda:
            ENV
        shell:
            "python -m archlab vit pretrain --profile {params.profile} --threads {threads} > {log} 2>&1"


rule vit_predict:
    input:
        data=S2_PHOTOS,
        weights=S2_MODEL,
    output:
        f"{S2_OUT}/predict/predictions.csv",
    params:
        profile=PROFILE,
        p=lambda wc: json.dumps({k: S2[k] for k in ("weights", "predict", "batch_size")}, sort_keys=True),
    log:
        f"{LOGS}/vit/predict.log",
    benchmark:
        f"{LOGS}/bench/vit/predict.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
        gpu=GPUS,
    conda:
        ENV
    shell:
        "python -m archlab vit predict --profile {params.profile} --threads {threads} > {log} 2>&1"


rule vit_attention:
    input:
        photos=S2_PHOTOS,
        stats=data_files(S2["attention"]["data"]),
        weights=S2_MODEL,
    output:
        maps=f"{S2_OUT}/attention/maps.npz",
        stats=f"{S2_OUT}/attention/head_stats.csv",
        overlays=f"{S2_OUT}/attention/overlays.png",
        heads=f"{S2_OUT}/attention/heads.png",
        stats_png=f"{S2_OUT}/attention/head_stats.png",
    params:
        profile=PROFILE,
        p=lambda wc: json.dumps({k: S2[k] for k in ("weights", "predict", "attention", "batch_size")}, sort_keys=True),
    log:
        f"{LOGS}/vit/attention.log",
    benchmark:
        f"{LOGS}/bench/vit/attention.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
        gpu=GPUS,
    conda:
        ENV
    shell:
        "python -m archlab vit attention --profile {params.profile} --threads {threads} > {log} 2>&1"


rule vit_masking:
    input:
        data=data_files(S2["masking"]["data"]),
        weights=S2_MODEL,
    output:
        curves=f"{S2_OUT}/masking/curves.csv",
        summary=f"{S2_OUT}/masking/summary.csv",
        meta=f"{S2_OUT}/masking/meta.json",
        png=f"{S2_OUT}/masking/curves.png",
    params:
        profile=PROFILE,
        p=lambda wc: json.dumps({k: S2[k] for k in ("weights", "masking", "seeds", "batch_size")}, sort_keys=True),
    log:
        f"{LOGS}/vit/masking.log",
    benchmark:
        f"{LOGS}/bench/vit/masking.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=GPUS,
    conda:
        ENV
    shell:
        "python -m archlab vit masking --profile {params.profile} --threads {threads} > {log} 2>&1"


rule vit_probe_features:
    input:
        data=data_files(S2["probe"]["data"]),
        weights=S2_MODEL,
    output:
        f"{S2_OUT}/probe/features.npz",
    params:
        profile=PROFILE,
        p=lambda wc: json.dumps({"weights": S2["weights"], "batch_size": S2["batch_size"],
                                 **{k: S2["probe"][k] for k in ("data", "train_size", "val_size", "test_size")}}, sort_keys=True),
    log:
        f"{LOGS}/vit/probe_features.log",
    benchmark:
        f"{LOGS}/bench/vit/probe_features.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=GPUS,
    conda:
        ENV
    shell:
        "python -m archlab vit probe-features --profile {params.profile} --threads {threads} > {log} 2>&1"


rule vit_probe:
    input:
        f"{S2_OUT}/probe/features.npz",
    output:
        f"{S2_OUT}/probe/results.json",
    params:
        profile=PROFILE,
        p=lambda wc: json.dumps({k: S2["probe"][k] for k in ("cs", "max_iter")}, sort_keys=True),
    log:
        f"{LOGS}/vit/probe.log",
    benchmark:
        f"{LOGS}/bench/vit/probe.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        ENV
    shell:
        "python -m archlab vit probe --profile {params.profile} --threads {threads} > {log} 2>&1"


rule vit_cnn:
    input:
        maps=f"{S2_OUT}/attention/maps.npz",
        photos=S2_PHOTOS,
        head=S2_HEAD,
        weights=weights_input(config["resnet"]["weights"]),
    output:
        png=f"{S2_OUT}/cnn/gradcam_vs_attention.png",
        csv=f"{S2_OUT}/cnn/comparison.csv",
    params:
        profile=PROFILE,
        p=lambda wc: json.dumps({"cnn": S2["cnn"], "batch_size": S2["batch_size"],
                                 "resnet": {k: config["resnet"][k] for k in ("arch", "weights", "image_size", "data", "seeds")}},
                                sort_keys=True),
    log:
        f"{LOGS}/vit/cnn.log",
    benchmark:
        f"{LOGS}/bench/vit/cnn.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
        gpu=GPUS,
    conda:
        ENV
    shell:
        "python -m archlab vit cnn --profile {params.profile} --threads {threads} > {log} 2>&1"


rule vit_section:
    input:
        rules.vit_predict.output,
        rules.vit_attention.output,
        rules.vit_masking.output,
        rules.vit_probe.output,
        rules.vit_cnn.output,
        [f"{S2_OUT}/pretrain/metrics.json"] if S2["weights"].startswith(f"file:{S2_OUT}/pretrain/") else [],
    output:
        section=f"{S2_OUT}/section.json",
        metrics=f"{RESULTS}/dvc/vit/metrics.json",
    params:
        profile=PROFILE,
        p=lambda wc: json.dumps({"vit": S2, "resnet": {k: config["resnet"][k] for k in ("arch", "weights", "image_size", "data")}}, sort_keys=True),
    log:
        f"{LOGS}/vit/section.log",
    benchmark:
        f"{LOGS}/bench/vit/section.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    shell:
        "python -m archlab vit section --profile {params.profile} > {log} 2>&1"
