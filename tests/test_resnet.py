"""S1 library behaviour on small models where the right answer is known."""
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from archlab.data.loaders import Preprocess
from archlab.features import extract
from archlab.metrics.confusion import most_confused_pairs
from archlab.models.resnet import blocks, build_resnet, remove_skips
from archlab.train.checkpoint import Checkpoint
from archlab.train.classifier import FitConfig, fit, trainable_parameters
from archlab.train.transfer import apply_strategy


@pytest.fixture
def tiny_data():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (48, 16, 16, 3), dtype=np.uint8)
    y = rng.integers(0, 3, 48)
    return x, y


def _block_outputs(model, x):
    outs = {}
    hooks = [b.register_forward_hook(lambda m, i, o, n=n: outs.__setitem__(n, o)) for n, b in blocks(model, ["layer1", "layer2", "layer3", "layer4"])]
    model(x)
    for h in hooks:
        h.remove()
    return outs


def test_skip_removal_changes_exactly_the_chosen_blocks():
    torch.manual_seed(0)
    model = build_resnet("resnet18", 10).eval()
    x = torch.randn(2, 3, 32, 32)
    before = {n: b for n, b in blocks(model, ["layer1", "layer2", "layer3", "layer4"])}
    # feed each block the same input before and after, so only its own change shows
    inputs = {}
    hooks = [b.register_forward_pre_hook(lambda m, i, n=n: inputs.__setitem__(n, i[0])) for n, b in before.items()]
    with torch.no_grad():
        model(x)
        ref = {n: before[n](inputs[n]) for n in before}
        changed = remove_skips(model, ["layer2", "layer3.1"])
        new = {n: before[n](inputs[n]) for n in before}
    for h in hooks:
        h.remove()
    assert changed == ["layer2.0", "layer2.1", "layer3.1"]
    for name in before:
        differs = not torch.allclose(ref[name], new[name])
        assert differs == (name in changed), name


def test_skip_removal_drops_the_downsample_branch_too():
    model = build_resnet("resnet18", 10).eval()
    block = model.layer2[0]
    assert block.downsample is not None
    remove_skips(model, ["layer2.0"])
    called = []
    block.downsample.register_forward_hook(lambda *a: called.append(1))
    with torch.no_grad():
        out = block(torch.randn(1, 64, 8, 8))
    assert not called and out.shape == (1, 128, 4, 4)


def test_unknown_blocks_are_rejected():
    model = build_resnet("resnet10", 10)
    with pytest.raises(ValueError, match="layer5"):
        remove_skips(model, ["layer5"])
    with pytest.raises(ValueError, match="blocks 0..0"):
        remove_skips(model, ["layer2.3"])


def test_head_only_training_leaves_backbone_and_bn_statistics_unchanged(tiny_data, tmp_path):
    torch.manual_seed(0)
    model = build_resnet("resnet10", 3)
    frozen = apply_strategy(model, "head")
    before = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("fc.")}
    fc_before = model.fc.weight.clone()
    prep = Preprocess(size=16)
    opt = torch.optim.Adam(trainable_parameters(model), lr=1e-2)
    fit(model, tiny_data, tiny_data, opt, FitConfig(epochs=2, batch_size=16, train_transform=prep, eval_transform=prep,
                                                    frozen=frozen, live=False), torch.device("cpu"), tmp_path)
    after = model.state_dict()
    for k, v in before.items():  # weights AND running_mean/var/num_batches_tracked
        assert torch.equal(v, after[k]), k
    assert not torch.equal(fc_before, model.fc.weight)
    assert {id(p) for p in trainable_parameters(model)} == {id(model.fc.weight), id(model.fc.bias)}


def test_last_block_strategy_trains_layer4_only(tiny_data, tmp_path):
    model = build_resnet("resnet10", 3)
    apply_strategy(model, "last_block")
    names = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert names == {"layer4", "fc"}


def test_feature_cache_is_read_not_recomputed(tiny_data, tmp_path, monkeypatch):
    model = build_resnet("resnet10", 3)
    x, _ = tiny_data
    path = tmp_path / "f.npz"
    extract.extract_to_cache(model, {"test": (x, ["layer1", "avgpool"])}, path, torch.device("cpu"), Preprocess(size=16), 16)
    cached = extract.load_cache(path)
    assert cached["test/layer1"].shape == (48, 64) and cached["test/avgpool"].shape == (48, 512)
    # training a head reads the cache: no forward pass of the backbone may happen
    monkeypatch.setattr(extract, "pooled_activations", lambda *a, **k: pytest.fail("backbone ran again"))
    again = extract.load_cache(path)
    assert np.array_equal(again["test/avgpool"], cached["test/avgpool"])


def test_cached_features_equal_a_live_forward(tiny_data):
    """Training a head on the cache is the same computation as on the frozen backbone."""
    model = build_resnet("resnet10", 3).eval()
    x, _ = tiny_data
    prep = Preprocess(size=16)
    feats = extract.pooled_activations(model, x[:8], ["avgpool"], torch.device("cpu"), prep)["avgpool"]
    with torch.no_grad():
        trunk = nn.Sequential(*list(model.children())[:-1])
        live = trunk(prep(torch.from_numpy(x[:8]))).flatten(1).numpy()
    assert np.allclose(feats, live, atol=1e-5)


def test_most_confused_pairs_ranks_symmetric_errors():
    cm = np.array([[8, 2, 0], [3, 7, 0], [0, 1, 9]])
    pairs = most_confused_pairs(cm, ["cat", "dog", "car"], top=2)
    assert list(pairs.iloc[0][["class a", "class b", "errors"]]) == ["cat", "dog", 5]
    assert pairs.iloc[1]["errors"] == 1


def test_checkpoint_resumes_only_into_the_identical_run(tiny_data, tmp_path, caplog):
    """A checkpoint of another run identity (params, inputs or code changed) is ignored; a damaged one too."""
    caplog.set_level("INFO")
    def run(epochs, identity):
        torch.manual_seed(0)
        head = nn.Linear(16 * 16 * 3, 3)
        x, y = tiny_data
        flat = (x.reshape(len(x), -1) / 255).astype("float32"), y
        history = fit(head, flat, flat, torch.optim.SGD(head.parameters(), lr=0.1), FitConfig(epochs=epochs, batch_size=16, live=False),
                      torch.device("cpu"), tmp_path, checkpoint=Checkpoint(tmp_path / "checkpoint.pt", identity))
        return history, head

    first, head_a = run(3, "a")
    assert len(first) == 3
    resumed, head_resumed = run(3, "a")  # the identical run: resumed after its last epoch, nothing retrained
    assert "resuming" in caplog.text and torch.equal(head_a.weight, head_resumed.weight)
    pd.testing.assert_frame_equal(first, resumed)
    assert list(run(2, "b")[0]["epoch"]) == [1, 2]  # another run: starts afresh
    (tmp_path / "checkpoint.pt").write_bytes(b"damaged")
    caplog.clear()
    assert list(run(2, "b")[0]["epoch"]) == [1, 2]
    assert "cannot be read" in caplog.text and str(tmp_path / "checkpoint.pt") in caplog.text


# ---------------------------------------------------------------- plan: seeds and weight recipes
def _s1_jobs(cfg):
    from archlab.workflow.pipeline import Paths, Pipeline

    return [j for j in Pipeline({**cfg, "studies": ["resnet"]}, Paths(cfg["profile"])).jobs if j.rule.study == "resnet"]


def _seeds(jobs, rule: str, key: str) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for j in jobs:
        if j.rule.name == rule:
            out.setdefault(j.wildcards[key], []).append(int(j.wildcards["seed"]))
    return out


@pytest.mark.parametrize("head_seeds,seeds", [([0, 1, 2], [0]), ([3, 5], [1, 2])])
def test_heads_and_strategies_take_their_own_seeds(head_seeds, seeds):
    """Heads on cached features (baseline, no-skip, depth) run resnet.head.seeds; fine-tuning runs resnet.seeds."""
    import copy

    from archlab.config import load_params
    from archlab.studies.resnet.plan import variants

    cfg = copy.deepcopy(load_params("full"))
    cfg["resnet"]["head"]["seeds"], cfg["resnet"]["seeds"] = head_seeds, seeds
    jobs = _s1_jobs(cfg)
    assert _seeds(jobs, "resnet_head", "variant") == {v: head_seeds for v in variants(cfg["resnet"])}
    assert set(map(tuple, _seeds(jobs, "resnet_strategy", "strategy").values())) == {tuple(seeds)}
    confusion = next(j for j in jobs if j.rule.name == "resnet_confusion")
    assert f"/seed{head_seeds[0]}/" in confusion.input["pred"]
    assert "seeds" not in next(j for j in jobs if j.rule.name == "resnet_head").params["head"]  # a new seed reruns no head


def test_full_profile_runs_at_least_three_head_seeds_and_one_weight_recipe():
    """Issue 14: ≥ 3 seeds where a run costs seconds; S1 depth compares backbones of one recipe (A: pretrained=True)."""
    from archlab.config import load_params
    from archlab.studies.resnet.section import _recipe

    s1 = load_params("full")["resnet"]
    assert len(s1["head"]["seeds"]) >= 3
    recipes = {_recipe(m["arch"], m["weights"]) for m in s1["depth"]["models"]}
    assert recipes == {"IMAGENET1K_V1"}, f"params.yaml resnet.depth.models mixes weight recipes {recipes}"
    assert _recipe("resnet18", "file:results/demo/pretrain/resnet18/weights.pt") == \
        _recipe("resnet10", "file:results/demo/pretrain/resnet10/weights.pt")
