"""Runs one job: the same code path whether Snakemake or a person started it.

The runner receives what the rule decided (inputs, outputs, params), computes the run's identity
(:mod:`archlab.workflow.provenance`), logs the params at the start and the outputs at the end, calls the
job function, checks that every declared output exists, writes ``params.json`` last (so its
presence means the run finished) and removes the run's resume checkpoints.
"""
from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import platform
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archlab import cpu_pin
from archlab.data.kinds import snakemake_command
from archlab.errors import ArchlabError, MissingResourceError, NonFiniteLossError, exit_code
from archlab.workflow.execution import FORKED_VARIABLE
from archlab.io import write_json
from archlab.workflow.plan import PARAMS_FILE
from archlab.workflow.provenance import code_digest, git_state, identity, input_checksums, package_versions

log = logging.getLogger("archlab.job")
CHECKPOINT_GLOB = "checkpoint*.pt"


@dataclass
class JobContext:
    """What a job function receives: its files and params, nothing else to look up."""

    rule: str
    wildcards: dict[str, str]
    input: dict[str, Any]
    output: dict[str, str]
    params: dict
    threads: int = 1
    identity: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return Path(self.output["params"]).parent

    @property
    def device(self):
        from archlab.runtime import pick_device

        return pick_device(self.params.get("device", "auto"))

    def checkpoint(self, name: str = "checkpoint.pt"):
        """The run's resume point, valid only for this exact run (see :mod:`archlab.train.checkpoint`)."""
        from archlab.train.checkpoint import Checkpoint

        return Checkpoint(self.run_dir / name, self.identity)


def resolve(func: str):
    module, name = func.split(":")
    return getattr(importlib.import_module(module), name)


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def pin_threads(n: int) -> None:
    """Respect the scheduler's thread budget instead of grabbing every core, without importing torch:
    a job that never uses torch should not pay its import (seconds of CPU). Torch sizes its thread pool
    from ``OMP_NUM_THREADS`` when the job imports it; one already imported (``archlab run``, tests, a job
    forked from the job server) is told directly, and so are the BLAS pools numpy loaded."""
    if n <= 0:
        return
    for name in THREAD_VARIABLES:
        os.environ[name] = str(n)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)
    if "numpy" in sys.modules:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)


def run_job(rule: str, func: str, wildcards: dict, input: dict, output: dict, params: dict,
            threads: int = 1) -> None:
    """Run ``func`` for this job and record what made its outputs."""
    pin_threads(threads)
    cpu_pin.check()
    module = func.split(":")[0]
    code = code_digest(module)
    log.info("job %s %s", rule, " ".join(f"{k}={v}" for k, v in wildcards.items()))
    if os.environ.get(FORKED_VARIABLE):
        log.info("forked from the archlab job server (pid %s): torch & co. were imported already",
                 os.environ[FORKED_VARIABLE])
    log.info("params: %s", json.dumps(params, sort_keys=True))
    for name, path in input.items():
        log.info("input %s: %s", name, path if isinstance(path, str) else f"{len(path)} files")
    if "weights" in input and "weights" in params:  # the weights' own message says how to fetch them
        from archlab.models.weights import ensure_available

        ensure_available(params["weights"], params.get("resources", "resources"))
    for name, value in input.items():
        for path in [value] if isinstance(value, str) else value:
            if not Path(path).exists():
                raise MissingResourceError(
                    f"{path} is missing (input `{name}` of {rule}); build it first: `{snakemake_command(path)}`, "
                    f"or run the job that writes it (`archlab list`)")
    checksums = input_checksums(input)
    ctx = JobContext(rule, dict(wildcards), dict(input), dict(output), params, threads,
                     identity(rule, wildcards, params, checksums, code))
    job_function = resolve(func)  # imported first: the job module's imports are start-up, not the job's work
    with _write_errors_named(output, [params[k] for k in ("resources", "raw") if isinstance(params.get(k), str)]):
        _clean_temporaries(output)
        startup_cpu = _process_cpu()
        t0 = time.time()
        try:
            job_function(ctx)
        except NonFiniteLossError as exc:  # the loop knows the epoch and the loss, the runner which run it is
            raise NonFiniteLossError(f"job {rule} {' '.join(f'{k}={v}' for k, v in wildcards.items())} "
                                     f"({ctx.run_dir}): {exc}") from None
        missing = [p for k, p in output.items() if k != "params" and not Path(p).exists()]
        if missing:
            raise ArchlabError(f"job {rule} finished without writing {missing}: a bug in {func}")
        # the process ends with os._exit (end_process_now): a file still open would lose its buffer and stay empty
        empty = [p for k, p in output.items() if k != "params" and Path(p).is_file() and Path(p).stat().st_size == 0]
        if empty:
            raise ArchlabError(f"job {rule} left {empty} empty (0 bytes): a bug in {func}, which must close what it "
                               "writes (a `with` block) before it returns; the job is not marked finished")
        write_json(output["params"], {
            "rule": rule, "wildcards": wildcards, "params": params, "identity": ctx.identity,
            "inputs": {k: {"path": input[k], "sha256": v} for k, v in checksums.items()},
            "code": {"module": module, "digest": code, **git_state()}, "packages": package_versions(),
            "device": device_name(ctx.device) if "device" in params else device_name(None),
            "cpu_numerics": cpu_pin.state(), "host": os.uname().nodename, "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t0)),
            "seconds": round(time.time() - t0, 3), **own_usage(startup_cpu)})
        for stale in ctx.run_dir.glob(CHECKPOINT_GLOB):
            stale.unlink()
    for name, path in output.items():
        size = Path(path).stat().st_size
        log.info("output %s: %s (%s bytes)", name, path, f"{size:,}")
    log.info("done in %.1f s", time.time() - t0)


_cpu_counted = 0.0  # CPU seconds of this process already recorded for an earlier job (archlab run, tests)


def _process_cpu() -> float:
    """CPU seconds (user + system, all threads, plus every child waited for) this process has used so far."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def own_usage(startup_cpu: float | None = None) -> dict:
    """The job's CPU seconds (user + system, all threads, plus any child it waited for) and the peak
    resident memory of its process, from the kernel's own accounting (``getrusage``): exact, where
    Snakemake's benchmark samples and misses the start of short jobs (bench/appendix.py). CPU counts from
    the process's start (interpreter and imports included) or, in a process that ran jobs before, from
    the end of the last one; the peak memory is the process's so far.

    ``startup_cpu``, the process's CPU (:func:`_process_cpu`) when the job function was called, gives
    ``startup_cpu_seconds``: what the job spent before its own code ran (interpreter, imports of the
    runner and the job module, input checksums), counted from the same point as ``cpu_seconds``."""
    global _cpu_counted
    total = _process_cpu()
    usage = {"cpu_seconds": round(total - _cpu_counted, 3)}
    if startup_cpu is not None:
        usage["startup_cpu_seconds"] = round(startup_cpu - _cpu_counted, 3)
    _cpu_counted = total
    peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return usage | {"max_rss_mb": round(peak / 1024, 1)}  # KiB on Linux


@contextlib.contextmanager
def _write_errors_named(output: dict, downloads: list[str] = ()):
    """A read-only folder, a full disk or the file size limit met while the job writes (a file beside its
    outputs, or a folder above them, or in the ``downloads`` folders it fills: resources/; libraries that
    write without :mod:`archlab.io` included) becomes one archlab error naming it and the fix. Any other
    OSError, or one about a file that is not the job's (an unreadable input), stays what it is."""
    from archlab.io import write_error

    try:
        yield
    except OSError as exc:
        failed = Path(exc.filename).absolute() if exc.filename else None
        outputs = [Path(p).absolute() for p in output.values()]
        ours = failed is not None and (
            any(failed in (out, *out.parents) or out.parent in failed.parents for out in outputs)
            or any(Path(d).absolute() in (failed, *failed.parents) for d in downloads))
        error = write_error(Path(exc.filename), exc) if ours else None
        if error is None:
            raise
        raise error from exc


def _clean_temporaries(output: dict) -> None:
    """Remove what a killed earlier attempt of this job left half-written (its own files only)."""
    from archlab.io import clean_stale_temporaries

    names: dict[Path, set[str]] = {}
    for path in map(Path, output.values()):
        names.setdefault(path.parent, {"checkpoint.pt"}).add(path.name)
    for folder, mine in names.items():
        for stale in clean_stale_temporaries(folder, mine):
            log.info("removed a temporary left by a killed run: %s", stale)


def device_name(device) -> str:
    """What a run ran on, by name: the GPU model, or the CPU model (``device`` None: no torch used)."""
    if device is not None and device.type == "cuda":
        import torch

        return f"cuda ({torch.cuda.get_device_name(device)})"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{device.type if device is not None else 'cpu'} ({cpu}, {os.cpu_count()} cores)"


def setup_logging(stream=None) -> None:
    logging.basicConfig(level=logging.INFO, stream=stream or sys.stderr, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")


def run_from_snakemake(smk) -> None:
    """Entry point of ``workflow/scripts/run_job.py``: the job gets exactly what the rule declared."""
    if smk.log:
        fd = os.open(smk.log[0], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        sys.stdout = os.fdopen(1, "w", buffering=1)
        sys.stderr = os.fdopen(2, "w", buffering=1)
    setup_logging()
    inputs = {name: (list(value) if not isinstance(value, str) else value) for name, value in smk.input.items()}
    try:
        run_job(smk.rule, smk.params.func, dict(smk.wildcards.items()), inputs, dict(smk.output.items()),
                json.loads(smk.params.job), smk.threads)
    except ArchlabError as exc:
        log.error("%s", exc)
        raise SystemExit(exit_code(exc)) from None
    end_process_now()


def end_process_now() -> None:
    """End a finished job's process without the interpreter's shutdown.

    Every output is written and closed and params.json says so; tearing down torch's modules would
    only cost about 1 s of CPU per job (≈ 2 min of the demo's 110 jobs). Logs and streams are flushed
    first; a failed job never gets here (its exception exits normally, with its traceback)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
