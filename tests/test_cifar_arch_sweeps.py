"""S6 sweep grids: expansion, run keys, and sharing of runs between points with the same setting."""
import copy

import pytest

from archlab.config import load_params
from archlab.report.published import lookup
from archlab.train.sweeps import RunSetting, expand_sweeps, keys_by_label, resolve_setting, sweep_overrides, unique_runs
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


def key_of(expanded, sweep):
    return {p.label: p.key for p in expanded[sweep]}


def test_points_sharing_a_setting_share_their_run():
    expanded = expand_sweeps(SECTION)
    baseline = key_of(expanded, "mixer")["baseline"]
    assert key_of(expanded, "patch")["4"] == baseline
    assert key_of(expanded, "width")["(0.5,4)"] == baseline
    assert key_of(expanded, "gradflow") == {
        "mlp": key_of(expanded, "activations")["relu"],
        "resnet18": key_of(expanded, "optim")["adamw"],
        "mixer": baseline,
    }
    n_points = sum(len(points) for points in expanded.values())
    assert n_points == 3 + 3 + 3 + 2 + 2 + 3
    assert len(unique_runs(expanded)) == n_points - 5  # patch 4, ratio (0.5,4) and the three gradflow points


def test_distinct_settings_get_distinct_keys():
    expanded = expand_sweeps(SECTION)
    for sweep in ("activations", "patch", "width", "optim"):
        assert len(set(key_of(expanded, sweep).values())) == len(expanded[sweep])
    reseeded = copy.deepcopy(SECTION)
    reseeded["seeds"] = [0, 1]
    twice = expand_sweeps(reseeded)["patch"]
    assert len({p.key for p in twice}) == 6


def test_key_ignores_spelling_and_irrelevant_settings():
    base = resolve_setting(SECTION, "mixer", {}, seed=0)
    assert resolve_setting(SECTION, "mixer", {"lr": 0.001, "embed_dim": 256.0, "mlp_ratio": (0.5, 4)}, 0).key == base.key
    assert resolve_setting(SECTION, "mixer", {"momentum": 0.5}, 0).key == base.key  # AdamW has no momentum
    sgd = resolve_setting(SECTION, "resnet18", {"optimizer": "sgd"}, 0)
    assert resolve_setting(SECTION, "resnet18", {"optimizer": "sgd", "momentum": 0.5}, 0).key != sgd.key
    assert resolve_setting(SECTION, "mixer", {"epochs": 31}, 0).key != base.key
    assert RunSetting.from_dict(base.to_dict()).key == base.key


def test_setting_keeps_types_for_building_the_model():
    s = resolve_setting(SECTION, "mlp", {}, seed=3)
    assert s.to_dict()["model_args"]["hidden"] == [1024, 512, 64, 64]
    assert all(isinstance(h, int) for h in s.to_dict()["model_args"]["hidden"])
    assert (s.lr, s.batch_size, s.seed, s.momentum) == (1.0e-3, 128, 3, None)


def test_grid_points_and_only():
    assert list(sweep_overrides({"grid": {"lr": [0.1, 1.0e-5]}})) == ["0.1", "1e-05"]
    grid = sweep_overrides({"grid": {"a": [1, 2], "b": ["x", "y"]}})
    assert list(grid) == ["a=1,b=x", "a=1,b=y", "a=2,b=x", "a=2,b=y"] and grid["a=2,b=x"] == {"a": 2, "b": "x"}
    narrowed = sweep_overrides({"points": {"p": {}, "q": {"lr": 1}, "r": {}}, "only": ["r", "q"]})
    assert list(narrowed) == ["r", "q"]
    with pytest.raises(ValueError, match="unknown points"):
        sweep_overrides({"points": {"p": {}}, "only": ["z"]})
    with pytest.raises(ValueError, match="exactly one"):
        sweep_overrides({"points": {}, "grid": {}})


def test_unknown_override_is_rejected():
    with pytest.raises(ValueError, match="patch_size"):
        resolve_setting(SECTION, "mlp", {"patch_size": 2}, 0)
    with pytest.raises(ValueError, match="unknown model"):
        resolve_setting(SECTION, "vgg", {}, 0)


def test_seeds_of_a_label_are_grouped():
    section = copy.deepcopy(SECTION)
    section["seeds"] = [0, 1]
    grouped = keys_by_label(expand_sweeps(section)["optim"])
    assert list(grouped) == ["sgd", "adamw"] and all(len(set(keys)) == 2 for keys in grouped.values())


@pytest.mark.parametrize("profile", ["full", "demo", "test"])
def test_configured_profiles_share_the_mixer_baseline_run(profile):
    expanded = expand_sweeps(load_params(profile, ROOT)["cifar_arch"])
    baseline = key_of(expanded, "mixer")["baseline"]
    assert key_of(expanded, "patch")["4"] == key_of(expanded, "width")["(0.5,4)"] == baseline
    assert key_of(expanded, "gradflow")["mixer"] == baseline


def test_every_full_profile_point_has_its_published_number():
    expanded = expand_sweeps(load_params("full", ROOT)["cifar_arch"])
    for sweep, points in expanded.items():
        for p in points:
            if sweep != "gradflow":
                entry = lookup(f"cifar_arch.{sweep}.{p.label}")
                assert {"train_acc", "val_acc"} <= set(entry) and entry["values"][0]["source"] == "M"
