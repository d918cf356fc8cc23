"""Tuning seeds and confirmation seeds (archlab/seed_roles.py): no claim is judged on a seed that tuned it."""
import copy

import pytest

from archlab.config import load_params, validate_params
from archlab.errors import ParamsError
from archlab.workflow.pipeline import Paths, Pipeline
from archlab.seed_roles import study_seed_lists
from conftest import ROOT


@pytest.mark.parametrize("profile", ["full", "demo", "test", "smoke"])
def test_every_profile_judges_on_confirmation_seeds_only(profile):
    cfg = load_params(profile, ROOT)
    tuning, confirmation = set(cfg["seeds"]["tuning"]), set(cfg["seeds"]["confirmation"])
    assert not tuning & confirmation
    lists = dict(study_seed_lists(cfg))
    assert lists  # the walk finds the studies' seed lists
    for key, seeds in lists.items():
        assert set(seeds) <= confirmation and not set(seeds) & tuning, key


def test_the_demo_was_tuned_on_0_to_2_and_judges_five_other_seeds():
    cfg = load_params("demo", ROOT)
    assert cfg["seeds"]["tuning"] == [0, 1, 2] and len(cfg["seeds"]["confirmation"]) >= 5
    lists = dict(study_seed_lists(cfg))
    # the claims the demo judges at n >= 5 (issue 26): S1-noskip, S2 masking and probe, S3, S4, S5, S7's simple rung
    for key in ("resnet.head.seeds", "vit.seeds", "vit.probe.seeds", "gan.seeds", "vae.seeds", "clip.seeds",
                "ood.ladder.0.seeds"):
        assert len(lists[key]) >= 5, key


@pytest.fixture(scope="module")
def demo():
    return load_params("demo", ROOT)


@pytest.mark.parametrize("change, message", [
    (lambda c: c["seeds"].update(confirmation=[2, 10, 11]), r"share \[2\]"),
    (lambda c: c["gan"].update(seeds=[0, 10]), r"gan.seeds = \[0, 10\] runs tuning seeds \[0\]"),
    (lambda c: c["ood"]["ladder"][0].update(seeds=[10, 99]), r"ood.ladder.0.seeds .* seeds \[99\] that seeds.confirmation"),
    (lambda c: c["seeds"].update(tuned=[0]), r"seeds: unknown key|tuned"),
    (lambda c: c["seeds"].pop("confirmation"), r"confirmation"),
])
def test_a_seed_declaration_that_does_not_hold_is_refused_before_any_job(demo, change, message):
    cfg = copy.deepcopy(demo)
    change(cfg)
    with pytest.raises(ParamsError, match=message):
        validate_params(cfg, "config/demo.yaml")


def test_the_report_job_receives_the_declaration(demo):
    (report,) = Pipeline(demo, Paths("demo")).jobs_of("report")
    assert report.params["seeds"] == demo["seeds"]
