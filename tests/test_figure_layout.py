"""Issue 29: no figure prints one text over another. Every figure function of archlab.plots is drawn on small
fake data; the figure each one saves is measured with matplotlib's renderer, and no two of its titles, axis
labels, tick labels, legend entries and annotations may overlap (pairs of tick labels of one axis, and
annotations inside one heatmap, are left out: they are spaced by the data, not by the layout)."""
from __future__ import annotations

import itertools

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from archlab.plots import cifar_arch, clip, confusion, curves, gan, ood, projections, vae, vit

matplotlib.use("Agg")
RNG = np.random.default_rng(0)
SLACK_PX = 1.0  # texts that only touch do not count


def _history(n=4):
    e = np.arange(1, n + 1)
    return pd.DataFrame({"epoch": e, "train_loss": 1 / e, "val_loss": 1.1 / e, "train_acc": e / 10, "val_acc": e / 11,
                         "lr": 0.1, "d_loss": 1 / e, "g_loss": e / 2, "g_grad_norm": [0.1, 1e-5, 0.0, 1e-3][:n]})


def _elbo_rows(n=4):
    return [{"epoch": e, "train_recon": 30 - e, "val_recon": 31 - e, "train_kl": e, "val_kl": e + 0.5}
            for e in range(1, n + 1)]


def _ood_grid():
    return pd.DataFrame(RNG.uniform(10, 60, (4, 5)), index=["gaussian_noise", "motion_blur", "contrast", "jpeg"],
                        columns=[1, 2, 3, 4, 5])


# seven images, as the demo draws: the figure is shrunk to the page's height, its columns with it
VIT_TITLES = ["photo_0001.jpg: sports car, sport car (0.93)", "hubble_deep_field: hourglass (0.13)"] * 3 + ["rocket"]
FIGURES = {
    "curves.plot_histories": lambda p: curves.plot_histories({f"run {i}": _history() for i in range(3)}, p,
                                                             "S1 — head only vs no-skip"),
    "confusion.plot_confusion": lambda p: confusion.plot_confusion(RNG.integers(0, 50, (10, 10)),
                                                                   [f"class {i}" for i in range(10)], p, "confusion"),
    "projections.scatter_grid": lambda p: projections.scatter_grid(
        {(layer, m): RNG.normal(size=(40, 2)) for layer in ("layer1", "layer4") for m in ("t-SNE", "UMAP")},
        RNG.integers(0, 10, 40), [f"class {i}" for i in range(10)], p,
        {(layer, m): "k-NN acc 0.53" for layer in ("layer1", "layer4") for m in ("t-SNE", "UMAP")}),
    "vit.overlay_grid": lambda p: vit.overlay_grid(
        RNG.uniform(size=(7, 32, 32, 3)), {"last layer CLS, mean of heads": RNG.uniform(size=(7, 32, 32)),
                                           "rollout, all layers": RNG.uniform(size=(7, 32, 32))}, p, VIT_TITLES),
    "vit.head_statistics": lambda p: vit.head_statistics(RNG.uniform(0, 100, (12, 12)), RNG.uniform(size=(12, 12)),
                                                         p),
    "vit.masking_curves": lambda p: vit.masking_curves(pd.DataFrame(
        [{"method": m, "strategy": s, "fraction": f, **{f"{k}_mean": 1 - f / 2 for k in
                                                        ("agreement", "accuracy", "confidence")},
          **{f"{k}_std": 0.05 for k in ("agreement", "accuracy", "confidence")}}
         for m in ("vit",) for s in ("random", "centre") for f in (0.0, 0.3, 0.6, 0.9)]), p,
        [{"label": "B, one car", "fraction": 0.3, "metric": "confidence", "value": 0.78}]),
    "gan.pair_curves": lambda p: gan.pair_curves({k: _history() for k in ("baseline", "vanishing",
                                                                          "vanishing_mitigated")},
                                                 ["baseline", "vanishing"], ["g_grad_norm"], p, "norm", log=True),
    "gan.sample_grids": lambda p: gan.sample_grids({r: {0: np.zeros((16, 28, 28), np.uint8),
                                                        5: np.full((16, 28, 28), 255, np.uint8)}
                                                    for r in ("baseline", "collapse_mitigated")}, p),
    "gan.class_histograms": lambda p: gan.class_histograms({r: list(range(10)) for r in ("baseline", "collapse")},
                                                           [str(c) for c in range(10)], p),
    "vae.elbo_curves": lambda p: vae.elbo_curves({k: _elbo_rows() for k in ("beta1", "annealed")},
                                                 {k: (np.linspace(0, 4, 20), np.linspace(0, 1, 20))
                                                  for k in ("beta1", "annealed")}, p),
    "vae.image_grid": lambda p: vae.image_grid({"test images": RNG.uniform(size=(8, 1, 28, 28)),
                                                "reconstructions": RNG.uniform(size=(8, 1, 28, 28))}, p, "recon"),
    "vae.kl_per_dim": lambda p: vae.kl_per_dim({k: {"kl_per_dim": RNG.uniform(size=20),
                                                    "mean_variance_per_dim": RNG.uniform(size=20), "threshold": 0.01,
                                                    "active_units": 19, "latent_dim": 20, "kl_total": 8.1}
                                                for k in ("beta1", "beta10")}, p),
    "clip.plot_joint_projections": lambda p: clip.plot_joint_projections(
        [(f"{m}, normalised", RNG.normal(size=(30, 2)), RNG.normal(size=(30, 2))) for m in ("t-SNE", "UMAP")], p,
        "joint map"),
    "cifar_arch.plot_kernel_grids": lambda p: cifar_arch.plot_kernel_grids(
        {"sgd": RNG.normal(size=(16, 3, 3, 3)), "adamw": RNG.normal(size=(16, 3, 3, 3))}, p, "kernels"),
    "cifar_arch.plot_token_mixing": lambda p: cifar_arch.plot_token_mixing({"baseline": RNG.normal(size=(16, 64))},
                                                                          p, "token mixing"),
    "cifar_arch.plot_gradflow": lambda p: cifar_arch.plot_gradflow(
        ["0.weight", "1.weight", "2.weight"], np.abs(RNG.normal(size=(3, 4))), np.ones(3), np.ones(3) / 4, p, "grad"),
    "ood.accuracy_heatmaps": lambda p: ood.accuracy_heatmaps({"simple": _ood_grid(), "resnet18": _ood_grid()}, p),
    "ood.accuracy_vs_severity": lambda p: ood.accuracy_vs_severity({"simple": _ood_grid()}, {"simple": 55.0}, p),
    "ood.corruption_examples": lambda p: ood.corruption_examples(
        RNG.integers(0, 255, (32, 32, 3), dtype=np.uint8), RNG.integers(0, 255, (2, 3, 32, 32, 3), dtype=np.uint8),
        ["gaussian_noise", "motion_blur"], [1, 3, 5], p),
}


def _texts(fig: Figure) -> list[tuple[Text, str, object]]:
    """(text, kind, owner) of every visible, non-empty text: kind says how it may be exempt from the check."""
    out = []
    for t in (fig._suptitle, fig._supxlabel, fig._supylabel, *fig.texts):
        out.append((t, "figure", fig))
    for legend in fig.legends:
        out += [(t, "legend", legend) for t in legend.get_texts()] + [(legend.get_title(), "legend", legend)]
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        out += [(t, "title", ax) for t in (ax.title, ax._left_title, ax._right_title)]
        out += [(t, "annotation", ax) for t in ax.texts]
        if not ax.axison:  # axis("off") hides the axis labels and ticks, not the titles and texts
            continue
        out += [(ax.xaxis.label, "label", ax), (ax.yaxis.label, "label", ax)]
        for axis in (ax.xaxis, ax.yaxis):  # the ticks drawn: those inside the view limits
            out += [(t, "tick", axis) for tick in axis._update_ticks() for t in (tick.label1, tick.label2)]
        if ax.get_legend():
            out += [(t, "legend", ax.get_legend()) for t in ax.get_legend().get_texts()]
    seen, unique = set(), []
    for t, kind, owner in out:  # the suptitle is also one of fig.texts
        if t is not None and id(t) not in seen and t.get_visible() and t.get_text().strip():
            seen.add(id(t))
            unique.append((t, kind, owner))
    return unique


def overlaps(fig: Figure) -> list[tuple[str, str]]:
    """Pairs of texts of ``fig`` (as last drawn) whose boxes intersect by more than :data:`SLACK_PX`."""
    renderer = fig.canvas.get_renderer()
    boxes = [(t, kind, owner, t.get_window_extent(renderer).expanded(1, 1).padded(-SLACK_PX))
             for t, kind, owner in _texts(fig)]
    found = []
    for (t1, k1, o1, b1), (t2, k2, o2, b2) in itertools.combinations(boxes, 2):
        if o1 is o2 and k1 == k2 and k1 in ("tick", "annotation", "legend"):
            continue
        if b1.width > 0 and b2.width > 0 and b1.overlaps(b2):
            found.append((t1.get_text(), t2.get_text()))
    return found


@pytest.fixture
def drawn(monkeypatch):
    """Every figure saved while the fixture is active, measured right after its save (the layout it was saved with)."""
    saved: list[list[tuple[str, str]]] = []
    original = Figure.savefig

    def savefig(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.canvas.draw()
        saved.append(overlaps(self))

    monkeypatch.setattr(Figure, "savefig", savefig)
    return saved


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_no_figure_prints_text_over_text(name, drawn, tmp_path):
    FIGURES[name](tmp_path / "figure.png")
    assert drawn, f"{name} saved no figure"
    assert not drawn[-1], f"{name}: overlapping texts {drawn[-1][:5]}"


def test_every_figure_function_is_checked():
    """A new figure function in archlab.plots gets a case above."""
    import inspect

    modules = (cifar_arch, clip, confusion, curves, gan, ood, projections, vae, vit)
    public = {f"{m.__name__.rsplit('.', 1)[1]}.{n}" for m in modules for n, f in inspect.getmembers(m, inspect.isfunction)
              if f.__module__ == m.__name__ and not n.startswith("_")}
    drawing = {n for n in public if "path" in inspect.signature(eval(n, {m.__name__.rsplit('.', 1)[1]: m
                                                                           for m in modules})).parameters}
    assert drawing == set(FIGURES), sorted(drawing ^ set(FIGURES))


def test_the_check_finds_an_overlap():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.set_title("a long title that runs past the axes")
    fig.text(0.5, 0.93, "a figure text placed on the title", ha="center")
    fig.canvas.draw()
    assert overlaps(fig)
    plt.close(fig)
