"""The ``ood_fetch`` job, apart from jobs.py so that its code version (its import closure) stays small:
an edit of the training code must not mark the 2.9 GB CIFAR-100-C download as outdated."""
from __future__ import annotations

import logging

from archlab.data.cifar_c import cifar100_c_dir

log = logging.getLogger(__name__)


def fetch(job) -> None:
    """CIFAR-100-C into the run directory (``resources/data/cifar100_c``), downloaded only if ``download``."""
    folder = cifar100_c_dir(job.run_dir, download=job.params["download"])
    log.info("CIFAR-100-C is at %s", folder)
