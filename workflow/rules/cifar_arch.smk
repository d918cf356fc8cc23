# S6 cifar_arch: MLP / ResNet-18 / MLP-Mixer on CIFAR-10. Every sweep point resolves to a full
# setting whose hash is its run key; one job per distinct key, so points that share a setting
# (across sweeps) share one run. See src/archlab/stages/cifar_arch.py and archlab.train.sweeps.
from archlab.train.sweeps import expand_sweeps, unique_runs

S6 = config["cifar_arch"]
S6_OUT = f"{RESULTS}/cifar_arch"
S6_RUNS = unique_runs(expand_sweeps(S6))


rule cifar_arch_run:
    input:
        data_files(S6["dataset"]),
    output:
        final=f"{S6_OUT}/runs/{{key}}/final.json",
        history=f"{S6_OUT}/runs/{{key}}/history.csv",
        gradflow=f"{S6_OUT}/runs/{{key}}/gradflow.npz",
        drawn=f"{S6_OUT}/runs/{{key}}/weights_drawn.npz",
    wildcard_constraints:
        key="[0-9a-f]{16}",
    params:
        profile=PROFILE,
        p=lambda wc: json.dumps(S6_RUNS[wc.key].to_dict(), sort_keys=True),
    log:
        f"{LOGS}/cifar_arch/run_{{key}}.log",
    benchmark:
        f"{LOGS}/bench/cifar_arch/run_{{key}}.tsv"
    threads: 1
    resources:
        mem_mb=6000,
        runtime=240,
        gpu=GPUS,
    conda:
        ENV
    shell:
        "python -m archlab cifar_arch run {wildcards.key} --profile {params.profile} --threads {threads} > {log} 2>&1"


rule cifar_arch_section:
    input:
        runs=expand(f"{S6_OUT}/runs/{{key}}/final.json", key=sorted(S6_RUNS)),
        data=data_files(S6["dataset"]),
    output:
        section=f"{S6_OUT}/section.json",
        metrics=f"{RESULTS}/dvc/cifar_arch/metrics.json",
        curves=f"{RESULTS}/dvc/cifar_arch/gradflow_val_acc.csv",
    params:
        profile=PROFILE,
        p=params_of("cifar_arch"),
    log:
        f"{LOGS}/cifar_arch/section.log",
    benchmark:
        f"{LOGS}/bench/cifar_arch/section.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    conda:
        ENV
    shell:
        "python -m archlab cifar_arch section --profile {params.profile} > {log} 2>&1"
