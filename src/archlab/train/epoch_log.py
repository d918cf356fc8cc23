"""One log line per epoch, the same in every training loop, so each job's log shows its losses and metrics."""
from __future__ import annotations

import logging

log = logging.getLogger("archlab.train")


def log_epoch(desc: str, epoch: int, epochs: int, row: dict) -> None:
    """``<desc> epoch e/E key=value …`` for the numeric entries of ``row`` (``epoch`` itself left out)."""
    values = " ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "epoch" and isinstance(v, (int, float)))
    log.info("%s epoch %d/%d %s", desc, epoch, epochs, values)
