"""The S3 report section, assembled from the artifacts of the S3 rules only."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from archlab.data.prepared import PreparedDataset
from archlab.io import read_json
from archlab.plots.gan import class_histograms, pair_curves, sample_grids
from archlab.report.section import Section, fmt, mean_std
from archlab.stages.gan import run_dir

SCENARIOS = ("vanishing", "collapse", "overfit")
# per scenario: (history column, what it is, how the mitigation's effect is shown)
MEASURES = {
    "vanishing": [("g_grad_norm", "gradient norm at G's first layer", "ratio"),
                  ("d_real", "mean D(x)", "difference"), ("d_fake", "mean D(G(z))", "difference")],
    "collapse": [("class_coverage", "classes covered", "difference"),
                 ("class_entropy_bits", "class-histogram entropy (bits)", "difference"),
                 ("pixel_variance", "pixel variance", "difference"),
                 ("mean_pairwise_distance", "mean pairwise L2 distance", "difference")],
    "overfit": [("d_overfit_gap", "D(x) on training − held-out reals", "difference"),
                ("d_acc_heldout", "held-out D accuracy (real + fake)", "difference"),
                ("d_heldout_real", "mean D on held-out reals", "difference")],
}
ALL_RUNS_COLUMNS = {
    "d_loss": "D loss", "g_loss": "G loss", "d_real": "D(x)", "d_fake": "D(G(z))", "g_grad_norm": "G grad norm",
    "d_acc_heldout": "D acc held-out (real+fake)", "d_overfit_gap": "D(x) gap train−held-out",
    "class_coverage": "classes covered", "class_entropy_bits": "entropy (bits)", "pixel_variance": "pixel var",
    "mean_pairwise_distance": "pairwise dist", "frechet_distance": "Fréchet dist",
}


def _summaries(out: Path, runs: list[str], seeds: list[int]) -> dict[str, list[dict]]:
    return {r: [read_json(run_dir(out, r, s) / "summary.json") for s in seeds] for r in runs}


def _values(summaries: list[dict], key: str) -> list[float]:
    return [s["summary"][key] for s in summaries]


def _show(values: list[float], key: str) -> str:
    """mean ± std over seeds; gradient norms span decades, so they are shown in scientific notation."""
    if key == "g_grad_norm":
        v = np.asarray(values)
        return f"{v.mean():.2e}" + (f" ± {v.std(ddof=1):.1e}" if len(v) > 1 else "")
    digits = {"d_fake": 4, "d_real": 4, "d_heldout_real": 4, "pixel_variance": 4, "class_coverage": 1}.get(key, 2)
    return mean_std(values, digits)


def _change(pathology: list[float], mitigated: list[float], how: str) -> str:
    a, b = float(np.mean(pathology)), float(np.mean(mitigated))
    if how == "ratio":
        return f"×{fmt(b / a, 1)}" if a > 0 else "∞ (pathology run: exactly 0)"
    return f"{b - a:+.3f}"


def build_section(ctx, cfg: dict, runs: list[str], out: Path) -> Section:
    seeds, ev, base = cfg["seeds"], cfg["eval"], cfg["baseline"]
    data = PreparedDataset(ctx.dataset_dir(cfg["data"]), verify=False)
    sizes = data.meta["sizes"]
    clf = read_json(out / "classifier" / "metrics.json")
    summaries = _summaries(out, runs, seeds)
    last = f"median of the last {ev['summary_epochs']} epochs"
    setting = (f"profile {ctx.profile}; {data.describe('28 px, scaled to [-1, 1]')}; "
               f"G {base['latent_dim']}→{'→'.join(map(str, base['g_hidden']))}→784, "
               f"D 784→{'→'.join(map(str, base['d_hidden']))}→1, N(0, {base['init_std']}) init; Adam lr G {base['lr_g']} / "
               f"D {base['lr_d']}, betas {tuple(base['betas'])}, batch {base['batch_size']}, {base['epochs']} epochs, "
               f"{base['d_steps']} D-step per G-step, {base['g_loss'].replace('_', '-')} G loss; seeds {seeds}")
    short = f"{ctx.profile}, {cfg['data']} ({data.meta['source']}), {base['epochs']} ep, batch {base['batch_size']}, {last}"
    sec = Section("gan", "S3 — GAN training dynamics on MNIST", ctx.profile, setting)
    sec.text("Each pathology is induced by overriding the baseline and then mitigated by overriding the pathology run "
             "further, so a pair differs only by the fix. D outputs and losses are those of the very discriminator "
             "being stepped; the generator minimises -log D(G(z)) (non-saturating) or log(1 - D(G(z))) (saturating), "
             "both of which raise D(G(z)). Per epoch, D is also scored in eval mode on "
             f"{min(ev['n_samples'], sizes['val'])} held-out real (validation) images and {ev['n_samples']} fresh fakes "
             f"— accuracy counts both — and {ev['n_samples']} fresh samples are judged by a small CNN digit classifier "
             f"(test accuracy {fmt(clf['test_acc'] * 100, 1)} %, {clf['epochs']} epochs on the training split): a class "
             f"is covered when it receives at least {fmt(ev['min_class_share'] * 100, 1)} % of the samples; the Fréchet "
             "distance is measured in the classifier's penultimate features against the held-out reals.")
    sec.table(pd.DataFrame([{"run": r, **_overrides(cfg, r)} for r in runs]), caption="Runs and the settings they change.")

    # pathology → metric → mitigated
    rows = []
    for scenario in SCENARIOS:
        for i, (key, label, how) in enumerate(MEASURES[scenario]):
            sick, fixed = _values(summaries[scenario], key), _values(summaries[f"{scenario}_mitigated"], key)
            rows.append({"pathology": scenario if i == 0 else "", "measure": label,
                         "pathology run": _show(sick, key), "mitigated run": _show(fixed, key),
                         "change": _change(sick, fixed, how)})
    sec.heading("Pathology → measure → mitigated")
    sec.table(pd.DataFrame(rows), caption=f"The number that shows each pathology, in its run and in its mitigation run "
              f"({last}; mean ± std over seeds). The first row of each pathology is its primary measure.")
    sec.text(_verdicts(summaries))

    # every run, every measure
    table = pd.DataFrame([{"run": r, **{label: _show(_values(summaries[r], key), key)
                                        for key, label in ALL_RUNS_COLUMNS.items()}} for r in runs])
    sec.table(table, caption=f"Every run ({last}; mean ± std over seeds).")

    # figures, first seed
    figures = out / "figures"
    hist = {r: pd.read_csv(run_dir(out, r, seeds[0]) / "history.csv") for r in runs}
    pairs = [r for r in runs if not r.endswith("_mitigated")]
    sec.heading("Curves (solid: pathology run, dashed: its mitigation)")
    for name, metrics, ylabel, log, caption in [
        ("losses", ["d_loss", "g_loss"], "loss", False, "D and G losses per epoch (the saturating G loss is log(1 - D), ≤ 0)."),
        ("d_outputs", ["d_real", "d_fake"], "mean D output", False, "Mean D(x) and D(G(z)) during training."),
        ("g_grad_norm", ["g_grad_norm"], "gradient norm", True,
         "Gradient norm reaching G's first layer (mean over the epoch's G steps; log scale, an exact 0 at the bottom)."),
        ("diversity", ["class_coverage"], "classes covered", False, "Classes covered by the generated samples."),
        ("heldout", ["d_train_real", "d_heldout_real", "d_acc_heldout"], "D on reals / accuracy", False,
         "D on training reals vs held-out reals, and held-out accuracy over real + fake images."),
    ]:
        pair_curves(hist, pairs, metrics, figures / f"{name}.png", ylabel, log)
        sec.figure(figures / f"{name}.png", caption + f" Seed {seeds[0]}.")
    grids = {}
    for r in runs:
        with np.load(run_dir(out, r, seeds[0]) / "grids.npz") as z:
            grids[r] = {int(k.removeprefix("epoch")): z[k] for k in z.files}
    sample_grids(grids, figures / "samples.png")
    sec.figure(figures / "samples.png", f"Samples from one fixed noise batch over epochs (rows: runs), seed {seeds[0]}.")
    class_histograms({r: summaries[r][0]["final_class_histogram"] for r in runs}, data.classes, figures / "class_histograms.png")
    sec.figure(figures / "class_histograms.png", f"Classes of {ev['n_samples']} generated samples after the last epoch, "
               f"as the digit classifier sees them, seed {seeds[0]}.")
    sec.curves("g_grad_norm", hist, column="g_grad_norm")
    sec.curves("class_coverage", hist, column="class_coverage")

    # published vs ours
    def ours(run: str, key: str) -> str:
        return _show(_values(summaries[run], key), key)

    sec.compare([
        ("gan.vanishing_d_real", ours("vanishing", "d_real"), short),
        ("gan.vanishing_d_fake", ours("vanishing", "d_fake"), short),
        ("gan.vanishing_mitigated_d_real", ours("vanishing_mitigated", "d_real"), short),
        ("gan.vanishing_mitigated_d_fake", ours("vanishing_mitigated", "d_fake"), short),
        ("gan.collapse_pixel_variance", ours("collapse", "pixel_variance"), short),
        ("gan.collapse_mitigated_pixel_variance", ours("collapse_mitigated", "pixel_variance"), short),
        ("gan.collapse_pairwise_distance", ours("collapse", "mean_pairwise_distance"), short),
        ("gan.collapse_mitigated_pairwise_distance", ours("collapse_mitigated", "mean_pairwise_distance"), short),
        ("gan.overfit_heldout_d_real", ours("overfit", "d_heldout_real"), short),
        ("gan.overfit_mitigated_heldout_d_real", ours("overfit_mitigated", "d_heldout_real"), short),
    ], "S3 numbers published by the source reports beside archlab's (their mitigations differ in detail: see settings).")

    def mean(run: str, key: str) -> float:
        return float(np.mean(_values(summaries[run], key)))

    sec.metric("vanishing_g_grad_norm", mean("vanishing", "g_grad_norm"))
    sec.metric("vanishing_mitigated_g_grad_norm", mean("vanishing_mitigated", "g_grad_norm"))
    sec.metric("collapse_class_coverage", mean("collapse", "class_coverage"))
    sec.metric("collapse_mitigated_class_coverage", mean("collapse_mitigated", "class_coverage"))
    sec.metric("overfit_d_gap", mean("overfit", "d_overfit_gap"))
    sec.metric("overfit_mitigated_d_gap", mean("overfit_mitigated", "d_overfit_gap"))
    sec.metric("classifier_test_acc", clf["test_acc"])
    return sec


def _overrides(cfg: dict, run: str) -> dict:
    """The settings a run changes relative to the baseline, as one readable string."""
    if run == "baseline":
        return {"overrides of the baseline": "–"}
    scenario = cfg["scenarios"][run.removesuffix("_mitigated")]
    changes = dict(scenario["pathology"])
    if run.endswith("_mitigated"):
        changes.update(scenario["mitigation"])
    return {"overrides of the baseline": ", ".join(f"{k} = {v}" for k, v in changes.items())}


def _verdicts(summaries: dict[str, list[dict]]) -> str:
    """One sentence per pathology, from the numbers: did the pathology show, did the fix help."""
    def m(run, key):
        return float(np.mean(_values(summaries[run], key)))

    g, g_fix = m("vanishing", "g_grad_norm"), m("vanishing_mitigated", "g_grad_norm")
    c, c_fix = m("collapse", "class_coverage"), m("collapse_mitigated", "class_coverage")
    o, o_fix = m("overfit", "d_overfit_gap"), m("overfit_mitigated", "d_overfit_gap")
    ratio = f"{g_fix / g:.3g}× as large" if g > 0 else "the pathology run's underflowed to exactly 0"
    return (f"**Vanishing:** G's first-layer gradient norm is {g:.2e} in the vanishing run and {g_fix:.2e} in its "
            f"mitigation ({ratio}). **Collapse:** the collapse run covers {fmt(c, 1)} classes, its mitigation "
            f"{fmt(c_fix, 1)}. **Overfitting:** D scores its training reals {o:+.3f} higher than held-out reals in the "
            f"overfit run and {o_fix:+.3f} in its mitigation.")
