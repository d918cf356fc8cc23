"""Params are validated against the schema before any work, with messages naming key and fix."""
import copy

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
