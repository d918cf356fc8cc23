# S4 vae: VAE posterior collapse. One job per (run, seed) trains and diagnoses; one job draws the
# sample grids of every run; the section reads only those artifacts. See src/archlab/stages/vae.py.
S4 = config["vae"]
S4_OUT = f"{RESULTS}/vae"
S4_RUNS = {r["name"]: r for r in S4["runs"]}


rule vae_train:
    input:
        data_files(S4["data"]),
    output:
        model=f"{S4_OUT}/runs/{{run}}/seed{{seed}}/model.pt",
        history=f"{S4_OUT}/runs/{{run}}/seed{{seed}}/history.csv",
        metrics=f"{S4_OUT}/runs/{{run}}/seed{{seed}}/metrics.json",
    wildcard_constraints:
        run="|".join(S4_RUNS),
        seed=r"\d+",
    params:
        profile=PROFILE,
        p=lambda wc: json.dumps({**{k: S4[k] for k in ("data", "epochs", "batch_size", "optimizer", "model", "active_threshold")},
                                 "run": S4_RUNS[wc.run], "collapse": S4["roles"]["collapse"]}, sort_keys=True),
    log:
        f"{LOGS}/vae/train_{{run}}_seed{{seed}}.log",
    benchmark:
        f"{LOGS}/bench/vae/train_{{run}}_seed{{seed}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPUS,
    conda:
        ENV
    shell:
        "python -m archlab vae train {wildcards.run} --seed {wildcards.seed} --profile {params.profile} --threads {threads} > {log} 2>&1"


rule vae_samples:
    input:
        expand(f"{S4_OUT}/runs/{{run}}/seed{S4['seeds'][0]}/model.pt", run=list(S4_RUNS)),
    output:
        reconstructions=f"{S4_OUT}/samples/reconstructions.png",
        generated=expand(f"{S4_OUT}/samples/generated_{{prior}}.png", prior=S4["samples"]["priors"]),
        interpolations=f"{S4_OUT}/samples/interpolations.png",
        summary=f"{S4_OUT}/samples/samples.json",
    params:
        profile=PROFILE,
        p=lambda wc: json.dumps({"samples": S4["samples"], "runs": list(S4_RUNS), "seed": S4["seeds"][0]}, sort_keys=True),
    log:
        f"{LOGS}/vae/samples.log",
    benchmark:
        f"{LOGS}/bench/vae/samples.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    shell:
        "python -m archlab vae samples --profile {params.profile} --threads {threads} > {log} 2>&1"


rule vae_section:
    input:
        metrics=expand(f"{S4_OUT}/runs/{{run}}/seed{{seed}}/metrics.json", run=list(S4_RUNS), seed=S4["seeds"]),
        histories=expand(f"{S4_OUT}/runs/{{run}}/seed{S4['seeds'][0]}/history.csv", run=list(S4_RUNS)),
        samples=rules.vae_samples.output,
    output:
        section=f"{S4_OUT}/section.json",
        figures=[f"{S4_OUT}/figures/elbo_terms.png", f"{S4_OUT}/figures/kl_per_dim.png"],
        metrics=f"{RESULTS}/dvc/vae/metrics.json",
        curves=f"{RESULTS}/dvc/vae/val_loss.csv",
    params:
        profile=PROFILE,
        p=params_of("vae"),
    log:
        f"{LOGS}/vae/section.log",
    benchmark:
        f"{LOGS}/bench/vae/section.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    shell:
        "python -m archlab vae section --profile {params.profile} > {log} 2>&1"
