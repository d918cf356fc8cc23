"""S2 stage glue: params schema, published points, demo-model detection."""
from __future__ import annotations

import copy

import pytest

from archlab.config import load_params, validate_params
from archlab.errors import ParamsError
from archlab.stages.vit_section import published_masking_points, trained_here


@pytest.mark.parametrize("key, value, message", [
    (("masking", "strategies"), ["center"], "'center' is not one of"),
    (("masking", "methods"), ["blur"], "'blur' is not one of"),
    (("masking", "data"), "nope", "dataset 'nope' is not defined"),
    (("cnn", "target_layer"), "layer5", "'layer5' is not one of"),
])
def test_schema_rejects_typos_naming_the_key(key, value, message):
    params = copy.deepcopy(load_params("demo"))
    node = params["vit"]
    for k in key[:-1]:
        node = node[k]
    node[key[-1]] = value
    with pytest.raises(ParamsError, match=message) as err:
        validate_params(params)
    assert "vit." in str(err.value)


def test_published_masking_points_are_probabilities_at_fractions():
    points = published_masking_points()
    assert len(points) == 3
    assert all(0 <= p["fraction"] <= 1 and 0 < p["value"] < 1 for p in points)


def test_trained_here_recognises_the_demo_vit_output(tmp_path):
    out = tmp_path / "results" / "demo" / "vit"
    assert trained_here(f"file:{out}/pretrain/model/config.json", out)
    assert not trained_here("hf:google/vit-base-patch16-224", out)
    assert not trained_here(f"file:{tmp_path}/elsewhere/config.json", out)

