"""The seam between the studies and the tools that run them: each study's plan becomes jobs
(:mod:`~archlab.workflow.plan`, :mod:`~archlab.workflow.pipeline`), a job runs with its recorded identity
(:mod:`~archlab.workflow.runner`, :mod:`~archlab.workflow.provenance`), that identity decides what is up to
date (:mod:`~archlab.workflow.freshness`), and the same plans write the Snakemake rule files and dvc.yaml
(:mod:`~archlab.workflow.rule_files`, :mod:`~archlab.workflow.dvc_stages`). Local execution tricks
(fork server, scheduling) live in :mod:`~archlab.workflow.execution`. Imports nothing, so light commands
stay light."""
