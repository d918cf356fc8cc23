# The report: every enabled study's section.json → report/<profile>/report.{md,tex,pdf}.


rule report:
    input:
        study_targets(),
        appendix=f"{RESULTS}/bench/section.json",  # workflow/rules/bench.smk
    output:
        md=f"report/{PROFILE}/report.md",
        tex=f"report/{PROFILE}/report.tex",
    params:
        profile=PROFILE,
        p=lambda wc: json.dumps({"report": config["report"], "studies": config["studies"]}),
    log:
        f"{LOGS}/report.log",
    benchmark:
        f"{LOGS}/bench/report.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    shell:
        "python -m archlab report --profile {params.profile} --extra {input.appendix} > {log} 2>&1"
