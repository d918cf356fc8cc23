"""Real-world files and disks: each failure is one archlab error naming the file (or key) and the fix.

Offline weight fetches, damaged local dataset copies, high-depth and oversized images, a full disk, a
read-only results folder, and temporaries left behind by a killed job.
"""
from __future__ import annotations

import copy
import errno
import os
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
from archlab.data import cifar_c
from archlab.data.prepared import prepare_dataset
from archlab.data.sources import read_image
from archlab.errors import CorruptResourceError, MissingResourceError, ParamsError
from archlab.models import weights
from archlab.pipeline import Paths, Pipeline
from conftest import ROOT
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
