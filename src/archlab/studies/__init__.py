"""The seven studies, one package each: ``plan`` (run lists, paths, each job's params subset, cross-key
checks; no torch), ``jobs`` (plain functions receiving a :class:`~archlab.runner.JobContext`) and
``section`` (the report section, built from the runs' artifacts and ``params.json``)."""
