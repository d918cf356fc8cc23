"""Snakemake's scheduler on one machine, without the rounds its default job-rate limit adds.

Snakemake's command line always sets a job-rate limit (``--max-jobs-per-timespan``, default
``100/1s``). With a limit set, every scheduling round that leaves ready jobs waiting starts a
timer that wakes the scheduler one timespan later for another round, and that round starts the
next timer. The wake-up is a semaphore, so timers do not merge: each event that wakes the
scheduler while jobs wait (a job ending, for one) starts one more chain that lives as long as
jobs wait. A local run with more ready jobs than cores — two cores and dozens of runnable jobs
for most of the demo — ends with as many rounds per second as jobs have finished, and every
round re-evaluates each waiting job's params and resources and ``stat``s its inputs (Snakemake
pull request 3744 describes the same loop: https://github.com/snakemake/snakemake/pull/3744).
``python -m bench scheduler_rounds`` counts them.

A limit of 100 job starts per second restrains nothing on one machine, so archlab drops the
default one there (the Snakefile's ``onstart``). A limit the user chose is kept, and so is any
limit on a cluster, where it protects the batch system.

``job_rate_limiter`` is a private attribute of Snakemake's scheduler: the change applies only to the
Snakemake major versions it was checked on (:data:`CHECKED_MAJOR_VERSIONS`); under another, the run
keeps Snakemake's own scheduling (correct, only slower) until someone checks that version's scheduler.
"""
from __future__ import annotations

from importlib.metadata import version

SNAKEMAKE_DEFAULT = (100, 1)  # --max-jobs-per-timespan 100/1s: (jobs, seconds)
CHECKED_MAJOR_VERSIONS = (9,)  # snakemake/scheduling/job_scheduler.py of 9.x: JobScheduler.job_rate_limiter


def applies(snakemake_version: str | None = None) -> bool:
    """Whether this Snakemake's scheduler is one the change was checked on."""
    major = (snakemake_version or version("snakemake")).split(".")[0]
    return major.isdigit() and int(major) in CHECKED_MAJOR_VERSIONS


def drop_default_rate_limit(scheduler) -> bool:
    """Remove ``scheduler``'s job-rate limiter if it is Snakemake's default; True if it did.

    Snakemake's own API runs without a limiter (``SchedulingSettings.max_jobs_per_timespan`` is
    None there), so the scheduler supports that state: it then only reschedules when a job ends
    or fails.
    """
    limiter = getattr(scheduler, "job_rate_limiter", None)
    if not applies() or limiter is None or (limiter.max_jobs, limiter.timespan) != SNAKEMAKE_DEFAULT:
        return False
    scheduler.job_rate_limiter = None
    return True
