"""The ``data_prepare`` job (planned in :mod:`archlab.commands.data`): download, convert or generate a
dataset and write it in the canonical format. Its own module, so that the converting code it imports is in
no other job's code version (the report imports the plan module)."""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def prepare(job) -> None:
    from archlab.data.prepare import prepare_dataset

    p = job.params
    meta = prepare_dataset(p["name"], p["spec"], job.run_dir, p["raw"])
    log.info("prepared %s (%s, %s): %s, %d classes", p["name"], meta["kind"], meta["source"], meta["sizes"],
             len(meta["classes"]))
