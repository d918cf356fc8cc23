"""Real-world files and disks: each failure is one archlab error naming the file (or key) and the fix.

Offline weight fetches (and their place first in a Snakemake run), damaged local dataset copies,
high-depth and oversized images, a full disk, a read-only results folder, damaged checkpoints,
temporaries left behind by a killed job, and the commands error messages suggest.
"""
from __future__ import annotations

import copy
import errno
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import archlab  # noqa: F401  (torchvision import fix)
from archlab import io
from archlab.cli import main
from archlab.config import load_params, validate_params
from archlab.data import cifar_c, sources
from archlab.data.prepare import prepare_dataset
from archlab.data.sources import read_image
from archlab.errors import CorruptResourceError, MissingResourceError, ParamsError
from archlab.models import weights
from archlab.workflow.pipeline import Paths, Pipeline
from archlab.workflow.runner import run_job
from archlab.train.checkpoint import Checkpoint
from conftest import ROOT
from slurm.project import ENV, edit_yaml
from test_real_formats import offline, write_cifar, write_stl10  # noqa: F401  (offline is a fixture)


# ------------------------------------------------------------------------- weights, offline

@pytest.mark.parametrize("spec", ["torchvision:resnet18:IMAGENET1K_V1", "hf:google/vit-base-patch16-224",
                                  "open_clip:ViT-B-32-quickgelu:openai"])
def test_offline_fetch_is_one_archlab_message(tmp_path, offline, capsys, spec):
    code = main(["fetch-weights", spec, "--resources", str(tmp_path / "res")])
    err = capsys.readouterr().err.strip()
    assert code == 3 and len(err.splitlines()) == 1 and "Traceback" not in err
    kind = spec.split(":")[0]
    assert f"weights {spec} could not be downloaded into {tmp_path / 'res' / 'weights' / kind}" in err
    assert f"python -m archlab fetch-weights '{spec}'" in err and "copy its resources/weights/" in err
    assert not weights.marker_path(spec, tmp_path / "res").exists()


def test_fetch_into_a_read_only_resources_folder_is_one_message_naming_it(tmp_path, offline, capsys, monkeypatch):
    """Not "no internet": the folder is named with the fix, for the download and for the marker alike."""
    resources = tmp_path / "res"
    makedirs = os.makedirs

    def read_only(path, *args, **kwargs):  # what a read-only mount answers (root ignores chmod)
        if str(path).startswith(str(resources)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return makedirs(path, *args, **kwargs)

    monkeypatch.setattr(os, "makedirs", read_only)
    spec = "torchvision:resnet18:IMAGENET1K_V1"
    assert main(["fetch-weights", spec, "--resources", str(resources)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "internet" not in err, err
    assert f"cannot write into {resources / 'weights'}" in err and "read-only" in err and "chmod -R u+w" in err
    monkeypatch.setattr(weights, "missing_from_cache", lambda ws, res: [])  # the weights are there; the marker
    monkeypatch.setattr(tempfile, "mkstemp", lambda **kw: read_only(kw["dir"] / "x"))
    assert main(["fetch-weights", spec, "--resources", str(resources)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"cannot write into {resources / 'weights'}" in err, err


def test_fetch_of_an_unknown_open_clip_tag_names_the_spec(tmp_path, offline):
    with pytest.raises(ParamsError, match=r"'open_clip:ViT-B-32-quickgelu:nope'.*'nope'.*openai"):
        weights.fetch("open_clip:ViT-B-32-quickgelu:nope", tmp_path)


def _fake_snapshot(monkeypatch, repository_has: str) -> list:
    """snapshot_download stood in by a repository holding only ``repository_has`` of the weights formats;
    returns the allow_patterns of each call."""
    import huggingface_hub

    calls = []

    def fake_snapshot(repo_id, cache_dir, allow_patterns):
        calls.append(allow_patterns)
        folder = Path(cache_dir) / "snap"
        folder.mkdir(parents=True, exist_ok=True)
        if repository_has in allow_patterns:
            (folder / repository_has).write_bytes(b"x")
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    return calls


def test_hf_fetch_downloads_only_the_files_that_are_loaded(tmp_path, monkeypatch):
    calls = _fake_snapshot(monkeypatch, "model.safetensors")
    marker = weights.fetch("hf:google/vit-base-patch16-224", tmp_path)
    assert marker.exists() and len(calls) == 1
    assert {"config.json", "preprocessor_config.json", "model.safetensors"} <= set(calls[0])
    assert not any(p in calls[0] for p in ("*", "*.h5", "*.msgpack", "pytorch_model.bin"))


def test_hf_fetch_falls_back_to_pytorch_weights_only_without_safetensors(tmp_path, monkeypatch):
    calls = _fake_snapshot(monkeypatch, "pytorch_model.bin")
    weights.fetch("hf:org/old-model", tmp_path)
    assert len(calls) == 2 and "pytorch_model.bin" in calls[1] and "model.safetensors" not in calls[1]


# ------------------------------------------------------------------------- dataset copies

def test_local_copy_with_a_wrong_md5_is_a_checksum_error_naming_the_file(tmp_path, monkeypatch, offline):
    write_cifar(tmp_path / "raw" / "cifar10", monkeypatch, hundred=False)
    damaged = tmp_path / "raw" / "cifar10" / "cifar-10-batches-py" / "data_batch_3"
    damaged.write_bytes(damaged.read_bytes()[:-10])  # truncated copy
    for spec in ({"source": "torchvision", "download": True}, {"source": "local", "path": str(tmp_path / "raw" / "cifar10")}):
        with pytest.raises(CorruptResourceError) as err:
            prepare_dataset("cifar10", {**spec, "val_size": 5}, tmp_path / "out", tmp_path / "raw")
        msg = str(err.value)
        assert f"{damaged} fails its checksum" in msg and f"delete {damaged}" in msg
        assert "name=cifar10" in msg and "network" not in msg.lower()


def test_missing_local_copy_lists_the_missing_files_and_the_dataset(tmp_path, monkeypatch):
    write_cifar(tmp_path / "copy", monkeypatch, hundred=False)
    (tmp_path / "copy" / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(MissingResourceError, match=r"not there: .*test_batch.*download is off.*data_prepare name=mine"):
        prepare_dataset("mine", {"kind": "cifar10", "source": "local", "path": str(tmp_path / "copy"), "val_size": 5},
                        tmp_path / "out", tmp_path / "raw")


def test_damaged_archive_is_a_checksum_error_not_a_download(tmp_path, monkeypatch, offline):
    import torchvision.datasets as tvd

    root = tmp_path / "raw" / "cifar10"
    root.mkdir(parents=True)
    (root / tvd.CIFAR10.filename).write_bytes(b"half a download")
    with pytest.raises(CorruptResourceError, match=rf"{tvd.CIFAR10.filename} fails its checksum.*delete"):
        prepare_dataset("cifar10", {"source": "torchvision", "download": True, "val_size": 5}, tmp_path / "out",
                        tmp_path / "raw")


def test_stl10_does_not_need_the_unlabeled_file(tmp_path, monkeypatch, offline):
    write_stl10(tmp_path / "copy", monkeypatch)
    assert not (tmp_path / "copy" / "stl10_binary" / "unlabeled_X.bin").exists()
    meta = prepare_dataset("stl10", {"source": "local", "path": str(tmp_path / "copy"), "val_size": 5},
                           tmp_path / "out", tmp_path / "raw")
    assert meta["sizes"]["test"] > 0


def test_cifar100_c_archive_with_a_wrong_md5_is_named(tmp_path, offline):
    (tmp_path / "CIFAR-100-C.tar").write_bytes(b"truncated")
    for download in (True, False):
        with pytest.raises(CorruptResourceError, match=r"CIFAR-100-C.tar fails its checksum.*delete it.*ood_fetch"):
            cifar_c.cifar100_c_dir(tmp_path, download=download)


# ------------------------------------------------------------------------- size keys

def test_capping_cifar100_test_split_with_cifar100_c_names_the_fix():
    cfg = load_params("test", ROOT)
    bad = copy.deepcopy(cfg)
    bad["data"]["cifar100"] = {"source": "torchvision", "val_fraction": 0.2, "test_size": 50}
    bad["ood"]["corrupted"].update(source="cifar100_c", images=None, corruptions=["fog"])
    with pytest.raises(ParamsError, match=r"ood.corrupted.images=unset.*data.cifar100.test_size.*at most 50"):
        Pipeline(bad, Paths("test"))
    bad["ood"]["corrupted"]["images"] = 40  # within the kept prefix: accepted
    Pipeline(bad, Paths("test"))


def test_image_folder_refuses_train_size():
    cfg = load_params("full", ROOT)
    cfg["data"]["photos"]["train_size"] = 10
    with pytest.raises(ParamsError, match=r"data.photos: 'train_size' is not one of the allowed values"):
        validate_params(cfg)


# ------------------------------------------------------------------------- images

def test_16bit_png_is_scaled_by_its_real_range(tmp_path):
    values = np.linspace(1000, 3000, 16 * 16).reshape(16, 16).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as im:
        assert im.mode.startswith("I")  # really a 16-bit image on disk
    x = read_image(tmp_path / "deep.png", 16)
    assert x.shape == (16, 16, 3) and x.min() <= 2 and x.max() >= 253  # not 99 % white
    assert np.all(np.diff(x[:, :, 0].ravel().astype(int)) >= -2)  # the ramp survives


def test_float_tiff_is_scaled_by_its_real_range(tmp_path):
    values = np.linspace(0.0, 1.0, 16 * 16, dtype=np.float32).reshape(16, 16)
    Image.fromarray(values, mode="F").save(tmp_path / "float.tif")
    x = read_image(tmp_path / "float.tif", 16)
    assert x.min() <= 2 and x.max() >= 253 and x.mean() > 100  # not all black


def test_image_folder_converts_high_depth_files_in_prepare(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(np.full((8, 8), 40000, np.uint16) + np.arange(8, dtype=np.uint16) * 1000).save(folder / "a.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "b.png")
    meta = prepare_dataset("photos", {"kind": "imagefolder", "source": "local", "path": str(folder), "image_size": 8,
                                      "test_size": 1}, tmp_path / "out", tmp_path)
    assert meta["sizes"]["test"] == 1 and meta["files"] == ["a.png"]
    x = np.load(tmp_path / "out" / "test_x.npy")
    assert x[0].min() < 10 and x[0].max() > 245


def test_decompression_bomb_names_the_file(tmp_path, monkeypatch):
    Image.fromarray(np.zeros((100, 100, 3), np.uint8)).save(tmp_path / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 10 000 px > 2 × limit, as 196 MP is for the default
    with pytest.raises(CorruptResourceError, match=r"huge.png is too large to open safely.*downscale it.*or remove it"):
        read_image(tmp_path / "huge.png", 16)


# ------------------------------------------------------------------------- disks

@pytest.fixture
def disk_full_after(monkeypatch):
    """Writes to temporaries of atomic_path fail with ENOSPC after ``n`` bytes, as on a full disk."""
    import builtins
    import io as std_io

    real_open = builtins.open

    class Full:
        def __init__(self, fh, n):
            self.fh, self.left = fh, n

        def write(self, data):
            self.left -= len(data)
            if self.left < 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return self.fh.write(data)

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    def arm(n: int):
        def fake_open(path, mode="r", *args, **kwargs):
            fh = real_open(path, mode, *args, **kwargs)
            return Full(fh, n) if "w" in mode and ".tmp" in Path(path).name else fh
        monkeypatch.setattr(builtins, "open", fake_open)
        monkeypatch.setattr(std_io, "open", fake_open)  # what Path.write_text opens files with
    return arm


def test_full_disk_during_a_checkpoint_save_is_one_error_and_leaves_nothing(tmp_path, disk_full_after):
    run = tmp_path / "results" / "run"
    run.mkdir(parents=True)
    disk_full_after(4096)
    with pytest.raises(io.OutputWriteError) as err:
        io.save_torch(run / "checkpoint.pt", {"weights": torch.zeros(100_000)})
    msg = str(err.value)
    assert f"no space left on the device to write {run / 'checkpoint.pt'}" in msg
    assert "Free space there" in msg and "rerun the job" in msg and "unexpected pos" not in msg
    assert list(run.iterdir()) == []  # no checkpoint, no temporary


def test_full_disk_while_writing_json_keeps_the_old_file(tmp_path, disk_full_after):
    io.write_json(tmp_path / "metrics.json", {"acc": 0.5})
    disk_full_after(3)
    with pytest.raises(io.OutputWriteError, match="metrics.json"):
        io.write_json(tmp_path / "metrics.json", {"acc": 0.9})
    assert io.read_json(tmp_path / "metrics.json") == {"acc": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
def test_read_only_results_names_the_folder(tmp_path, monkeypatch, code):
    results = tmp_path / "results"
    results.mkdir()

    def refuse(*args, **kwargs):  # what a read-only mount (or a folder without write permission) answers
        raise OSError(code, os.strerror(code), str(results))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(io.OutputWriteError) as err:
        io.write_text(results / "section.json", "{}")
    assert f"cannot write into {results}" in str(err.value) and "make it writable" in str(err.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_results_folder_for_real(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    results.chmod(0o555)
    try:
        with pytest.raises(io.OutputWriteError, match=f"cannot write into {results}"):
            io.write_text(results / "x.txt", "x")
    finally:
        results.chmod(0o755)


def test_other_os_errors_inside_the_block_are_not_disguised(tmp_path):
    with pytest.raises(FileNotFoundError):
        with io.atomic_path(tmp_path / "out.npy") as tmp:
            np.save(tmp, np.load(tmp_path / "absent.npy"))
    assert list(tmp_path.iterdir()) == []


def _stale(folder: Path, name: str) -> Path:
    """A temporary exactly as atomic_path names it, left behind as by a SIGKILL."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp" + Path(name).suffix, dir=folder)
    os.write(fd, b"half a checkpoint")
    os.close(fd)
    return Path(tmp)


def test_stale_temporaries_are_removed_and_nothing_else(tmp_path):
    stale = [_stale(tmp_path, "checkpoint.pt"), _stale(tmp_path, "x.npy"), _stale(tmp_path, "history.csv")]
    keep = [tmp_path / "checkpoint.pt", tmp_path / ".hidden", tmp_path / ".gitignore", tmp_path / ".model.tmp"]
    for p in keep:
        p.write_text("keep")
    (tmp_path / "sub").mkdir()
    nested = _stale(tmp_path / "sub", "model.pt")
    assert io.clean_stale_temporaries(tmp_path, names=["checkpoint.pt"]) == [stale[0]]
    assert io.clean_stale_temporaries(tmp_path) == sorted(stale[1:])
    assert all(p.exists() for p in keep) and nested.exists()
    assert io.clean_stale_temporaries(tmp_path / "absent") == []


# ------------------------------------------------------------------------- checkpoints and jobs

@pytest.mark.parametrize("damage", ["flipped_bit", "truncated", "garbage"])
def test_damaged_checkpoint_is_named_and_never_resumed(tmp_path, caplog, damage):
    """A flipped bit in a tensor used to resume silently (torch's reader ignores the zip's CRC-32s)."""
    ckpt = Checkpoint(tmp_path / "checkpoint.pt", "this run")
    ckpt.save(0, model={"w": torch.arange(50_000.0)}, history=[])
    data = bytearray(ckpt.path.read_bytes())
    middle = len(data) // 2  # inside the tensor's bytes
    if damage == "flipped_bit":
        data[middle] ^= 1
    ckpt.path.write_bytes({"flipped_bit": bytes(data), "truncated": bytes(data[:middle]),
                           "garbage": b"not a checkpoint"}[damage])
    caplog.set_level("INFO", logger="archlab.train.checkpoint")
    assert ckpt.load() is None
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and f"{ckpt.path} cannot be read: it is damaged" in warned[0]
    assert "training starts afresh" in warned[0]
    with pytest.raises(CorruptResourceError, match=rf"{ckpt.path} cannot be read: it is damaged .*; rerun it"):
        io.load_torch(ckpt.path, "rerun it", weights_only=False)


def _prepare_job(tmp_path: Path) -> dict:
    """run_job's arguments for a tiny synthetic data_prepare job (the real job function and outputs)."""
    from archlab.commands.data import ARRAYS

    run = tmp_path / "results" / "test" / "data" / "toy"
    spec = {"kind": "cifar10", "source": "synthetic", "train_size": 20, "test_size": 10, "val_size": 5}
    return dict(rule="data_prepare", func="archlab.commands.data_prepare:prepare", wildcards={"name": "toy"}, input={},
                output={"params": str(run / "params.json"), "meta": str(run / "meta.json"),
                        **{k: str(run / v) for k, v in ARRAYS.items()}},
                params={"name": "toy", "spec": spec, "raw": str(tmp_path / "raw")})


def test_a_killed_jobs_temporaries_are_removed_when_it_reruns(tmp_path):
    """What a SIGKILL mid-save leaves (a 40 MB checkpoint temporary in the full profile) goes before the rerun."""
    job = _prepare_job(tmp_path)
    run = Path(job["output"]["params"]).parent
    run.mkdir(parents=True)
    stale = [_stale(run, "checkpoint.pt"), _stale(run, "train_x.npy")]
    others = run / ".checkpoint.pt.notours.tmp.pt"  # not atomic_path's name pattern: left alone
    others.write_text("keep")
    run_job(**job)
    assert not any(p.exists() for p in stale) and others.exists()
    assert (run / "params.json").exists()


def test_a_job_writing_into_a_read_only_results_folder_is_one_error(tmp_path, monkeypatch):
    """Libraries that write outside archlab.io (numpy, pandas) open files themselves: the runner names
    the folder too, where the OSError would be a traceback."""
    import builtins

    import archlab.data.prepare as prepare

    job = _prepare_job(tmp_path)
    results = tmp_path / "results"
    real_open = builtins.open

    def read_only_results(path, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax") and results in Path(path).absolute().parents:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", read_only_results)
    monkeypatch.setattr(prepare, "prepare_dataset", lambda name, spec, out, raw: np.save(Path(out) / "x.npy", [1]))
    with pytest.raises(io.OutputWriteError) as err:
        run_job(**job)
    run = Path(job["output"]["params"]).parent
    assert f"cannot write into {run}" in str(err.value) and "make it writable" in str(err.value)


def test_an_os_error_about_another_file_is_not_called_a_read_only_results(tmp_path, monkeypatch):
    import archlab.data.prepare as prepare

    def unreadable(*args):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "elsewhere" / "input.npy"))

    monkeypatch.setattr(prepare, "prepare_dataset", unreadable)
    with pytest.raises(PermissionError, match="input.npy"):
        run_job(**_prepare_job(tmp_path))


# ------------------------------------------------------------------------- hints that work

@pytest.mark.parametrize("profile", ["test", "smoke", "full"])
def test_the_missing_dataset_hint_builds_it_in_every_profile(project, profile):
    """The command a missing prepared dataset names is one Snakemake accepts for that profile (it named
    no --configfile, which only the full profile, params.yaml, can do without)."""
    missing = f"results/{profile}/data/cifar10/meta.json"
    job = _prepare_job(project)
    with pytest.raises(MissingResourceError) as err:
        run_job(**{**job, "input": {"data": str(project / missing)}})
    command = re.search(r"`(snakemake [^`]+)`", str(err.value)).group(1).replace(str(project) + "/", "")
    assert command == f"snakemake {missing} --configfile config/{profile}.yaml"
    proc = subprocess.run([sys.executable, "-m", *command.split(), "--dry-run", "--cores", "1"], cwd=project,
                          env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "data_prepare" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]


KEY = re.compile(r"(?<![\w.`/])(?:ood|data)\.[a-z_]+(?:\.[a-z_]+)*")


def test_the_dataset_modules_name_only_params_keys_that_exist():
    """cifar_c.py once told users to set `ood.ood_data.source`, a key no schema has."""
    import ast

    from archlab.config import params_schema

    schema = params_schema()
    named = set()
    for module in (cifar_c, sources):
        tree = ast.parse(Path(module.__file__).read_text())
        named |= {key for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
                  for key in KEY.findall(node.value)}
    for key in named:
        node = schema
        for part in key.split("."):
            props = node.get("properties", {})
            node = props[part] if part in props else node.get("additionalProperties")
            assert isinstance(node, dict), f"{key} names no params key (no {part!r})"
    assert "ood.corrupted.source" in named  # the scan sees the message's key


# ------------------------------------------------------------------------- under Snakemake

OFFLINE = {**{k: v for k, v in ENV.items() if k.lower() not in ("no_proxy", "all_proxy")},
           **{k: "http://127.0.0.1:9" for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}}


@pytest.mark.timeout(300)
def test_snakemake_fetches_weights_before_any_other_job(project):
    """Offline, a missing weight used to fail only after the unrelated jobs ran (106 s in the full profile):
    only the rules that may download (data_prepare shares their top priority) run before it, and it ends
    the run with one archlab message in its log."""
    spec = "torchvision:resnet18:IMAGENET1K_V1"

    def s1_on_imagenet_weights(cfg):
        cfg.update(studies=["resnet"])
        cfg["resnet"].update(arch="resnet18", weights=spec)
        for model in cfg["resnet"]["depth"]["models"]:
            if model["arch"] == "resnet18":
                model["weights"] = spec
    edit_yaml(project / "config" / "test.yaml", s1_on_imagenet_weights)
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "--configfile", "config/test.yaml"],
                          cwd=project, env=OFFLINE, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    started = re.findall(r"^(?:local)?rule (\w+):", out, flags=re.M)
    assert "fetch_weights" in started and set(started) <= {"fetch_weights", "data_prepare"}, started
    log = (project / "logs" / "test" / "weights" / f"{weights.parse(spec).slug}.log").read_text()
    assert log.count("archlab fetch-weights: error: ") == 1 and "Traceback" not in log, log
    assert f"python -m archlab fetch-weights '{spec}'" in log
