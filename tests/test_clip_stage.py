"""S5 stages end to end, in-process, on the tiny test profile (no Snakemake, no subprocesses)."""
import os

import numpy as np
import pandas as pd
import pytest
import yaml

from archlab.cli import main
from archlab.io import read_json
from archlab.metrics.alignment import ensemble_embedding

pytestmark = pytest.mark.slow

STEPS = ["pretrain", "images", "texts", "zeroshot", "gap", "procrustes", "projections", "section"]


def _archlab(*argv: str) -> None:
    assert main([*argv, "--profile", "test"]) == 0, argv


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from conftest import copy_params

    project = copy_params(tmp_path_factory.mktemp("clip"))
    cwd = os.getcwd()
    os.chdir(project)  # weights specs (file:results/...) are relative to the project root
    try:
        for name in ("stl10", "clip_pairs"):
            _archlab("data", name)
        for step in STEPS:
            _archlab("clip", step)
        yield project / "results" / "test" / "clip"
    finally:
        os.chdir(cwd)


def test_section_reports_every_experiment_from_written_artifacts(built):
    section = read_json(built / "section.json")
    headings = [b["text"] for b in section["blocks"] if b["kind"] == "heading"]
    assert any("Zero-shot" in h for h in headings) and any("modality gap" in h for h in headings)
    assert any("held-out vs. in-sample" in h for h in headings)
    figures = [b["path"] for b in section["blocks"] if b["kind"] == "figure"]
    assert len(figures) == 2 and all(os.path.exists(built.parents[2] / f) or os.path.exists(f) for f in figures)
    metrics = pd.read_csv(built / "procrustes" / "metrics.csv")
    assert set(metrics["protocol"]) == {"held_out", "in_sample"}
    assert set(metrics["method"]) == {"none", "centroid_shift", "procrustes"}


def test_held_out_alignment_is_scored_on_the_whole_test_split(built):
    # before alignment, held-out zero-shot must equal the zero-shot stage's number on the test split
    metrics = pd.read_csv(built / "procrustes" / "metrics.csv")
    none = metrics[(metrics["protocol"] == "held_out") & (metrics["method"] == "none")]
    photo = read_json(built / "zeroshot" / "metrics.json")["accuracy"]["photo"]
    assert np.allclose(none["zero_shot_accuracy"], photo)
    with np.load(built / "embeddings" / "test.npz") as f:
        assert read_json(built / "zeroshot" / "metrics.json")["n_images"] == len(f["labels"])


def test_image_cache_is_read_not_recomputed_when_prompts_change(built):
    project = built.parents[2]
    cfg_path = project / "config" / "test.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["clip"]["prompts"] = {"art": ["a drawing of a {c}."]}  # deep-merged: a new prompt set
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    cache = built / "embeddings" / "test.npz"
    stamp = cache.stat().st_mtime_ns

    cwd = os.getcwd()
    os.chdir(project)
    try:
        _archlab("clip", "images")
        assert cache.stat().st_mtime_ns == stamp  # present, so not re-encoded
        _archlab("clip", "texts")
        with np.load(built / "embeddings" / "text.npz") as f:
            assert "art" in f.files
            photo = ensemble_embedding(f["photo"])
        # plant image embeddings equal to their class's text embedding: only a stage that reads the
        # cache (rather than re-encoding the images) can then score 100%
        with np.load(cache) as f:
            labels = f["labels"]
        np.savez(cache, embeddings=photo[labels].astype(np.float32), labels=labels)
        _archlab("clip", "zeroshot")
    finally:
        os.chdir(cwd)
    accuracy = read_json(built / "zeroshot" / "metrics.json")["accuracy"]
    assert "art" in accuracy and accuracy["photo"] == 1.0
