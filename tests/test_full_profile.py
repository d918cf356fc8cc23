"""The full profile on a real cluster: no key accepted and ignored, weights checked in their cache, offline
fetch from a present cache, a report banner that names the profile's data."""
import pytest

from archlab.cli import main

from conftest import copy_params


@pytest.mark.parametrize("entry, key", [
    ("cifar10: {source: torchvision, download: true, val_size: 5000, seed: 0, classes: 5}", "classes"),
    ("cifar10: {source: torchvision, download: true, val_size: 5000, seed: 0, image_size: 64}", "image_size"),
    ("mnist: {source: digits, val_size: 100, shape_offset: 3}", "shape_offset"),
    ("fashionmnist: {source: debian, val_size: 100, download: false}", "download"),
    ("spare: {kind: cifar10, source: synthetic, train_size: 100, test_size: 50, val_size: 20, path: /data/x}", "path"),
])
def test_a_key_the_source_ignores_is_refused_at_validate(tmp_path, capsys, entry, key):
    root = copy_params(tmp_path / "p")
    (root / "config" / "x.yaml").write_text(f"profile: x\ndata:\n  {entry}\n")
    assert main(["validate", "--profile", "x", "--root", str(root)]) == 2
    err = capsys.readouterr().err
    name = entry.split(":")[0]
    assert len(err.strip().splitlines()) == 1
    assert f"data.{name}.{key}=" in err and "has no effect on source" in err and f"remove data.{name}.{key}" in err


def test_the_keys_a_source_reads_still_validate(tmp_path, capsys):
    root = copy_params(tmp_path / "p")
    (root / "config" / "x.yaml").write_text(
        "profile: x\ndata:\n  spare: {kind: cifar10, source: synthetic, train_size: 100, test_size: 50, val_size: 20, classes: 5, image_size: 16, "
        "shape_offset: 2}\n")
    assert main(["validate", "--profile", "x", "--root", str(root)]) == 0, capsys.readouterr().err


# ------------------------------------------------------------------ weights: the cache, not the marker
from test_real_formats import _hf_cache_snapshot, offline  # noqa: E402,F401  (the real cache layouts)

from archlab.models import weights  # noqa: E402

FULL_WEIGHTS = {"vit_predict": "hf:google/vit-base-patch16-224", "clip_images": "open_clip:ViT-B-32-quickgelu:openai",
                "resnet_features": "torchvision:resnet152:IMAGENET1K_V1"}


def _open_clip_cache(resources):
    """open_clip's hub weights file for the full profile's CLIP, in the Hugging Face cache layout."""
    from open_clip.pretrained import get_pretrained_cfg

    _, name, tag = FULL_WEIGHTS["clip_images"].split(":")
    repo = get_pretrained_cfg(name, tag)["hf_hub"].rstrip("/")
    snapshot = _hf_cache_snapshot(weights.cache_dir(resources, "open_clip"), repo)
    (snapshot / "open_clip_pytorch_model.bin").write_bytes(b"weights")


@pytest.mark.parametrize("rule", sorted(FULL_WEIGHTS))
def test_a_marker_without_its_cache_is_one_archlab_message_with_exit_3(tmp_path, capsys, offline, rule):
    root = copy_params(tmp_path / "p")
    spec = FULL_WEIGHTS[rule]
    weights.marker_path(spec, root / "resources").parent.mkdir(parents=True)
    weights.marker_path(spec, root / "resources").write_text(spec + "\n")  # the marker copied, the cache not
    wildcards = {"resnet_features": ["variant=resnet152"], "clip_images": [], "vit_predict": []}[rule]
    code = main(["run", rule, *wildcards, "--profile", "full", "--root", str(root)])
    err = capsys.readouterr().err
    assert code == 3 and "Traceback" not in err, err
    assert f"weights {spec}: the marker" in err and "exists but the cache lacks" in err
    assert "copy the whole resources/weights/ folder" in err


def test_open_clip_fetch_offline_succeeds_from_a_present_cache(tmp_path, offline, capsys):
    spec = FULL_WEIGHTS["clip_images"]
    resources = tmp_path / "res"
    assert weights.missing_from_cache(weights.parse(spec), resources)  # empty cache: something is missing
    _open_clip_cache(resources)
    assert main(["fetch-weights", spec, "--resources", str(resources)]) == 0, capsys.readouterr().err
    assert weights.marker_path(spec, resources).read_text() == spec + "\n"
    weights.ensure_available(spec, resources)


def test_hf_and_torchvision_fetch_offline_succeed_from_a_present_cache(tmp_path, offline, capsys):
    import torchvision.models as tvm

    resources = tmp_path / "res"
    hf = FULL_WEIGHTS["vit_predict"]
    snapshot = _hf_cache_snapshot(weights.cache_dir(resources, "hf"), hf.split(":", 1)[1])
    for name in ("config.json", "preprocessor_config.json", "model.safetensors"):
        (snapshot / name).write_text("{}")
    tv = "torchvision:resnet18:IMAGENET1K_V1"
    url = tvm.ResNet18_Weights.IMAGENET1K_V1.url
    (weights.cache_dir(resources, "torchvision") / url.rsplit("/", 1)[-1]).parent.mkdir(parents=True)
    (weights.cache_dir(resources, "torchvision") / url.rsplit("/", 1)[-1]).write_bytes(b"x")
    for spec in (hf, tv):
        assert main(["fetch-weights", spec, "--resources", str(resources)]) == 0, capsys.readouterr().err
        assert weights.marker_path(spec, resources).exists()
    (snapshot / "model.safetensors").unlink()  # a partial copy: loading would fail, so the check does
    assert weights.missing_from_cache(weights.parse(hf), resources) == [
        "google/vit-base-patch16-224/model.safetensors (or pytorch_model.bin)"]


# ------------------------------------------------------------------ the report's banner names the real data
def test_the_banner_names_the_profiles_data(tmp_path):
    from archlab.commands.report import data_in_words
    from archlab.report.render import render
    from archlab.io import read_json
    from archlab.report.section import Section

    from conftest import ROOT

    Section("resnet", "S1", "smoke", "tiny").text("x").write(tmp_path / "section.json", tmp_path / "dvc" / "m.json")
    data = data_in_words({"cifar10": {"source": "torchvision", "sizes": {"train": 300, "val": 100, "test": 200}},
                          "photos_x": {"source": "skimage", "sizes": {"test": 8}}})
    assert data == "cifar10 (torchvision: 300 train, 100 validation, 200 test images); photos_x (skimage: 8 test images)"
    out = render([read_json(tmp_path / "section.json")], "T", "smoke", tmp_path / "r", ROOT / "report" / "templates", data=data)
    md, html, tex = (out[fmt].read_text() for fmt in ("md", "html", "tex"))
    assert "profile, on cifar10 (torchvision: 300 train" in md and "config/smoke.yaml" in md
    assert "cifar10 (torchvision: 300 train" in html and r"photos\_x (skimage" in tex
    assert not any("synthetic or bundled" in text for text in (md, html, tex))


# ------------------------------------------------------------------ fair comparisons in the full profile
def test_the_s1_arms_train_at_one_setting():
    """Head-only, last-block, full fine-tune and from-scratch differ only in what trains and where it starts:
    STUDIES.md's one S1 setting (Adam 1e-3, batch 128, 5 epochs) for every arm."""
    from archlab.config import load_params

    from conftest import ROOT

    s1 = load_params("full", ROOT)["resnet"]
    assert s1["strategies"]["optimizer"] == s1["head"]["optimizer"] == {"name": "adam", "lr": 1.0e-3}
    assert s1["strategies"]["epochs"] == s1["head"]["epochs"] == 5 and s1["batch_size"] == 128


def test_s7_deeper_vs_simple_states_everything_its_rungs_differ_in():
    """The claim's `varies` is exactly what the full profile's two ladder rungs differ in: a verdict credits
    the whole recipe, and a change to either rung that the claim does not list fails here."""
    import yaml

    from archlab.config import load_params

    from conftest import ROOT

    claims = yaml.safe_load((ROOT / "src" / "archlab" / "report" / "claims.yaml").read_text())["claims"]
    claim = next(c for c in claims if c["id"] == "S7-deeper-vs-simple")
    ladder = load_params("full", ROOT)["ood"]["ladder"]
    assert claim["b"]["match"]["model"] == "{ood.ladder.0.name}" and claim["a"]["match"]["model"] == "deeper"
    simple, deeper = ladder[0], next(rung for rung in ladder if rung["name"] == "deeper")
    differ = {k for k in simple.keys() | deeper.keys() if simple.get(k) != deeper.get(k)} - {"name", "published"}
    assert differ == set(claim["varies"])
