"""S6 jobs: the splits they train on, one run end to end, and gradient records surviving a resume."""
import numpy as np
import pytest
import torch

from archlab.cli import main
from archlab.config import load_params
from archlab.data.loaders import Preprocess
from archlab.data.prepare import prepare_dataset
from archlab.data.prepared import PreparedDataset
from archlab.io import read_json
from archlab.models.cifar_nets import build_model
from archlab.workflow.provenance import read_run_params
from archlab.workflow.runner import JobContext
from archlab.studies.cifar_arch.jobs import CIFAR10_MEAN, CIFAR10_STD, load_splits, train_run
from archlab.train.checkpoint import Checkpoint
from archlab.train.classifier import FitConfig, fit
from archlab.train.gradflow import GradientRecorder
from conftest import copy_params

RUN = ["model=mlp", "setting=defaults", "seed=0"]


@pytest.fixture(scope="module")
def tiny_cifar(tmp_path_factory):
    out = tmp_path_factory.mktemp("cifar10")
    prepare_dataset("cifar10", {"source": "synthetic", "train_size": 160, "test_size": 20, "val_size": 30, "seed": 0}, out, out)
    return out


def test_train_and_validation_images_are_disjoint(tiny_cifar):
    data = PreparedDataset(tiny_cifar)
    (x_tr, y_tr), (x_va, _), (x_te, _) = load_splits(data, train_size=40)
    assert len(y_tr) == 40 and len(x_va) == 30 and len(x_te) == 20
    used_train = data.meta["train_indices"][:40]
    assert not set(used_train) & set(data.meta["val_indices"])
    train_images = {img.tobytes() for img in x_tr}
    assert not any(img.tobytes() in train_images for img in x_va)


def _fit(model, recorder, splits, out_dir, epochs):
    train, val, _ = splits
    prep = Preprocess(mean=CIFAR10_MEAN, std=CIFAR10_STD)
    cfg = FitConfig(epochs=epochs, batch_size=16, seed=0, train_transform=prep, eval_transform=prep,
                    callbacks=(recorder,), live=False)
    return fit(model, train, val, torch.optim.SGD(model.parameters(), lr=0.05), cfg, torch.device("cpu"), out_dir,
               checkpoint=Checkpoint(out_dir / "checkpoint.pt", "one run"))


def test_gradient_records_survive_a_resumed_fit(tiny_cifar, tmp_path):
    splits = load_splits(PreparedDataset(tiny_cifar), train_size=48)
    torch.manual_seed(0)
    model = build_model("mlp", hidden=[16, 8])
    first = GradientRecorder(model)
    _fit(model, first, splits, tmp_path, epochs=1)
    torch.manual_seed(0)
    resumed_model = build_model("mlp", hidden=[16, 8])
    resumed = GradientRecorder(resumed_model)
    history = _fit(resumed_model, resumed, splits, tmp_path, epochs=2)  # resumes from the epoch-1 checkpoint
    out = resumed.arrays()
    assert len(history) == 2 and out["mean"].shape == (3, 2) and out["steps"].tolist() == [3, 3]
    np.testing.assert_array_equal(out["mean"][:, 0], first.arrays()["mean"][:, 0])


def test_a_run_resumed_after_its_last_epoch_writes_every_output(tiny_cifar, tmp_path, caplog):
    """Killed after the last checkpoint, before its outputs: the rerun trains nothing and writes them all."""
    params = {"model": "mlp", "model_args": {"hidden": [16, 8], "activation": "relu"}, "batch_size": 16, "epochs": 2,
              "optimizer": {"name": "adamw", "lr": 1e-3, "weight_decay": 0.0}, "seed": 0, "train_size": 48,
              "device": "cpu", "compile": False}
    names = {"metrics": "metrics.json", "history": "history.csv", "gradflow": "gradflow.npz", "drawn": "weights_drawn.npz",
             "params": "params.json"}
    output = {k: str(tmp_path / v) for k, v in names.items()}
    job = JobContext("cifar_arch_run", {"model": "mlp", "setting": "defaults", "seed": "0"},
                     {"data": str(tiny_cifar / "meta.json")}, output, params, identity="this run")
    train_run(job)
    fresh = {k: np.load(output["gradflow"])[k] for k in ("mean", "steps")}
    for key in ("metrics", "history", "gradflow", "drawn"):
        (tmp_path / names[key]).unlink()
    caplog.set_level("INFO", logger="archlab.train.checkpoint")
    train_run(job)  # checkpoint.pt (the runner would have removed it after success) holds epoch 2 of 2
    assert "after epoch 2" in caplog.text
    assert all((tmp_path / names[k]).exists() for k in ("metrics", "history", "gradflow", "drawn"))
    np.testing.assert_array_equal(np.load(output["gradflow"])["mean"], fresh["mean"])
    assert read_json(output["metrics"])["train_images"] == 48


@pytest.fixture(scope="module")
def test_project(tmp_path_factory):
    """params.yaml + config/test.yaml with the test profile's cifar10 prepared by its own job."""
    root = copy_params(tmp_path_factory.mktemp("s6"))
    assert main(["run", "data_prepare", "name=cifar10", "--profile", "test", "--root", str(root)]) == 0
    return root


def test_run_job_trains_a_sweep_point_and_records_every_layer_every_epoch(test_project):
    cfg = load_params("test", test_project)["cifar_arch"]
    assert main(["run", "cifar_arch_run", *RUN, "--profile", "test", "--root", str(test_project)]) == 0
    run_dir = test_project / "results" / "test" / "cifar_arch" / "runs" / "mlp" / "defaults" / "seed0"
    final = read_json(run_dir / "metrics.json")
    assert final["train_images"] == cfg["train_size"] and 0.0 <= final["test_acc"] <= 1.0
    received = read_run_params(run_dir / "params.json")
    assert received["model_args"] == cfg["models"]["mlp"] and received["epochs"] == cfg["train"]["epochs"]
    assert not list(run_dir.glob("checkpoint*.pt"))
    g = np.load(run_dir / "gradflow.npz")
    n_layers = len(cfg["models"]["mlp"]["hidden"]) + 1
    assert g["mean"].shape == (n_layers, cfg["train"]["epochs"]) and (g["mean"] > 0).all()


def test_run_job_rejects_an_unknown_run(test_project, capsys):
    assert main(["run", "cifar_arch_run", "model=mlp", "setting=nonsense", "seed=0", "--profile", "test",
                 "--root", str(test_project)]) == 2
    err = capsys.readouterr().err
    assert "no cifar_arch_run job with" in err and "setting=defaults" in err
