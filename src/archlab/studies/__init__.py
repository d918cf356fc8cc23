"""The seven studies, one package each: ``plan`` (run lists, paths, each job's params subset, cross-key
checks; no torch), ``jobs`` (plain functions receiving a :class:`~archlab.workflow.runner.JobContext`) and
``section`` (the report section, built from the runs' artifacts and ``params.json``)."""

# The one list of studies, in report order: the pipeline, the params schema (`studies:`) and the
# report read it from here.
STUDIES = ("resnet", "vit", "gan", "vae", "clip", "cifar_arch", "ood")
