"""How jobs are started on this machine: tricks around Snakemake, kept apart from the library and the plans.

- :mod:`~archlab.workflow.execution.job_server`: a fork server with torch & co. imported, for local CPU runs.
- :mod:`~archlab.workflow.execution.local_scheduling`: drops Snakemake's default job-rate limit on one machine.
- :mod:`~archlab.workflow.execution.gpu_bound`: refuses a local run whose GPU jobs nothing would bound.

Nothing else in archlab imports these modules, except the constant below (the runner's log names a
forked job's server), so deleting one of them is one commit. This package's ``__init__`` imports nothing.
"""

FORKED_VARIABLE = "ARCHLAB_FORKED_FROM"  # in a job's environment: the job server's pid (the job log says so)
