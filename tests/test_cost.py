"""GPU cost from the FLOP/step model: the table in docs/cost.md, the FLOP counts it rests on and the time
limits the rules book all come from src/archlab/cost.py."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from archlab import cost
from archlab.config import load_params
from archlab.workflow.pipeline import Paths, Pipeline

from conftest import ROOT


@pytest.fixture(scope="module")
def full():
    return Pipeline(load_params("full", ROOT), Paths("full"))


def test_docs_cost_md_is_generated_from_the_model(full):
    assert (ROOT / cost.DOC).read_text() == cost.markdown(full), \
        "docs/cost.md is stale: run `python -m archlab cost --profile full --write`"


@pytest.mark.parametrize("profile", ["full", "smoke"])
def test_every_gpu_job_of_the_gpu_profiles_is_modelled(profile):
    """No GPU job of a profile meant for a GPU falls back to a guessed limit: its models are in the table."""
    pipeline = Pipeline(load_params(profile, ROOT), Paths(profile))
    model = cost.CostModel(pipeline.cfg)
    table = json.loads(cost.FLOPS_FILE.read_text())
    assert set(cost.needed_models(pipeline)) <= set(table)
    unmodelled = {job.rule.name for job in pipeline.jobs if job.rule.gpu and model.seconds(job) is None}
    assert unmodelled <= {"clip_texts"}  # a few dozen prompts: its plan's runtime


@pytest.mark.parametrize("key", ["digit_classifier@28", "ood:simple_cnn@32",
                                 'cifar_arch:mlp:{"activation":"relu","hidden":[1024,512,64,64]}@32'])
def test_the_flop_table_is_what_the_counter_counts(key):
    assert cost.count_flops(key) == json.loads(cost.FLOPS_FILE.read_text())[key]


def test_a_linear_layers_flops_are_counted_as_expected():
    """The counter's unit: 2 FLOPs per multiply-add; backward adds each layer's weight gradient and, for all
    but the first layer (whose input is the image), its input gradient."""
    flops = cost.count_flops('cifar_arch:mlp:{"activation":"relu","hidden":[8,8,8,8]}@32')
    first, rest = 3072 * 8, 8 * 8 * 3 + 8 * 10
    assert flops["forward"] == 2 * (first + rest)
    assert flops["train"] == flops["forward"] + 2 * (first + rest) + 2 * rest


def test_bookings_follow_the_estimate_with_the_safety_factor(full):
    model = cost.CostModel(full.cfg)
    for job in full.jobs:
        seconds = model.seconds(job) if job.rule.gpu else None
        if seconds is None:
            continue
        booked = model.minutes(job)
        assert booked >= cost.SAFETY * seconds / 60 and booked >= cost.MIN_BOOKED_MINUTES
        assert booked < cost.SAFETY * seconds / 60 + cost.BOOKING_STEP_MINUTES or booked == cost.MIN_BOOKED_MINUTES
    resnet50 = full.job("ood_train", {"model": "resnet50", "seed": "0"})
    assert model.minutes(resnet50) < 60  # booked 12 h before the model


def test_snakemake_books_the_models_minutes_and_groups_small_gpu_jobs(full):
    model = cost.CostModel(full.cfg)
    job = full.job("ood_train", {"model": "resnet50", "seed": "0"})
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", job.output["model"]], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"runtime={model.minutes(job)}," in proc.stdout
    assert model.group(full.rules["gan_train"]) == "small_gpu_gan_train"
    assert model.group(full.rules["ood_train"]) is None and model.group(full.rules["resnet_strategy"]) is None
    test = load_params("test", ROOT)  # no GPU asked: no group
    assert cost.CostModel(test).group(full.rules["gan_train"]) is None
    assert math.isfinite(model.seconds(job))


def test_the_cpu_check_of_the_flop_counts_runs(capsys):
    """bench/cost_check.py (benchmark 10) at a tiny size: every model it times is a row of the table."""
    sys.path.insert(0, str(ROOT))  # bench/ is a folder of the checkout, not part of the installed package
    from bench import cost_check

    out = cost_check.main(["--batch-size", "2", "--steps", "1"])
    assert set(out["rates"]) == set(cost_check.MODELS) and out["spread"] >= 1
    assert "==> CPU training rate per counted FLOP varies" in capsys.readouterr().out
