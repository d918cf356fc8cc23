# S5 clip: CLIP zero-shot prompting, the modality gap and held-out Procrustes alignment.
# Image embeddings are computed once per split (clip_images) and text embeddings once per prompt
# set (clip_texts); every experiment after that is numpy over the two caches, so changing a prompt
# never re-encodes an image. See src/archlab/stages/clip.py.
S5 = config["clip"]
S5_OUT = f"{RESULTS}/clip"
S5_SPLITS = ["test", S5["procrustes"]["fit_split"]]
S5_EMB = f"{S5_OUT}/embeddings"


if "pretrain" in S5:

    rule clip_pretrain:
        """Demo only: a tiny open_clip CLIP trained contrastively on synthetic captioned images."""
        input:
            data_files(S5["pretrain"]["data"]),
        output:
            weights=f"{S5_OUT}/pretrain/model/open_clip_pytorch_model.bin",
            config=f"{S5_OUT}/pretrain/model/open_clip_config.json",
            history=f"{S5_OUT}/pretrain/history.csv",
            metrics=f"{S5_OUT}/pretrain/metrics.json",
        params:
            profile=PROFILE,
            p=params_of("clip", "pretrain"),
        log:
            f"{LOGS}/clip/pretrain.log",
        benchmark:
            f"{LOGS}/bench/clip/pretrain.tsv"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=60,
            gpu=GPUS,
        conda:
            ENV
        shell:
            "python -m archlab clip pretrain --profile {params.profile} --threads {threads} > {log} 2>&1"


rule clip_images:
    input:
        data=data_files(S5["data"]),
        weights=weights_input(S5["weights"]),
    output:
        expand(f"{S5_EMB}/{{split}}.npz", split=S5_SPLITS),
    params:
        profile=PROFILE,
        p=lambda wc: json.dumps({k: S5[k] for k in ("data", "weights", "batch_size")} | {"splits": S5_SPLITS}, sort_keys=True),
    log:
        f"{LOGS}/clip/images.log",
    benchmark:
        f"{LOGS}/bench/clip/images.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=GPUS,
    conda:
        ENV
    shell:
        "python -m archlab clip images --profile {params.profile} --threads {threads} > {log} 2>&1"


rule clip_texts:
    input:
        data=data_files(S5["data"]),
        weights=weights_input(S5["weights"]),
    output:
        f"{S5_EMB}/text.npz",
    params:
        profile=PROFILE,
        p=lambda wc: json.dumps({k: S5[k] for k in ("data", "weights", "prompts")}, sort_keys=True),
    log:
        f"{LOGS}/clip/texts.log",
    benchmark:
        f"{LOGS}/bench/clip/texts.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
        gpu=GPUS,
    conda:
        ENV
    shell:
        "python -m archlab clip texts --profile {params.profile} --threads {threads} > {log} 2>&1"


rule clip_zeroshot:
    input:
        images=f"{S5_EMB}/test.npz",
        texts=rules.clip_texts.output,
    output:
        f"{S5_OUT}/zeroshot/metrics.json",
    params:
        profile=PROFILE,
        p=lambda wc: json.dumps(sorted(S5["prompts"])),
    log:
        f"{LOGS}/clip/zeroshot.log",
    benchmark:
        f"{LOGS}/bench/clip/zeroshot.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    shell:
        "python -m archlab clip zeroshot --profile {params.profile} --threads {threads} > {log} 2>&1"


rule clip_gap:
    input:
        images=f"{S5_EMB}/test.npz",
        texts=rules.clip_texts.output,
    output:
        metrics=f"{S5_OUT}/gap/metrics.csv",
        sample=f"{S5_OUT}/gap/sample.npz",
    params:
        profile=PROFILE,
        p=lambda wc: json.dumps({"gap": S5["gap"], "seeds": S5["seeds"]}, sort_keys=True),
    log:
        f"{LOGS}/clip/gap.log",
    benchmark:
        f"{LOGS}/bench/clip/gap.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    shell:
        "python -m archlab clip gap --profile {params.profile} --threads {threads} > {log} 2>&1"


rule clip_procrustes:
    input:
        images=expand(f"{S5_EMB}/{{split}}.npz", split=S5_SPLITS),
        texts=rules.clip_texts.output,
    output:
        metrics=f"{S5_OUT}/procrustes/metrics.csv",
        aligners=f"{S5_OUT}/procrustes/aligners.npz",
    params:
        profile=PROFILE,
        p=lambda wc: json.dumps({"procrustes": S5["procrustes"], "gap": S5["gap"], "seeds": S5["seeds"]}, sort_keys=True),
    log:
        f"{LOGS}/clip/procrustes.log",
    benchmark:
        f"{LOGS}/bench/clip/procrustes.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        ENV
    shell:
        "python -m archlab clip procrustes --profile {params.profile} --threads {threads} > {log} 2>&1"


rule clip_projections:
    input:
        sample=rules.clip_gap.output.sample,
        aligners=rules.clip_procrustes.output.aligners,
    output:
        before=f"{S5_OUT}/projections/before.png",
        after=f"{S5_OUT}/projections/after.png",
    params:
        profile=PROFILE,
        p=lambda wc: json.dumps({"projections": S5["projections"], "seed": S5["seeds"][0]}, sort_keys=True),
    log:
        f"{LOGS}/clip/projections.log",
    benchmark:
        f"{LOGS}/bench/clip/projections.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        ENV
    shell:
        "python -m archlab clip projections --profile {params.profile} --threads {threads} > {log} 2>&1"


rule clip_section:
    input:
        zeroshot=rules.clip_zeroshot.output,
        gap=rules.clip_gap.output.metrics,
        procrustes=rules.clip_procrustes.output.metrics,
        projections=rules.clip_projections.output,
        pretrain=[f"{S5_OUT}/pretrain/metrics.json"] if "pretrain" in S5 else [],
    output:
        section=f"{S5_OUT}/section.json",
        metrics=f"{RESULTS}/dvc/clip/metrics.json",
    params:
        profile=PROFILE,
        p=params_of("clip"),
    log:
        f"{LOGS}/clip/section.log",
    benchmark:
        f"{LOGS}/bench/clip/section.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    shell:
        "python -m archlab clip section --profile {params.profile} > {log} 2>&1"
