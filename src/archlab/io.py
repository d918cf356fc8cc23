"""Artifact I/O that never leaves a half-written file behind.

Every artifact is written to a temporary sibling and renamed into place, so an interrupted stage
leaves either the old complete file or nothing, never a truncated one that a rerun would trust.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from archlab.errors import ArchlabError, CorruptResourceError

_UMASK = os.umask(0)
os.umask(_UMASK)


class OutputWriteError(ArchlabError):
    """An artifact cannot be written: the disk is full, or the folder is read-only."""


_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}
_TOO_LARGE = {errno.EFBIG}  # the file size limit (`ulimit -f`); Python ignores SIGXFSZ, so a write fails
_READ_ONLY = {errno.EROFS, errno.EACCES, errno.EPERM}
# what atomic_path's temporaries are called: .<name>.<8 random chars>.tmp<suffix of name>
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.tmp(?P<suffix>\.[^.]*)?$")


def write_error(path: Path, exc: OSError) -> ArchlabError | None:
    """The archlab error for an OSError met writing ``path`` (None when it is neither a full disk nor a
    read-only folder)."""
    folder = path.parent
    if exc.errno in _DISK_FULL:
        try:
            free = f"{shutil.disk_usage(folder).free / 2**20:.0f} MiB free"
        except OSError:
            free = "free space unknown"
        return OutputWriteError(
            f"no space left on the device to write {path} ({free} under {folder}); nothing was kept of it. Free "
            f"space there (e.g. delete old results/ or resources/ you no longer need) or move results/ to a larger "
            f"disk, then rerun the job (a training job resumes from its last checkpoint)")
    if exc.errno in _TOO_LARGE:
        return OutputWriteError(
            f"cannot write {path}: it would exceed this shell's file size limit (`ulimit -f` is "
            f"{_file_size_limit()}); raise it (`ulimit -f unlimited`) and rerun the job")
    if exc.errno in _READ_ONLY:
        return OutputWriteError(
            f"cannot write into {folder} ({os.strerror(exc.errno)}): the folder is read-only for this user; make it "
            f"writable (`chmod -R u+w {folder}`, or mount the file system read-write) or run the pipeline from a "
            f"copy of the project where results/ can be written")
    return None


def _file_size_limit() -> str:
    import resource

    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return "unlimited" if soft == resource.RLIM_INFINITY else f"{soft // 1024} KiB"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds.

    A full disk or a read-only folder (while creating, writing or renaming) is one
    :class:`OutputWriteError` naming the file and the fix; the temporary file is always removed."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    except OSError as exc:
        raise write_error(path, exc) or exc
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        tmp_path.chmod(0o666 & ~_UMASK)  # mkstemp makes 0600; artifacts get the usual permissions
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as exc:
        ours = exc.filename is None or str(exc.filename) in (str(tmp_path), str(path))  # not a file the block read
        error = write_error(path, exc) if ours else None
        if error is None:
            raise
        raise error from exc
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def clean_stale_temporaries(directory: str | os.PathLike, names: Iterable[str] | None = None) -> list[Path]:
    """Delete the temporaries :func:`atomic_path` left in ``directory`` (not below it) when a process was
    killed (SIGKILL, power loss) before it could remove them; returns what was deleted.

    ``names`` limits it to the temporaries of those file names (a job's own outputs), so a job never
    touches a file another running job is writing. Call it before a job runs, never while it runs."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    wanted = None if names is None else set(names)
    removed = []
    for entry in folder.iterdir():
        match = _TEMPORARY.match(entry.name)
        if not match or not entry.is_file() or (wanted is not None and match["name"] not in wanted):
            continue
        if Path(match["name"]).suffix != (match["suffix"] or ""):
            continue  # atomic_path always repeats the file's suffix: anything else is not ours
        entry.unlink(missing_ok=True)
        removed.append(entry)
    return sorted(removed)


def file_digest(path: str | os.PathLike, algorithm: str) -> str:
    """A file's hex digest by ``algorithm`` (``md5`` where a source publishes that), read in chunks."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, algorithm).hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """A file's sha256: datasets, checkpoints and figures are checksummed alike."""
    return file_digest(path, "sha256")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_torch(path: str | os.PathLike, obj: Any, comment: bytes = b"") -> None:
    """``torch.save`` through a Python file, so a full disk surfaces as ENOSPC (torch's own writer reports
    only "unexpected pos"), then :func:`atomic_path` turns it into one error naming ``path``. ``comment``
    goes into the zip archive's comment: a header a reader can check without unpickling anything."""
    import zipfile

    import torch

    with atomic_path(path) as tmp:
        with open(tmp, "w+b") as fh:
            try:
                torch.save(obj, fh)
                if comment:
                    fh.seek(0)
                    with zipfile.ZipFile(fh, "a") as archive:
                        archive.comment = comment
                fh.flush()
                os.fsync(fh.fileno())
            except RuntimeError as exc:  # torch wraps the file's OSError when its writer fails
                cause = _os_error_in(exc)
                if cause is None or cause.errno not in _DISK_FULL | _READ_ONLY | _TOO_LARGE:
                    raise
                raise cause from exc


def load_torch(path: str | os.PathLike, fix: str, **kwargs: Any) -> Any:
    """``torch.load`` of a file :func:`save_torch` wrote, its CRC-32s checked first: torch's reader ignores
    them, so a flipped bit in a tensor would load silently. Any damage is one :class:`CorruptResourceError`
    naming the file, then ``fix`` (what to do about it)."""
    import zipfile

    import torch

    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
        if bad is not None:
            raise zipfile.BadZipFile(f"its entry {bad} fails its CRC-32")
        return torch.load(path, **kwargs)
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001  (zipfile, pickle and torch each fail in their own way)
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CorruptResourceError(f"{path} cannot be read: it is damaged ({reason}); {fix}") from exc


def _os_error_in(exc: BaseException) -> OSError | None:
    """The OSError behind ``exc`` (its cause/context chain), or one rebuilt from torch's message."""
    seen = exc
    while seen is not None:
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    for code in _DISK_FULL | _TOO_LARGE:
        if os.strerror(code) in text or errno.errorcode[code] in text:
            return OSError(code, os.strerror(code))
    return None


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
