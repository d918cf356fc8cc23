"""One log line per epoch, the same in every training loop, so each job's log shows its losses and metrics.

It is also where a diverged run stops: every loop reads its epoch's losses to the host once, here, so the
check costs no extra GPU sync. A NaN or infinite loss would otherwise train garbage weights that a
report then publishes (``lr: .nan`` is refused by the schema, a too-large finite one is not).
"""
from __future__ import annotations

import logging
import math

from archlab.errors import NonFiniteLossError

log = logging.getLogger("archlab.train")


def log_epoch(desc: str, epoch: int, epochs: int, row: dict) -> None:
    """``<desc> epoch e/E key=value …`` for the numeric entries of ``row`` (``epoch`` itself left out);
    a non-finite training loss (an entry named ``*loss*`` or ``*objective*``, not ``val_*``) raises :class:`NonFiniteLossError`."""
    values = " ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "epoch" and isinstance(v, (int, float)))
    log.info("%s epoch %d/%d %s", desc, epoch, epochs, values)
    bad = {k: v for k, v in row.items() if _is_training_loss(k) and isinstance(v, (int, float)) and not math.isfinite(v)}
    if bad:
        raise NonFiniteLossError(
            f"{desc}: the training loss is no longer a number in epoch {epoch}/{epochs} "
            f"({', '.join(f'{k}={v}' for k, v in bad.items())}); the likely cause is the learning rate "
            "(the study's `optimizer.lr`/`lr` key) being too high for this model: lower it and rerun")


def _is_training_loss(key: str) -> bool:
    return not key.startswith("val") and ("loss" in key or "objective" in key)
