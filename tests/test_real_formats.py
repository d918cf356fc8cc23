"""The real-format loading paths, on stand-ins written here in each library's exact on-disk format.

Datasets: CIFAR-10/100 python pickles, MNIST/FashionMNIST idx.gz, STL-10 binaries, CIFAR-100-C .npy,
read through the same ``prepare_dataset``/``load_raw`` code as the full profile. torchvision's md5
checks stay on: each test computes the md5 of its stand-in and puts it in the dataset class's list
(monkeypatch), exactly where torchvision keeps the published one. Weights: torchvision's cache,
Hugging Face's cache layout and open_clip's, holding random weights of the real architectures; the
network is blocked, so a load that tried to download would fail.
"""
from __future__ import annotations

import gzip
import hashlib
import pickle
import socket
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

import archlab  # noqa: F401  (torchvision import fix)
import torchvision.datasets as tvd
from archlab.config import load_params
from archlab.data import cifar_c
from archlab.data.kinds import split_sizes
from archlab.data.prepare import prepare_dataset
from archlab.data.prepared import PreparedDataset
from archlab.errors import ParamsError
from conftest import ROOT

N_TRAIN, N_TEST = 50, 20


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def offline(monkeypatch):
    """No network: any connection attempt fails at once (as on a compute node)."""
    def refuse(*args, **kwargs):
        raise OSError(101, "Network is unreachable (blocked by the test)")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def images(n: int, size: int, channels: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct images (pixel [0, 0, 0] holds the index) with labels 0..9 interleaved."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, size, size, channels), dtype=np.uint8)
    x[:, 0, 0, 0] = np.arange(n) % 256
    return x, (np.arange(n) * 7 % 10).astype(np.int64)


# ---------------------------------------------------------------------------------- dataset writers

def write_cifar(root: Path, monkeypatch, hundred: bool) -> dict:
    cls = tvd.CIFAR100 if hundred else tvd.CIFAR10
    folder = root / cls.base_folder
    folder.mkdir(parents=True)
    label_key = "fine_labels" if hundred else "labels"
    n_classes = 100 if hundred else 10
    x_tr, y_tr = images(N_TRAIN, 32, 3, 0)
    x_te, y_te = images(N_TEST, 32, 3, 1)
    y_tr, y_te = (y_tr * 11) % n_classes, (y_te * 11) % n_classes

    def batch(name, x, y):
        entry = {"data": x.transpose(0, 3, 1, 2).reshape(len(x), -1), label_key: y.tolist(), "batch_label": name}
        (folder / name).write_bytes(pickle.dumps(entry))
        return [name, md5(folder / name)]

    if hundred:
        train_list = [batch("train", x_tr, y_tr)]
    else:  # five training batches, as CIFAR-10 ships
        train_list = [batch(f"data_batch_{i + 1}", x_tr[i * 10:(i + 1) * 10],
                            y_tr[i * 10:(i + 1) * 10]) for i in range(5)]
    test_list = [batch("test" if hundred else "test_batch", x_te, y_te)]
    names = [f"class{i}" for i in range(n_classes)]
    meta_name, meta_key = ("meta", "fine_label_names") if hundred else ("batches.meta", "label_names")
    (folder / meta_name).write_bytes(pickle.dumps({meta_key: names}))
    monkeypatch.setattr(cls, "train_list", train_list)
    monkeypatch.setattr(cls, "test_list", test_list)
    monkeypatch.setattr(cls, "meta", {"filename": meta_name, "key": meta_key, "md5": md5(folder / meta_name)})
    return {"train": (x_tr, y_tr), "test": (x_te, y_te), "classes": names}


def _idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def write_mnist(root: Path, monkeypatch, cls) -> dict:
    raw = root / cls.__name__ / "raw"
    raw.mkdir(parents=True)
    x_tr, y_tr = images(N_TRAIN, 28, 1, 2)
    x_te, y_te = images(N_TEST, 28, 1, 3)
    files = {"train-images-idx3-ubyte.gz": x_tr[..., 0], "train-labels-idx1-ubyte.gz": y_tr,
             "t10k-images-idx3-ubyte.gz": x_te[..., 0], "t10k-labels-idx1-ubyte.gz": y_te}
    for name, array in files.items():
        _idx(raw / name, array)
    monkeypatch.setattr(cls, "resources", [(name, md5(raw / name)) for name in files])
    return {"train": (x_tr, y_tr), "test": (x_te, y_te), "classes": list(cls.classes)}


def write_stl10(root: Path, monkeypatch) -> dict:
    folder = root / tvd.STL10.base_folder
    folder.mkdir(parents=True)
    x_tr, y_tr = images(N_TRAIN, 96, 3, 4)
    x_te, y_te = images(N_TEST, 96, 3, 5)
    md5s = {}
    for split, x, y in (("train", x_tr, y_tr), ("test", x_te, y_te)):
        # STL-10 stores each image channel-major and column-major (N×C×W×H)
        (folder / f"{split}_X.bin").write_bytes(x.transpose(0, 3, 2, 1).tobytes())
        (folder / f"{split}_y.bin").write_bytes((y + 1).astype(np.uint8).tobytes())  # 1-based on disk
        md5s.update({f"{split}_X.bin": md5(folder / f"{split}_X.bin"), f"{split}_y.bin": md5(folder / f"{split}_y.bin")})
    names = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
    (folder / "class_names.txt").write_text("\n".join(names) + "\n")
    # the published list names unlabeled_X.bin too; archlab never reads it, so the stand-in has none
    monkeypatch.setattr(tvd.STL10, "train_list", [["train_X.bin", md5s["train_X.bin"]], ["train_y.bin", md5s["train_y.bin"]],
                                                  ["unlabeled_X.bin", "5242ba1fed5e4be9e1e742405eb56ca4"]])
    monkeypatch.setattr(tvd.STL10, "test_list", [["test_X.bin", md5s["test_X.bin"]], ["test_y.bin", md5s["test_y.bin"]]])
    return {"train": (x_tr, y_tr), "test": (x_te, y_te), "classes": names}


WRITERS = {
    "cifar10": lambda root, mp: write_cifar(root, mp, hundred=False),
    "cifar100": lambda root, mp: write_cifar(root, mp, hundred=True),
    "mnist": lambda root, mp: write_mnist(root, mp, tvd.MNIST),
    "fashionmnist": lambda root, mp: write_mnist(root, mp, tvd.FashionMNIST),
    "stl10": write_stl10,
}


# ---------------------------------------------------------------------------------- dataset tests

@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_real_format_reads_back_exactly_through_prepare_dataset(tmp_path, monkeypatch, offline, kind):
    truth = WRITERS[kind](tmp_path / "raw" / kind, monkeypatch)
    spec = {"source": "torchvision", "download": True, "val_size": 10, "seed": 0}  # full profile's source
    meta = prepare_dataset(kind, spec, tmp_path / "out", tmp_path / "raw")
    data = PreparedDataset(tmp_path / "out" / "meta.json")
    x_te, y_te = data.split("test")
    np.testing.assert_array_equal(x_te, truth["test"][0])
    np.testing.assert_array_equal(y_te, truth["test"][1])
    x_tr, y_tr = data.split("train")
    np.testing.assert_array_equal(x_tr, truth["train"][0][meta["train_indices"]])
    np.testing.assert_array_equal(y_tr, truth["train"][1][meta["train_indices"]])
    assert meta["sizes"] == {"train": N_TRAIN - 10, "val": 10, "test": N_TEST}
    assert meta["classes"] == truth["classes"]


@pytest.mark.parametrize("source", ["torchvision", "local"])
@pytest.mark.parametrize("kind", ["cifar10", "mnist", "stl10"])
def test_size_keys_take_the_first_images_of_every_source(tmp_path, monkeypatch, offline, kind, source):
    sizes = {"train_size": 30, "test_size": 8, "val_size": 5}
    if source == "torchvision":  # the full profile's source, its files already downloaded
        truth = WRITERS[kind](tmp_path / "raw" / kind, monkeypatch)
        spec = {"source": "torchvision", "download": True, **sizes}
    else:
        truth = WRITERS[kind](tmp_path / "copy", monkeypatch)
        spec = {"source": "local", "path": str(tmp_path / "copy"), **sizes}
    meta = prepare_dataset(kind, spec, tmp_path / "out", tmp_path / "raw")
    assert meta["sizes"] == {"train": 25, "val": 5, "test": 8} == split_sizes(kind, spec)  # the plan's arithmetic
    assert max(meta["train_indices"] + meta["val_indices"]) < 30  # drawn from the first 30 only
    x_te, _ = PreparedDataset(tmp_path / "out").split("test")
    np.testing.assert_array_equal(x_te, truth["test"][0][:8])
    # the cap keeps the first N as well (test image k stays source test image k)
    capped = prepare_dataset(kind, {**spec, "test_size": None, "test_size_cap": 5}, tmp_path / "cap", tmp_path / "raw")
    assert capped["sizes"]["test"] == 5
    np.testing.assert_array_equal(PreparedDataset(tmp_path / "cap").split("test")[0], truth["test"][0][:5])


def test_size_key_larger_than_the_source_names_the_key(tmp_path, monkeypatch, offline):
    write_cifar(tmp_path / "copy", monkeypatch, hundred=False)
    spec = {"source": "local", "path": str(tmp_path / "copy"), "test_size": N_TEST + 1, "val_size": 5}
    with pytest.raises(ParamsError, match=rf"data\.cifar10\.test_size={N_TEST + 1}.*has \({N_TEST}\).*lower it"):
        prepare_dataset("cifar10", spec, tmp_path / "out", tmp_path / "raw")


def test_size_keys_behave_the_same_for_synthetic_and_digits(tmp_path):
    synthetic = prepare_dataset("cifar10", {"source": "synthetic", "train_size": 40, "test_size": 12, "val_size": 5},
                                tmp_path / "syn", tmp_path)
    digits = prepare_dataset("mnist", {"source": "digits", "train_size": 40, "test_size": 12, "val_size": 5},
                             tmp_path / "dig", tmp_path)
    assert synthetic["sizes"] == digits["sizes"] == {"train": 35, "val": 5, "test": 12}


@pytest.mark.parametrize("spec", [
    {"source": "digits", "val_fraction": 0.2},  # the whole bundled set: its size is known to the plan
    {"source": "digits", "test_size_cap": 50, "train_size_cap": 5000},  # caps above the source keep all
    {"source": "synthetic", "train_size": 40, "test_size": 12, "val_size": 5, "train_size_cap": 30},
])
def test_the_plan_predicts_the_prepared_sizes(tmp_path, spec):
    """config validation checks size keys with split_sizes before any job; the job keeps exactly that."""
    assert prepare_dataset("mnist", spec, tmp_path / "out", tmp_path)["sizes"] == split_sizes("mnist", spec)


def test_mnist_local_copy_of_the_gz_archives_is_read_without_download(tmp_path, monkeypatch, offline):
    truth = write_mnist(tmp_path / "copy", monkeypatch, tvd.MNIST)
    meta = prepare_dataset("mnist", {"source": "local", "path": str(tmp_path / "copy"), "val_size": 5},
                           tmp_path / "out", tmp_path / "raw")
    assert meta["sizes"]["test"] == N_TEST
    np.testing.assert_array_equal(PreparedDataset(tmp_path / "out").split("test")[1], truth["test"][1])


def test_cifar100_c_npy_layout_converts_rows_in_order(tmp_path):
    n = 6  # clean test images per severity (10 000 in the real set)
    folder = tmp_path / "CIFAR-100-C"
    folder.mkdir()
    labels = np.tile(np.arange(n) % 100, 5).astype(np.uint8)
    np.save(folder / "labels.npy", labels)
    stacks = {}
    for c, name in enumerate(("fog", "gaussian_noise")):
        x = np.zeros((5 * n, 32, 32, 3), np.uint8)
        x[:, 0, 0, 0] = np.arange(5 * n)  # row id
        x[:, 0, 0, 1] = c
        np.save(folder / f"{name}.npy", x)
        stacks[name] = x
    assert cifar_c.cifar100_c_dir(tmp_path, download=False) == folder
    meta = cifar_c.convert_cifar100_c(folder, ["gaussian_noise", "fog"], [1, 5], tmp_path / "out", limit=4)
    cs = cifar_c.CorruptedSet(tmp_path / "out")
    assert meta["n_images"] == len(cs) == 2 * 2 * 4
    rows = [int(v) for v in cs.x[:, 0, 0, 0]]
    assert rows == [0, 1, 2, 3, 4 * n, 4 * n + 1, 4 * n + 2, 4 * n + 3] * 2
    assert list(cs.x[:8, 0, 0, 1]) == [1] * 8 and list(cs.severity[:8]) == [1] * 4 + [5] * 4
    np.testing.assert_array_equal(cs.y[:4], labels[:4])


# ---------------------------------------------------------------------------------- weight caches

def test_torchvision_cache_loads_random_resnet18_offline(tmp_path, offline):
    import torchvision.models as tvm

    from archlab.models.resnet import build_resnet
    from archlab.models.weights import cache_dir, marker_path

    spec = "torchvision:resnet18:IMAGENET1K_V1"
    resources = tmp_path / "resources"
    state = tvm.resnet18().state_dict()
    url = tvm.ResNet18_Weights.IMAGENET1K_V1.url
    target = cache_dir(resources, "torchvision") / url.rsplit("/", 1)[-1]  # torch.hub's file name
    target.parent.mkdir(parents=True)
    torch.save(state, target)
    marker_path(spec, resources).write_text(spec + "\n")
    model = build_resnet("resnet18", 10, spec, str(resources))
    torch.testing.assert_close(model.layer4[1].conv2.weight, state["layer4.1.conv2.weight"])
    assert model.fc.out_features == 10


def _hf_cache_snapshot(cache: Path, repo_id: str) -> Path:
    """The Hugging Face cache layout: models--org--name/{refs/main, snapshots/<commit>/}."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    return snapshot


def test_huggingface_cache_loads_a_vit_offline(tmp_path, offline):
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    from archlab.models.vit import load_vit, patch_grid
    from archlab.models.weights import cache_dir, marker_path

    spec = load_params("full", ROOT)["vit"]["weights"]  # hf:google/vit-base-patch16-224
    resources = tmp_path / "resources"
    snapshot = _hf_cache_snapshot(cache_dir(resources, "hf"), spec.split(":", 1)[1])
    # ViTConfig's defaults are ViT-B/16 at 224 px, the architecture of google/vit-base-patch16-224
    config = ViTConfig(num_labels=1000, id2label={i: f"c{i}" for i in range(1000)})
    torch.manual_seed(0)
    saved = ViTForImageClassification(config)
    saved.save_pretrained(snapshot)
    ViTImageProcessor(size={"height": 224, "width": 224}, image_mean=[0.5] * 3, image_std=[0.5] * 3).save_pretrained(snapshot)
    marker_path(spec, resources).write_text(spec + "\n")
    model, preprocess = load_vit(spec, resources)
    torch.testing.assert_close(model.state_dict(), saved.state_dict())  # every tensor read back from the cache
    assert patch_grid(model) == (14, 14) and model.config.id2label[999] == "c999"


@pytest.mark.slow
def test_open_clip_cache_loads_the_full_profile_model_offline(tmp_path, offline):
    import open_clip
    from open_clip.pretrained import get_pretrained_cfg

    from archlab.models.clip import load_from_spec
    from archlab.models.weights import cache_dir, marker_path

    spec = load_params("full", ROOT)["clip"]["weights"]
    _, name, tag = spec.split(":")
    hf_hub = get_pretrained_cfg(name, tag)["hf_hub"]  # e.g. timm/vit_base_patch32_clip_224.openai/
    resources = tmp_path / "resources"
    snapshot = _hf_cache_snapshot(cache_dir(resources, "open_clip"), hf_hub.rstrip("/"))
    torch.manual_seed(0)
    state = open_clip.create_model(name).state_dict()  # random weights of the real architecture
    torch.save({k: v.half() for k, v in state.items()}, snapshot / "open_clip_pytorch_model.bin")
    marker_path(spec, resources).write_text(spec + "\n")
    bundle = load_from_spec(spec, resources)
    key = "visual.transformer.resblocks.11.mlp.c_fc.weight"
    torch.testing.assert_close(bundle.model.state_dict()[key], state[key].half().float())
