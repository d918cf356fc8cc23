"""S5's CLIP gets the activation its weights were trained with: OpenAI's CLIP used QuickGELU, and
open_clip's plain `ViT-B-32` is GELU. open_clip only warns about the mismatch; archlab refuses it,
in the plan's check (before any job, offline, without torch) and in the loaders."""
import copy
import json
import os
import subprocess
import sys

import open_clip
import pytest
import torch.nn as nn
from open_clip.transformer import QuickGELU

from archlab.config import load_params
from archlab.errors import ParamsError
from archlab.models import clip as clip_models
from archlab.models import weights
from archlab.workflow.pipeline import Paths, Pipeline
from conftest import ROOT

MISMATCHED = "open_clip:ViT-B-32:openai"


@pytest.fixture(scope="module")
def full():
    cfg = load_params("full", ROOT)
    cfg["studies"] = ["clip"]
    return cfg


def _refused(call, *words):
    with pytest.raises(ParamsError) as err:
        call()
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_the_full_profiles_s5_model_is_built_with_quickgelu(full):
    spec = weights.parse(full["clip"]["weights"])
    assert spec.kind == "open_clip"
    weights.check_open_clip(spec.text)  # the full profile's own spec passes
    model_name, tag = spec.parts
    bundle = clip_models.load_clip(model_name, pretrained=None)  # random weights: the architecture, no download
    activations = {type(m) for m in bundle.model.modules() if isinstance(m, (nn.GELU, QuickGELU))}
    assert activations == {QuickGELU}, activations
    assert open_clip.get_pretrained_cfg(model_name, tag)["quick_gelu"] is True  # what the weights were trained with


def test_the_plan_refuses_a_tag_whose_activation_differs(full):
    Pipeline(full, Paths("full"))  # the full profile as it is passes the checks
    cfg = copy.deepcopy(full)
    cfg["clip"]["weights"] = MISMATCHED
    _refused(lambda: Pipeline(cfg, Paths("full")), "clip.weights", "QuickGELU", "open_clip:ViT-B-32-quickgelu:openai")


@pytest.mark.parametrize("spec, words", [
    ("open_clip:ViT-B-32:no_such_tag", ["clip.weights", "no pretrained weights 'no_such_tag'", "laion2b_s34b_b79k"]),
    ("open_clip:ViT-B-23:openai", ["clip.weights", "no model 'ViT-B-23'", "ViT-B-32"]),
])
def test_the_plan_refuses_an_unknown_model_or_tag(full, spec, words):
    cfg = copy.deepcopy(full)
    cfg["clip"]["weights"] = spec
    _refused(lambda: Pipeline(cfg, Paths("full")), *words)


def test_the_loaders_refuse_a_mismatched_tag_before_reading_or_fetching(tmp_path):
    hint = "open_clip:ViT-B-32-quickgelu:openai"
    # refused for the activation, not reported as missing weights (the cache is empty)
    _refused(lambda: clip_models.load_from_spec(MISMATCHED, tmp_path), "clip.weights", hint)
    _refused(lambda: clip_models.load_clip("ViT-B-32", "openai"), "clip.weights", hint)
    _refused(lambda: weights.fetch(MISMATCHED, tmp_path), "clip.weights", hint)  # raises before any download
    assert not (tmp_path / "weights").exists()


def test_the_check_reads_the_registry_without_torch():
    code = ("import sys; from archlab.models.weights import check_open_clip\n"
            "check_open_clip('open_clip:ViT-B-32-quickgelu:openai')\n"
            "try:\n    check_open_clip('open_clip:ViT-B-32:openai'); sys.exit('not refused')\n"
            "except ValueError as exc:\n    assert 'ViT-B-32-quickgelu' in str(exc), exc\n"
            "assert 'torch' not in sys.modules, 'the check imported torch'\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_the_torch_free_registry_is_open_clips_own():
    alone, configs = weights._open_clip_registry_alone()
    pairs = open_clip.list_pretrained()
    assert len(pairs) > 100 and pairs == alone.list_pretrained()
    for model, tag in pairs:
        assert alone.get_pretrained_cfg(model, tag).get("quick_gelu") == open_clip.get_pretrained_cfg(model, tag).get(
            "quick_gelu"), (model, tag)
    for name in open_clip.list_models():
        local = configs / f"{name}.json"
        if local.is_file():  # the architectures shipped with open_clip: the same quick_gelu flag
            ours = json.loads(local.read_text()).get("quick_gelu", False)
            assert bool(open_clip.get_model_config(name).get("quick_gelu", False)) == bool(ours), name
