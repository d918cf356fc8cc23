"""On one machine, GPU jobs run only under a ``gpu_slots`` limit: a run without one is refused at its start.

Each GPU job asks ``gpu_slots`` (its plan Rule's ``gpu_share`` x 100; whole-GPU jobs 100), and the
workflow profile ``profiles/default`` (and ``workflow/profiles/local``) caps them at 100, one GPU's worth.
Snakemake replaces a profile's whole ``resources:`` list with the one given on the command line, so
``--resources mem_mb=8000`` alone would drop the cap and start every GPU job at once. The Snakefile's
``onstart`` calls :func:`check`: such a run stops with one message saying what to add. On a cluster the
rules ask no slots (each SLURM job gets its own GPU), so the check does not apply there.
"""
from __future__ import annotations

from collections.abc import Mapping

RESOURCE = "gpu_slots"
ONE_GPU = 100


def problem(global_resources: Mapping, local: bool, gpu_jobs: bool) -> str | None:
    """Why this run's GPU jobs would be unbounded, or None when they are bounded (or there are none)."""
    limit = global_resources[RESOURCE] if RESOURCE in global_resources else None
    if not local or not gpu_jobs or getattr(limit, "value", limit) is not None:  # Snakemake's Resource or a number
        return None
    given = " ".join(f"{k}={getattr(v, 'value', v)}" for k, v in global_resources.items() if not k.startswith("_"))
    return (f"GPU jobs would all start at once: this run sets no `{RESOURCE}` limit (the resources given, "
            f"`{given or 'none'}`, replace the workflow profile's `{RESOURCE}={ONE_GPU}`). Add it to --resources: "
            f"`--resources {given + ' ' if given else ''}{RESOURCE}={ONE_GPU}` (x N for N GPUs)")


def check(workflow, gpu_jobs: bool) -> None:
    """Refuse a local run whose GPU jobs nothing bounds (call from ``onstart``: the executor is known there)."""
    from snakemake.exceptions import WorkflowError

    message = problem(workflow.global_resources, workflow.local_exec, gpu_jobs)
    if message:
        raise WorkflowError(message)
