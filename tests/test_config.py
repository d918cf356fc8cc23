"""Params are validated against the schema before any work, with messages naming key and fix."""
import copy
import re

import pytest
import yaml

from archlab.config import deep_merge, load_params, validate_params
from archlab.errors import ParamsError

from conftest import ROOT


@pytest.fixture(scope="module")
def full():
    return load_params("full", ROOT)


def test_both_profiles_are_valid():
    assert load_params("full", ROOT)["profile"] == "full"
    assert load_params("demo", ROOT)["profile"] == "demo"


def test_deep_merge_overrides_leaves_and_replaces_lists():
    merged = deep_merge({"a": {"b": 1, "c": [1, 2]}, "d": 0}, {"a": {"c": [3]}})
    assert merged == {"a": {"b": 1, "c": [3]}, "d": 0}


@pytest.mark.parametrize("mutate, needle", [
    (lambda p: p["resnet"].__setitem__("arch", "resnet999"), "resnet.arch: 'resnet999' is not one of the allowed values"),
    (lambda p: p["resnet"]["head"].__setitem__("epochs", "five"), "resnet.head.epochs: 'five' has the wrong type"),
    (lambda p: p["resnet"].__setitem__("learning_rate", 1), "unknown key(s) ['learning_rate']"),
    (lambda p: p.__setitem__("studies", ["resnet", "transformerz"]), "studies.1: 'transformerz' is not one of"),
    (lambda p: p["data"]["cifar10"].__setitem__("source", "kaggle"), "data.cifar10.source: 'kaggle'"),
    (lambda p: p["resnet"].__setitem__("data", "imagenet"), "dataset 'imagenet' is not defined"),
    (lambda p: p["resnet"].__setitem__("weights", "timm:resnet50"), "resnet.weights"),
    (lambda p: p["resnet"]["strategies"].__setitem__("names", []), "resnet.strategies.names"),
    (lambda p: p["resnet"]["hierarchy"].__setitem__("n_images", -5), "resnet.hierarchy.n_images"),
    (lambda p: p["data"]["cifar10"].update(source="local"), "'path' is a required property"),
    # size keys against the torchvision sets' own sizes, before anything is downloaded
    (lambda p: p["data"]["mnist"].update(train_size=70000), "data.mnist.train_size=70000 asks for more train images "
                                                            "than the source has (60000); lower it"),
    (lambda p: p["data"]["stl10"].update(test_size=9000), "data.stl10.test_size=9000 asks for more test images"),
    (lambda p: p["data"]["cifar10"].update(train_size=500, val_size=500),
     "data.cifar10: validation takes 500 of the 500 training images and leaves none to train on; lower data.cifar10.val_size"),
])
def test_schema_rejections_name_the_key(full, mutate, needle):
    bad = copy.deepcopy(full)
    mutate(bad)
    with pytest.raises(ParamsError) as err:
        validate_params(bad)
    assert needle in str(err.value)


def test_unknown_profile_lists_known_ones():
    with pytest.raises(ParamsError, match="unknown profile 'nope'.*demo"):
        load_params("nope", ROOT)


def test_invalid_yaml_is_reported(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(load_params("full", ROOT)))
    (tmp_path / "config" / "x.yaml").write_text("resnet: [unclosed")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params("x", tmp_path)


# ---------------------------------------------------------------- strict files, checked before any job
def _root_with(tmp_path, text: str, name: str = "test"):
    from conftest import copy_params

    root = copy_params(tmp_path / "p")
    path = root / "config" / f"{name}.yaml"
    path.write_text((ROOT / "config" / "test.yaml").read_text() + text)
    return root


def test_a_key_given_twice_names_file_key_and_lines(tmp_path):
    root = _root_with(tmp_path, "\nresnet:\n  arch: resnet18\n")  # a second top-level block
    with pytest.raises(ParamsError, match=r"test\.yaml: key 'resnet' is given twice \(lines \d+ and \d+\); keep one"):
        load_params("test", root)


def test_exponent_floats_read_as_numbers(tmp_path):
    root = _root_with(tmp_path, "")
    path = root / "config" / "test.yaml"
    path.write_text(path.read_text().replace("lr: 2.0e-3", "lr: 2e-3", 1))
    assert load_params("test", root)["pretrain"]["optimizer"]["lr"] == pytest.approx(0.002)


@pytest.mark.parametrize("path", [("resnet", "seeds"), ("resnet", "head", "seeds")])
def test_seeds_must_be_unique(full, path):
    bad = copy.deepcopy(full)
    parent = bad
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = [0, 0]
    with pytest.raises(ParamsError, match=re.escape(f"{'.'.join(path)}: [0, 0] lists an entry twice")):
        validate_params(bad)


def test_a_profile_file_must_name_its_own_profile(tmp_path):
    root = _root_with(tmp_path, "", name="mytest")  # a copy of test.yaml that still says `profile: test`
    with pytest.raises(ParamsError, match=r"mytest\.yaml: profile: 'test' does not match the file name; set `profile: mytest`"):
        load_params("mytest", root)


def test_cuda_without_cuda_fails_up_front(full):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ParamsError, match="device: cuda but this machine has no CUDA device; set `device: auto`"):
        validate_params({**full, "device": "cuda"})


# ---------------------------------------------------------------- the smoke profile (config/smoke.yaml)
# What smoke may change: how much is run (images, epochs, seeds, sweep points, corruptions), never
# what is run (sources, weights, architectures, image sizes, batch sizes, optimisers, device).
SMOKE_SHRINKS = {"profile", "title", "pdf", "seeds", "epochs", "step_epochs", "summary_epochs", "sample_every",
                 "train_size", "test_size", "val_size", "n_images", "n_samples", "images", "stats_images",
                 "max_iter", "n_fit", "cs", "fractions", "corruptions", "severities", "only"}


def _changed(full, other, path="") -> list[str]:
    """Key paths where ``other`` differs from ``full`` by more than a shrink (lists of equal length
    compared item by item, so a ladder rung's weights count as its own key)."""
    key = path.rsplit(".", 1)[-1].split("[")[0]
    if key in SMOKE_SHRINKS:
        return []
    if isinstance(full, dict) and isinstance(other, dict):
        return [p for k in sorted(set(full) | set(other), key=str)
                for p in _changed(full.get(k), other.get(k), f"{path}.{k}" if path else str(k))]
    if isinstance(full, list) and isinstance(other, list) and len(full) == len(other):
        return [p for i, (a, b) in enumerate(zip(full, other)) for p in _changed(a, b, f"{path}[{i}]")]
    return [] if full == other else [path]


def _values(node, name: str):
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        if key == name:
            yield value
        yield from _values(value, name)


@pytest.fixture(scope="module")
def smoke():
    return load_params("smoke", ROOT)


def test_smoke_runs_what_the_full_profile_runs(full, smoke):
    from archlab.workflow.pipeline import Paths, Pipeline

    assert _changed(full, smoke) == [], "config/smoke.yaml may only shrink sizes, epochs and seeds"
    Pipeline(smoke, Paths("smoke"))  # every plan check passes (`python -m archlab validate --profile smoke`)


def test_smoke_is_a_few_hundred_images_and_one_epoch(smoke):
    assert all(n == 1 for n in _values(smoke, "epochs")), list(_values(smoke, "epochs"))
    assert all(seeds == [0] for seeds in _values(smoke, "seeds") if isinstance(seeds, list))  # not the seed roles
    for name, spec in smoke["data"].items():
        if spec["source"] == "torchvision":
            assert spec["train_size"] <= 1200 and spec["test_size"] <= 300, (name, spec)


def test_the_smoke_check_sees_a_changed_model(full, smoke):
    changed = copy.deepcopy(smoke)
    changed["ood"]["ladder"][3]["weights"] = "none"
    changed["data"]["stl10"]["source"] = "synthetic"
    assert _changed(full, changed) == ["data.stl10.source", "ood.ladder[3].weights"]


# ---------------------------------------------------------------- study subsets against the datasets' real sizes
@pytest.mark.parametrize("profile, mutate, needle", [
    # smoke cifar10: 600 of torchvision's 50000, 100 of them validation -> 500 train images
    ("smoke", lambda p: p["cifar_arch"].update(train_size=550),
     "cifar_arch.train_size=550 asks for 550 train images, which is larger than the 500 that data.cifar10 will have "
     "(after validation is carved); lower the study's subset size cifar_arch.train_size"),
    ("smoke", lambda p: p["resnet"]["strategies"].update(train_size=550), "resnet.strategies.train_size=550 asks for"),
    ("smoke", lambda p: p["resnet"]["hierarchy"].update(n_images=301), "resnet.hierarchy.n_images=301 asks for 301 test"),
    ("smoke", lambda p: p["gan"]["scenarios"]["overfit"]["pathology"].update(train_size=1001),
     "gan.scenarios.overfit.pathology.train_size=1001 asks for 1001 train images, which is larger than the 1000 that data.mnist"),
    ("smoke", lambda p: p["clip"]["procrustes"].update(n_fit=[501]), "clip.procrustes.n_fit [501] exceed the 500 train"),
    # full: whole torchvision sets, no size key -> their own sizes (cifar10 50000 - 5000, stl10 5000 - 500)
    ("full", lambda p: p["cifar_arch"].update(train_size=45001), "larger than the 45000 that data.cifar10 will have"),
    ("full", lambda p: p["resnet"]["strategies"].update(train_size=45001), "larger than the 45000 that data.cifar10 will have"),
    ("full", lambda p: p["clip"]["procrustes"].update(n_fit=[100, 4501]), "[4501] exceed the 4500 train images"),
])
def test_study_subsets_are_checked_against_the_real_split_sizes(profile, mutate, needle):
    """`archlab validate` (the plan's checks) refuses a subset larger than its split, whatever the source,
    naming the key and the fix, instead of the job failing after its data was prepared."""
    from archlab.workflow.pipeline import Paths, Pipeline

    bad = copy.deepcopy(load_params(profile, ROOT))
    mutate(bad)
    with pytest.raises(ParamsError) as err:
        Pipeline(bad, Paths(profile))
    assert needle in str(err.value) and "; lower" in str(err.value), str(err.value)
