"""S3 GAN: loss signs, gradient magnitudes, label smoothing, D bookkeeping, training and resume."""
import archlab  # noqa: F401  (before torchvision, see archlab._torchvision_compat)

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from archlab.metrics.diversity import DiversityProbe
from archlab.models.gan import Discriminator, Generator, init_normal_
from archlab.studies.gan.plan import scenario_runs
from archlab.train.checkpoint import Checkpoint
from archlab.train.gan import (GanConfig, discriminator_accuracy, discriminator_loss, discriminator_step,
                               generator_loss, generator_step, summarise, train_gan)

torch.set_num_threads(1)
SIDE = 8


def tiny_pair(seed: int = 0, d_bias: float | None = None) -> tuple[Generator, Discriminator]:
    torch.manual_seed(seed)
    G = init_normal_(Generator(latent_dim=8, hidden=(16, 32), image_side=SIDE), 0.2)
    D = init_normal_(Discriminator(SIDE * SIDE, (32, 16)), 0.2)
    if d_bias is not None:  # a discriminator that is sure every input is fake
        nn.init.constant_(D.net[-1].bias, d_bias)
    return G, D


def mean_d_of_fakes(G, D, z):
    with torch.no_grad():
        return torch.sigmoid(D(G(z))).mean().item()


@pytest.mark.parametrize("kind", ["non_saturating", "saturating"])
def test_one_generator_step_raises_mean_d_of_fakes_for_a_fixed_d(kind):
    G, D = tiny_pair()
    z = torch.randn(64, 8, generator=torch.Generator().manual_seed(1))
    d_before = copy.deepcopy(D.state_dict())
    before = mean_d_of_fakes(G, D, z)
    generator_step(G, D, torch.optim.SGD(G.parameters(), lr=0.05), z, kind)
    assert mean_d_of_fakes(G, D, z) > before
    for name, tensor in D.state_dict().items():  # D is fixed: untouched and without gradients
        assert torch.equal(tensor, d_before[name])
    assert all(p.grad is None and p.requires_grad for p in D.parameters())


def test_loss_gradients_near_d_of_fakes_zero():
    """At D(G(z)) ≈ 0 the saturating loss's gradient is ≈ D (vanishes), the non-saturating ≈ 1."""
    logits = torch.full((4,), -8.0, requires_grad=True)
    p = torch.sigmoid(torch.tensor(-8.0)).item()
    grads = {}
    for kind in ("saturating", "non_saturating"):
        grad, = torch.autograd.grad(generator_loss(logits, kind), logits)
        grads[kind] = grad
    # minimising either loss pushes the logit up (negative gradient)
    torch.testing.assert_close(grads["saturating"], torch.full((4,), -p / 4))
    torch.testing.assert_close(grads["non_saturating"], torch.full((4,), -(1 - p) / 4))
    assert grads["non_saturating"].abs().min() > 1000 * grads["saturating"].abs().max()


def test_saturating_loss_starves_generator_first_layer():
    G, D = tiny_pair(d_bias=-12.0)
    z = torch.randn(32, 8, generator=torch.Generator().manual_seed(2))
    assert mean_d_of_fakes(G, D, z) < 1e-4
    norms = {kind: generator_step(copy.deepcopy(G), D, torch.optim.SGD(G.parameters(), lr=0.0), z,
                                  kind)["g_grad_norm"].item()
             for kind in ("saturating", "non_saturating")}
    assert 0 < norms["saturating"] < 1e-3 * norms["non_saturating"]


def test_label_smoothing_changes_only_the_real_targets():
    real = torch.tensor([0.3, 2.0, -1.0], requires_grad=True)
    fake = torch.tensor([-0.5, 1.5], requires_grad=True)
    grads = {}
    for label in (1.0, 0.9):
        loss = discriminator_loss(real, fake, real_label=label)
        expected = (F.binary_cross_entropy_with_logits(real, torch.full((3,), label))
                    + F.binary_cross_entropy_with_logits(fake, torch.zeros(2)))
        torch.testing.assert_close(loss, expected)
        grads[label] = torch.autograd.grad(loss, (real, fake))
    torch.testing.assert_close(grads[1.0][1], grads[0.9][1])  # fakes: same target 0 either way
    assert not torch.allclose(grads[1.0][0], grads[0.9][0])
    # with smoothing a real scored D = 0.9 is already optimal; a fake is only optimal at D = 0
    at_09 = torch.logit(torch.tensor([0.9])).requires_grad_()
    grad_real, = torch.autograd.grad(discriminator_loss(at_09, torch.full((1,), -30.0), 0.9), at_09)
    assert grad_real.abs().item() < 1e-6
    grad_fake, = torch.autograd.grad(discriminator_loss(torch.full((1,), 30.0), at_09, 0.9), at_09)
    torch.testing.assert_close(grad_fake, torch.tensor([0.9]))


class MeanPixelD(nn.Module):
    """Logit = 10 · mean pixel + bias: separates all-white (real) from all-black (fake) images."""

    def __init__(self, bias: float):
        super().__init__()
        self.bias = bias

    def forward(self, x):
        return 10 * x.flatten(1).mean(1) + self.bias


def test_heldout_accuracy_counts_real_and_fake():
    real, fake = torch.ones(30, 1, SIDE, SIDE), -torch.ones(10, 1, SIDE, SIDE)
    assert discriminator_accuracy(MeanPixelD(0.0), real, fake)["accuracy"] == 1.0
    says_real = discriminator_accuracy(MeanPixelD(100.0), real, fake)
    assert (says_real["accuracy_real"], says_real["accuracy_fake"]) == (1.0, 0.0)
    assert says_real["accuracy"] == pytest.approx(30 / 40)  # pooled over every image scored
    says_fake = discriminator_accuracy(MeanPixelD(-100.0), real, fake)
    assert says_fake["accuracy"] == pytest.approx(10 / 40)


def test_discriminator_step_reports_outputs_of_the_stepped_discriminator():
    G, D = tiny_pair()
    real = torch.rand(16, 1, SIDE, SIDE) * 2 - 1
    z = torch.randn(16, 8)
    before, g_before = copy.deepcopy(D), copy.deepcopy(G.state_dict())
    out = discriminator_step(G, D, torch.optim.SGD(D.parameters(), lr=0.5), real, z, 1.0)
    with torch.no_grad():
        assert out["d_real"].item() == pytest.approx(torch.sigmoid(before(real)).mean().item())
        assert out["d_fake"].item() == pytest.approx(torch.sigmoid(before(G(z))).mean().item())
    assert any(not torch.equal(a, b) for a, b in zip(D.state_dict().values(), before.state_dict().values()))
    assert all(torch.equal(t, g_before[k]) for k, t in G.state_dict().items())


def test_scenarios_are_overrides_of_the_baseline():
    baseline = {"lr_g": 2e-4, "lr_d": 2e-4, "d_steps": 1}
    runs = scenario_runs(baseline, {"collapse": {"pathology": {"lr_g": 2e-3}, "mitigation": {"d_steps": 2}}})
    assert runs == {"baseline": {"lr_g": 2e-4, "lr_d": 2e-4, "d_steps": 1}, "collapse": {"lr_g": 2e-3, "lr_d": 2e-4, "d_steps": 1},
                    "collapse_mitigated": {"lr_g": 2e-3, "lr_d": 2e-4, "d_steps": 2}}
    assert GanConfig.from_dict({"g_hidden": [4, 8]}).g_hidden == (4, 8)
    with pytest.raises(ValueError, match="unknown GAN settings"):
        GanConfig.from_dict({"lr_gen": 1e-3})
    with pytest.raises(ValueError, match="g_loss"):
        GanConfig(g_loss="minimax")


def test_summary_is_the_median_of_the_last_epochs():
    history = [{"epoch": e, "g_grad_norm": v, "class_coverage": c}
               for e, (v, c) in enumerate([(9.0, 1), (1e-4, 2), (5.0, 3), (2e-4, 3)], 1)]
    assert summarise(history, last=3) == {"g_grad_norm": 2e-4, "class_coverage": 3.0}


class PixelClassifier(nn.Module):
    """A fixed 'classifier' for tests: class = which of 4 random projections of the image is largest."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(SIDE * SIDE, 4)
        self.head = nn.Identity()

    def features(self, x):
        return self.proj(x.flatten(1))


def toy_images(n: int, seed: int) -> torch.Tensor:
    """Bright squares at random positions on a dark background, in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    x = -torch.ones(n, 1, SIDE, SIDE)
    corners = torch.randint(0, SIDE - 3, (n, 2), generator=g)
    for img, (r, c) in zip(x, corners.tolist()):
        img[:, r:r + 3, c:c + 3] = 1.0
    return x


def run_tiny(tmp_path, epochs: int, checkpoint=None, **overrides):
    torch.manual_seed(0)
    probe = DiversityProbe(PixelClassifier(), toy_images(32, 9), n_classes=4, min_share=0.05)
    cfg = GanConfig(latent_dim=8, g_hidden=(16, 32), d_hidden=(32, 16), batch_size=16, epochs=epochs,
                    init_std=0.1, lr_g=1e-3, lr_d=1e-3, **overrides)
    return train_gan(cfg, toy_images(64, 1), toy_images(32, 2), probe, seed=3, device=torch.device("cpu"),
                     n_eval=32, sample_every=2, n_grid=4, checkpoint=checkpoint, progress=False)


def test_training_records_every_measure_and_resumes_exactly(tmp_path):
    straight = run_tiny(tmp_path, epochs=3, d_dropout=0.3, d_steps=2)
    assert [row["epoch"] for row in straight.history] == [1, 2, 3]
    row = straight.history[-1]
    for key in ("d_loss", "g_loss", "d_real", "d_fake", "g_grad_norm", "d_acc_heldout", "d_overfit_gap",
                "pixel_variance", "mean_pairwise_distance", "class_coverage", "class_entropy_bits",
                "frechet_distance", "class_0"):
        assert np.isfinite(row[key]), key
    assert sum(row[f"class_{c}"] for c in range(4)) == 32
    assert sorted(straight.grids) == [0, 2, 3] and straight.grids[3].shape == (4, SIDE, SIDE)

    ckpt = Checkpoint(tmp_path / "ckpt.pt", "run-a")
    run_tiny(tmp_path, epochs=2, checkpoint=ckpt, d_dropout=0.3, d_steps=2)  # "interrupted" after 2
    resumed = run_tiny(tmp_path, epochs=3, checkpoint=ckpt, d_dropout=0.3, d_steps=2)
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.history]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in straight.history]
    for a, b in zip(resumed.G.parameters(), straight.G.parameters()):
        assert torch.equal(a, b)
    # resumed after its last epoch: nothing left to train, yet the whole history and every grid come back
    again = run_tiny(tmp_path, epochs=3, checkpoint=ckpt, d_dropout=0.3, d_steps=2)
    assert [r["epoch"] for r in again.history] == [1, 2, 3] and sorted(again.grids) == sorted(straight.grids)
    assert all(np.array_equal(again.grids[e], straight.grids[e]) for e in straight.grids)


def test_a_checkpoint_of_another_run_is_not_resumed(tmp_path):
    run_tiny(tmp_path, epochs=2, checkpoint=Checkpoint(tmp_path / "ckpt.pt", "other-run"), real_label=0.9)
    fresh = run_tiny(tmp_path, epochs=2, checkpoint=Checkpoint(tmp_path / "ckpt.pt", "this-run"))
    straight = run_tiny(tmp_path, epochs=2)
    assert [r["g_loss"] for r in fresh.history] == [r["g_loss"] for r in straight.history]


def test_a_training_set_smaller_than_one_batch_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="cannot fill one batch"):
        run_tiny(tmp_path, epochs=1, train_size=8)


def test_steps_per_epoch_repeats_passes_over_few_images(tmp_path, monkeypatch):
    """A run on 32 of the 64 images with steps_per_epoch = 4 trains as many G steps as the full-data run."""
    import archlab.train.gan as T

    calls = []
    real_step = T.generator_step
    monkeypatch.setattr(T, "generator_step", lambda *a, **k: calls.append(1) or real_step(*a, **k))
    run_tiny(tmp_path, epochs=2)
    full = len(calls)
    calls.clear()
    run_tiny(tmp_path, epochs=2, train_size=32)
    assert len(calls) == full // 2
    calls.clear()
    run_tiny(tmp_path, epochs=2, train_size=32, steps_per_epoch=64 // 16)
    assert len(calls) == full == 2 * (64 // 16)


@pytest.mark.parametrize("profile", ["full", "demo", "test"])
def test_the_overfit_pair_keeps_the_baselines_generator_steps(profile):
    """Derived in the plan from the data spec: runs on fewer images get the baseline's G steps per epoch."""
    from archlab.config import load_params
    from archlab.workflow.pipeline import Paths, Pipeline
    from archlab.studies.gan.plan import train_images

    cfg = load_params(profile)
    spec = cfg["data"][cfg["gan"]["data"]]
    n_train = train_images(spec, spec.get("kind", cfg["gan"]["data"]))
    runs = {j.params["run"]: j.params["config"] for j in Pipeline({**cfg, "studies": ["gan"]}, Paths(profile)).jobs
            if j.rule.name == "gan_train"}
    base = runs["baseline"]
    assert "steps_per_epoch" not in base
    for name in ("overfit", "overfit_mitigated"):
        r = runs[name]
        assert r["train_size"] < n_train and r["steps_per_epoch"] == n_train // base["batch_size"]
        assert r["steps_per_epoch"] * r["epochs"] == n_train // base["batch_size"] * base["epochs"]
    assert all("steps_per_epoch" not in r for n, r in runs.items() if not n.startswith("overfit"))
    off = {**cfg, "gan": {**cfg["gan"], "keep_generator_steps": False}, "studies": ["gan"]}
    assert all("steps_per_epoch" not in j.params["config"] for j in Pipeline(off, Paths(profile)).jobs
               if j.rule.name == "gan_train")


def test_train_images_follows_prepare_dataset():
    from archlab.studies.gan.plan import train_images

    assert train_images({"source": "torchvision", "val_size": 5000}, "mnist") == 55000
    assert train_images({"source": "digits", "val_size": 150}, "mnist") == 1287
    assert train_images({"source": "synthetic", "train_size": 360, "val_size": 60}, "fashionmnist") == 300
    assert train_images({"source": "torchvision", "train_size": 1200, "val_size": 200}, "mnist") == 1000
    assert train_images({"source": "local"}, "mnist") is None
