# One Snakemake rule per kind of job, built from the plans (src/archlab/studies/<study>/plan.py and
# src/archlab/commands/<step>.py): each rule hands its job the inputs, outputs and exact params the
# plan decided, through workflow/scripts/run_job.py. Rerun triggers: `job` (the params the job
# receives) and `code` (the digest of the archlab source files the job's module imports), so a
# params or code change reruns exactly the jobs that read it. `archlab run <rule> k=v` runs one by hand.


for _spec in PIPELINE.rules.values():

    rule:
        name:
            _spec.name
        input:
            unpack(_job_input(_spec.name)),
        output:
            **_spec.outputs,
        wildcard_constraints:
            **PIPELINE.constraints(_spec.name),
        params:
            job=_job_params(_spec.name),
            func=_spec.func,
            code=_spec.code,
        log:
            PIPELINE.log(_spec.name),
        benchmark:
            PIPELINE.log(_spec.name, "bench")
        threads: _spec.threads
        resources:
            mem_mb=_spec.mem_mb,
            runtime=_spec.runtime,
            gpu=GPUS if _spec.gpu else 0,
        localrule: _spec.local
        conda:
            ENV
        script:
            "../scripts/run_job.py"

