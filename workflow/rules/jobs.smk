# One Snakemake rule per kind of job, built from the plans (src/archlab/studies/<study>/plan.py and
# src/archlab/commands/<step>.py): each rule hands its job the inputs, outputs and exact params the
# plan decided, through workflow/scripts/run_job.py. Rerun triggers: `job` (the params the job
# receives) and `code` (the digest of the archlab source files the job's module imports), so a
# params or code change reruns exactly the jobs that read it. `archlab run <rule> k=v` runs one by hand.
# Figures, section.json and report.html are tagged report() (Rule.report_outputs): `snakemake --report` shows them.


# Each GPU job books the minutes of the FLOP/step cost model (src/archlab/cost.py, docs/cost.md), not a guess;
# small GPU jobs share a group, so a cluster can pack several into one allocation (--group-components).
from archlab.cost import CostModel  # noqa: E402

COST = CostModel(PIPELINE.cfg)

for _spec in PIPELINE.rules.values():

    rule:
        name:
            _spec.name
        input:
            unpack(_job_input(_spec.name)),
        output:
            **{k: report(v, category=_spec.study) if k in _spec.report_outputs else v for k, v in _spec.outputs.items()},
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
        priority: PIPELINE.priority(_spec.name)
        resources:
            mem_mb=_spec.mem_mb,
            runtime=lambda wildcards, _rule=_spec: COST.minutes(PIPELINE.job(_rule.name, dict(wildcards.items()))),
            gpu=GPUS if _spec.gpu else 0,
            # GPU sharing on one machine: a GPU job also asks for its Rule's gpu_share of the 100
            # `gpu_slots` one GPU has (0.25 -> 25: four such jobs share it; a whole-GPU job takes all
            # 100). The workflow profile profiles/default caps gpu_slots at 100 and sets `gpu: 0` for
            # the shared rules, so there only the slots admit them; `gpu` stays the --gpus/--gres count
            # that SLURM gets (there no slot limit applies). With N GPUs: --resources gpu=N gpu_slots=N*100.
            # 0 where GPU rules ask no GPU (gpus_per_job: 0, the demo and test profiles).
            gpu_slots=lambda wildcards, _rule=_spec: _rule.gpu_slots(dict(wildcards.items())) if GPUS else 0,
        group: COST.group(_spec)
        localrule: _spec.local
        conda:
            ENV
        script:
            "../scripts/run_job.py"

