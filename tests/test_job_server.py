"""The job server: a job forked from it computes what a new process computes, with torch imported
already and archlab imported afresh; exit codes and signals pass through; nothing outlives its client."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archlab.workflow.execution import job_server

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
WAIT = 180  # seconds: the server imports torch & co. first, on cores that may be busy


def _client(target: str, argument, env: dict, cwd: Path, prefix: str = "", **popen) -> subprocess.Popen:
    """A job's client as run_job.py is one: delegate, or say it must run the job itself (exit 99).
    ``prefix``: pretend to be another Python environment."""
    code = (f"import sys; sys.prefix = {prefix!r} or sys.prefix; from archlab.workflow.execution.job_server import delegate; "
            f"code = delegate({target!r}, {argument!r}); sys.exit(99 if code is None else code)")
    return subprocess.Popen([sys.executable, "-c", code], cwd=cwd, env=env, **popen)


def _env(**extra) -> dict:
    path = os.pathsep.join([str(ROOT / "src"), str(TESTS)])
    return {**os.environ, "PYTHONPATH": path, **extra}


def _wait_for(condition, what: str, timeout: float = WAIT) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(0.2)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("server") / "job_server.log"
    running = job_server.Server.start(ROOT / "src", log)
    try:
        _wait_for(running.socket.exists, "the server's socket")
        yield running
    finally:
        running.stop()
    assert running.process.poll() is not None and not running.folder.exists()


def test_a_forked_job_has_torch_imported_archlab_fresh_and_computes_what_a_new_process_computes(server, tmp_path):
    forked, fresh = tmp_path / "forked.json", tmp_path / "fresh.json"
    client = _client("job_server_targets:train", {"out": str(forked)}, _env(PROBE="the client's"), tmp_path,
                     stdout=subprocess.PIPE, text=True)
    out, _ = client.communicate(timeout=WAIT)
    assert client.returncode == 0, out
    assert "hello from the job" in out  # the job writes to its client's stdout
    subprocess.run([sys.executable, "-c", f"import job_server_targets as t; t.train({{'out': {str(fresh)!r}}})"],
                   env=_env(), cwd=tmp_path, check=True, timeout=WAIT)
    a, b = json.loads(forked.read_text()), json.loads(fresh.read_text())
    assert a["preloaded"] == ["pandas", "torch"] and b["preloaded"] == []
    assert a["archlab_fresh"], "the server's archlab modules must not reach the job: it imports the code on disk"
    assert a["cwd"] == str(tmp_path) and a["probe"] == "the client's"
    assert a["forked_from"] == str(server.process.pid)
    assert (a["loss"], a["weights"]) == (b["loss"], b["weights"])


def test_exit_codes_and_tracebacks_reach_the_client(server, tmp_path):
    code = _client("job_server_targets:exit_with", 3, _env(), tmp_path)
    assert code.wait(WAIT) == 3
    failing = _client("job_server_targets:fail", "boom", _env(), tmp_path, stderr=subprocess.PIPE, text=True)
    _, err = failing.communicate(timeout=WAIT)
    assert failing.returncode == 1 and "ValueError: boom" in err


def test_a_forked_jobs_atexit_handlers_run(server, tmp_path):
    marker = tmp_path / "atexit.txt"
    assert _client("job_server_targets:exit_handler", str(marker), _env(), tmp_path).wait(WAIT) == 0
    assert marker.read_text() == "ran"


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_a_job_ends_with_its_client(server, tmp_path, stop):
    """Snakemake stopping a job (SIGTERM) or its client dying (SIGKILL) stops the job itself."""
    pid_file = tmp_path / "job.pid"
    client = _client("job_server_targets:sleep", str(pid_file), _env(), tmp_path)
    _wait_for(lambda: pid_file.exists() and pid_file.read_text(), "the job to start")
    job = int(pid_file.read_text())
    client.send_signal(stop)
    client.wait(WAIT)
    _wait_for(lambda: _gone(job), f"job {job} to end after its client got {stop.name}", timeout=60)
    if stop == signal.SIGTERM:
        assert client.returncode == 128 + signal.SIGTERM


def test_a_client_from_another_python_environment_runs_its_job_itself(server, tmp_path):
    """snakemake --use-conda: the job's environment has its own packages, so the server must not run it."""
    client = _client("job_server_targets:exit_with", 0, _env(), tmp_path, prefix="/another/env")
    assert client.wait(WAIT) == 99


def test_a_forked_job_hashes_strings_as_a_new_process_of_its_environment_does(server, tmp_path):
    """A fork cannot change the hash seed it inherits, so the server and its jobs share one fixed seed, and a
    job whose environment asks for another seed runs in a process of its own."""
    assert os.environ[job_server.HASH_SEED_VARIABLE] == "0"  # Server.start fixed it for what it starts
    forked, fresh = tmp_path / "forked.txt", tmp_path / "fresh.txt"
    assert _client("job_server_targets:string_hash", str(forked), _env(), tmp_path).wait(WAIT) == 0
    subprocess.run([sys.executable, "-c", f"import job_server_targets as t; t.string_hash({str(fresh)!r})"],
                   env=_env(), cwd=tmp_path, check=True, timeout=WAIT)
    assert forked.read_text() == fresh.read_text()
    assert _client("job_server_targets:string_hash", str(forked), _env(PYTHONHASHSEED="1"), tmp_path).wait(WAIT) == 99


def test_without_a_server_the_caller_runs_the_job_itself(tmp_path, monkeypatch):
    monkeypatch.delenv(job_server.SOCKET_VARIABLE, raising=False)
    assert job_server.delegate("job_server_targets:exit_with", 0) is None
    monkeypatch.setenv(job_server.SOCKET_VARIABLE, str(tmp_path / "no-such-socket"))
    assert job_server.delegate("job_server_targets:exit_with", 0) is None


def test_the_server_ends_with_the_snakemake_process_that_started_it(tmp_path):
    starter = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from archlab.workflow.execution.job_server import Server; "
         f"s = Server.start(Path({str(ROOT / 'src')!r}), Path({str(tmp_path / 'log')!r})); "
         "print(s.process.pid, flush=True); time.sleep(600)"],
        env=_env(), stdout=subprocess.PIPE, text=True)
    server = int(starter.stdout.readline())
    starter.kill()
    starter.wait(WAIT)
    _wait_for(lambda: _gone(server) or _zombie(server), "the orphaned server to exit")


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.parametrize("device, local, jobs, switch, expected", [
    ("cpu", True, 10, None, True), ("cpu", True, 10, "0", False), ("auto", True, 10, None, False),
    ("cuda", True, 10, None, False), ("cpu", False, 10, None, False), ("cpu", True, 2, None, False)])
def test_only_local_cpu_runs_of_several_jobs_start_a_server(monkeypatch, device, local, jobs, switch, expected):
    if switch is None:
        monkeypatch.delenv(job_server.SWITCH_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(job_server.SWITCH_VARIABLE, switch)
    assert job_server.wanted(device, local, jobs) is expected
