"""S6 stage: the splits it trains on, one run end to end, and gradient records surviving a resume."""
import argparse
import shutil

import numpy as np
import pytest
import torch

from archlab.config import load_params
from archlab.data.loaders import Preprocess
from archlab.data.prepared import prepare_dataset
from archlab.errors import ParamsError
from archlab.io import read_json
from archlab.models.cifar_nets import build_model
from archlab.stages import cifar_arch
from archlab.stages.cifar_arch import CIFAR10_MEAN, CIFAR10_STD, load_splits
from archlab.train.classifier import FitConfig, fit
from archlab.train.gradflow import GradientRecorder
from archlab.train.sweeps import expand_sweeps
from conftest import copy_params


@pytest.fixture(scope="module")
def tiny_cifar(tmp_path_factory):
    out = tmp_path_factory.mktemp("cifar10")
    prepare_dataset("cifar10", {"source": "synthetic", "train_size": 160, "test_size": 20, "val_size": 30, "seed": 0}, out, out)
    return out


def test_train_and_validation_images_are_disjoint(tiny_cifar):
    data, (x_tr, y_tr), (x_va, _), (x_te, _) = load_splits(tiny_cifar, train_size=40)
    assert len(y_tr) == 40 and len(x_va) == 30 and len(x_te) == 20
    used_train = data.meta["train_indices"][:40]
    assert not set(used_train) & set(data.meta["val_indices"])
    train_images = {img.tobytes() for img in x_tr}
    assert not any(img.tobytes() in train_images for img in x_va)


def _fit(model, recorder, data, out_dir, epochs):
    _, train, val, _ = data
    prep = Preprocess(mean=CIFAR10_MEAN, std=CIFAR10_STD)
    cfg = FitConfig(epochs=epochs, batch_size=16, seed=0, train_transform=prep, eval_transform=prep,
                    callbacks=(recorder,), live=False)
    return fit(model, train, val, torch.optim.SGD(model.parameters(), lr=0.05), cfg, torch.device("cpu"), out_dir)


def test_gradient_records_survive_a_resumed_fit(tiny_cifar, tmp_path):
    data = load_splits(tiny_cifar, train_size=48)
    torch.manual_seed(0)
    model = build_model("mlp", hidden=[16, 8])
    first = GradientRecorder(model)
    _fit(model, first, data, tmp_path, epochs=1)
    torch.manual_seed(0)
    resumed_model = build_model("mlp", hidden=[16, 8])
    resumed = GradientRecorder(resumed_model)
    history = _fit(resumed_model, resumed, data, tmp_path, epochs=2)  # resumes from the epoch-1 checkpoint
    out = resumed.arrays()
    assert len(history) == 2 and out["mean"].shape == (3, 2) and out["steps"].tolist() == [3, 3]
    np.testing.assert_array_equal(out["mean"][:, 0], first.arrays()["mean"][:, 0])


@pytest.fixture
def test_project(tmp_path, tiny_cifar):
    """params.yaml + config/test.yaml with the tiny dataset prepared where the test profile reads it."""
    copy_params(tmp_path)
    shutil.copytree(tiny_cifar, tmp_path / "results" / "test" / "data" / "cifar10")
    return tmp_path


def run_stage(*argv):
    """The stage's own command line, without importing every other study's stage."""
    parser = argparse.ArgumentParser()
    cifar_arch.register(parser.add_subparsers())
    args = parser.parse_args(["cifar_arch", *argv])
    args.func(args)


def test_run_stage_trains_a_sweep_point_and_records_every_layer_every_epoch(test_project):
    cfg = load_params("test", test_project)["cifar_arch"]
    point = expand_sweeps(cfg)["activations"][0]
    run_stage("run", point.key, "--profile", "test", "--root", str(test_project))
    run_dir = test_project / "results" / "test" / "cifar_arch" / "runs" / point.key
    final = read_json(run_dir / "final.json")
    assert final["train_images"] == cfg["train_size"] and 0.0 <= final["test_acc"] <= 1.0
    assert read_json(run_dir / "setting.json") == point.setting.to_dict()
    g = np.load(run_dir / "gradflow.npz")
    n_layers = len(cfg["models"]["mlp"]["hidden"]) + 1
    assert g["mean"].shape == (n_layers, cfg["train"]["epochs"]) and (g["mean"] > 0).all()


def test_run_stage_rejects_an_unknown_key(test_project):
    with pytest.raises(ParamsError, match="no S6 run '0123456789abcdef'"):
        run_stage("run", "0123456789abcdef", "--profile", "test", "--root", str(test_project))
