"""S6 figures: kernel mosaics, Fig.-5 ordering of token-mixing units, and that every figure renders."""
import numpy as np

from archlab.plots.cifar_arch import (kernel_mosaic, plot_gradflow, plot_kernel_grids, plot_token_mixing,
                                      spatial_frequency, token_mixing_order)


def test_kernel_mosaic_is_an_8x8_grid_of_min_max_scaled_kernels():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(64, 3, 3, 3)) * np.arange(1, 65)[:, None, None, None]  # very different scales
    mosaic = kernel_mosaic(w)
    assert mosaic.shape == (8 * 4 - 1, 8 * 4 - 1, 3)
    first, last = mosaic[0:3, 0:3], mosaic[28:31, 28:31]
    for tile in (first, last):  # every kernel spans [0, 1] on its own, whatever its scale
        assert tile.min() == 0.0 and tile.max() == 1.0
    np.testing.assert_allclose(last, (w[63].transpose(1, 2, 0) - w[63].min()) / np.ptp(w[63]))


def wave(freq, g=8, phase=0.0):
    yy, xx = np.mgrid[0:g, 0:g]
    return np.cos(2 * np.pi * freq * xx / g + phase) + 0.5 * np.cos(2 * np.pi * freq * yy / g)


def test_token_mixing_units_are_paired_by_opposite_phase_and_sorted_by_frequency():
    units = {1: wave(1), 3: wave(3), 2: wave(2, phase=0.4)}
    rows = [units[1], -units[1], units[3], -units[3], units[2], -units[2]]
    perm = np.random.default_rng(1).permutation(len(rows))
    weight = np.stack([rows[i].ravel() for i in perm])
    order = token_mixing_order(weight)
    assert sorted(order) == list(range(6))
    pairs = [order[i:i + 2] for i in range(0, 6, 2)]
    for a, b in pairs:
        np.testing.assert_allclose(weight[a], -weight[b])
    freqs = [spatial_frequency(weight[[a]].reshape(1, 8, 8))[0] for a, _ in pairs]
    assert freqs == sorted(freqs)
    assert spatial_frequency(np.stack([wave(1), wave(3)]))[0] < spatial_frequency(np.stack([wave(1), wave(3)]))[1]


def is_png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_figure_renders(tmp_path):
    rng = np.random.default_rng(0)
    plot_kernel_grids({"sgd": rng.normal(size=(16, 3, 3, 3)), "adamw": rng.normal(size=(16, 3, 3, 3))},
                      tmp_path / "kernels.png", "kernels")
    plot_token_mixing({"baseline": rng.normal(size=(16, 64))}, tmp_path / "tokens.png", "tokens")
    names = ["0.weight", "1.weight", "2.weight"]
    mean = np.abs(rng.normal(size=(3, 4)))
    plot_gradflow(names, mean, mean.mean(axis=1), mean.std(axis=1), tmp_path / "gradflow.png", "gradflow")
    for name in ("kernels", "tokens", "gradflow"):
        assert is_png(tmp_path / f"{name}.png")
