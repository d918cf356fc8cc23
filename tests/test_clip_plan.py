"""S5's plan: cross-key checks before any job, and which jobs a params change reaches (no torch, fast)."""
import copy

import pytest

from archlab.config import load_params
from archlab.errors import ParamsError
from archlab.workflow.pipeline import Paths, Pipeline
from conftest import ROOT


@pytest.fixture(scope="module")
def base():
    cfg = load_params("test", ROOT)
    cfg["studies"] = ["clip"]
    return cfg


def _pipeline(cfg):
    return Pipeline(cfg, Paths(cfg["profile"]))


def _rejected(cfg, *words):
    with pytest.raises(ParamsError) as err:
        _pipeline(cfg)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_the_test_profile_plans_every_s5_job(base):
    rules = {job.rule.name for job in _pipeline(base).jobs if job.rule.study == "clip"}
    assert rules == {"clip_pretrain", "clip_images", "clip_texts", "clip_zeroshot", "clip_gap", "clip_procrustes",
                     "clip_projections", "clip_section"}


def test_a_missing_caption_set_is_rejected_before_any_job(base):
    cfg = copy.deepcopy(base)
    cfg["clip"]["gap"]["caption_set"] = "ensembel"
    _rejected(cfg, "clip.gap.caption_set", "'ensembel'", "clip.prompts")


def test_a_missing_zero_shot_prompt_set_is_rejected_before_any_job(base):
    cfg = copy.deepcopy(base)
    del cfg["clip"]["prompts"]["photo"]  # still named by clip.procrustes.prompt_set
    _rejected(cfg, "clip.procrustes.prompt_set", "'photo'", "clip.prompts")


@pytest.mark.parametrize("spec", ["torchvision:resnet18:IMAGENET1K_V1", "file:results/test/clip/model.pt"])
def test_weights_that_are_no_clip_are_rejected_before_any_job(base, spec):
    cfg = copy.deepcopy(base)
    cfg["clip"]["weights"] = spec
    _rejected(cfg, "clip.weights", "open_clip:<model>:<pretrained>", "open_clip_pytorch_model.bin")


def test_a_gap_sample_larger_than_the_test_split_is_rejected(base):
    cfg = copy.deepcopy(base)
    cfg["clip"]["gap"]["n_samples"] = cfg["data"][cfg["clip"]["data"]]["test_size"] + 1
    _rejected(cfg, "clip.gap.n_samples", "test images")


def test_fitting_sets_larger_than_the_fitting_split_are_rejected(base):
    cfg = copy.deepcopy(base)
    spec = cfg["data"][cfg["clip"]["data"]]
    pool = spec["train_size"] - spec["val_size"]  # validation is carved from the training images
    cfg["clip"]["procrustes"]["n_fit"] = [pool, pool + 1]
    _rejected(cfg, "clip.procrustes.n_fit", f"[{pool + 1}]", f"{pool} train images")


def test_a_prompt_change_reruns_the_text_embeddings_but_never_the_image_embeddings(base):
    before = {job.rule.name: job for job in _pipeline(base).jobs}
    cfg = copy.deepcopy(base)
    cfg["clip"]["prompts"]["art"] = ["a drawing of a {c}."]
    after = {job.rule.name: job for job in _pipeline(cfg).jobs}
    for rule in ("clip_images", "clip_pretrain"):
        assert (after[rule].params_json, after[rule].input) == (before[rule].params_json, before[rule].input)
    assert after["clip_texts"].params_json != before["clip_texts"].params_json


def test_the_section_describes_the_demo_model_only_when_it_is_loaded(base):
    section = {job.rule.name: job for job in _pipeline(base).jobs}["clip_section"]
    assert section.input["pretrain"].endswith("clip/pretrain/metrics.json")
    cfg = copy.deepcopy(base)
    cfg["clip"]["weights"] = "open_clip:ViT-B-32-quickgelu:openai"
    jobs = {job.rule.name: job for job in _pipeline(cfg).jobs}
    assert "pretrain" not in jobs["clip_section"].input
    assert jobs["clip_images"].input["weights"].endswith(".ok")  # the fetch marker, not the demo model
