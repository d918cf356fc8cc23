"""The S2 report section, assembled from the artifacts of the S2 rules only."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from archlab.data.prepared import PreparedDataset
from archlab.io import read_json
from archlab.models import weights as W
from archlab.report.published import lookup
from archlab.report.section import Section, fmt, mean_std

MASKING_KEYS = {"unmasked": "vit.masking_unmasked_conf", "random": "vit.masking_random_conf",
                "centre": "vit.masking_centre_conf"}


def published_masking_points() -> list[dict]:
    """The published single-image masking confidences as plot points (fraction, value in 0–1)."""
    points = []
    for name, key in MASKING_KEYS.items():
        for v in lookup(key)["values"]:
            points.append({"label": f"{v['source']}, {name}", "fraction": v["fraction"], "metric": "confidence",
                           "value": v["value"] / 100})
    return points


def trained_here(spec: str, out: Path) -> bool:
    """Whether the weights are the demo ViT that ``vit pretrain`` wrote under ``out``."""
    ws = W.parse(spec)
    return ws.kind == "file" and (out / "pretrain" / "model").resolve() in Path(ws.parts[0]).resolve().parents


def _nearest(summary: pd.DataFrame, fraction: float) -> float:
    fractions = summary["fraction"].unique()
    return float(fractions[np.argmin(abs(fractions - fraction))])


def _confidence(curves: pd.DataFrame, strategy: str, method: str, fraction: float) -> str:
    rows = curves[(curves.strategy == strategy) & (curves.method == method) & (curves.fraction == fraction)]
    if fraction == 0.0:  # nothing masked: every seed gives the same number
        rows = rows.iloc[:1]
    return mean_std(rows["confidence"] * 100) if len(rows) else "–"


def build_section(ctx, cfg: dict, out: Path) -> Section:
    mc, pc, ac = cfg["masking"], cfg["probe"], cfg["attention"]
    photos = PreparedDataset(ctx.dataset_dir(cfg["predict"]["dataset"]), verify=False)
    masking_meta = read_json(out / "masking" / "meta.json")
    grid = masking_meta["grid"]
    setting = (f"profile {ctx.profile}; weights `{cfg['weights']}` (eager attention, the checkpoint's own image "
               f"processor); {grid[0]}×{grid[1]} patches of {masking_meta['patch_size']} px; images: "
               f"{photos.meta['sizes']['test']} from `{cfg['predict']['dataset']}` ({photos.meta['source']})")
    sec = Section("vit", "S2 — Vision Transformer attention, masking and linear probes", ctx.profile, setting)
    norm = masking_meta["normalisation"]
    sec.text(f"Inputs are resized to the model's size and normalised with the processor's statistics, mean "
             f"{norm['mean']} and std {norm['std']} (for google/vit-base-patch16-224 both 0.5, not ImageNet's).")
    if trained_here(cfg["weights"], out):
        sec.text(_pretrain_note(out))

    # predict
    sec.heading("Predictions")
    preds = pd.read_csv(out / "predict" / "predictions.csv")
    table = (preds.assign(shown=preds["label"] + " (" + preds["probability"].map(lambda p: f"{p:.2f}") + ")")
             .groupby("image", sort=False)["shown"].agg(list))
    sec.table(pd.DataFrame({"image": table.index, "top-1 (p)": [v[0] for v in table],
                            f"top-{len(table.iloc[0])} (p)": ["; ".join(v) for v in table]}),
              caption="Top-k predictions for every image of the folder.")

    # attention
    sec.heading("Attention")
    sec.text(f"Last-layer attention of the CLS token to each patch (row 0 of the attention matrix, the CLS column "
             f"left out), mean over heads and per head, on the {grid[0]}×{grid[1]} patch grid, upsampled bilinearly "
             f"and min-max scaled per image. Rollout (Abnar & Zuidema): per layer the heads are averaged, the skip "
             f"path is added as {ac['rollout_residual']}·I + {1 - ac['rollout_residual']}·A (rows renormalised) and "
             f"the layers are multiplied; the CLS row is shown.")
    sec.figure(out / "attention" / "overlays.png", "Image, last-layer CLS attention (mean of heads), and rollout; "
               "titles give the ViT's top-1 and its probability.")
    sec.figure(out / "attention" / "heads.png", "Last-layer CLS attention, head by head.")
    stats = pd.read_csv(out / "attention" / "head_stats.csv")
    per_layer = stats.groupby("layer").agg(
        **{"mean distance, min head (px)": ("mean_distance_px", "min"),
           "mean distance, max head (px)": ("mean_distance_px", "max"),
           "CLS entropy, min head": ("cls_entropy", "min"), "CLS entropy, max head": ("cls_entropy", "max")}).reset_index()
    sec.text(f"Head specialisation, averaged over the first {ac['stats_images']} test images of `{ac['data']}`: "
             "mean attention distance (attention-weighted image distance between query and key patches, CLS "
             "excluded) and the entropy of each head's CLS→patch distribution divided by log(#patches) "
             "(1 = uniform, 0 = one patch). A wide spread between heads of one layer means heads specialise.")
    sec.table(per_layer, caption="Spread of the head statistics within each layer.")
    sec.figure(out / "attention" / "head_stats.png", "Mean attention distance per head against depth; CLS entropy per head.")

    # masking
    sec.heading("Patch masking")
    curves = pd.read_csv(out / "masking" / "curves.csv")
    summary = pd.read_csv(out / "masking" / "summary.csv")
    fill_rgb = ", ".join(f"{c:.2f}" for c in masking_meta["fill_pixel_rgb"])
    how = {"fill": f"**fill**: every pixel of a masked patch is set to {mc['fill']} in the model's input space (after "
                   f"normalisation), i.e. the RGB colour ({fill_rgb}) on a 0–1 scale",
           "drop": "**drop**: the masked patch tokens are removed (no token may attend to them, via the attention "
                   "mask), which is what the CLS token would see if they were not in the sequence"}
    labelled = masking_meta["labelled_images"]
    sec.text(f"{masking_meta['images']} test images of `{mc['data']}`; fractions {', '.join(map(str, mc['fractions']))} "
             f"of the {grid[0] * grid[1]} patches. **random**: a uniformly random set of round(fraction × patches) "
             f"patches per image, seeds {cfg['seeds']} (a larger fraction masks a superset for the same seed). "
             f"**centre**: the round(fraction × patches) patches closest to the image centre, a centred square that "
             f"grows with the fraction. How a patch is masked: " + "; ".join(how[m] for m in mc["methods"]) + ". "
             + (f"Accuracy counts the {labelled} images whose label maps to a model class; " if labelled else
                "No dataset label maps to a model class, so accuracy is not defined; ")
             + "agreement compares with the unmasked top-1; confidence is the mean top-1 probability.")
    sec.figure(out / "masking" / "curves.png", "Agreement / accuracy and mean confidence vs fraction masked "
               "(± std over seeds for random masks); black markers: published single-image points (report B, one car).")
    wide = summary.pivot_table(index="fraction", columns=["strategy", "method"], values="agreement_mean")
    wide.columns = [f"agreement {s} ({m})" for s, m in wide.columns]
    sec.table(wide.reset_index(), caption="Agreement with the unmasked top-1 (mean over seeds).", digits=3)
    f0, f3 = _nearest(summary, 0.0), _nearest(summary, 0.3)
    method = mc["methods"][0]
    ours = f"{ctx.profile}, {masking_meta['images']} images of {mc['data']}, {method}"
    rows = [(MASKING_KEYS["unmasked"], _confidence(curves, mc["strategies"][0], method, f0), f"{ours}, fraction {f0}")]
    rows += [(MASKING_KEYS[s], _confidence(curves, s, method, f3), f"{ours}, fraction {f3}, mean conf. over images")
             for s in mc["strategies"]]
    sec.compare(rows, "Masking: mean top-1 confidence (%); the published points are one image each.")

    # probe
    sec.heading("Linear probe: CLS token vs. mean of patch tokens")
    probe = read_json(out / "probe" / "results.json")
    sec.text(f"Frozen features after the final LayerNorm, extracted once into a cache; standardised; multinomial "
             f"logistic regression (scikit-learn) with C chosen among {pc['cs']} on the validation split. "
             f"`{pc['data']}`: {pc['train_size']} train / {pc['val_size']} validation / {pc['test_size']} test images.")
    sec.table(pd.DataFrame([{"features": name, "C": r["C"], "train acc (%)": 100 * r["train_accuracy"],
                             "val acc (%)": 100 * r["val_accuracy"], "test acc (%)": 100 * r["test_accuracy"]}
                            for name, r in probe.items()]), caption="Linear-probe accuracy.", digits=2)
    probe_setting = f"{ctx.profile}, {pc['data']} {pc['train_size']}/{pc['test_size']} train/test, test acc"
    sec.compare([("vit.probe_cls_acc", fmt(100 * probe["cls"]["test_accuracy"]), probe_setting),
                 ("vit.probe_mean_acc", fmt(100 * probe["mean"]["test_accuracy"]), probe_setting)],
                "Linear probe accuracy (%).")

    # cnn
    sec.heading("ViT attention vs. CNN Grad-CAM")
    s1 = ctx.params["resnet"]
    sec.text(f"Grad-CAM (the `grad-cam` library) of the S1 {s1['arch']} classifier (weights `{s1['weights']}` + its "
             f"trained {s1['data']} head, input {s1['image_size']} px) at `{cfg['cnn']['target_layer']}`, for its own "
             "top-1 class, beside the ViT maps of the same images. Spearman correlations compare the upsampled maps.")
    sec.figure(out / "cnn" / "gradcam_vs_attention.png", "Image, ViT CLS attention, ViT rollout, CNN Grad-CAM.")
    sec.table(pd.read_csv(out / "cnn" / "comparison.csv"), caption="Top-1 of each model and map agreement.")

    for name, r in probe.items():
        sec.metric(f"probe_{name}_test_acc", r["test_accuracy"])
    for strategy in mc["strategies"]:
        rows = summary[(summary.strategy == strategy) & (summary.method == method) & (summary.fraction == _nearest(summary, 0.5))]
        sec.metric(f"masking_{strategy}_{method}_agreement_at_0.5", float(rows["agreement_mean"].iloc[0]))
    return sec


def _pretrain_note(out: Path) -> str:
    m = read_json(out / "pretrain" / "metrics.json")
    return (f"Demo model: a {m['parameters']:,}-parameter ViT built from `ViTConfig` (eager attention), pretrained for "
            f"{m['epochs']} epochs on the synthetic source task `{m['source_task']}` (classes: {', '.join(m['classes'])}); "
            f"its source-task test accuracy is {fmt(100 * m['test_acc'])}%. Its labels are those shapes, so its "
            "predictions on photos only exercise the pipeline.")
