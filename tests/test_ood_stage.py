"""S7 study: its plan (checks, what each job receives), its jobs' helpers, and the whole chain run by hand
(`archlab run <rule>`) on the tiny test profile."""
import copy
import sys
import types

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from archlab import cli
from archlab.config import load_params
from archlab.data import corruptions
from archlab.data.cifar_c import CIFAR100_C_CORRUPTIONS, CorruptedSet
from archlab.errors import ParamsError
from archlab.io import read_json
from archlab.models.small_cnns import DeeperCNN, SimpleCNN
from archlab.workflow.pipeline import Paths, Pipeline
from archlab.workflow.provenance import read_run_params
from archlab.studies.ood import jobs as ood_jobs
from archlab.studies.ood import plan as ood_plan
from archlab.train.optim import make_scheduler
from conftest import ROOT, copy_params


@pytest.fixture(scope="module")
def cfg() -> dict:
    return load_params("test", ROOT)


def _pipeline(cfg: dict) -> Pipeline:
    return Pipeline(cfg, Paths(cfg["profile"]))


def _train_params(cfg: dict) -> dict:
    return {job.wildcards["model"]: copy.deepcopy(job.params) for job in _pipeline(cfg).jobs_of("ood_train")}


def test_step_schedule_counts_epochs_in_batches():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = make_scheduler(opt, {"name": "step", "step_epochs": 2, "gamma": 0.1}, epochs=4, steps_per_epoch=3)
    lrs = []
    for _ in range(12):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([1.0] * 6 + [0.1] * 6)


def test_onecycle_spans_exactly_the_training_steps():
    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1e-3)
    sched = make_scheduler(opt, {"name": "onecycle"}, epochs=2, steps_per_epoch=5)
    for _ in range(10):
        opt.step()
        sched.step()
    with pytest.raises(ValueError):  # an 11th step is past the schedule's end
        sched.step()
    assert make_scheduler(opt, {"name": "none"}, 2, 5) is None


def test_plan_constants_match_the_library():
    """plan.py imports no torch, so it names what the library offers; they must agree."""
    assert set(ood_plan.GENERATED) == set(corruptions.CORRUPTIONS)
    assert ood_plan.CNN_CONVS == {"simple_cnn": len(SimpleCNN.DEFAULT_CHANNELS), "deeper_cnn": len(DeeperCNN.DEFAULT_CHANNELS)}
    schema = yaml.safe_load((ROOT / "src/archlab/schemas/ood.yaml").read_text())
    assert set(schema["$defs"]["corruption"]["enum"]) == set(CIFAR100_C_CORRUPTIONS)


def test_small_cnn_builds_from_its_train_params(cfg):
    params = _train_params(cfg)["simple"]
    model = ood_jobs.build_model(params, 10)
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
    assert model.features[0].out_channels == params["channels"][0]


def test_train_params_hold_everything_that_shapes_training(cfg):
    """Changing a rung's label smoothing or augmentation changes its train params (so it retrains), and only its."""
    before = _train_params(cfg)
    for rung in before.values():
        assert {"arch", "weights", "input_size", "augment", "label_smoothing", "epochs", "batch_size", "optimizer",
                "scheduler", "seed", "device"} <= set(rung)
    changed = copy.deepcopy(cfg)
    simple = next(r for r in changed["ood"]["ladder"] if r["name"] == "simple")
    simple["label_smoothing"], simple["augment"] = 0.2, True
    after = _train_params(changed)
    assert after["simple"] != before["simple"] and after["resnet10"] == before["resnet10"]
    assert after["simple"]["augment"] == cfg["ood"]["augment"] and before["simple"]["augment"] is None
    # the augmentation spec reaches only the rungs that augment
    changed["ood"]["augment"]["blur_p"] = 0.1
    again = _train_params(changed)
    assert again["resnet10"] != after["resnet10"] and again["simple"] != after["simple"]
    simple["augment"] = False
    assert _train_params(changed)["simple"]["augment"] is None


def test_wandb_switches_evaluation_not_training(cfg):
    on = copy.deepcopy(cfg)
    on["ood"]["wandb"] = {"enabled": True, "project": "p"}
    base, with_wandb = _pipeline(cfg), _pipeline(on)
    assert [j.params for j in base.jobs_of("ood_train")] == [j.params for j in with_wandb.jobs_of("ood_train")]
    job = with_wandb.jobs_of("ood_evaluate")[0]
    assert job.params["wandb"]["project"] == "p" and job.input["history"].endswith("history.csv")


def _rung(cfg: dict, name: str) -> dict:
    return next(r for r in cfg["ood"]["ladder"] if r["name"] == name)


@pytest.mark.parametrize("edit, key", [
    (lambda c: c["ood"]["ladder"].append(dict(_rung(c, "simple"))), r"ood.ladder\[\].name"),
    (lambda c: _rung(c, "simple").update(published="resnet18"), r"ood.ladder\[\].published"),
    (lambda c: _rung(c, "simple").update(weights="torchvision:resnet18:IMAGENET1K_V1"), r"ood.ladder\[0\] \(simple\).weights"),
    (lambda c: _rung(c, "simple").update(channels=[8, 16, 32]), r"ood.ladder\[0\] \(simple\).channels.*2 widths"),
    (lambda c: _rung(c, "resnet10").update(channels=[8, 16]), r"ood.ladder\[1\] \(resnet10\).channels"),
    (lambda c: c["ood"]["corrupted"]["corruptions"].append("fog"), r"ood.corrupted.corruptions.*\['fog'\]"),
    (lambda c: c["ood"]["corrupted"].update(source="cifar100_c"), "ood.corrupted.source.*synthetic"),
    (lambda c: (c["ood"]["corrupted"].update(source="cifar100_c", images=500),
                c["data"]["cifar100"].update(source="torchvision", test_size_cap=100)), "ood.corrupted.images=500"),
    (lambda c: c["ood"].update(wandb={"enabled": True}), "ood.wandb.project"),
])
def test_check_rejects_before_any_job(cfg, edit, key):
    bad = copy.deepcopy(cfg)
    edit(bad)
    with pytest.raises(ParamsError, match=key):
        _pipeline(bad)


def test_cifar100_c_adds_the_local_fetch_rule(cfg):
    c = copy.deepcopy(cfg)
    c["ood"]["corrupted"].update(source="cifar100_c")
    c["data"]["cifar100"] = {"source": "torchvision", "download": True, "val_fraction": 0.2, "seed": 0}
    pipeline = _pipeline(c)
    fetch = pipeline.jobs_of("ood_fetch")[0]
    assert fetch.rule.local and fetch.output["labels"].endswith("CIFAR-100-C/labels.npy")
    assert pipeline.jobs_of("ood_corrupted")[0].input["cifar_c"] == fetch.output["labels"]
    assert "seed" not in pipeline.jobs_of("ood_corrupted")[0].params  # only generated sets draw at random
    assert "ood_fetch" not in _pipeline(cfg).rules


def test_a_cheap_rung_can_run_more_seeds(cfg):
    c = copy.deepcopy(cfg)
    c["ood"]["seeds"] = [0]
    c["ood"]["ladder"][0]["seeds"] = [0, 1, 2]
    pipeline = _pipeline(c)
    first, others = c["ood"]["ladder"][0]["name"], [r["name"] for r in c["ood"]["ladder"][1:]]
    trained = sorted((j.wildcards["model"], j.wildcards["seed"]) for j in pipeline.jobs_of("ood_train"))
    assert trained == sorted([(first, str(s)) for s in (0, 1, 2)] + [(n, "0") for n in others])
    section = pipeline.jobs_of("ood_section")[0]
    assert len(section.input["metrics"]) == len(trained) and section.params["seeds"][first] == [0, 1, 2]


def test_wandb_gets_one_step_per_epoch_only_when_enabled(monkeypatch):
    calls = []

    class Run:
        def log(self, row, step):
            calls.append((step, row))

        def finish(self):
            calls.append("finish")

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=lambda **kw: Run()))
    history = pd.DataFrame({"epoch": [1, 2], "val_acc": [0.1, 0.2]})
    ood_jobs.log_wandb({"enabled": False}, "run", {}, history)
    assert calls == []
    ood_jobs.log_wandb({"enabled": True, "project": "p"}, "run", {}, history)
    assert calls == [(1, {"val_acc": 0.1}), (2, {"val_acc": 0.2}), "finish"]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """The whole S7 chain, one job at a time, as `archlab run` runs them (no pretraining: weights none)."""
    root = copy_params(tmp_path_factory.mktemp("ood") / "project")
    cfg_path = root / "config" / "test.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    for rung in cfg["ood"]["ladder"]:
        rung["weights"] = "none"  # no pretraining job needed; the pipeline test covers file: weights
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    run = _runner(root)
    run("data_prepare", "name=cifar100")
    run("ood_corrupted")
    names = [rung["name"] for rung in cfg["ood"]["ladder"]]
    for name in names:
        run("ood_train", f"model={name}", "seed=0")
        run("ood_evaluate", f"model={name}", "seed=0")
    run("ood_section")
    return root, cfg, names


def _runner(root):
    def run(rule, *wildcards):
        assert cli.main(["run", rule, *wildcards, "--profile", "test", "--root", str(root)]) == 0, (rule, wildcards)
    return run


@pytest.mark.slow
def test_stage_chain_on_the_test_profile(chain):
    root, cfg, names = chain
    assert cli.main(["run", "ood_train", "model=nosuch", "seed=0", "--profile", "test", "--root", str(root)]) == 2
    out = root / "results" / "test" / "ood"
    cs = CorruptedSet(out / "corrupted")
    corrupted = cfg["ood"]["corrupted"]
    assert len(cs) == len(corrupted["corruptions"]) * len(corrupted["severities"]) * corrupted["images"]
    for name in names:
        train_dir, eval_dir = out / "models" / name / "seed0", out / "evaluate" / name / "seed0"
        sub = pd.read_csv(eval_dir / "submission.csv")
        assert list(sub.columns) == ["id", "label"] and len(sub) == len(cs)
        np.testing.assert_array_equal(sub["id"], np.arange(len(cs)))
        assert sub["label"].between(0, 99).all()
        grid = pd.read_csv(eval_dir / "grid.csv", index_col="corruption")
        assert list(grid.index) == corrupted["corruptions"] and grid.shape[1] == len(corrupted["severities"])
        metrics = read_json(eval_dir / "metrics.json")
        assert metrics["mean_corruption_acc"] == pytest.approx(grid.to_numpy().mean())
        assert (train_dir / "dvclive").is_dir() and len(pd.read_csv(train_dir / "history.csv")) == 1
        assert not list(train_dir.glob("checkpoint*.pt"))  # the runner removes a finished run's resume point
        rung = next(r for r in cfg["ood"]["ladder"] if r["name"] == name)
        assert read_run_params(train_dir / "params.json")["label_smoothing"] == rung["label_smoothing"]
    section = read_json(out / "section" / "section.json")
    figures = [b["path"] for b in section["blocks"] if b["kind"] == "figure"]
    assert len(figures) == 4 and all((root / f).exists() for f in figures)
    assert set(read_json(root / "metrics" / "test" / "ood.json")) == {
        f"{name}_{key}" for name in names for key in ("clean_acc", "mean_corruption_acc")}
    setup = next(b for b in section["blocks"] if b["kind"] == "table" and "recipe" in b["columns"])
    assert [row[setup["columns"].index("train augmentation")] for row in setup["rows"]] == [
        "yes" if r["augment"] else "no" for r in cfg["ood"]["ladder"]]


@pytest.mark.slow
def test_label_smoothing_and_augment_change_retrains_for_real(chain):
    """Issue 13 (c): after a complete run, a rung's new label smoothing / augment must retrain it, not "resume"."""
    root, cfg, _ = chain
    run_dir = root / "results" / "test" / "ood" / "models" / "simple" / "seed0"
    model_before = (run_dir / "model.pt").read_bytes()
    history_before = pd.read_csv(run_dir / "history.csv")
    cfg_path = root / "config" / "test.yaml"
    changed = copy.deepcopy(cfg)
    rung = _rung(changed, "simple")
    rung["label_smoothing"], rung["augment"] = 0.3, True
    cfg_path.write_text(yaml.safe_dump(changed, sort_keys=False))
    _runner(root)("ood_train", "model=simple", "seed=0")
    assert (run_dir / "model.pt").read_bytes() != model_before
    history = pd.read_csv(run_dir / "history.csv")
    assert len(history) == 1 and history["train_loss"].iloc[0] != history_before["train_loss"].iloc[0]
    received = read_run_params(run_dir / "params.json")
    assert received["label_smoothing"] == 0.3 and received["augment"] == load_params("test", root)["ood"]["augment"]
