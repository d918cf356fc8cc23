"""The S3 report section, from the S3 runs' artifacts and the params each run recorded (params.json)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from archlab.data.prepared import PreparedDataset
from archlab.io import read_json
from archlab.plots.gan import class_histograms, pair_curves, sample_grids
from archlab.workflow.provenance import read_run_params
from archlab.report.labels import dataset_label
from archlab.report.section import Section, fmt, mean_std

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


def _changes(settings: dict, reference: dict) -> str:
    """The settings that differ from ``reference``, as one readable string."""
    diff = [f"{k} = {v}" for k, v in settings.items() if reference.get(k) != v]
    return ", ".join(diff) or "–"


def _overrides(configs: dict[str, dict], run: str) -> dict:
    """What a run changes: relative to the baseline, and (mitigations) the fix relative to its pathology run."""
    fix = _changes(configs[run], configs[run.removesuffix("_mitigated")]) if run.endswith("_mitigated") else "–"
    return {"changed vs. the baseline": _changes(configs[run], configs["baseline"]), "fix vs. the pathology run": fix}


def _steps_note(configs: dict[str, dict], n_train: int) -> str:
    """The setting line's account of generator steps: runs on fewer images keep the baseline's steps per epoch."""
    base = configs["baseline"]
    per_epoch = n_train // base["batch_size"]
    kept = {r: c for r, c in configs.items() if c.get("steps_per_epoch")}
    if not kept:
        short = {r: c for r, c in configs.items() if c.get("train_size")}
        return "".join(f"; run {r} trains on {c['train_size']} images, one pass per epoch "
                       f"({c['train_size'] // c['batch_size'] * c['epochs']} G steps vs the baseline's {per_epoch * base['epochs']})"
                       for r, c in short.items())
    runs = ", ".join(kept)
    c = next(iter(kept.values()))
    passes = c["steps_per_epoch"] / (c["train_size"] // c["batch_size"])
    return (f"; every run trains {per_epoch} G steps per epoch ({per_epoch * base['epochs']} in all): the baseline's "
            f"{n_train} training images // batch {base['batch_size']}; {runs} train on {c['train_size']} images, "
            f"so each of their epochs is {passes:.1f} passes over them")


def build(job) -> None:
    p, inp, out = job.params, job.input, job.output
    runs, seeds, n = p["runs"], p["seeds"], len(p["seeds"])
    # every run by (name, seed): its summary, the params its job received (one job per run trains all its
    # seeds), its history and grids; the files come in the plan's order, run by run, seed by seed
    by_dir = {}
    files = iter(zip(inp["summaries"], inp["histories"], inp["grids"]))
    for q in inp["run_params"]:
        params = read_run_params(q)
        for _ in params["seeds"]:
            s, h, g = next(files)
            summary = read_json(s)
            by_dir[(params["run"], summary["seed"])] = {"summary": summary, "params": params, "history": h, "grids": g}
    summaries = {r: [by_dir[(r, s)]["summary"] for s in seeds] for r in runs}
    configs = {r: by_dir[(r, seeds[0])]["params"]["config"] for r in runs}
    first = {r: by_dir[(r, seeds[0])] for r in runs}
    ev, base = first["baseline"]["params"]["eval"], configs["baseline"]
    clf, clf_params = read_json(inp["classifier"]), read_run_params(inp["classifier_params"])
    data = PreparedDataset(inp["data"], verify=False)
    sizes, side = data.meta["sizes"], data.meta["image_shape"][0]
    last = f"median of the last {ev['summary_epochs']} epochs"
    setting = (f"profile {p['profile']}; {dataset_label(data.meta)}: {data.describe(f'{side} px, scaled to [-1, 1]')}; "
               f"G {base['latent_dim']}→{'→'.join(map(str, base['g_hidden']))}→{side * side}, "
               f"D {side * side}→{'→'.join(map(str, base['d_hidden']))}→1, N(0, {base['init_std']}) init; Adam lr G "
               f"{base['lr_g']} / D {base['lr_d']}, betas {tuple(base['betas'])}, batch {base['batch_size']}, "
               f"{base['epochs']} epochs, {base['d_steps']} D-step per G-step, {base['g_loss'].replace('_', '-')} G loss; "
               f"seeds {seeds} (n = {n})" + _steps_note(configs, sizes["train"]))
    short = (f"{p['profile']}, {dataset_label(data.meta)}, {base['epochs']} ep, "
             f"batch {base['batch_size']}, {last}")
    sec = Section("gan", f"S3 — GAN training dynamics on {dataset_label(data.meta)}", p["profile"], setting, data=data.meta)
    sec.text("Each pathology is induced by overriding the baseline and then mitigated by overriding the pathology run "
             "further, so a pair differs only by the fix. D outputs and losses are those of the very discriminator "
             "being stepped; the generator minimises -log D(G(z)) (non-saturating) or log(1 - D(G(z))) (saturating), "
             "both of which raise D(G(z)). Per epoch, D is also scored in eval mode on "
             f"{min(ev['n_samples'], sizes['val'])} held-out real (validation) images and {ev['n_samples']} fresh fakes "
             f"— accuracy counts both — and {ev['n_samples']} fresh samples are judged by a small CNN digit classifier "
             f"(test accuracy {fmt(clf['test_acc'] * 100, 1)} %, {clf_params['epochs']} epochs on the training split, "
             f"{clf_params['optimizer']['name']} lr {clf_params['optimizer']['lr']}): a class "
             f"is covered when it receives at least {fmt(ev['min_class_share'] * 100, 1)} % of the samples; the Fréchet "
             "distance is measured in the classifier's penultimate features against the held-out reals.")
    sec.table(pd.DataFrame([{"run": r, **_overrides(configs, r)} for r in runs]),
              caption="Runs and the settings they change (from each run's params.json).")

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
              f"({last}; mean ± std over n = {n} seeds). The first row of each pathology is its primary measure.")
    sec.text(_verdicts(summaries))

    # every run, every measure
    table = pd.DataFrame([{"run": r, **{label: _show(_values(summaries[r], key), key)
                                        for key, label in ALL_RUNS_COLUMNS.items()}} for r in runs])
    sec.table(table, caption=f"Every run ({last}; mean ± std over n = {n} seeds).")

    # figures, first seed
    hist = {r: pd.read_csv(first[r]["history"]) for r in runs}
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
        pair_curves(hist, pairs, metrics, out[name], ylabel, log)
        sec.figure(out[name], caption + f" Seed {seeds[0]}.")
    grids = {}
    for r in runs:
        with np.load(first[r]["grids"]) as z:
            grids[r] = {int(k.removeprefix("epoch")): z[k] for k in z.files}
    sample_grids(grids, out["samples"])
    sec.figure(out["samples"], f"Samples from one fixed noise batch over epochs (rows: runs), seed {seeds[0]}.")
    class_histograms({r: summaries[r][0]["final_class_histogram"] for r in runs}, data.classes, out["class_histograms"])
    sec.figure(out["class_histograms"], f"Classes of {ev['n_samples']} generated samples after the last epoch, "
               f"as the digit classifier sees them, seed {seeds[0]}.")
    every_run = {f"{r} seed {s}": pd.read_csv(by_dir[(r, s)]["history"]) for r in runs for s in seeds}
    sec.curves("g_grad_norm", every_run, column="g_grad_norm")
    sec.curves("class_coverage", every_run, column="class_coverage")

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
    ], f"S3 numbers published by the source reports beside archlab's (mean ± std over n = {n} seeds; their "
       "mitigations differ in detail: see settings).")

    def mean(run: str, key: str) -> float:
        return float(np.mean(_values(summaries[run], key)))

    sec.metric("vanishing_g_grad_norm", mean("vanishing", "g_grad_norm"))
    sec.metric("vanishing_mitigated_g_grad_norm", mean("vanishing_mitigated", "g_grad_norm"))
    sec.metric("collapse_class_coverage", mean("collapse", "class_coverage"))
    sec.metric("collapse_mitigated_class_coverage", mean("collapse_mitigated", "class_coverage"))
    sec.metric("overfit_d_gap", mean("overfit", "d_overfit_gap"))
    sec.metric("overfit_mitigated_d_gap", mean("overfit_mitigated", "d_overfit_gap"))
    sec.metric("classifier_test_acc", clf["test_acc"])
    sec.write(out["section"], out["metrics"], {"g_grad_norm": out["grad_curves"], "class_coverage": out["coverage_curves"]})


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
