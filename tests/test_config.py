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
