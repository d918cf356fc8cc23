"""A throwaway single-node SLURM cluster (Debian's slurmctld + slurmd + munge) for the tests.

Runs as root without systemd. The daemons run in the foreground as children of this process, so
exactly what was started is stopped. The configuration goes to ``/etc/slurm/slurm.conf`` (``srun``
inside a job reads only that path, not the daemons' ``SLURM_CONF``) and is removed afterwards; a
configuration this module did not write is never touched. There is no accounting database (no
``sacct``): finished jobs are read back with ``scontrol show job``.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
BINARIES = ("slurmctld", "slurmd", "munged", "sbatch", "squeue", "sinfo", "srun")
CONF_DIR = Path("/etc/slurm")
MARKER = "# written by archlab tests/slurm/cluster.py"
MUNGE_SOCKET_DIR = Path("/run/munge")


@dataclass
class Cluster:
    state: Path
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def controller_log(self) -> Path:
        return self.state / "slurmctld.log"


def why_unavailable() -> str | None:
    """None when a cluster can be started here (installing SLURM with apt-get if needed);
    otherwise the reason, for the test's skip message."""
    if os.name != "posix" or os.geteuid() != 0:
        return "a local SLURM cluster needs root (slurmctld, slurmd and munged run as root/munge)"
    missing = [b for b in BINARIES if not shutil.which(b)]
    if missing:
        if not shutil.which("apt-get"):
            return f"SLURM is not installed ({', '.join(missing)} missing) and there is no apt-get to install it"
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES]
        if subprocess.run(cmd, env=env, capture_output=True, timeout=300).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=300)
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
            if proc.returncode != 0:
                return f"apt-get could not install {PACKAGES}: {proc.stderr.strip()[-300:]}"
        missing = [b for b in BINARIES if not shutil.which(b)]
    if missing:
        return f"SLURM binaries missing: {missing} (apt-get install {' '.join(PACKAGES)})"
    conf = CONF_DIR / "slurm.conf"
    if conf.exists() and MARKER not in conf.read_text():
        return f"{conf} belongs to a real SLURM installation; the test does not touch it"
    if _running("slurmctld") or _running("slurmd"):
        return "a slurmctld/slurmd is already running on this machine"
    return None


@contextlib.contextmanager
def running_cluster(state: Path, gpus: int = 0, timeout: float = 60.0) -> Iterator[Cluster]:
    """Start munged, slurmctld and slurmd; yield once the node is idle; stop them all afterwards.

    ``gpus`` > 0 declares that many GPUs as a generic resource (count only, no device files) so
    that ``--gpus`` requests are scheduled and recorded without real hardware.
    """
    state.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(state)
    written = _write_config(state, gpus)
    procs = cluster.processes
    try:
        MUNGE_SOCKET_DIR.mkdir(parents=True, exist_ok=True)
        shutil.chown(MUNGE_SOCKET_DIR, "munge", "munge")
        _ensure_munge_key()
        if not _running("munged"):  # one munged per machine; reuse a running one
            procs.append(_spawn(["munged", "--foreground", "--force"], state / "munged.out", user="munge"))
        _wait(lambda: subprocess.run("munge -n | unmunge", shell=True, capture_output=True).returncode == 0,
              timeout, "munged did not start", procs)
        procs.append(_spawn(["slurmctld", "-D", "-c"], state / "slurmctld.out"))
        procs.append(_spawn(["slurmd", "-D"], state / "slurmd.out"))
        _wait(lambda: _sinfo_states() == {"idle"}, timeout,
              f"the node did not become idle (see {cluster.controller_log})", procs)
        yield cluster
    finally:
        _cancel_jobs()
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
        for path in written:
            path.unlink(missing_ok=True)


def _write_config(state: Path, gpus: int) -> list[Path]:
    host = socket.gethostname().split(".")[0]
    node = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
    cpus = re.search(r"CPUs=(\d+)", node).group(1)
    # The node may offer less memory than a full-profile rule asks for; config_overrides makes
    # slurmd announce the configured size instead of draining the node for "low memory".
    lines = [
        MARKER,
        "ClusterName=archlab-test",
        f"SlurmctldHost={host}(127.0.0.1)",  # no name resolution needed
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        f"StateSaveLocation={state}/ctld",
        f"SlurmdSpoolDir={state}/spool",
        f"SlurmctldPidFile={state}/slurmctld.pid",
        f"SlurmdPidFile={state}/slurmd.pid",
        f"SlurmctldLogFile={state / 'slurmctld.log'}",
        f"SlurmdLogFile={state / 'slurmd.log'}",
        "SlurmctldDebug=info",
        "MpiDefault=none",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SchedulerType=sched/backfill",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "SlurmdParameters=config_overrides",
        "ReturnToService=2",
        "MinJobAge=3600",  # finished jobs stay visible to squeue/scontrol for the whole test
        "AccountingStorageType=accounting_storage/none",
        *(["GresTypes=gpu"] if gpus else []),
        f"NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=65536 State=UNKNOWN" + (f" Gres=gpu:{gpus}" if gpus else ""),
        "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
    ]
    for sub in ("ctld", "spool"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    CONF_DIR.mkdir(parents=True, exist_ok=True)
    written = [CONF_DIR / "slurm.conf"]
    written[0].write_text("\n".join(lines) + "\n")
    if gpus:
        written.append(CONF_DIR / "gres.conf")
        written[1].write_text(f"{MARKER}\nNodeName={host} Name=gpu Count={gpus} File=/dev/null\n")
    return written


def _ensure_munge_key() -> None:
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        subprocess.run(["mungekey", "--create", "--keyfile", str(key)], check=True, capture_output=True)
        shutil.chown(key, "munge", "munge")
        key.chmod(0o600)


def _spawn(cmd: list[str], out: Path, user: str | None = None) -> subprocess.Popen:
    with open(out, "w") as fh:
        return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, user=user, group=user,
                                extra_groups=[] if user else None, start_new_session=True)


def _cancel_jobs() -> None:
    """Cancel whatever is still queued or running (a test that timed out), and wait for it to end."""
    with contextlib.suppress(OSError, subprocess.SubprocessError, RuntimeError):
        ids = subprocess.run(["squeue", "-h", "-t", "PD,R,CG", "-o", "%A"], capture_output=True, text=True, timeout=10).stdout.split()
        if ids:
            subprocess.run(["scancel", *ids], capture_output=True, timeout=10)
            _wait(lambda: not subprocess.run(["squeue", "-h", "-t", "PD,R,CG"], capture_output=True, text=True,
                                             timeout=10).stdout.strip(), 30, "jobs did not end", [])


def _sinfo_states() -> set[str]:
    proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=10)
    return set(proc.stdout.split()) if proc.returncode == 0 else set()


def _wait(ready, timeout: float, message: str, procs: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        dead = [p.args[0] for p in procs if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            raise RuntimeError(f"{message}" + (f" ({dead} exited)" if dead else f" within {timeout:.0f} s"))
        time.sleep(0.5)


def _running(name: str) -> bool:
    """Whether a process called ``name`` runs (read-only scan of /proc)."""
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):
            if comm.read_text().strip() == name:
                return True
    return False
