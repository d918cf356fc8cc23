"""S2 plan and stage glue: params schema, cross-key checks, published points, demo-model detection, one job run."""
from __future__ import annotations

import copy
import json

import pytest

from archlab.config import load_params, validate_params
from archlab.errors import ParamsError
from archlab.workflow.pipeline import Paths, Pipeline
from archlab.studies.vit.jobs import published_masking_points
from archlab.studies.vit.plan import trained_here


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


@pytest.mark.parametrize("key, value, message", [
    ("seeds", [0, 1, 1], "lists an entry twice"),
    ("seeds", [], "should be non-empty"),
    ("subsample", 0, "less than or equal to the minimum of 0"),
    ("subsample", 1.5, "greater than the maximum of 1"),
])
def test_schema_rejects_bad_probe_seeds_and_subsample_naming_the_key(key, value, message):
    params = copy.deepcopy(load_params("demo"))
    params["vit"]["probe"][key] = value
    with pytest.raises(ParamsError, match=message) as err:
        validate_params(params)
    assert f"vit.probe.{key}:" in str(err.value)


# --- plan.check: cross-key mistakes are caught before any job ---------------------------------------

@pytest.fixture(scope="module")
def test_cfg():
    cfg = load_params("test")
    cfg["studies"] = ["resnet", "vit"]
    return cfg


def _pipeline(cfg):
    return Pipeline(cfg, Paths(cfg["profile"]))


def test_the_test_and_demo_profiles_pass_the_checks(test_cfg):
    assert any(job.rule.name == "vit_section" for job in _pipeline(test_cfg).jobs)
    demo = load_params("demo")
    _pipeline({**demo, "studies": ["resnet", "vit"]})


@pytest.mark.parametrize("edit, key", [
    (lambda c: c.update(studies=["vit"]), "studies"),
    (lambda c: c["vit"].pop("pretrain"), "vit.weights"),
    (lambda c: c["vit"]["pretrain"].update(hidden_size=30, heads=4), "vit.pretrain.hidden_size"),
    (lambda c: c["vit"]["pretrain"].update(image_size=18, patch_size=4), "vit.pretrain.image_size"),
    (lambda c: c["vit"]["masking"].update(n_images=61), "vit.masking.n_images"),      # pretrain_shapes: 60 test
    (lambda c: c["vit"]["attention"].update(stats_images=100), "vit.attention.stats_images"),
    (lambda c: c["vit"]["probe"].update(train_size=301), "vit.probe.train_size"),     # cifar10: 360 - 60 val
    (lambda c: c["vit"]["probe"].update(val_size=61), "vit.probe.val_size"),
    (lambda c: c["vit"]["probe"].update(test_size=121), "vit.probe.test_size"),
    (lambda c: c["vit"]["probe"].update(subsample=0.005), "vit.probe.subsample"),  # 1 of 200 train images
])
def test_check_rejects_cross_key_mistakes_naming_the_key(test_cfg, edit, key):
    cfg = copy.deepcopy(test_cfg)
    edit(cfg)
    with pytest.raises(ParamsError, match=key.replace(".", r"\.")):
        _pipeline(cfg)


def test_probe_sizes_are_checked_against_a_downloaded_sets_real_size():
    """cifar10 from torchvision: 50000 train images, 5000 of them validation; no size key bounds them."""
    full = load_params("full")
    full["vit"]["probe"]["train_size"] = 45001
    with pytest.raises(ParamsError, match=r"vit\.probe\.train_size=45001 asks for 45001 train images, which is larger "
                                          r"than the 45000 that data\.cifar10 will have \(after validation is carved\)"):
        _pipeline(full)


@pytest.mark.parametrize("change", [{"cs": [0.1, 1.0], "max_iter": 100}, {"subsample": 0.5}])
def test_a_probe_change_reruns_the_probe_but_never_re_extracts_features(test_cfg, change):
    """The features are extracted once (vit_probe_features); the probe's own params are not theirs."""
    cfg = copy.deepcopy(test_cfg)
    before = {j.describe(): j for j in _pipeline(cfg).jobs if j.rule.study == "vit"}
    cfg["vit"]["probe"].update(change)
    after = {j.describe(): j for j in _pipeline(cfg).jobs if j.rule.study == "vit"}
    assert before.keys() == after.keys()
    changed = {name for name in before if before[name].params_json != after[name].params_json}
    assert {before[name].rule.name for name in changed} == {"vit_probe"}
    assert len(changed) == len(test_cfg["vit"]["probe"]["seeds"])


def test_one_probe_job_per_seed_on_one_feature_cache(test_cfg):
    pipe = _pipeline(test_cfg)
    pc = test_cfg["vit"]["probe"]
    assert pc["seeds"] == [0, 1, 2] and pc["subsample"] == 0.8  # the default reaches the test profile
    probes = pipe.jobs_of("vit_probe")
    assert sorted(j.wildcards["seed"] for j in probes) == ["0", "1", "2"]
    assert len({j.output["results"] for j in probes}) == len({j.run_dir for j in probes}) == 3
    features = pipe.job("vit_probe_features", {}).output["features"]
    for job in probes:
        seed = int(job.wildcards["seed"])
        assert job.output["results"] == f"results/test/vit/probe/seed{seed}/results.json"
        assert {k: v for k, v in job.input.items() if k != "identity"} == {"features": features}
        assert job.params == {"cs": pc["cs"], "max_iter": pc["max_iter"], "subsample": 0.8, "seed": seed}
    section = pipe.job("vit_section", {}).input
    assert section["probe_results"] == [j.output["results"] for j in probes]
    assert section["probe_params"] == [j.output["params"] for j in probes]
    cfg = copy.deepcopy(test_cfg)
    cfg["vit"]["probe"]["seeds"] = [4]
    assert [j.output["results"] for j in _pipeline(cfg).jobs_of("vit_probe")] == \
        ["results/test/vit/probe/seed4/results.json"]


def test_both_probe_claims_see_every_probe_seed(test_cfg):
    from archlab.commands.claims import resolve
    from archlab.report.published import claims_ledger

    pipe = _pipeline(test_cfg)
    plan = {"vit": [j for j in pipe.jobs if j.rule.study == "vit"]}
    results = {j.wildcards["seed"]: j.output["results"] for j in pipe.jobs_of("vit_probe")}
    claims = {c["id"]: c for c in claims_ledger() if c["id"] in ("S2-cls-vs-mean", "S2-probe-below-finetune")}
    assert len(claims) == 2
    for claim in claims.values():
        resolved = resolve(claim, test_cfg, plan)
        assert resolved["missing"] is None and resolved["a"]["planned"] == sorted(results)
        for side in ("a", "b"):
            if side in claim:
                assert resolved[side]["files"] == results, (claim["id"], side)


def test_grad_cam_reads_the_s1_baseline_head_and_only_the_resnet_keys_it_uses(test_cfg):
    pipe = _pipeline(test_cfg)
    cnn = pipe.job("vit_cnn", {})
    s1 = test_cfg["resnet"]
    head_dir = f"results/test/resnet/head/{s1['arch']}/seed{s1['head']['seeds'][0]}"  # heads have their own seeds
    assert cnn.input["resnet_head"] == f"{head_dir}/head.pt"
    assert cnn.input["resnet_head_params"] == f"{head_dir}/params.json"
    assert pipe.job("resnet_head", {"variant": s1["arch"], "seed": s1["head"]["seeds"][0]}).output["head"] == cnn.input["resnet_head"]
    assert set(cnn.params["resnet"]) == {"arch", "weights", "image_size"}
    cfg = copy.deepcopy(test_cfg)
    cfg["resnet"]["hierarchy"]["n_images"] = 50  # an S1 key Grad-CAM does not read
    assert _pipeline(cfg).job("vit_cnn", {}).params_json == cnn.params_json


def test_every_vit_job_reads_the_model_weights_and_the_section_every_run(test_cfg):
    pipe = _pipeline(test_cfg)
    model = pipe.job("vit_pretrain", {}).output
    for rule in ("vit_predict", "vit_attention", "vit_masking", "vit_probe_features"):
        job = pipe.job(rule, {})
        assert job.input["weights"] == model["model"] and job.input["model_weights"] == model["model_weights"]
    section = pipe.job("vit_section", {})
    read = {path for v in section.input.values() for path in (v if isinstance(v, list) else [v])}
    for rule in ("vit_predict", "vit_attention", "vit_masking", "vit_probe_features", "vit_cnn", "vit_pretrain"):
        assert pipe.job(rule, {}).output["params"] in read, rule
    for job in pipe.jobs_of("vit_probe"):
        assert job.output["params"] in read and job.output["results"] in read, job.describe()


# --- helpers --------------------------------------------------------------------------------------

def test_published_masking_points_are_probabilities_at_fractions():
    points = published_masking_points()
    assert len(points) == 3
    assert all(0 <= p["fraction"] <= 1 and 0 < p["value"] < 1 for p in points)


def test_trained_here_recognises_the_demo_vit_output(tmp_path):
    out = tmp_path / "results" / "demo" / "vit"
    assert trained_here(f"file:{out}/pretrain/model/config.json", str(out))
    assert trained_here("file:./results/demo/vit/pretrain/model/config.json", "results/demo/vit")
    assert not trained_here("hf:google/vit-base-patch16-224", str(out))
    assert not trained_here(f"file:{tmp_path}/elsewhere/config.json", str(out))


# --- one job chain by hand, as Snakemake runs it ------------------------------------------------------

def test_pretrain_features_and_probe_run_by_hand_and_record_their_params(tmp_path):
    from conftest import copy_params

    from archlab.cli import main

    root = copy_params(tmp_path / "proj")
    cfg_path = root / "config" / "test.yaml"
    cfg_path.write_text(cfg_path.read_text().replace("studies: [resnet, vit, ood, gan, vae, cifar_arch, clip]",
                                                     "studies: [resnet, vit]"))
    run = ["--profile", "test", "--root", str(root)]
    for name in ("pretrain_shapes", "cifar10"):
        assert main(["run", "data_prepare", f"name={name}", *run]) == 0
    for rule in ("vit_pretrain", "vit_probe_features"):
        assert main(["run", rule, *run]) == 0, rule
    for seed in (0, 1):
        assert main(["run", "vit_probe", f"seed={seed}", *run]) == 0, seed
    out = root / "results" / "test" / "vit"
    assert (out / "pretrain" / "model" / "model.safetensors").exists()
    assert not list((out / "pretrain").glob("checkpoint*.pt"))
    features = json.loads((out / "probe_features" / "params.json").read_text())
    assert features["params"]["train_size"] == 200 and "cs" not in features["params"]
    assert set(features["inputs"]) - {"identity"} == {"data", "weights", "model_weights"}
    runs = {seed: json.loads((out / "probe" / f"seed{seed}" / "results.json").read_text()) for seed in (0, 1)}
    for seed, results in runs.items():
        assert set(results) == {"cls", "mean"} and results["cls"]["n_train"] == 160  # 80 % of the 200 cached
        assert results["cls"]["n_test"] == 120
        recorded = json.loads((out / "probe" / f"seed{seed}" / "params.json").read_text())
        assert recorded["params"]["seed"] == seed and recorded["params"]["subsample"] == 0.8
