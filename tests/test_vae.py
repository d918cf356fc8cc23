"""VAE library: closed-form KL, active units on a constructed encoder, MI bounds, priors,
per-image loss sums, free bits, checkpoint resume, and collapse vs annealing on tiny data."""
import math

import numpy as np
import pytest
import torch

import archlab  # noqa: F401  (CPU torchvision fix before anything imports torchvision)
from archlab.metrics.latent import active_units, diagnose, gaussian_kl_per_dim, mutual_information
from archlab.models.vae import ConvVAE, interpolate, make_prior, sample_prior
from archlab.train.checkpoint import Checkpoint
from archlab.train.kl_schedules import make_schedule
from archlab.train.vae import elbo_terms, evaluate, fit, objective, posterior_params

torch.set_num_threads(1)


def discs(n: int, seed: int) -> torch.Tensor:
    """Soft bright discs with random centre and radius: three continuous factors to encode."""
    rng = np.random.default_rng(seed)
    grid = np.arange(28) + 0.5
    cx, cy = rng.uniform(9, 19, (2, n))
    radius = rng.uniform(3.0, 8.0, n)
    dist = np.hypot(grid[None, None, :] - cx[:, None, None], grid[None, :, None] - cy[:, None, None])
    return torch.tensor(1 / (1 + np.exp((dist - radius[:, None, None]) / 0.7)), dtype=torch.float32)[:, None]


def batches(x: torch.Tensor, size: int, seed: int | None = None):
    order = torch.arange(len(x)) if seed is None else torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    return (x[order[i:i + size]] for i in range(0, len(x), size))


def tiny_vae(latent_dim: int = 6) -> ConvVAE:
    torch.manual_seed(0)
    return ConvVAE(latent_dim=latent_dim, channels=(8, 16), hidden=64)


def test_kl_equals_closed_form_for_known_mu_sigma():
    mu = torch.tensor([[0.0, 1.0, 0.0, 2.0, -0.5]])
    sigma = torch.tensor([[1.0, 1.0, 2.0, 0.5, 0.1]])
    kl = gaussian_kl_per_dim(mu, 2 * sigma.log())
    by_hand = [0.0, 0.5, 1.5 - math.log(2.0), 0.5 * (4 + 0.25 - 1) + math.log(2.0),
               0.5 * (0.25 + 0.01 - 1) - math.log(0.1)]
    assert kl[0].tolist() == pytest.approx(by_hand, abs=1e-6)
    reference = torch.distributions.kl_divergence(torch.distributions.Normal(mu, sigma),
                                                  torch.distributions.Normal(0.0, 1.0))
    assert torch.allclose(kl, reference, atol=1e-6)


def test_training_kl_is_the_closed_form_summed_per_image():
    model, x = tiny_vae(), discs(5, 0)
    _, kl = elbo_terms(model, x)
    mu_ref, logvar_ref = model.encode(x)
    expected = 0.5 * (mu_ref ** 2 + logvar_ref.exp() - 1 - logvar_ref)
    assert torch.allclose(kl, expected, atol=1e-6) and kl.shape == (5, 6)


def test_active_units_counts_exactly_the_dims_whose_mean_varies_with_x():
    model = tiny_vae(latent_dim=8)
    informative, dead = [0, 3, 6], [1, 2, 4, 5, 7]
    with torch.no_grad():
        model.to_mu.weight[informative] *= 200         # μ_d(x) moves with x ...
        model.to_mu.weight[dead] = 0                   # ... μ_d(x) = bias, whatever x is
        model.to_mu.bias[dead] = 3.0                   # far from the prior: large KL, yet no information
        model.to_logvar.weight.zero_()
        model.to_logvar.bias[informative] = 0.0        # σ = 1 on the informative dims: a σ-only
        model.to_logvar.bias[dead] = -6.0              # "collapse ratio" would call these collapsed
    mu, logvar = posterior_params(model, batches(discs(64, 1), 16))
    assert mu[:, informative].var(axis=0).min() > 0.01          # the construction did what it says
    assert active_units(mu) == len(informative)
    diag = diagnose(mu, logvar)
    assert diag["active_units"] == 3 and diag["collapsed_fraction"] == pytest.approx(5 / 8)
    assert min(diag["kl_per_dim"][d] for d in dead) > 4.5          # KL alone would not reveal it


def test_active_units_threshold_is_strict_on_the_variance_of_the_mean():
    rng = np.random.default_rng(0)
    signs = rng.choice([-1.0, 1.0], size=1000)       # variance of ±a is exactly a²
    mu = np.stack([signs * math.sqrt(0.02), signs * math.sqrt(0.005), np.full(1000, 5.0)], axis=1)
    assert active_units(mu) == 1
    assert active_units(mu, threshold=0.001) == 2


def test_mutual_information_is_zero_for_an_input_independent_posterior_and_log_n_at_most():
    n, d = 200, 4
    zeros = np.zeros((n, d))
    assert abs(mutual_information(zeros, zeros)) < 0.05
    separated = np.arange(n)[:, None] * 10.0 * np.ones((1, d))
    assert mutual_information(separated, np.full((n, d), -4.0)) == pytest.approx(math.log(n), abs=1e-3)
    overlapping = np.random.default_rng(0).normal(size=(n, d))
    assert 0.5 < mutual_information(overlapping, zeros) < math.log(n)


def test_priors_have_unit_variance_and_are_reproducible():
    draws = {name: sample_prior(make_prior(name), 20000, 4, torch.Generator().manual_seed(0))
             for name in ("normal", "laplace")}
    for z in draws.values():
        assert z.shape == (20000, 4)
        assert z.var().item() == pytest.approx(1.0, abs=0.05) and abs(z.mean().item()) < 0.03

    def excess_kurtosis(z):
        return (((z - z.mean()) / z.std()) ** 4).mean().item() - 3
    assert abs(excess_kurtosis(draws["normal"])) < 0.2
    assert excess_kurtosis(draws["laplace"]) == pytest.approx(3.0, abs=0.5)
    again = sample_prior(make_prior("laplace"), 20000, 4, torch.Generator().manual_seed(0))
    assert torch.equal(again, draws["laplace"])
    with pytest.raises(ValueError, match="unknown prior"):
        make_prior("cauchy")


def test_decoder_output_and_interpolation_endpoints():
    model, x = tiny_vae(), discs(4, 2)
    x_hat, mu, _ = model(x)
    assert x_hat.shape == x.shape and 0 <= x_hat.min() and x_hat.max() <= 1
    path = interpolate(model, x[:2], x[2:], steps=5)
    assert path.shape == (2, 5, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(path[:, 0], model.decode(mu[:2]), atol=1e-6)
        assert torch.allclose(path[:, -1], model.decode(mu[2:]), atol=1e-6)


def test_evaluation_reports_per_image_sums_whatever_the_batch_size():
    model, x = tiny_vae(), discs(20, 3)
    with torch.no_grad():                       # σ → 0: the sampled z is the mean, so it is exact
        model.to_logvar.weight.zero_()
        model.to_logvar.bias.fill_(-40.0)
        mu, logvar = model.encode(x)
        by_hand_recon = ((model.decode(mu) - x) ** 2).sum(dim=(1, 2, 3)).mean().item()
        by_hand_kl = gaussian_kl_per_dim(mu, logvar).sum(dim=1).mean().item()
    for size in (3, 7, 20):
        result = evaluate(model, batches(x, size))
        assert result["recon"] == pytest.approx(by_hand_recon, rel=1e-5)
        assert result["kl"] == pytest.approx(by_hand_kl, rel=1e-5)
        assert result["loss"] == pytest.approx(by_hand_recon + by_hand_kl, rel=1e-5)


def test_free_bits_floor_each_dimension_and_stop_its_gradient():
    kl = torch.tensor([[0.1, 2.0, 0.3], [0.3, 4.0, 0.1]], requires_grad=True)
    recon = torch.tensor([10.0, 20.0])
    loss = objective(recon, kl, beta=1.0, free_bits=0.5)
    assert loss.item() == pytest.approx(15.0 + 0.5 + 3.0 + 0.5)
    loss.backward()
    assert kl.grad[:, [0, 2]].abs().sum() == 0 and (kl.grad[:, 1] == 0.5).all()
    assert objective(recon, kl, beta=2.0).item() == pytest.approx(15.0 + 2 * 3.4)


def _train(schedule, epochs, x, checkpoint=None, identity="", stop_at=None):
    def train_batches(epoch):
        if epoch == stop_at:
            raise KeyboardInterrupt
        return batches(x, 16, seed=epoch)

    model = tiny_vae()
    history = fit(model, train_batches, lambda: batches(x[:64], 64),
                  epochs=epochs, steps_per_epoch=math.ceil(len(x) / 16),
                  optimizer=torch.optim.Adam(model.parameters(), lr=5e-3), schedule=schedule,
                  checkpoint=Checkpoint(checkpoint, identity) if checkpoint is not None else None)
    return model, history


def test_an_interrupted_run_resumes_to_the_same_result_and_other_settings_start_afresh(tmp_path):
    x, ckpt = discs(64, 4), tmp_path / "ckpt.pt"
    schedule = make_schedule("cosine", ramp=1.0)
    straight_model, straight = _train(schedule, 3, x)
    with pytest.raises(KeyboardInterrupt):
        _train(schedule, 3, x, ckpt, identity="a", stop_at=2)
    resumed_model, resumed = _train(schedule, 3, x, ckpt, identity="a")
    assert resumed == straight
    assert all(torch.equal(a, b) for a, b in zip(resumed_model.state_dict().values(), straight_model.state_dict().values()))
    # resumed after its last epoch (killed before its outputs were written): nothing to train, the full history back
    again_model, again = _train(schedule, 3, x, ckpt, identity="a", stop_at=0)
    assert again == straight
    assert all(torch.equal(a, b) for a, b in zip(again_model.state_dict().values(), straight_model.state_dict().values()))
    _, other = _train(make_schedule("constant", beta=1.0), 1, x, ckpt, identity="b")
    assert len(other) == 1 and other[0]["beta"] == 1.0   # another run's checkpoint: trained afresh, not resumed
    assert straight[0]["beta"] < 1 and straight[-1]["beta"] == pytest.approx(1.0)
    assert {"train_recon", "train_kl", "val_recon", "val_kl", "val_loss"} <= set(straight[0])
    assert straight[-1]["val_recon"] < straight[0]["val_recon"]


def test_a_heavy_kl_weight_collapses_units_that_annealing_keeps_active():
    x = discs(256, 5)
    collapsed, _ = _train(make_schedule("constant", beta=20.0), 12, x)
    annealed, history = _train(make_schedule("cosine", ramp=1.0), 12, x)
    assert history[-1]["beta"] == pytest.approx(1.0)
    held_out = discs(128, 6)
    au_collapsed = active_units(posterior_params(collapsed, batches(held_out, 64))[0])
    au_annealed = active_units(posterior_params(annealed, batches(held_out, 64))[0])
    assert au_collapsed == 0 and au_annealed >= 3  # the discs have three factors of variation


def test_figures_are_written(tmp_path):
    from matplotlib.image import imread

    from archlab.plots.vae import elbo_curves, image_grid, kl_per_dim

    rows = [{"epoch": e, "train_recon": 30 - e, "val_recon": 31 - e, "train_kl": e / 2, "val_kl": e / 3} for e in (1, 2, 3)]
    betas = {"cosine": (np.linspace(0, 3, 30), np.linspace(0.1, 1, 30))}
    grid = image_grid({"dark": np.zeros((3, 1, 28, 28)), "bright": np.ones((2, 1, 28, 28))}, tmp_path / "grid.png")
    diag = diagnose(np.random.default_rng(0).normal(size=(50, 4)) * [1, 1, 0, 0], np.zeros((50, 4)))
    for path in (elbo_curves({"cosine": rows}, betas, tmp_path / "elbo.png"), grid,
                 kl_per_dim({"cosine": diag}, tmp_path / "kl.png")):
        assert imread(path).ndim == 3
    pixels = imread(grid)[..., :3].mean(axis=2)
    assert pixels.max() > 0.95 and pixels.min() < 0.05   # both rows drawn, on a shared grey scale
