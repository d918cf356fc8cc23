# Appendix "where the time goes": per-study job time from every rule's `benchmark:` file
# (logs/<profile>/bench/<study>/…tsv), built once every study section is done. See bench/appendix.py.


rule bench_section:
    input:
        [PIPELINE.paths.section(study) for study in config["studies"]],
    output:
        section=f"{RESULTS}/bench/section.json",
        metrics=f"{RESULTS}/dvc/bench/metrics.json",
    params:
        python=PYTHON,
        profile=PROFILE,
    log:
        f"{LOGS}/bench_section.log",
    benchmark:
        f"{LOGS}/bench/bench_section.tsv"  # top level: not counted in its own table
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        ENV
    shell:
        "{params.python:q} -m bench appendix --profile {params.profile:q} --write > {log:q} 2>&1"
