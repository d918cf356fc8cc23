"""The non-study steps of the pipeline (data, pretrain, report): each module is a plan (``check``,
``jobs``) plus its job functions, with the same shape as a study package."""
