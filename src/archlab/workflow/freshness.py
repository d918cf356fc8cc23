"""Up to date means the run's own record says so: each finished run's ``params.json`` against what its job
would receive now, before any job runs, with or without Snakemake's private ``.snakemake/`` metadata.

Every job has an *identity file* among its inputs, ``results/<profile>/.identity/<rule>/<wildcards>.json``,
whose content is what the job would now receive and does not read from another job's output: rule,
wildcards, params, the code version of its module (:func:`archlab.workflow.provenance.code_digest`) and the content
digest of every outside file or folder it reads (:attr:`archlab.workflow.plan.Job.reads`). The runner records the
sha256 of every input, this file included, in the run's ``params.json``. So a run is up to date exactly
when its ``params.json`` is readable and records the sha256 of today's identity file and of each of its
inputs' current content.

Snakemake then only needs file times (the Snakefile sets ``--rerun-triggers mtime``): :func:`refresh`
makes each identity file *newer* than the outputs of a run that is out of date (so the run is planned,
and everything downstream of it) and *older* than those of an up-to-date one; where an up-to-date run's
input is newer than its outputs although its content is the recorded one (a ``touch``, a ``git
checkout``, a ``dvc checkout``), that input's time is set back (:func:`_restore_times`). Content decides;
a file time is only the signal. Imports no torch.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from archlab.workflow.plan import PARAMS_FILE, Job
from archlab.workflow.provenance import PACKAGE_ROOT, file_sha256

IDENTITY_DIR = ".identity"
IDENTITY_INPUT = "identity"  # the name of the identity file among a job's inputs


def identity_path(results: str, job_rule: str, wildcards: dict[str, str]) -> str:
    stem = "_".join(f"{k}={v}" for k, v in wildcards.items()) or "_"
    return f"{results}/{IDENTITY_DIR}/{job_rule}/{stem}.json"


class Checksums:
    """sha256 of files, remembered by (size, mtime, inode) in ``results/<profile>/.identity/checksums.json``
    so an unchanged dataset is not read again on every run (as DVC does); any stat change rehashes."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.known = json.loads(path.read_text())
        except (OSError, ValueError):
            self.known = {}
        self.changed = False

    def sha256(self, path: str | Path) -> str:
        st = os.stat(path)
        key, stamp = str(path), [st.st_size, st.st_mtime_ns, st.st_ino]
        entry = self.known.get(key)
        if not (isinstance(entry, list) and entry[:3] == stamp):
            entry = [*stamp, file_sha256(path)]
            self.known[key], self.changed = entry, True
        return entry[3]

    def tree(self, path: str | Path) -> str:
        """A file's sha256, or a folder's: over the relative path and sha256 of every file in it."""
        path = Path(path)
        if path.is_file():
            return self.sha256(path)
        if not path.is_dir():
            return "missing"
        h = hashlib.sha256()
        for item in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(f"{item.relative_to(path)}\0{self.sha256(item)}\0".encode())
        return h.hexdigest()

    def save(self) -> None:
        if self.changed:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
            tmp.write_text(json.dumps(self.known))
            os.replace(tmp, self.path)


def identity_content(job: Job, sums: Checksums) -> bytes:
    """What the job would receive now, as the bytes of its identity file (canonical JSON)."""
    record = {"rule": job.rule.name, "wildcards": job.wildcards, "params": job.params, "code": job.rule.code,
              "reads": {_portable(path): sums.tree(path) for path in job.reads}}
    return (json.dumps(record, sort_keys=True, indent=1, default=str) + "\n").encode()


def _portable(path: str) -> str:
    """A file of the package (a class map) by its place in it, so a clone elsewhere has the same identity."""
    try:
        return "archlab/" + Path(path).resolve().relative_to(PACKAGE_ROOT).as_posix()
    except ValueError:
        return path


def refresh(jobs: list[Job], results: str) -> list[tuple[Job, str]]:
    """Write every job's identity file, set the file times as the module docstring says and return the
    finished runs that are out of date, each with the reason."""
    sums = Checksums(Path(results) / IDENTITY_DIR / "checksums.json")
    producer = {path: job for job in jobs for path in job.output.values()}
    stale = []
    for job in in_order(jobs, producer):
        content = identity_content(job, sums)
        ident = Path(job.input[IDENTITY_INPUT])
        if not ident.exists() or ident.read_bytes() != content:
            ident.parent.mkdir(parents=True, exist_ok=True)
            ident.write_bytes(content)
        outputs = [Path(p) for p in job.output.values()]
        if not all(p.exists() for p in outputs):
            continue  # not finished: Snakemake runs it anyway
        reason = why_out_of_date(job, hashlib.sha256(content).hexdigest(), sums)
        newest, oldest = max(p.stat().st_mtime for p in outputs), min(p.stat().st_mtime for p in outputs)
        if reason is not None:
            stale.append((job, reason))
            stamp = max(time.time(), newest + 1)
            os.utime(ident, (stamp, stamp))
            continue
        os.utime(ident, (oldest - 1, oldest - 1))
        _restore_times(job, oldest, producer)
    sums.save()
    return stale


def _restore_times(job: Job, oldest: float, producer: dict[str, Job]) -> None:
    """An up-to-date run's input that is newer than its outputs holds the recorded content (it was touched,
    checked out, restored): its time is set back to just before the outputs, as git or DVC would have left
    it, unless that would put it before its own producer's inputs; then the outputs are touched instead."""
    late = [p for p in _paths(job.input) if Path(p).exists() and Path(p).stat().st_mtime > oldest]
    stamp = oldest - 1
    for path in late:
        source = producer.get(path)
        if source is None or all(Path(q).stat().st_mtime < stamp for q in _paths(source.input) if Path(q).exists()):
            os.utime(path, (stamp, stamp))
        else:
            now = max(time.time(), Path(path).stat().st_mtime + 1)
            for out in job.output.values():
                os.utime(out, (now, now))
            return


def why_out_of_date(job: Job, identity_sha: str, sums: Checksums) -> str | None:
    """None if the finished run's ``params.json`` records exactly what the job would receive now."""
    path = job.output["params"]
    try:
        record = json.loads(Path(path).read_text())
        recorded = {name: entry["sha256"] for name, entry in record["inputs"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return f"its {PARAMS_FILE} cannot be read ({type(exc).__name__}: {exc}); a rerun writes it anew"
    if recorded.get(IDENTITY_INPUT) != identity_sha:
        now = json.loads(json.dumps(job.params, default=str))
        if record.get("params") != now:
            return f"params changed: {', '.join(_changed_keys(record.get('params'), now)) or 'their types'}"
        if (record.get("code") or {}).get("digest") != job.rule.code:
            return f"the code of {job.rule.module} (or of a module it imports) changed"
        if IDENTITY_INPUT not in recorded:
            return f"its {PARAMS_FILE} predates run identities"
        return f"a file it reads changed: {', '.join(job.reads) or 'its identity file'}"
    for name, value in job.input.items():
        if name == IDENTITY_INPUT:
            continue
        if name not in recorded:
            return f"it has a new input `{name}`"
        files = [value] if isinstance(value, str) else list(value)
        if all(Path(p).exists() for p in files):
            now_sha = sums.sha256(files[0]) if isinstance(value, str) else [sums.sha256(p) for p in files]
            if now_sha != recorded[name]:
                return f"its input `{name}` changed ({value if isinstance(value, str) else f'{len(files)} files'})"
    gone = sorted(set(recorded) - set(job.input))
    return f"it no longer reads {gone}" if gone else None


def _changed_keys(old, new, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [k for key in sorted(set(old) | set(new), key=str)
                for k in _changed_keys(old.get(key), new.get(key), f"{prefix}{key}.")]
    return [prefix.rstrip(".")] if old != new else []


def _paths(inputs: dict) -> list[str]:
    return [p for value in inputs.values() for p in ([value] if isinstance(value, str) else value)]


def in_order(jobs: list[Job], producer: dict[str, Job] | None = None) -> list[Job]:
    """Producers before their consumers, so a file time set here is seen by the jobs that read it."""
    producer = producer if producer is not None else {path: job for job in jobs for path in job.output.values()}
    done: dict[int, Job] = {}

    def visit(job: Job) -> None:
        if id(job) in done:
            return
        done[id(job)] = job  # first: a cycle (none in a valid plan) cannot recurse forever
        for path in _paths(job.input):
            if path in producer:
                visit(producer[path])
        order.append(job)

    order: list[Job] = []
    for job in jobs:
        visit(job)
    return order
