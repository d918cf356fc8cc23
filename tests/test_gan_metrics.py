"""S3 diversity metrics: a collapsed batch must score as collapsed, a varied one as diverse."""
import archlab  # noqa: F401  (before torchvision, see archlab._torchvision_compat)

import numpy as np
import pytest
import torch
from torch import nn

from archlab.metrics.diversity import (DiversityProbe, class_coverage, class_histogram, frechet_distance,
                                       histogram_entropy, mean_pairwise_distance, pixel_variance)

torch.set_num_threads(1)


def varied_batch(n=200, side=28, seed=0):
    return torch.rand(n, 1, side, side, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def collapsed_batch(n=200, side=28):
    return varied_batch(1, side).expand(n, -1, -1, -1).clone()


def test_pixel_statistics_separate_collapsed_from_varied():
    same, varied = collapsed_batch(), varied_batch()
    assert pixel_variance(same) == 0.0 and mean_pairwise_distance(same) == 0.0
    assert pixel_variance(varied) == pytest.approx(1 / 3, rel=0.1)  # variance of U(-1, 1)
    assert mean_pairwise_distance(varied) == pytest.approx(np.sqrt(784 * 2 / 3), rel=0.05)


def test_class_coverage_ignores_stray_samples_and_entropy_is_in_bits():
    assert class_histogram(np.array([0, 0, 3]), 5).tolist() == [2, 0, 0, 1, 0]
    assert class_coverage(np.array([990, 10, 0, 0]), min_share=0.01) == 2
    assert class_coverage(np.array([995, 5, 0, 0]), min_share=0.01) == 1
    assert histogram_entropy(np.full(10, 7)) == pytest.approx(np.log2(10))
    assert histogram_entropy(np.array([0, 50, 0])) == 0.0


def test_frechet_distance_matches_the_gaussian_formula():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20000, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shift = np.array([1.0, 2.0, 0.0])
    assert frechet_distance(a, a + shift) == pytest.approx(5.0, abs=1e-6)
    # diagonal covariances: sum over dims of (std_a - std_b)²
    b = rng.normal(size=(20000, 3)) * np.array([1.0, 3.0, 0.5])
    assert frechet_distance(a, b) == pytest.approx(0 + 4 + 0.25, abs=0.15)
    # a dead (constant) feature makes the covariance singular but not the distance
    dead = np.c_[a, np.zeros(len(a))]
    assert frechet_distance(dead, dead + np.r_[shift, 0.0]) == pytest.approx(5.0, abs=1e-6)


class ProjectionClassifier(nn.Module):
    """Test classifier: the class is whichever of 10 fixed random projections of the image is largest."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
        self.head = nn.Identity()


def test_probe_scores_identical_images_as_collapsed_and_varied_as_diverse():
    probe = DiversityProbe(ProjectionClassifier(), varied_batch(300, seed=1), n_classes=10, min_share=0.02)
    collapsed, diverse = probe(collapsed_batch(300)), probe(varied_batch(300, seed=2))
    assert collapsed["class_coverage"] == 1 and collapsed["class_entropy_bits"] == 0.0
    assert diverse["class_coverage"] >= 8 and diverse["class_entropy_bits"] > 3.0
    assert sum(collapsed["class_histogram"]) == sum(diverse["class_histogram"]) == 300
    assert collapsed["pixel_variance"] == 0.0 < diverse["pixel_variance"]
    assert diverse["frechet_distance"] < 0.2 * collapsed["frechet_distance"]


def test_digit_classifier_learns_the_demo_digits(tmp_path):
    from archlab.data.prepare import prepare_dataset
    from archlab.data.prepared import PreparedDataset
    from archlab.models.digit_classifier import SIGNED_RANGE
    from archlab.train.classifier import evaluate
    from archlab.train.digit_classifier import train_digit_classifier

    prepare_dataset("mnist", {"source": "digits", "val_size": 150, "seed": 0}, tmp_path / "data", tmp_path / "raw")
    data = PreparedDataset(tmp_path / "data")
    model, history = train_digit_classifier(data.split("train"), data.split("val"), 10, epochs=4, batch_size=64,
                                            optimizer={"name": "adam", "lr": 2e-3}, seed=0, device=torch.device("cpu"), out_dir=tmp_path / "clf")
    assert len(history) == 4
    assert evaluate(model, data.split("test"), 256, torch.device("cpu"), SIGNED_RANGE)["acc"] > 0.9
