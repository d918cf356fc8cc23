# Appendix "where the time goes": per-study job time from every rule's `benchmark:` file
# (logs/<profile>/bench/<study>/…tsv), built once every study section is done. See bench/appendix.py.


BENCH_FILES = ["bench/__main__.py", "bench/common.py", "bench/appendix.py"]  # what `python -m bench appendix` runs
BENCH_RECORD = f"{RESULTS}/bench/identity.json"  # the identity it was built with (its params.json)


rule bench_section:
    input:
        [PIPELINE.paths.section(study) for study in config["studies"]],
        # its code as a content digest (src/archlab/workflow/freshness.py): an edit of the appendix reruns it, a touch does not
        identity=PIPELINE.code_identity("bench_section", BENCH_FILES, ["archlab.report.section"], BENCH_RECORD),
    output:
        identity=BENCH_RECORD,  # written first: the oldest output
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
        "cp {input.identity:q} {output.identity:q} && "
        "{params.python:q} -m bench appendix --profile {params.profile:q} --write > {log:q} 2>&1"
