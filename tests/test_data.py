"""Data layer: synthetic determinism and learnability, canonical round trip, disjoint splits, errors."""
import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from archlab.data import synthetic
from archlab.data.prepare import prepare_dataset
from archlab.data.prepared import PreparedDataset, carve_validation
from archlab.errors import CorruptResourceError, MissingResourceError

SPEC = {"source": "synthetic", "train_size": 300, "test_size": 100, "val_size": 60, "seed": 3}


def test_synthetic_is_deterministic_and_seed_dependent():
    a, ya = synthetic.generate(50, 10, 32, 3, seed=1)
    b, yb = synthetic.generate(50, 10, 32, 3, seed=1)
    c, _ = synthetic.generate(50, 10, 32, 3, seed=2)
    assert np.array_equal(a, b) and np.array_equal(ya, yb)
    assert not np.array_equal(a, c)
    assert a.dtype == np.uint8 and a.shape == (50, 32, 32, 3)


def test_synthetic_is_learnable_well_above_chance():
    x, y = synthetic.generate(1200, 10, 16, 1, seed=0)
    feats = x.reshape(len(x), -1) / 255.0
    clf = LogisticRegression(max_iter=300).fit(feats[:1000], y[:1000])
    assert clf.score(feats[1000:], y[1000:]) > 0.3  # chance is 0.10


def test_class_names_are_meaningful_and_source_task_is_disjoint():
    target, source = synthetic.class_names(10), synthetic.class_names(10, shape_offset=10)
    assert "disc" in target and not set(target) & set(source)
    assert synthetic.class_names(100)[0] == "red disc"


def test_validation_is_carved_from_train_and_disjoint():
    train, val = carve_validation(1000, 100, seed=0)
    assert len(val) == 100 and len(train) == 900
    assert not set(train) & set(val)
    with pytest.raises(ValueError):
        carve_validation(10, 10, seed=0)


def test_canonical_round_trip(tmp_path):
    meta = prepare_dataset("toy", {**SPEC, "kind": "cifar10"}, tmp_path / "toy", tmp_path / "raw")
    ds = PreparedDataset(tmp_path / "toy")
    x_train, y_train = ds.split("train")
    x_val, _ = ds.split("val")
    assert meta["sizes"] == {"train": 240, "val": 60, "test": 100}
    assert x_train.dtype == np.uint8 and x_train.shape[1:] == (32, 32, 3)
    assert y_train.dtype == np.int64
    assert ds.classes == synthetic.class_names(10)
    raw, _ = synthetic.generate(300, 10, 32, 3, seed=3)
    assert np.array_equal(x_train, raw[meta["train_indices"]])
    assert np.array_equal(x_val, raw[meta["val_indices"]])


def test_corrupt_array_is_detected(tmp_path):
    prepare_dataset("toy", {**SPEC, "kind": "cifar10"}, tmp_path / "toy", tmp_path / "raw")
    path = tmp_path / "toy" / "train_x.npy"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CorruptResourceError, match="checksum"):
        PreparedDataset(tmp_path / "toy").split("train")


def test_missing_prepared_dataset_says_how_to_make_it(tmp_path):
    with pytest.raises(MissingResourceError, match="data_prepare"):
        PreparedDataset(tmp_path / "absent")


def test_the_missing_dataset_commands_name_its_profile(tmp_path):
    """Both commands work as pasted: Snakemake reads only the full profile without --configfile."""
    meta = tmp_path / "results" / "smoke" / "data" / "cifar10" / "meta.json"
    with pytest.raises(MissingResourceError) as err:
        PreparedDataset(meta)
    assert f"`snakemake {meta} --configfile config/smoke.yaml`" in str(err.value)
    assert "`python -m archlab run data_prepare name=cifar10 --profile smoke`" in str(err.value)


def test_offline_torchvision_source_fails_with_one_clear_error(tmp_path):
    with pytest.raises(MissingResourceError, match="source: local"):
        prepare_dataset("cifar10", {"source": "torchvision", "download": False}, tmp_path / "c", tmp_path / "raw")


def test_digits_are_mnist_shaped(tmp_path):
    meta = prepare_dataset("mnist", {"source": "digits", "val_size": 100}, tmp_path / "m", tmp_path / "raw")
    x, y = PreparedDataset(tmp_path / "m").split("test")
    assert x.shape[1:] == (28, 28, 1) and set(np.unique(y)) == set(range(10))
    assert meta["classes"] == [str(d) for d in range(10)]


def test_image_folder_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    with pytest.raises(MissingResourceError, match="holds no images"):
        prepare_dataset("imgs", {"kind": "imagefolder", "source": "local", "path": str(empty)}, tmp_path / "o", tmp_path / "raw")
    (empty / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(CorruptResourceError, match="broken.png"):
        prepare_dataset("imgs", {"kind": "imagefolder", "source": "local", "path": str(empty)}, tmp_path / "o", tmp_path / "raw")


def test_skimage_photos_make_an_image_folder(tmp_path):
    meta = prepare_dataset("photos", {"kind": "imagefolder", "source": "skimage", "image_size": 64}, tmp_path / "p", tmp_path / "raw")
    x, _ = PreparedDataset(tmp_path / "p").split("test")
    assert x.shape[1:] == (64, 64, 3) and len(x) == len(meta["files"]) >= 5
    assert json.loads((tmp_path / "p" / "meta.json").read_text())["sizes"]["train"] == 0
