"""S6 plan: sweep expansion, readable run folders, sharing of runs between points with the same setting,
and the cross-key checks that reject a bad sweep before any job runs."""
import copy

import pytest

from archlab.config import load_params
from archlab.errors import ParamsError
from archlab.workflow.pipeline import Paths, Pipeline
from archlab.report.published import lookup
from archlab.studies.cifar_arch.plan import (expand_sweeps, resolve_setting, runs_by_label, setting_key, sweep_overrides,
                                             unique_runs)
from conftest import ROOT

SECTION = {
    "dataset": "cifar10",
    "seeds": [0],
    "train": {"optimizer": "adamw", "lr": 1.0e-3, "weight_decay": 5.0e-4, "momentum": 0.9, "batch_size": 128,
              "epochs": 30},
    "models": {
        "mlp": {"hidden": [1024, 512, 64, 64], "activation": "relu"},
        "resnet18": {"width": 64},
        "mixer": {"patch_size": 4, "embed_dim": 256, "num_blocks": 4, "mlp_ratio": [0.5, 4.0], "dropout": 0.0},
    },
    "sweeps": {
        "activations": {"model": "mlp", "grid": {"activation": ["relu", "sigmoid", "tanh"]}},
        "patch": {"model": "mixer", "grid": {"patch_size": [2, 4, 8]}},
        "width": {"model": "mixer", "grid": {"mlp_ratio": [[0.5, 4.0], [1.0, 4.0], [1, 1]]}},
        "mixer": {"model": "mixer", "points": {"baseline": {}, "dropout": {"dropout": 0.1}}},
        "optim": {"model": "resnet18", "points": {"sgd": {"optimizer": "sgd", "lr": 0.01}, "adamw": {}}},
        "gradflow": {"points": {"mlp": {"model": "mlp"}, "resnet18": {"model": "resnet18"}, "mixer": {"model": "mixer"}}},
    },
}


def run_of(expanded, sweep):
    return {p.label: p.run for p in expanded[sweep]}


def test_points_sharing_a_setting_share_their_run():
    expanded = expand_sweeps(SECTION)
    baseline = run_of(expanded, "mixer")["baseline"]
    assert baseline == "mixer/defaults/seed0"
    assert run_of(expanded, "patch")["4"] == baseline
    assert run_of(expanded, "width")["(0.5,4)"] == baseline
    assert run_of(expanded, "gradflow") == {
        "mlp": run_of(expanded, "activations")["relu"],
        "resnet18": run_of(expanded, "optim")["adamw"],
        "mixer": baseline,
    }
    n_points = sum(len(points) for points in expanded.values())
    assert n_points == 3 + 3 + 3 + 2 + 2 + 3
    assert len(unique_runs(expanded)) == n_points - 5  # patch 4, ratio (0.5,4) and the three gradflow points


def test_run_folders_name_the_changes_from_the_defaults():
    expanded = expand_sweeps(SECTION)
    assert run_of(expanded, "optim") == {"sgd": "resnet18/optimizer=sgd,lr=0.01/seed0", "adamw": "resnet18/defaults/seed0"}
    assert run_of(expanded, "width")["(1,1)"] == "mixer/mlp_ratio=1x1/seed0"
    assert run_of(expanded, "patch")["2"] == "mixer/patch_size=2/seed0"
    assert run_of(expanded, "activations")["tanh"] == "mlp/activation=tanh/seed0"


def test_distinct_settings_get_distinct_runs():
    expanded = expand_sweeps(SECTION)
    for sweep in ("activations", "patch", "width", "optim"):
        assert len(set(run_of(expanded, sweep).values())) == len(expanded[sweep])
    reseeded = copy.deepcopy(SECTION)
    reseeded["seeds"] = [0, 1]
    twice = expand_sweeps(reseeded)["patch"]
    assert len({p.run for p in twice}) == 6
    close = resolve_setting(SECTION, "resnet18", {"lr": 1.0000001e-3}, 0)
    assert close["name"] != resolve_setting(SECTION, "resnet18", {}, 0)["name"]  # names never round two settings together


def test_run_ignores_spelling_and_irrelevant_settings():
    base = resolve_setting(SECTION, "mixer", {}, seed=0)
    same = resolve_setting(SECTION, "mixer", {"lr": 0.001, "embed_dim": 256.0, "mlp_ratio": (0.5, 4)}, 0)
    assert setting_key(same) == setting_key(base) and same["name"] == base["name"] == "defaults"
    no_momentum = resolve_setting(SECTION, "mixer", {"momentum": 0.5}, 0)  # AdamW has no momentum
    assert setting_key(no_momentum) == setting_key(base) and "momentum" not in no_momentum["optimizer"]
    sgd = resolve_setting(SECTION, "resnet18", {"optimizer": "sgd"}, 0)
    other = resolve_setting(SECTION, "resnet18", {"optimizer": "sgd", "momentum": 0.5}, 0)
    assert setting_key(other) != setting_key(sgd) and other["name"] == "optimizer=sgd,momentum=0.5"
    assert setting_key(resolve_setting(SECTION, "mixer", {"epochs": 31}, 0)) != setting_key(base)


def test_setting_keeps_types_for_building_the_model():
    s = resolve_setting(SECTION, "mlp", {}, seed=3)
    assert s["model_args"]["hidden"] == [1024, 512, 64, 64]
    assert all(isinstance(h, int) for h in s["model_args"]["hidden"])
    assert (s["optimizer"], s["batch_size"], s["seed"]) == ({"name": "adamw", "lr": 1.0e-3, "weight_decay": 5.0e-4}, 128, 3)


def test_grid_points_and_only():
    assert list(sweep_overrides({"grid": {"lr": [0.1, 1.0e-5]}})) == ["0.1", "1e-05"]
    grid = sweep_overrides({"grid": {"a": [1, 2], "b": ["x", "y"]}})
    assert list(grid) == ["a=1,b=x", "a=1,b=y", "a=2,b=x", "a=2,b=y"] and grid["a=2,b=x"] == {"a": 2, "b": "x"}
    narrowed = sweep_overrides({"points": {"p": {}, "q": {"lr": 1}, "r": {}}, "only": ["r", "q"]})
    assert list(narrowed) == ["r", "q"]
    with pytest.raises(ParamsError, match=r"s\.only names unknown points"):
        sweep_overrides({"points": {"p": {}}, "only": ["z"]}, "s")
    with pytest.raises(ParamsError, match="exactly one"):
        sweep_overrides({"points": {}, "grid": {}})


def test_unknown_override_is_rejected():
    with pytest.raises(ParamsError, match="patch_size"):
        resolve_setting(SECTION, "mlp", {"patch_size": 2}, 0)
    with pytest.raises(ParamsError, match="unknown model"):
        resolve_setting(SECTION, "vgg", {}, 0)


def test_seeds_of_a_label_are_grouped():
    section = copy.deepcopy(SECTION)
    section["seeds"] = [0, 1]
    grouped = runs_by_label(expand_sweeps(section)["optim"])
    assert list(grouped) == ["sgd", "adamw"] and all(len(set(runs)) == 2 for runs in grouped.values())


@pytest.mark.parametrize("profile", ["full", "demo", "test"])
def test_configured_profiles_share_the_mixer_baseline_run(profile):
    expanded = expand_sweeps(load_params(profile, ROOT)["cifar_arch"])
    baseline = run_of(expanded, "mixer")["baseline"]
    assert run_of(expanded, "patch")["4"] == run_of(expanded, "width")["(0.5,4)"] == baseline
    assert run_of(expanded, "gradflow")["mixer"] == baseline


def test_every_full_profile_point_has_its_published_number():
    expanded = expand_sweeps(load_params("full", ROOT)["cifar_arch"])
    for sweep, points in expanded.items():
        for p in points:
            if sweep != "gradflow":
                entry = lookup(f"cifar_arch.{sweep}.{p.label}")
                assert {"train_acc", "val_acc"} <= set(entry) and entry["values"][0]["source"] == "M"


def test_each_run_job_receives_exactly_its_setting():
    cfg = load_params("test", ROOT)
    cfg["studies"] = ["cifar_arch"]
    pipeline = Pipeline(cfg, Paths("test"))
    runs = pipeline.jobs_of("cifar_arch_run")
    assert len(runs) == len(unique_runs(expand_sweeps(cfg["cifar_arch"]))) == 5
    job = pipeline.job("cifar_arch_run", {"model": "mixer", "setting": "dropout=0.1", "seed": "0"})
    assert job.run_dir == "results/test/cifar_arch/runs/mixer/dropout=0.1/seed0"
    assert set(job.params) == {"model", "model_args", "optimizer", "batch_size", "epochs", "seed", "train_size", "device",
                               "compile"}
    assert job.params["model_args"]["dropout"] == 0.1 and job.params["train_size"] == cfg["cifar_arch"]["train_size"]
    section = pipeline.jobs_of("cifar_arch_section")[0]
    assert {"optim_kernels", "mixer_tokens", "gradflow_mlp", "width_curves"} <= set(section.output)
    assert len(section.input["metrics"]) == 5


# ------------------------------------------------------------------------ check(): caught before any job

def pipeline_with(edit):
    cfg = load_params("test", ROOT)
    cfg["studies"] = ["cifar_arch"]
    edit(cfg["cifar_arch"], cfg)
    return Pipeline(cfg, Paths("test"))


@pytest.mark.parametrize("edit,key", [
    (lambda s, c: s["sweeps"]["optim"]["points"]["sgd"].update(patch_size=2), r"cifar_arch\.sweeps\.optim\.points\.sgd\.patch_size"),
    (lambda s, c: s["sweeps"]["lr"].update(base={"embed_dim": 8}), r"cifar_arch\.sweeps\.lr\.base\.embed_dim"),
    (lambda s, c: s["sweeps"]["mixer"].update(only=["baseline", "gone"]), r"cifar_arch\.sweeps\.mixer\.only"),
    (lambda s, c: s["sweeps"]["lr"].update(grid={"lr": [1.0e-3, 0.001]}), r"cifar_arch\.sweeps\.lr\.grid"),
    (lambda s, c: s["sweeps"]["lr"].pop("model"), r"cifar_arch\.sweeps\.lr: unknown model None"),
    (lambda s, c: s.update(dataset="fashionmnist"), r"cifar_arch\.dataset"),
    (lambda s, c: s.update(train_size=10_000), r"cifar_arch\.train_size"),
    (lambda s, c: s["sweeps"]["width"].update(grid={"mlp_ratio": [[0.01, 4.0]]}), r"cifar_arch\.sweeps\.width.*mlp_ratio"),
])
def test_check_rejects_a_bad_sweep_naming_the_key(edit, key):
    with pytest.raises(ParamsError, match=key):
        pipeline_with(edit)
