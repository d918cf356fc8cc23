"""S5 jobs end to end, in-process, on the tiny test profile (``archlab run``; no Snakemake, no subprocesses)."""
import numpy as np
import pandas as pd
import pytest
import yaml

from archlab.cli import main
from archlab.io import read_json
from archlab.metrics.alignment import ensemble_embedding
from archlab.workflow.provenance import read_run_params

pytestmark = pytest.mark.slow

RULES = ["pretrain", "images", "texts", "zeroshot", "gap", "procrustes", "projections", "section"]


def _run(root, rule: str, *wildcards: str) -> None:
    assert main(["run", rule, *wildcards, "--profile", "test", "--root", str(root)]) == 0, (rule, wildcards)


def _edit_test_profile(root, edit) -> None:
    path = root / "config" / "test.yaml"
    cfg = yaml.safe_load(path.read_text())
    edit(cfg)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from conftest import copy_params

    project = copy_params(tmp_path_factory.mktemp("clip"))
    _edit_test_profile(project, lambda cfg: cfg.update(studies=["clip"]))
    for name in ("stl10", "clip_pairs"):
        _run(project, "data_prepare", f"name={name}")
    for rule in RULES:  # weights specs (file:results/...) are relative to the project root
        _run(project, f"clip_{rule}")
    return project / "results" / "test" / "clip"


def test_section_reports_every_experiment_from_written_artifacts(built):
    section = read_json(built / "section" / "section.json")
    headings = [b["text"] for b in section["blocks"] if b["kind"] == "heading"]
    assert any("Zero-shot" in h for h in headings) and any("modality gap" in h for h in headings)
    assert any("held-out vs. in-sample" in h for h in headings)
    figures = [b["path"] for b in section["blocks"] if b["kind"] == "figure"]
    assert len(figures) == 2 and all((built.parents[2] / f).exists() for f in figures)
    metrics = pd.read_csv(built / "procrustes" / "metrics.csv")
    assert set(metrics["protocol"]) == {"held_out", "in_sample"}
    assert set(metrics["method"]) == {"none", "centroid_shift", "procrustes"}


def test_every_run_records_what_it_received_and_the_section_agrees(built):
    for rule in RULES:
        assert (built / rule / "params.json").exists(), rule
    section = read_json(built / "section" / "section.json")
    texts, gap = read_run_params(built / "texts" / "params.json"), read_run_params(built / "gap" / "params.json")
    assert f"CLIP weights `{texts['weights']}`" in section["setting"]
    assert f"gap sample {gap['gap']['n_samples']} test images" in section["setting"]
    assert f"n = {len(gap['seeds'])}" in section["setting"]


def test_held_out_alignment_is_scored_on_the_whole_test_split(built):
    # before alignment, held-out zero-shot must equal the zero-shot job's number on the test split
    metrics = pd.read_csv(built / "procrustes" / "metrics.csv")
    none = metrics[(metrics["protocol"] == "held_out") & (metrics["method"] == "none")]
    photo = read_json(built / "zeroshot" / "metrics.json")["accuracy"]["photo"]
    assert np.allclose(none["zero_shot_accuracy"], photo)
    with np.load(built / "images" / "test.npz") as f:
        assert read_json(built / "zeroshot" / "metrics.json")["n_images"] == len(f["labels"])


def test_zero_shot_reads_the_image_cache_after_a_prompt_change(built):
    # a prompt change never reaches clip_images (tests/test_clip_plan.py); the jobs it does reach
    # read the image cache rather than re-encoding the images
    project = built.parents[2]
    _edit_test_profile(project, lambda cfg: cfg["clip"].update(prompts={"art": ["a drawing of a {c}."]}))  # deep-merged
    _run(project, "clip_texts")
    with np.load(built / "texts" / "text.npz") as f:
        assert "art" in f.files
        photo = ensemble_embedding(f["photo"])
    # plant image embeddings equal to their class's text embedding: only a job that reads the
    # cache (rather than re-encoding the images) can then score 100%
    cache = built / "images" / "test.npz"
    with np.load(cache) as f:
        labels = f["labels"]
    np.savez(cache, embeddings=photo[labels].astype(np.float32), labels=labels)
    _run(project, "clip_zeroshot")
    accuracy = read_json(built / "zeroshot" / "metrics.json")["accuracy"]
    assert "art" in accuracy and accuracy["photo"] == 1.0


def test_a_pretrain_change_retrains_for_real_and_writes_every_output(built):
    # issue 13: after a clip.pretrain change the old loop "resumed" any checkpoint, trained nothing and
    # ended without history.csv. A checkpoint left by another run must be ignored and every output written.
    import torch

    project, pre = built.parents[2], built / "pretrain"
    weights = pre / "model" / "open_clip_pytorch_model.bin"
    old_weights = torch.load(weights, weights_only=True)
    old_run = read_json(pre / "params.json")
    epochs = old_run["params"]["epochs"] + 1
    torch.save({"model": old_weights, "optimizer": {}, "epoch": epochs, "history": [],
                "identity": old_run["identity"]}, pre / "checkpoint.pt")  # as if the old run had stopped late
    _edit_test_profile(project, lambda cfg: cfg["clip"]["pretrain"].update(epochs=epochs))
    _run(project, "clip_pretrain")
    history = pd.read_csv(pre / "history.csv")
    assert list(history["epoch"]) == list(range(1, epochs + 1))
    new_weights = torch.load(weights, weights_only=True)
    assert any(not torch.equal(new_weights[k], old_weights[k]) for k in old_weights)
    assert read_run_params(pre / "params.json")["epochs"] == epochs
    assert read_json(pre / "metrics.json")["epochs"] == epochs
    assert not (pre / "checkpoint.pt").exists()  # the runner removes it once the run is complete
