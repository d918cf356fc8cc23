"""S7 stage: its helpers, and the whole chain run in-process on the tiny test profile."""
import sys
import types

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from archlab import cli
from archlab.data.cifar_c import CorruptedSet
from archlab.errors import ParamsError
from archlab.io import read_json
from archlab.stages import ood


def test_step_schedule_counts_epochs_in_batches():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = ood.make_scheduler({"name": "step", "step_epochs": 2, "gamma": 0.1}, opt, epochs=4, steps_per_epoch=3)
    lrs = []
    for _ in range(12):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([1.0] * 6 + [0.1] * 6)


def test_onecycle_spans_exactly_the_training_steps():
    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1e-3)
    sched = ood.make_scheduler({"name": "onecycle"}, opt, epochs=2, steps_per_epoch=5)
    for _ in range(10):
        opt.step()
        sched.step()
    with pytest.raises(ValueError):  # an 11th step is past the schedule's end
        sched.step()
    assert ood.make_scheduler({"name": "none"}, opt, 2, 5) is None


def test_small_cnn_rejects_pretrained_weights_and_wrong_widths():
    entry = {"name": "s", "arch": "simple_cnn", "weights": "none", "input_size": 32}
    assert ood.build_model(entry, 10, "resources")(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
    with pytest.raises(ParamsError, match="from scratch"):
        ood.build_model({**entry, "weights": "torchvision:resnet18:IMAGENET1K_V1"}, 10, "resources")
    with pytest.raises(ParamsError, match="2 widths"):
        ood.build_model({**entry, "channels": [8, 16, 32]}, 10, "resources")


def test_wandb_gets_one_step_per_epoch_only_when_enabled(monkeypatch):
    calls = []

    class Run:
        def log(self, row, step):
            calls.append((step, row))

        def finish(self):
            calls.append("finish")

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=lambda **kw: Run()))
    history = pd.DataFrame({"epoch": [1, 2], "val_acc": [0.1, 0.2]})
    ood.log_wandb({"enabled": False}, "run", {}, history)
    assert calls == []
    ood.log_wandb({"enabled": True, "project": "p"}, "run", {}, history)
    assert calls == [(1, {"val_acc": 0.1}), (2, {"val_acc": 0.2}), "finish"]


@pytest.mark.slow
def test_stage_chain_on_the_test_profile(project, monkeypatch):
    monkeypatch.chdir(project)
    cfg_path = project / "config" / "test.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    for rung in cfg["ood"]["ladder"]:
        rung["weights"] = "none"  # no pretraining job needed; the pipeline test covers file: weights
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))

    def run(*args):
        assert cli.main([*args, "--profile", "test"]) == 0, args

    run("data", "cifar100")
    run("ood", "corrupted")
    assert cli.main(["ood", "train", "nosuch", "--profile", "test"]) == 2
    names = [rung["name"] for rung in cfg["ood"]["ladder"]]
    for name in names:
        run("ood", "train", name)
        run("ood", "evaluate", name)
    run("ood", "section")

    out = project / "results" / "test" / "ood"
    cs = CorruptedSet(out / "corrupted")
    corrupted = cfg["ood"]["corrupted"]
    assert len(cs) == len(corrupted["corruptions"]) * len(corrupted["severities"]) * corrupted["images"]
    for name in names:
        run_dir = out / "models" / name / "seed0"
        sub = pd.read_csv(run_dir / "submission.csv")
        assert list(sub.columns) == ["id", "label"] and len(sub) == len(cs)
        np.testing.assert_array_equal(sub["id"], np.arange(len(cs)))
        assert sub["label"].between(0, 99).all()
        grid = pd.read_csv(run_dir / "grid.csv", index_col="corruption")
        assert list(grid.index) == corrupted["corruptions"] and grid.shape[1] == len(corrupted["severities"])
        metrics = read_json(run_dir / "metrics.json")
        assert metrics["mean_corruption_acc"] == pytest.approx(grid.to_numpy().mean())
        assert (run_dir / "dvclive").is_dir() and len(pd.read_csv(run_dir / "history.csv")) == 1
    section = read_json(out / "section.json")
    figures = [b["path"] for b in section["blocks"] if b["kind"] == "figure"]
    assert len(figures) == 4 and all((project / f).exists() for f in figures)
    assert set(read_json(project / "results" / "test" / "dvc" / "ood" / "metrics.json")) == {
        f"{name}_{key}" for name in names for key in ("clean_acc", "mean_corruption_acc")}
