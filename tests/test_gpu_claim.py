"""Local GPU jobs run side by side (`--resources gpu=N`) spread over the visible GPUs instead of all
taking GPU 0 (archlab.runtime.claim_gpu); faked device counts, no GPU needed."""
from __future__ import annotations

import fcntl
import multiprocessing
import os

import pytest
import torch

from archlab import runtime


@pytest.fixture
def locks(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "GPU_LOCKS", tmp_path / "locks")
    monkeypatch.setattr(runtime, "_claim", None)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return tmp_path / "locks"


def _job(count: int, claimed, release) -> None:
    """A GPU job: claims a GPU, reports it, holds it until told to end."""
    claimed.put(runtime.claim_gpu(count))
    release.wait(30)


def _run_jobs(n_jobs: int, count: int) -> tuple[list[int], list, object]:
    ctx = multiprocessing.get_context("fork")  # children start with no claim, like forked jobs
    claimed, release = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_job, args=(count, claimed, release)) for _ in range(n_jobs)]
    for p in procs:
        p.start()
    return sorted(claimed.get(timeout=30) for _ in procs), procs, release


def _end(procs, release) -> None:
    release.set()
    for p in procs:
        p.join(30)


def test_concurrent_jobs_spread_over_the_visible_gpus(locks):
    got, procs, release = _run_jobs(4, count=2)
    try:
        assert got == [0, 0, 1, 1]
        assert len(list(locks.glob("*@*.lock"))) == 4
    finally:
        _end(procs, release)


def test_an_ended_jobs_gpu_is_free_again(locks):
    got, procs, release = _run_jobs(2, count=2)
    _end(procs, release)  # both ended: their locks are gone with them (as after a SIGKILL)
    assert got == [0, 1]
    assert runtime.claim_gpu(2) == 0
    assert [p.name for p in locks.glob("*@*.lock")] == [f"0@{os.getpid()}.lock"]  # stale files removed


def test_one_process_keeps_its_gpu(locks):
    assert runtime.claim_gpu(3) == runtime.claim_gpu(3) == 0


def test_gpus_are_named_by_their_visible_id(locks, monkeypatch):
    """Another run that sees only GPU 5 (CUDA_VISIBLE_DEVICES=5) holds it: this run (5 and 3) takes 3."""
    locks.mkdir()
    with open(locks / "5@1.lock", "w") as other:
        fcntl.flock(other, fcntl.LOCK_EX)
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,3")
        assert runtime.claim_gpu(2) == 1


def test_auto_takes_the_claimed_gpu_only_when_there_are_several(locks, monkeypatch):
    current = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", current.append)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert runtime.pick_device("auto") == torch.device("cuda") and current == []
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert runtime.pick_device("auto") == torch.device("cuda", 0) == runtime.pick_device("cuda")
    assert current == [torch.device("cuda", 0)] * 2
    assert runtime.pick_device("cpu") == torch.device("cpu")
