"""Fetching files from the network or a package manager: the downloaders, and nothing else.

Every file fetched here is pinned by a published checksum that the reading code checks before it reads
(torchvision's md5s in :func:`archlab.data.sources.check_local_copy`, Fashion-MNIST's raw md5s in
:mod:`archlab.data.registry`, CIFAR-100-C's md5 in :mod:`archlab.data.cifar_c`). So what a job reads
is fixed by those checksums, not by how it was fetched, and this module is in no job's code version
(:data:`archlab.workflow.provenance.NOT_IN_ANY_IDENTITY`): editing a downloader (a retry, a mirror, a
message) reruns nothing. The code that turns the verified files into arrays is in the identity.
Imported only where a file is missing.
"""
from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from archlab.errors import CorruptResourceError, MissingResourceError, first_line

log = logging.getLogger(__name__)


def torchvision_dataset(cls: type, root: Path, splits: list[dict], what: str, how: str) -> None:
    """Let torchvision's dataset class ``cls`` download (md5-checked) and extract its files into ``root``, once
    per split's keyword arguments; files already there and verified are only extracted (no network)."""
    try:
        for kw in splits:
            cls(str(root), download=True, **kw)
    except RuntimeError as exc:  # torchvision: "Dataset not found or corrupted", or a download that failed
        raise MissingResourceError(f"{what} could not be obtained under {root} ({first_line(exc)}); {how}") from exc
    except OSError as exc:  # no network, or a truncated archive
        raise MissingResourceError(f"{what} could not be downloaded into {root} ({first_line(exc)}); {how}") from exc


def url_to_file(url: str, path: Path, what: str, how: str) -> None:
    """Download ``url`` to ``path`` (the caller checks its checksum and unpacks it)."""
    import archlab  # noqa: F401  (torchvision import fix)
    from torchvision.datasets.utils import download_url

    try:
        download_url(url, str(path.parent), path.name)
    except (OSError, RuntimeError) as exc:  # no network, or refused
        raise MissingResourceError(f"{what} could not be downloaded into {path.parent} ({exc}); {how}") from exc


@contextlib.contextmanager
def debian_package(package: str, folder: str, root: Path, missing: Callable[[str], str]) -> Iterator[Path]:
    """``folder`` (a path inside the package) of Debian ``package``, fetched with ``apt-get download`` and
    unpacked with ``dpkg-deb -x`` (neither needs root) in a scratch folder under ``root``, removed after the
    block. ``missing(reason)`` is the message for a machine that cannot fetch it."""
    tools = [t for t in ("apt-get", "dpkg-deb") if shutil.which(t) is None]
    if tools:
        raise MissingResourceError(missing(f"not installed, and no {' or '.join(tools)} to download it"))
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="debian-", dir=root))
    try:
        got = subprocess.run(["apt-get", "download", package], cwd=work, capture_output=True, text=True)
        debs = sorted(work.glob(f"{package}_*.deb"))
        if got.returncode != 0 or not debs:
            reason = (got.stderr.strip().splitlines() or ["no .deb written"])[-1]
            raise MissingResourceError(missing(f"not installed; `apt-get download` failed: {reason}"))
        unpacked = subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(work / "x")], capture_output=True, text=True)
        if unpacked.returncode != 0 or not (work / "x" / folder).is_dir():
            raise CorruptResourceError(f"{debs[0].name} (from `apt-get download {package}`) could not be "
                                       f"unpacked ({unpacked.stderr.strip()}); install the package instead")
        log.info("using %s from `apt-get download`", debs[0].name)
        yield work / "x" / folder
    finally:
        shutil.rmtree(work, ignore_errors=True)
