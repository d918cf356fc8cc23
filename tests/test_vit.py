"""S2 ViT library: attention maps, rollout, head statistics, patch masking, linear probe, Grad-CAM."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import archlab  # noqa: F401  (torchvision import fix before transformers/grad-cam)
from archlab.features import attention as A
from archlab.features import patch_masking as PM
from archlab.features.gradcam import gradcam_maps, map_correlation
from archlab.metrics.probe import linear_probe
from archlab.models import vit as V

torch.set_num_threads(1)
GRID = (4, 4)


@pytest.fixture(scope="module")
def tiny_vit():
    torch.manual_seed(0)
    model, processor = V.build_demo_vit(["a", "b", "c"], image_size=16, patch_size=4, hidden_size=32,
                                        num_layers=2, num_heads=2, attentions=True)
    return model.eval(), processor


@pytest.fixture(scope="module")
def pixels():
    return torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))


# --- model -----------------------------------------------------------------------------------

def test_attention_rows_sum_to_one_and_cls_map_has_grid_shape(tiny_vit, pixels):
    model, _ = tiny_vit
    logits, attn = V.attentions(model, pixels)
    assert logits.shape == (3, 3)
    assert attn.shape == (2, 3, 2, 17, 17)  # layers, batch, heads, 1 + 16 patches
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, 3, 2, 17))
    assert V.patch_grid(model) == GRID
    assert A.cls_attention(attn[-1], GRID).shape == (3, 2, *GRID)


def test_sdpa_vit_is_refused_because_it_returns_no_attentions():
    model, _ = V.build_demo_vit(["a", "b"], image_size=8, patch_size=4, hidden_size=16, num_layers=1, num_heads=2)
    assert model.config._attn_implementation == "sdpa"  # the default: runs that read no maps
    with pytest.raises(RuntimeError, match="attentions=True"):
        V.attentions(model.eval(), torch.zeros(1, 3, 8, 8))


@pytest.fixture(scope="module")
def sdpa_twin(tiny_vit, tmp_path_factory):
    """The fixture ViT's weights, saved and loaded back with SDPA (load_vit's default) and with eager attention."""
    model, processor = tiny_vit
    directory = tmp_path_factory.mktemp("vit") / "vit"
    V.save_vit(model, processor, directory)
    spec = f"file:{directory / 'config.json'}"
    return V.load_vit(spec)[0], V.load_vit(spec, attentions=True)[0]


def test_sdpa_and_eager_give_the_same_logits_and_only_eager_returns_maps(tiny_vit, sdpa_twin, pixels):
    model, _ = tiny_vit
    sdpa, eager = sdpa_twin
    assert sdpa.config._attn_implementation == "sdpa" and eager.config._attn_implementation == "eager"
    with torch.no_grad():
        reference = model(pixel_values=pixels).logits
        torch.testing.assert_close(sdpa(pixel_values=pixels).logits, reference, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(eager(pixel_values=pixels).logits, reference, atol=0, rtol=0)
    for pooling, f in V.token_features(sdpa, pixels).items():
        torch.testing.assert_close(f, V.token_features(model, pixels)[pooling], atol=1e-5, rtol=1e-5)
    logits, attn = V.attentions(eager, pixels)
    assert attn.shape == (2, 3, 2, 17, 17)
    torch.testing.assert_close(logits, reference)
    with pytest.raises(RuntimeError, match="attentions=True"):
        V.attentions(sdpa, pixels)


@pytest.mark.parametrize("method", ["fill", "drop"])
def test_masking_gives_the_same_logits_with_sdpa_as_with_eager_attention(sdpa_twin, pixels, method):
    sdpa, eager = sdpa_twin
    masks = torch.from_numpy(PM.make_masks("random", GRID, 0.5, len(pixels), 0))
    assert masks.any() and not masks.all()
    torch.testing.assert_close(PM.masked_logits(sdpa, pixels, masks, method),
                               PM.masked_logits(eager, pixels, masks, method), atol=1e-5, rtol=1e-5)


def test_preprocess_matches_the_checkpoint_processor_with_half_mean_and_std(tiny_vit):
    _, processor = tiny_vit
    image = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    ours = V.preprocess_of(processor)(torch.from_numpy(image)[None])
    theirs = processor(images=image, return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(ours, theirs.float(), atol=1e-5, rtol=0)
    assert ours.min() >= -1 and ours.max() <= 1  # (x/255 - 0.5) / 0.5


def test_save_and_load_through_a_file_spec_keeps_logits_and_eager_attention(tiny_vit, pixels, tmp_path):
    model, processor = tiny_vit
    V.save_vit(model, processor, tmp_path / "vit")
    loaded, preprocess = V.load_vit(f"file:{tmp_path / 'vit' / 'config.json'}", attentions=True)
    assert loaded.config._attn_implementation == "eager"
    assert preprocess.size == 16 and preprocess.mean == (0.5, 0.5, 0.5)
    torch.testing.assert_close(V.attentions(loaded, pixels)[0], V.attentions(model, pixels)[0])


def test_token_features_are_cls_and_mean_of_patches(tiny_vit, pixels):
    model, _ = tiny_vit
    feats = V.token_features(model, pixels)
    hidden = model.vit(pixel_values=pixels).last_hidden_state
    torch.testing.assert_close(feats["cls"], hidden[:, 0])
    torch.testing.assert_close(feats["mean"], hidden[:, 1:].mean(1))


def test_top_k_is_sorted_probabilities():
    rows = V.top_k(torch.tensor([[0.0, 2.0, 1.0]]), ["x", "y", "z"], k=2)
    assert [name for name, _ in rows[0]] == ["y", "z"]
    assert rows[0][0][1] == pytest.approx(math.exp(2) / (1 + math.exp(1) + math.exp(2)))


# --- attention maps, rollout, head statistics --------------------------------------------------

def test_cls_map_puts_each_patch_in_row_major_position():
    attn = torch.zeros(1, 1, 17, 17)
    attn[0, 0, 0, 1 + 6] = 1.0  # patch 6 = row 1, column 2 of a 4x4 grid
    cls_map = A.cls_attention(attn, GRID)[0, 0]
    assert cls_map[1, 2] == 1 and cls_map.sum() == 1


@pytest.mark.parametrize("residual", [0.0, 0.5, 0.9])
def test_rollout_of_identity_attention_is_identity(residual):
    attn = torch.eye(5).expand(3, 2, 4, 5, 5)  # layers, batch, heads
    torch.testing.assert_close(A.attention_rollout(attn, residual), torch.eye(5).expand(2, 5, 5))


def test_rollout_multiplies_layers_first_to_last_and_stays_stochastic():
    a1 = torch.softmax(torch.randn(1, 1, 4, 4, generator=torch.Generator().manual_seed(0)), -1)
    a2 = torch.softmax(torch.randn(1, 1, 4, 4, generator=torch.Generator().manual_seed(1)), -1)
    joint = A.attention_rollout(torch.stack([a1, a2]), residual=0.0)
    torch.testing.assert_close(joint[0], a2[0, 0] @ a1[0, 0])
    mixed = A.attention_rollout(torch.stack([a1, a2]), residual=0.5)
    torch.testing.assert_close(mixed.sum(-1), torch.ones(1, 4))


def test_upsampled_map_keeps_peak_and_is_scaled_to_unit_range():
    grid_map = torch.zeros(1, 4, 4)
    grid_map[0, 3, 0] = 5.0
    up = A.upsample_maps(grid_map, (16, 16))[0]
    assert up.shape == (16, 16) and up.min() == 0 and up.max() == pytest.approx(1)
    row, col = divmod(int(up.argmax()), 16)
    assert row >= 12 and col < 4


def test_entropy_is_one_for_uniform_and_zero_for_one_hot_cls_attention():
    uniform = torch.full((1, 1, 2, 5, 5), 0.2)
    one_hot = torch.zeros(1, 1, 2, 5, 5)
    one_hot[..., 3] = 1.0
    torch.testing.assert_close(A.cls_entropy(uniform), torch.ones(1, 2))
    torch.testing.assert_close(A.cls_entropy(one_hot), torch.zeros(1, 2), atol=1e-6, rtol=0)


def test_mean_attention_distance_known_cases():
    local = torch.eye(5).expand(1, 1, 1, 5, 5)  # every patch attends to itself
    assert A.mean_attention_distance(local, (2, 2), patch_size=16).item() == pytest.approx(0)
    uniform = torch.full((1, 1, 1, 5, 5), 0.2)  # 2x2 grid: distances 0, 1, 1, √2 patches
    expected = 16 * (2 + math.sqrt(2)) / 4
    assert A.mean_attention_distance(uniform, (2, 2), patch_size=16).item() == pytest.approx(expected)


# --- patch masking -------------------------------------------------------------------------------

@pytest.mark.parametrize("grid", [(14, 14), (8, 8), (7, 7)])
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.25, 0.3, 0.5, 0.7, 0.9])
def test_centre_mask_covers_the_fraction_and_is_centred(grid, fraction):
    mask = PM.centre_mask(grid, fraction).reshape(grid)
    n = grid[0] * grid[1]
    assert abs(mask.sum() - fraction * n) <= 1
    if mask.any():
        rows, cols = np.nonzero(mask)
        centre = ((grid[0] - 1) / 2, (grid[1] - 1) / 2)
        assert abs(rows.mean() - centre[0]) <= 0.5 and abs(cols.mean() - centre[1]) <= 0.5
        assert abs(rows.min() - (grid[0] - 1 - rows.max())) <= 1  # bounding box centred
        assert abs(cols.min() - (grid[1] - 1 - cols.max())) <= 1


def test_centre_mask_grows_with_fraction_and_quarter_of_8x8_is_the_central_block():
    masks = [PM.centre_mask((8, 8), f) for f in np.linspace(0, 0.9, 10)]
    assert all((small <= large).all() for small, large in zip(masks, masks[1:]))
    block = np.zeros((8, 8), bool)
    block[2:6, 2:6] = True
    assert (PM.centre_mask((8, 8), 0.25).reshape(8, 8) == block).all()


def test_random_masks_cover_the_fraction_differ_by_seed_and_nest():
    a = PM.random_masks((14, 14), 0.3, n_images=5, seed=0)
    assert (a.sum(1) == round(0.3 * 196)).all()
    assert (a == PM.random_masks((14, 14), 0.3, 5, seed=0)).all()
    assert (a != PM.random_masks((14, 14), 0.3, 5, seed=1)).any(axis=1).all()
    assert (a[0] != a[1]).any()
    assert (a <= PM.random_masks((14, 14), 0.6, 5, seed=0)).all()


def test_fill_sets_exactly_the_masked_patch_pixels():
    pixels = torch.randn(1, 3, 16, 16)
    mask = torch.zeros(1, 16, dtype=torch.bool)
    mask[0, 6] = True  # row 1, column 2
    filled = PM.fill_patches(pixels, mask, patch_size=4, value=0.0)
    assert (filled[0, :, 4:8, 8:12] == 0).all()
    untouched = torch.ones(16, 16, dtype=torch.bool)
    untouched[4:8, 8:12] = False
    assert torch.equal(filled[0][:, untouched], pixels[0][:, untouched])


@pytest.mark.parametrize("method", PM.METHODS)
def test_masking_zero_percent_leaves_logits_unchanged(tiny_vit, pixels, method):
    model, _ = tiny_vit
    none = torch.from_numpy(PM.random_masks(GRID, 0.0, 3, seed=0))
    torch.testing.assert_close(PM.masked_logits(model, pixels, none, method),
                               model(pixel_values=pixels).logits, atol=1e-6, rtol=0)


def test_masking_changes_logits_and_drop_equals_removing_the_tokens(tiny_vit, pixels):
    model, _ = tiny_vit
    masks = torch.from_numpy(PM.random_masks(GRID, 0.5, 3, seed=0))
    dropped = PM.masked_logits(model, pixels, masks, "drop")
    assert not torch.allclose(dropped, model(pixel_values=pixels).logits)
    assert not torch.allclose(PM.masked_logits(model, pixels, masks, "fill"), dropped)
    with torch.no_grad():
        for i in range(3):
            keep = torch.cat([torch.tensor([True]), ~masks[i]])
            hidden = model.vit.embeddings(pixels[i:i + 1])[:, keep]
            for layer in model.vit.layers:
                hidden = layer(hidden)
            direct = model.classifier(model.vit.layernorm(hidden)[:, 0])
            torch.testing.assert_close(dropped[i:i + 1], direct, atol=1e-5, rtol=0)


def test_masking_curves_score_agreement_accuracy_and_confidence(tiny_vit, pixels):
    model, _ = tiny_vit
    predicted = model(pixel_values=pixels).logits.argmax(-1)
    labels = torch.tensor([int(predicted[0]), -1, (int(predicted[2]) + 1) % 3])  # right, unmapped, wrong
    curves = PM.masking_curves(model, [(pixels[:2], labels[:2]), (pixels[2:], labels[2:])], 3, GRID,
                               fractions=[0.0, 0.5], strategies=["random", "centre"], seeds=[0, 1],
                               methods=["fill"])
    assert len(curves) == 2 * 2 + 2  # random over two seeds, centre once
    zero = curves[curves.fraction == 0.0]
    assert (zero.agreement == 1.0).all() and (zero.accuracy == 0.5).all()
    summary = PM.summarise_curves(curves)
    assert set(summary.strategy) == {"random", "centre"} and "agreement_std" in summary
    with pytest.raises(ValueError, match="expected 4"):
        PM.masking_curves(model, [(pixels, labels)], 4, GRID, [0.0], ["centre"], [0], ["fill"])


def test_label_mapping_by_name_or_explicit_map():
    accept = PM.accepted_classes(["cat", "ship", "frog"], ["ship", "tabby cat"], {"cat": "tabby cat"})
    assert accept.tolist() == [[False, True], [True, False], [False, False]]


def test_class_map_accepts_several_model_classes_and_scores_accuracy_through_them(tiny_vit, pixels):
    """CIFAR-10 → ImageNet-1k: a dog image is right when the model says any dog breed; deer has no ImageNet class."""
    cmap = PM.load_class_map("cifar10_imagenet1k")
    imagenet = [f"n{i}" for i in range(1000)]
    cifar = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    accept = PM.accepted_classes(cifar, imagenet, class_map=cmap)
    assert accept[cifar.index("dog")].sum() == 118 and accept[cifar.index("dog"), 207]  # 207: golden retriever
    assert not accept[cifar.index("deer")].any() and accept[cifar.index("horse")].tolist().index(True) == 339
    assert not (accept.sum(axis=0) > 1).any()  # no ImageNet class counts for two CIFAR classes
    with pytest.raises(ValueError, match="1000-class model"):
        PM.accepted_classes(cifar, ["a", "b"], class_map=cmap)
    shapes = PM.accepted_classes(["circle", "square"], ["square", "circle"], class_map=cmap)  # classes it does not list
    assert shapes.tolist() == [[False, True], [True, False]]
    # accuracy through the map: the tiny model's prediction counts when it is in the image's accepted set
    model = tiny_vit[0]
    with torch.no_grad():
        pred = model(pixel_values=pixels).logits.argmax(-1)
    n_cls = model.config.num_labels
    rows = torch.zeros(len(pred), n_cls, dtype=torch.bool)
    rows[0, pred[0]] = True                     # accepted set holds the prediction
    rows[1, (pred[1] + 1) % n_cls] = True       # does not
    # row 2 accepts nothing: agreement only
    curves = PM.masking_curves(model, [(pixels[:3], rows)], 3, GRID, [0.0], ["centre"], [0], ["fill"])
    assert curves.accuracy.iloc[0] == 0.5 and curves.agreement.iloc[0] == 1.0


def test_cifar10_imagenet_class_map_names_the_right_imagenet_classes():
    import archlab  # noqa: F401
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    cmap = PM.load_class_map("cifar10_imagenet1k")
    for index, name in cmap["names"].items():
        assert _IMAGENET_CATEGORIES[index] == name, f"cifar10_imagenet1k.yaml: index {index} is {_IMAGENET_CATEGORIES[index]!r}"
    assert all(i in sum(cmap["classes"].values(), []) for i in cmap["names"])


# --- linear probe ----------------------------------------------------------------------------------

def _blobs(n, seed, shift=3.0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return rng.normal(size=(n, 8)) + shift * np.eye(3, 8)[y], y


def test_probe_separates_blobs_and_is_at_chance_on_noise():
    result = linear_probe(_blobs(300, 0), _blobs(100, 1), _blobs(300, 2), cs=(0.1, 1.0))
    assert result["test_accuracy"] > 0.9 and result["C"] in (0.1, 1.0)
    noise = linear_probe(_blobs(300, 0, 0.0), _blobs(100, 1, 0.0), _blobs(300, 2, 0.0), cs=(1.0,))
    assert noise["test_accuracy"] < 0.5


def test_probe_subsets_are_drawn_per_seed_without_replacement_and_reproduce():
    from archlab.studies.vit.jobs import probe_subset

    subsets = {seed: probe_subset(200, 0.8, seed) for seed in (0, 1, 2)}
    for rows in subsets.values():
        assert len(rows) == 160 and len(set(rows.tolist())) == 160 and rows.min() >= 0 and rows.max() < 200
    assert len({tuple(rows) for rows in subsets.values()}) == 3  # every seed its own subset
    np.testing.assert_array_equal(probe_subset(200, 0.8, 1), subsets[1])
    np.testing.assert_array_equal(probe_subset(200, 1.0, 5), np.arange(200))  # subsample 1: every image


def test_probe_job_fits_each_seed_on_its_subsample_and_the_same_seed_reproduces(tmp_path):
    """vit_probe: train rows subsampled per seed (n_train recorded), val/test whole, same seed → same results."""
    import json
    from types import SimpleNamespace

    from archlab.studies.vit.jobs import POOLINGS, probe

    arrays = {}
    for split, (n, seed) in {"train": (200, 0), "val": (60, 1), "test": (90, 2)}.items():
        x, y = _blobs(n, seed, shift=1.0)  # overlapping classes: the fitted subset shows in the numbers
        arrays |= {f"{split}/{pooling}": x + i for i, pooling in enumerate(POOLINGS)} | {f"{split}/y": y}
    np.savez(tmp_path / "features.npz", **arrays)

    def run(seed: int, name: str) -> dict:
        out = tmp_path / name / "results.json"
        out.parent.mkdir()
        probe(SimpleNamespace(input={"features": str(tmp_path / "features.npz")}, output={"results": str(out)},
                              params={"cs": [1.0], "max_iter": 500, "subsample": 0.5, "seed": seed}))
        return json.loads(out.read_text())

    first, again, other = run(0, "a"), run(0, "b"), run(1, "c")
    assert first == again
    assert set(first) == set(POOLINGS)
    for result in (first, other):
        assert all(r["n_train"] == 100 and r["n_val"] == 60 and r["n_test"] == 90 for r in result.values())
    scores = {name: [(r["train_accuracy"], r["test_accuracy"]) for r in res.values()] for name, res in
              (("seed 0", first), ("seed 1", other))}
    assert scores["seed 0"] != scores["seed 1"]  # fitted on different images


# --- Grad-CAM ---------------------------------------------------------------------------------------

def test_gradcam_highlights_where_the_evidence_is():
    conv = nn.Conv2d(1, 1, 1, bias=False)
    nn.init.ones_(conv.weight)
    head = nn.Linear(1, 2)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0], [-1.0]]))
    model = nn.Sequential(conv, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), head)
    x = torch.zeros(2, 1, 16, 16)
    x[0, :, 1:5, 1:5] = 1
    x[1, :, 10:14, 8:12] = 1
    maps = gradcam_maps(model, model[1], x, classes=[0, 0])
    assert maps.shape == (2, 16, 16) and maps.max() <= 1
    assert maps[0, 1:5, 1:5].mean() > 0.9 and maps[0, 10:, 10:].max() < 0.1
    assert maps[1, 10:14, 8:12].mean() > 0.9
    assert map_correlation(maps, maps) == pytest.approx([1.0, 1.0])


# --- figures ------------------------------------------------------------------------------------------

def test_figures_are_written(tmp_path):
    import pandas as pd

    from archlab.plots import vit as P

    images = np.zeros((2, 16, 16, 3), np.uint8)
    P.overlay_grid(images, {"mean": np.random.rand(2, 16, 16), "rollout": np.random.rand(2, 16, 16)},
                   tmp_path / "overlay.png", row_titles=["a", "b"])
    P.head_statistics(np.random.rand(3, 2) * 20, np.random.rand(3, 2), tmp_path / "heads.png")
    curves = pd.DataFrame([{"method": "fill", "strategy": s, "fraction": f, "seed": 0, "masked_patches": 0,
                            "accuracy": 1 - f, "agreement": 1 - f / 2, "confidence": 0.9 - f / 2}
                           for s in PM.STRATEGIES for f in (0.0, 0.5)])
    P.masking_curves(PM.summarise_curves(curves), tmp_path / "masking.png",
                     published=[{"label": "B car, random", "fraction": 0.3, "metric": "confidence", "value": 0.78}])
    assert all((tmp_path / name).stat().st_size > 1000 for name in ("overlay.png", "heads.png", "masking.png"))
