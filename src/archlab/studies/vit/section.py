"""The S2 report section, from the S2 runs' artifacts and the params each run recorded (params.json)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from archlab.data.prepared import PreparedDataset
from archlab.errors import ArchlabError
from archlab.io import read_json
from archlab.workflow.provenance import read_run_params
from archlab.report.labels import dataset_label, model_label
from archlab.report.section import Section, fmt, mean_std
from archlab.studies.vit.plan import MASKING_KEYS


def _nearest(summary: pd.DataFrame, fraction: float) -> float:
    fractions = summary["fraction"].unique()
    return float(fractions[np.argmin(abs(fractions - fraction))])


def _confidence(curves: pd.DataFrame, strategy: str, method: str, fraction: float) -> str:
    rows = curves[(curves.strategy == strategy) & (curves.method == method) & (curves.fraction == fraction)]
    if fraction == 0.0:  # nothing masked: every seed gives the same number
        rows = rows.iloc[:1]
    return mean_std(rows["confidence"] * 100) if len(rows) else "–"


def _probe_runs(params: list[str], results: list[str]) -> tuple[dict, dict[int, dict]]:
    """The probe settings every seed shares (cs, max_iter, subsample) and each seed's results."""
    runs = [read_run_params(q) for q in params]
    shared = {k: v for k, v in runs[0].items() if k != "seed"}
    differ = [q["seed"] for q in runs if {k: v for k, v in q.items() if k != "seed"} != shared]
    if differ:
        raise ArchlabError(f"vit_probe runs of seeds {differ} were fitted with other settings than seed "
                         f"{runs[0]['seed']} ({params[0]}); rerun vit_probe for every seed")
    return shared, {q["seed"]: read_json(r) for q, r in zip(runs, results)}


def _pretrain_note(metrics: dict, params: dict, source: PreparedDataset) -> str:
    return (f"Demo model: a {metrics['parameters']:,}-parameter ViT built from `ViTConfig` (SDPA attention; eager where attention maps are drawn; "
            f"{params['layers']} layers, {params['heads']} heads, hidden size {params['hidden_size']}, "
            f"{params['patch_size']} px patches of {params['image_size']} px images), pretrained for "
            f"{params['epochs']} epochs on the synthetic source task {source.describe()} (classes: "
            f"{', '.join(metrics['classes'])}); its source-task test accuracy is {fmt(100 * metrics['test_acc'])}%. "
            "Its labels are those shapes, so its predictions on photos only exercise the pipeline.")


def _accuracy_note(meta: dict) -> str:
    """How masking accuracy is defined: the model's own classes, or a class map (several model classes per class)."""
    labelled, per_class = meta["labelled_images"], meta.get("accepted_per_class", {})
    if not labelled:
        return "No dataset label maps to a model class, so accuracy is not defined; "
    if not meta.get("class_map"):
        return f"Accuracy counts the {labelled} images whose label maps to a model class; "
    none = [c for c, k in per_class.items() if not k]
    listed = ", ".join(f"{c} {k}" for c, k in per_class.items() if k)
    return (f"Accuracy counts the {labelled} images whose class maps to model classes through the class map "
            f"`{meta['class_map']}` (a prediction is correct when it is any of the model classes listed for the "
            f"image's class; classes per dataset class: {listed})"
            + (f"; {', '.join(none)} ha{'s' if len(none) == 1 else 've'} no counterpart and count{'s' if len(none) == 1 else ''} "
               "for agreement only" if none else "") + "; ")


def build(job) -> None:
    inp, profile = job.input, job.params["profile"]
    run = {step: read_run_params(inp[f"{step}_params"])
           for step in ("predict", "attention", "masking", "probe_features", "cnn")}
    ac, mc, fp, cc = run["attention"], run["masking"], run["probe_features"], run["cnn"]
    data = {name: PreparedDataset(inp[key], verify=False) for name, key in
            (("photos", "photos"), ("attention", "attention_data"), ("masking", "masking_data"),
             ("probe", "probe_data"), ("resnet", "resnet_data"))}
    photos = data["photos"]
    masking_meta = read_json(inp["masking_meta"])
    grid = masking_meta["grid"]
    setting = (f"profile {profile}; weights `{run['predict']['weights']}` (SDPA attention, eager for the attention maps; the checkpoint's own "
               f"image processor); {grid[0]}×{grid[1]} patches of {masking_meta['patch_size']} px; images: "
               f"{photos.meta['sizes']['test']} from `{photos.meta['name']}` ({dataset_label(photos.meta)})")
    sec = Section("vit", f"S2 — Vision Transformer attention, masking and linear probes: "
                         f"{model_label('vit', run['predict']['weights'])}", profile, setting, data=photos.meta)
    norm = masking_meta["normalisation"]
    sec.text(f"Inputs are resized to the model's size and normalised with the processor's statistics, mean "
             f"{norm['mean']} and std {norm['std']} (for google/vit-base-patch16-224 both 0.5, not ImageNet's).")
    if "pretrain_metrics" in inp:
        pre = read_run_params(inp["pretrain_params"])
        sec.text(_pretrain_note(read_json(inp["pretrain_metrics"]), pre, PreparedDataset(inp["pretrain_data"], verify=False)))

    # predict
    sec.heading("Predictions")
    preds = pd.read_csv(inp["predict_predictions"])
    table = (preds.assign(shown=preds["label"] + " (" + preds["probability"].map(lambda q: f"{q:.2f}") + ")")
             .groupby("image", sort=False)["shown"].agg(list))
    sec.table(pd.DataFrame({"image": table.index, "top-1 (p)": [v[0] for v in table],
                            f"top-{len(table.iloc[0])} (p)": ["; ".join(v) for v in table]}),
              caption="Top-k predictions for every image of the folder.")

    # attention
    residual = ac["rollout_residual"]
    sec.heading("Attention")
    sec.text(f"Last-layer attention of the CLS token to each patch (row 0 of the attention matrix, the CLS column "
             f"left out), mean over heads and per head, on the {grid[0]}×{grid[1]} patch grid, upsampled bilinearly "
             f"and min-max scaled per image. Rollout (Abnar & Zuidema): per layer the heads are averaged, the skip "
             f"path is added as {residual}·I + {1 - residual}·A (rows renormalised) and "
             f"the layers are multiplied; the CLS row is shown.")
    sec.figure(inp["attention_overlays"], "Image, last-layer CLS attention (mean of heads), and rollout; "
               "titles give the ViT's top-1 and its probability.")
    sec.figure(inp["attention_heads"], f"Last-layer CLS attention, head by head (first {ac['head_images']} images).")
    stats = pd.read_csv(inp["attention_stats"])
    per_layer = stats.groupby("layer").agg(
        **{"mean distance, min head (px)": ("mean_distance_px", "min"),
           "mean distance, max head (px)": ("mean_distance_px", "max"),
           "CLS entropy, min head": ("cls_entropy", "min"), "CLS entropy, max head": ("cls_entropy", "max")}).reset_index()
    sec.text(f"Head specialisation, averaged over the first {ac['stats_images']} test images of "
             f"{data['attention'].describe()}: mean attention distance (attention-weighted image distance between "
             "query and key patches, CLS excluded) and the entropy of each head's CLS→patch distribution divided by "
             "log(#patches) (1 = uniform, 0 = one patch). A wide spread between heads of one layer means heads specialise.")
    sec.table(per_layer, caption="Spread of the head statistics within each layer.")
    sec.figure(inp["attention_stats_png"], "Mean attention distance per head against depth; CLS entropy per head.")

    # masking
    sec.heading("Patch masking")
    curves = pd.read_csv(inp["masking_curves"])
    summary = pd.read_csv(inp["masking_summary"])
    fill_rgb = ", ".join(f"{c:.2f}" for c in masking_meta["fill_pixel_rgb"])
    how = {"fill": f"**fill**: every pixel of a masked patch is set to {mc['fill']} in the model's input space (after "
                   f"normalisation), i.e. the RGB colour ({fill_rgb}) on a 0–1 scale",
           "drop": "**drop**: the masked patch tokens are removed (no token may attend to them, via the attention "
                   "mask), which is what the CLS token would see if they were not in the sequence"}
    labelled = masking_meta["labelled_images"]
    seeds = mc["seeds"]
    sec.text(f"{masking_meta['images']} test images of {data['masking'].describe()}; fractions "
             f"{', '.join(map(str, mc['fractions']))} of the {grid[0] * grid[1]} patches. **random**: a uniformly "
             f"random set of round(fraction × patches) patches per image, seeds {seeds} (n = {len(seeds)}; a larger "
             f"fraction masks a superset for the same seed). **centre**: the round(fraction × patches) patches closest "
             f"to the image centre, a centred square that grows with the fraction. How a patch is masked: "
             + "; ".join(how[m] for m in mc["methods"]) + ". "
             + _accuracy_note(masking_meta)
             + "agreement compares with the unmasked top-1; confidence is the mean top-1 probability.")
    sec.figure(inp["masking_png"], f"Agreement / accuracy and mean confidence vs fraction masked (± std over n = "
               f"{len(seeds)} seeds for random masks); black markers: published single-image points (report B, one car).")
    wide = summary.pivot_table(index="fraction", columns=["strategy", "method"], values="agreement_mean")
    wide.columns = [f"agreement {s} ({m})" for s, m in wide.columns]
    sec.table(wide.reset_index(), caption=f"Agreement with the unmasked top-1 (mean over n = {len(seeds)} seeds "
              "for random masks).", digits=3)
    if labelled:
        acc = summary.pivot_table(index="fraction", columns=["strategy", "method"], values="accuracy_mean")
        acc.columns = [f"accuracy {s} ({m})" for s, m in acc.columns]
        sec.table(acc.reset_index(), caption=f"Accuracy on the {labelled} images whose class maps to model classes "
                  f"(mean over n = {len(seeds)} seeds for random masks)" + (f", through the class map "
                  f"`{masking_meta['class_map']}`" if masking_meta.get("class_map") else "") + ".", digits=3)
    f0, f3 = _nearest(summary, 0.0), _nearest(summary, 0.3)
    method = mc["methods"][0]
    ours = f"{profile}, {masking_meta['images']} images of {dataset_label(data['masking'].meta)}, {method}"
    rows = [(MASKING_KEYS["unmasked"], _confidence(curves, mc["strategies"][0], method, f0), f"{ours}, fraction {f0}")]
    rows += [(MASKING_KEYS[s], _confidence(curves, s, method, f3),
              f"{ours}, fraction {f3}, mean conf. over images" + (f", mean ± std over n = {len(seeds)} seeds"
                                                                  if s == "random" else ""))
             for s in mc["strategies"]]
    sec.compare(rows, "Masking: mean top-1 confidence (%); the published points are one image each.")

    # probe
    sec.heading("Linear probe: CLS token vs. mean of patch tokens")
    pc, probes = _probe_runs(inp["probe_params"], inp["probe_results"])
    seeds, n = sorted(probes), len(probes)
    poolings = list(probes[seeds[0]])
    n_train = probes[seeds[0]][poolings[0]]["n_train"]
    probe_data = dataset_label(data["probe"].meta)

    def acc(pooling: str, split: str) -> list[float]:
        return [100 * probes[s][pooling][f"{split}_accuracy"] for s in seeds]

    sec.text(f"Frozen features after the final LayerNorm, extracted once into a cache; standardised; multinomial "
             f"logistic regression (scikit-learn, at most {pc['max_iter']} iterations) with C chosen among {pc['cs']} "
             f"on the validation split. {data['probe'].describe()}: each probe is fitted on a random "
             f"{100 * pc['subsample']:g} % of the first {fp['train_size']} train images ({n_train} images, drawn without "
             f"replacement per seed), seeds {seeds} (n = {n}); C is chosen on the first {fp['val_size']} validation "
             f"images and every probe is tested on the same first {fp['test_size']} test images.")
    sec.table(pd.DataFrame([{"features": name, "C (per seed)": ", ".join(f"{probes[s][name]['C']:g}" for s in seeds),
                             **{f"{split} acc (%)": mean_std(acc(name, split)) for split in ("train", "val", "test")},
                             "n": n} for name in poolings]),
              caption=f"Linear-probe accuracy, mean ± std over n = {n} seeds (each on its own train subsample).")
    probe_setting = (f"{profile}, {probe_data} {n_train}/{fp['test_size']} train/test, test acc, "
                     f"mean ± std over n = {n} seeds")
    sec.compare([("vit.probe_cls_acc", mean_std(acc("cls", "test")), probe_setting),
                 ("vit.probe_mean_acc", mean_std(acc("mean", "test")), probe_setting)],
                f"Linear probe accuracy (%), mean ± std over n = {n} seeds.")

    # cnn
    sec.heading("ViT attention vs. CNN Grad-CAM")
    r, head = cc["resnet"], read_run_params(inp["resnet_head_params"])
    sec.text(f"Grad-CAM (the `grad-cam` library) of the S1 {model_label(r['arch'], r['weights'])} classifier (weights `{r['weights']}` + its "
             f"head trained for {head['head']['epochs']} epochs on {dataset_label(data['resnet'].meta)}, seed {head['seed']}; "
             f"input {r['image_size']} px) at `{cc['target_layer']}`, for its own top-1 class, beside the ViT maps of "
             "the same images. Spearman correlations compare the upsampled maps.")
    sec.figure(inp["cnn_png"], "Image, ViT CLS attention, ViT rollout, CNN Grad-CAM.")
    sec.table(pd.read_csv(inp["cnn_csv"]), caption="Top-1 of each model and map agreement.")

    for name in poolings:
        sec.metric(f"probe_{name}_test_acc", np.mean([probes[s][name]["test_accuracy"] for s in seeds]))
    for strategy in mc["strategies"]:
        rows = summary[(summary.strategy == strategy) & (summary.method == method) & (summary.fraction == _nearest(summary, 0.5))]
        sec.metric(f"masking_{strategy}_{method}_agreement_half_masked", float(rows["agreement_mean"].iloc[0]))
    sec.write(job.output["section"], job.output["metrics"])
