"""The one resume helper of every training loop (classifier, GAN, VAE, CLIP).

A checkpoint is the resume point of an *unfinished* run. It carries the run's identity (hash of
params, input checksums and code, see :mod:`archlab.workflow.provenance`) and is loaded only into a run with
the same identity; the runner deletes it once the run's outputs are written, so a finished run is
never "resumed" and a forced rerun trains for real. A damaged file (its CRC-32s are checked, so a
flipped bit counts) is reported with its path and ignored: training starts afresh.

Results folders travel (copies, ``dvc pull``), so a checkpoint is untrusted input: its identity is
written in the archive's comment and compared *before* anything is unpickled, and the state is then
read with ``weights_only=True`` (tensors, arrays, containers and numbers only, never code). The package
versions that wrote it are recorded too and named when they differ.
"""
from __future__ import annotations

import logging
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archlab.errors import CorruptResourceError
from archlab.io import load_torch, save_torch
from archlab.workflow.provenance import package_versions

log = logging.getLogger(__name__)


# what numpy arrays and scalars in a state (GAN sample grids, metrics in a history) need beyond the
# tensors and containers ``weights_only`` allows: constructors of plain data, no callable of a user's choice
NUMPY_GLOBALS = [np._core.multiarray._reconstruct, np.ndarray, np.dtype, np._core.multiarray.scalar,
                 *{type(np.dtype(c)) for c in "?bBhHiIlLqQefdgFDG"}]


FRESH_START = "it is ignored and training starts afresh (the next epoch's checkpoint replaces it)"


class Checkpoint:
    def __init__(self, path: str | Path, identity: str):
        self.path, self.identity = Path(path), identity

    def load(self) -> dict[str, Any] | None:
        """The saved state if it belongs to this exact run, else None (start afresh).

        Tensors are loaded on the CPU: RNG states must stay there, and ``load_state_dict`` moves
        weights and optimizer state to their parameters' device.
        """
        if not self.path.exists() or not self.identity:
            return None
        try:
            if _archive_identity(self.path) != self.identity:  # checked before anything is unpickled
                log.info("ignoring %s: it was written by a different run (params, inputs or code changed)", self.path)
                return None
            with torch.serialization.safe_globals(NUMPY_GLOBALS):
                state = load_torch(self.path, FRESH_START, map_location="cpu", weights_only=True)
        except CorruptResourceError as exc:  # never trusted; a fresh start is the fix
            log.warning("%s", exc)
            return None
        if not isinstance(state, dict) or state.get("identity") != self.identity:
            log.info("ignoring %s: it was written by a different run (params, inputs or code changed)", self.path)
            return None
        if state.get("packages") != package_versions():
            log.warning("%s was written with other package versions (%s; now %s): resuming, as its identity "
                        "(params, inputs, code) is this run's", self.path, state.get("packages"), package_versions())
        log.info("resuming %s after epoch %d", self.path.parent, state["epoch"] + 1)
        return state

    def save(self, epoch: int, **state: Any) -> None:
        """Atomically save ``state`` as the resume point after ``epoch`` (0-based), with the package versions
        and, also in the archive's comment (read by :meth:`load` without unpickling), the identity."""
        if self.identity:
            save_torch(self.path, {**state, "epoch": epoch, "identity": self.identity, "packages": package_versions()},
                       comment=self.identity.encode())


def _archive_identity(path: Path) -> str | None:
    """The identity in a checkpoint's zip comment (None: an older or a foreign file)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.comment.decode("ascii", "replace") or None
    except zipfile.BadZipFile as exc:
        raise CorruptResourceError(f"{path} cannot be read: it is damaged ({exc}); {FRESH_START}") from exc


def rng_state() -> dict:
    """Every torch RNG a training loop draws from (the CPU one and, where present, each GPU's)."""
    return {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def restore_rng(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
