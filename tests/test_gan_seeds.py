"""Several seeds of a GAN trained as one stacked network (train_gan_seeds) give each seed exactly what it
gives trained alone: its own init, data order (and train_size subset), noise, dropout masks, Adam state."""
import archlab  # noqa: F401, I001

import numpy as np
import pytest
import torch
from torch import nn

from archlab.metrics.diversity import DiversityProbe
from archlab.train.checkpoint import Checkpoint
from archlab.train.gan import GanConfig, train_gan, train_gan_seeds
from archlab.train.stacked import StackedMLP

from test_gan import SIDE, PixelClassifier, toy_images

torch.set_num_threads(1)
SEEDS = [3, 4, 5]
SETTINGS = {"d_dropout": 0.3, "d_steps": 2, "train_size": 48, "g_loss": "saturating"}


def _train(seeds, epochs=3, checkpoint=None, **overrides):
    torch.manual_seed(0)
    probe = DiversityProbe(PixelClassifier(), toy_images(32, 9), n_classes=4, min_share=0.05)
    cfg = GanConfig(latent_dim=8, g_hidden=(16, 32), d_hidden=(32, 16), batch_size=16, epochs=epochs, init_std=0.1,
                    lr_g=1e-3, lr_d=1e-3, **{**SETTINGS, **overrides})
    options = dict(device=torch.device("cpu"), n_eval=32, sample_every=2, n_grid=4, checkpoint=checkpoint,
                   progress=False)
    if isinstance(seeds, int):
        return train_gan(cfg, toy_images(64, 1), toy_images(32, 2), probe, seed=seeds, **options)
    return train_gan_seeds(cfg, toy_images(64, 1), toy_images(32, 2), probe, seeds=seeds, **options)


def _untimed(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def _same(a, b) -> None:
    assert _untimed(a.history) == _untimed(b.history)
    assert sorted(a.grids) == sorted(b.grids) and all(np.array_equal(a.grids[e], b.grids[e]) for e in a.grids)
    for net in ("G", "D"):
        for (name, x), (_, y) in zip(getattr(a, net).state_dict().items(), getattr(b, net).state_dict().items()):
            assert torch.equal(x, y), f"{net}.{name}"


def test_batched_seeds_equal_each_seed_trained_alone():
    together = _train(SEEDS)
    assert len(together) == len(SEEDS)
    for seed, run in zip(SEEDS, together):
        _same(run, _train(seed))  # bit-identical on the CPU, not merely close
    assert together[0].history[-1]["g_loss"] != together[1].history[-1]["g_loss"]  # the seeds really differ


def test_batched_seeds_resume_exactly(tmp_path):
    straight = _train(SEEDS)
    ckpt = Checkpoint(tmp_path / "ckpt.pt", "run")
    _train(SEEDS, epochs=2, checkpoint=ckpt)  # "interrupted" after 2 epochs
    for a, b in zip(_train(SEEDS, checkpoint=ckpt), straight):
        _same(a, b)


def test_stacked_mlp_slices_are_each_network_stacked_alone_and_close_to_it_plain():
    """Slice s of S stacked networks is bit for bit network s stacked alone (the same batched kernel), and equal
    to the plain network to rounding (``F.linear`` takes another kernel for a one-unit output layer)."""
    torch.manual_seed(0)
    nets = [nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1)) for _ in range(3)]
    x = torch.randn(3, 16, 3, 4)
    stacked = StackedMLP(nets)
    out = stacked(x)
    out.sum().backward()
    for s, net in enumerate(nets):
        alone = StackedMLP([net])
        alone_out = alone(x[s:s + 1])
        alone_out.sum().backward()
        assert torch.equal(out[s], alone_out[0])
        assert torch.equal(stacked.layers[1].weight.grad[s], alone.layers[1].weight.grad[0])
        torch.testing.assert_close(out[s], net(x[s]))
        assert stacked.state_dict_of(s).keys() == net.state_dict().keys()


def test_a_layer_that_cannot_be_stacked_is_named():
    with pytest.raises(ValueError, match="BatchNorm1d"):
        StackedMLP([nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))])


def test_one_seeds_on_epoch_receives_its_run():
    from archlab.train.gan import GanRun

    seen = []
    cfg = GanConfig(latent_dim=8, g_hidden=(16,), d_hidden=(16,), batch_size=16, epochs=2)
    run = train_gan(cfg, toy_images(32, 1), toy_images(16, 2), lambda fake: {"class_histogram": []}, seed=0,
                    device=torch.device("cpu"), n_eval=16, n_grid=2, progress=False, on_epoch=seen.append)
    assert len(seen) == 2 and all(isinstance(r, GanRun) and r is run for r in seen)
