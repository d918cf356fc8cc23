"""A fork server with torch & co. already imported, for the jobs Snakemake runs on this machine.

Why: every job is a new Python process, and importing torch, ``torch._dynamo`` (every torch.optim
optimizer pulls it in), pandas, matplotlib, scipy and scikit-learn costs it 3-10 s of CPU: about 40 %
of the demo's CPU. The server imports these third-party libraries once; each job then runs in a fork
of it. Its archlab modules are dropped in the fork, so a job imports archlab from disk when it starts,
exactly as a new process would: a code edit takes effect at once.

Used for CPU profiles run locally (the Snakefile's ``onstart`` starts it, ``onsuccess``/``onerror``
stop it; it also ends by itself once the Snakemake process that started it is gone). Not under SLURM
(jobs run on other machines) and not where a job may use CUDA: a CUDA runtime touched before a fork is
unusable in the child. ``ARCHLAB_PRELOAD=0`` turns it off. A job that cannot reach a server runs in
its own process, as before (:func:`delegate` returns None).

Protocol: the client (workflow/scripts/run_job.py) sends its stdin, stdout and stderr descriptors with
a pickled request; the server forks a handler, which forks the job, reports the job's pid and then its
exit status. A client that dies (Snakemake killed it) takes its job with it; signals a client gets
(Ctrl-C, SIGTERM) are passed on to its job.
"""
from __future__ import annotations

import atexit
import importlib
import os
import pickle
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

from archlab.workflow.execution import FORKED_VARIABLE

SOCKET_VARIABLE = "ARCHLAB_JOB_SERVER"  # set for the jobs of a Snakemake run that started a server
SWITCH_VARIABLE = "ARCHLAB_PRELOAD"  # "0": every job in a new process
HASH_SEED_VARIABLE = "PYTHONHASHSEED"  # fixed for the server and its jobs alike (Server.start)
# Third-party modules most jobs import, heaviest first; the Agg backend and one thread, as jobs set them.
PRELOAD = ("torch", "torch._dynamo", "torch.optim", "torchvision", "torchvision.models", "pandas",
           "matplotlib.pyplot", "scipy.stats", "sklearn.linear_model", "sklearn.neighbors", "PIL.Image",
           "tqdm", "yaml", "jsonschema", "snakemake.script")
MIN_JOBS = 3  # starting costs about one job's imports: from three jobs on it pays
STOP_GRACE_SECONDS = 10
_HEADER = struct.Struct("!I")
_retired: list = []  # in a job: the server's archlab modules, replaced by the ones on disk


def wanted(device: str, local: bool, jobs: int) -> bool:
    """Whether a Snakemake run should start a server: local execution of CPU jobs, enough of them to
    pay for its start, and not switched off."""
    return (local and device == "cpu" and jobs >= MIN_JOBS and os.environ.get(SWITCH_VARIABLE, "1") != "0"
            and hasattr(os, "pidfd_open"))  # Linux: elsewhere every job starts a new process


class Server:
    """A running server: started by :meth:`start`, ended by :meth:`stop` (or with its parent)."""

    def __init__(self, src: Path, log: Path):
        self.folder = Path(tempfile.mkdtemp(prefix="archlab-jobs-"))  # short path: sockets allow ~100 bytes
        self.socket = self.folder / "socket"
        log.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")])),
               HASH_SEED_VARIABLE: hash_seed()}
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "archlab.workflow.execution.job_server", str(self.socket), str(os.getpid())],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env, start_new_session=True)

    @classmethod
    def start(cls, src: Path, log: Path) -> "Server":
        """Start a server and point this process's future children (the jobs) at it. A fork keeps its parent's
        string hashing, which a process fixes when it starts: so the server and every job this process starts,
        forked or not, get one fixed ``PYTHONHASHSEED`` (the user's, else 0) instead of each its own random one."""
        os.environ[HASH_SEED_VARIABLE] = hash_seed()
        server = cls(src, log)
        os.environ[SOCKET_VARIABLE] = str(server.socket)
        return server

    def stop(self) -> None:
        os.environ.pop(SOCKET_VARIABLE, None)
        self.process.terminate()
        try:
            self.process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def delegate(target: str, argument) -> int | None:
    """Run ``target`` (``module:function``) on ``argument`` in a fork of this run's server and return
    its exit code; None where there is no server to use (none started, or not ready yet): then the
    caller runs it itself."""
    path = os.environ.get(SOCKET_VARIABLE)
    if not path:
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:
        conn.close()
        return None
    request = {"target": target, "argument": pickle.dumps(argument), "cwd": os.getcwd(), "env": dict(os.environ),
               "path": list(sys.path), "argv": list(sys.argv), "prefix": sys.prefix}
    with conn:
        _send(conn, request, fds=[0, 1, 2])
        job = _receive(conn)["pid"]
        if job is None:  # another Python environment (snakemake --use-conda): its own packages, not the server's
            return None
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, lambda n, _frame: _signal_group(job, n))
        try:
            return _receive(conn)["exit"]
        except (ConnectionError, EOFError):
            print(f"archlab: the job server ended before job {job} did", file=sys.stderr)
            return 1


def serve(path: str, parent: int) -> None:
    """Import :data:`PRELOAD`, then fork a handler per connection until ``parent`` is gone."""
    from archlab.workflow.runner import THREAD_VARIABLES

    os.environ.update({name: "1" for name in THREAD_VARIABLES} | {"MPLBACKEND": "Agg"})
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # not installed: jobs that need it import it themselves
    sys.stdout.flush()
    sys.stderr.flush()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps finished handlers
    while os.getppid() == parent:
        if select.select([listener], [], [], 1.0)[0]:
            conn, _ = listener.accept()
            if os.fork() == 0:
                listener.close()
                _handle(conn)
            conn.close()


def _handle(conn: socket.socket) -> None:
    """A handler: fork the job, report its pid and exit status; stop it if its client goes away."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # waitpid below, and the job's own subprocesses
    try:
        request, fds = _receive(conn, fds=3)
        if request["prefix"] != sys.prefix or not _hashes_alike(request["env"]):
            _send(conn, {"pid": None})  # the client runs the job itself
            return
        server = os.getppid()
        pid = os.fork()
        if pid == 0:
            conn.close()
            _run(request, fds, server)
        for fd in fds:
            os.close(fd)
        _send(conn, {"pid": pid})
        _send(conn, {"exit": _wait(pid, conn)})
    except BaseException:  # a broken request or client: the server's log says what
        traceback.print_exc()
    finally:
        os._exit(0)


def hash_seed() -> str:
    """The fixed string-hashing seed of a server and its jobs: this environment's, else 0."""
    return os.environ.get(HASH_SEED_VARIABLE) or "0"


def _hashes_alike(env: dict) -> bool:
    """Whether a job started with ``env`` would hash strings as a fork of this server does: only where the
    seed is fixed and the same (a fork cannot change it; with none set each process draws its own)."""
    seed = os.environ.get(HASH_SEED_VARIABLE)
    return seed not in (None, "", "random") and env.get(HASH_SEED_VARIABLE) == seed


def _run(request: dict, fds: list[int], server: int) -> None:
    """The job: the client's descriptors, directory, environment and import path, archlab from disk."""
    os.setpgid(0, 0)  # its own group, so a stop reaches any subprocess it starts
    for number, fd in enumerate(fds):
        os.dup2(fd, number)
        os.close(fd)
    code = 1
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"] | {FORKED_VARIABLE: str(server)})
        tempfile.tempdir = None  # chosen again from the job's TMPDIR (Snakemake's per-job tmpdir), not the server's
        sys.path[:], sys.argv[:] = request["path"], request["argv"]
        # dropped from sys.modules, not freed: archlab._torchvision_compat keeps torchvision's operator schemas alive
        _retired.extend(sys.modules.pop(name) for name in list(sys.modules) if name.split(".")[0] == "archlab")
        module, function = request["target"].split(":")
        getattr(importlib.import_module(module), function)(pickle.loads(request["argument"]))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except BaseException:
        traceback.print_exc()
    finally:
        # end as the process the job would otherwise be: its atexit handlers (tempfile cleanup, logging's
        # flush, dvclive/wandb's finish) run first; os._exit then skips the server's state that the fork copied
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _wait(pid: int, conn: socket.socket) -> int:
    """The job's exit code (128 + N if signal N ended it), stopping the job first if its client hangs up."""
    pidfd = os.pidfd_open(pid)
    if pidfd not in select.select([conn, pidfd], [], [])[0]:  # the client is gone (it sends nothing else)
        _signal_group(pid, signal.SIGTERM)
        if not select.select([pidfd], [], [], STOP_GRACE_SECONDS)[0]:
            _signal_group(pid, signal.SIGKILL)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    return code if code >= 0 else 128 - code


def _signal_group(pid: int, number: int) -> None:
    """Signal the job and whatever it started (its group; the job itself if it has not made one yet)."""
    for send in (os.killpg, os.kill):
        try:
            return send(pid, number)
        except ProcessLookupError:
            continue


def _send(conn: socket.socket, message: dict, fds: list[int] = ()) -> None:
    data = pickle.dumps(message)
    header = _HEADER.pack(len(data))
    socket.send_fds(conn, [header], list(fds))
    conn.sendall(data)


def _receive(conn: socket.socket, fds: int = 0):
    header, received, _, _ = socket.recv_fds(conn, _HEADER.size, fds)
    if len(header) < _HEADER.size:
        raise EOFError("the other side closed the connection")
    (size,), data = _HEADER.unpack(header), b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise EOFError("the other side closed the connection")
        data += chunk
    message = pickle.loads(data)
    return (message, received) if fds else message


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
