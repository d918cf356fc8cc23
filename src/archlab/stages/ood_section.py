"""The S7 report section, assembled from the artifacts of the S7 rules only."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from archlab.data.prepared import PreparedDataset
from archlab.io import read_json
from archlab.plots.curves import plot_histories
from archlab.plots.ood import accuracy_heatmaps, accuracy_vs_severity
from archlab.report.section import Section, mean_std
from archlab.train.losses import smoothed_loss_floor

# a ladder entry's ``published:`` rung → the keys its clean / mean-OOD accuracy is compared with
PUBLISHED = {"deeper": (None, "ood.deeper_cnn_ood_acc"),
             "resnet18": ("ood.resnet18_clean_acc", "ood.resnet18_ood_acc"), "resnet50": (None, "ood.resnet50_ood_acc")}


def _recipe(entry: dict) -> str:
    opt, sched = entry["optimizer"], entry["scheduler"]["name"]
    schedule = "constant lr" if sched == "none" else f"{sched} schedule"
    smoothing = f", label smoothing {entry['label_smoothing']}" if entry["label_smoothing"] else ""
    return f"{opt['name']} lr {opt['lr']}, {schedule}, batch {entry['batch_size']}{smoothing}"


def _init(weights: str) -> str:
    kind = weights.split(":", 1)[0]
    return {"none": "from scratch", "file": "demo-pretrained weights"}.get(kind, f"{weights.split(':')[-1]} weights")


def build_section(ctx, cfg: dict, out: Path) -> Section:
    data = PreparedDataset(ctx.dataset_dir(cfg["data"]), verify=False)
    corrupted = read_json(out / "corrupted" / "meta.json")
    sizes, seeds, ladder = data.meta["sizes"], cfg["seeds"], cfg["ladder"]
    ood_what = ("CIFAR-100-C (Hendrycks & Dietterich)" if corrupted["source"] == "cifar100_c"
                else f"corruptions generated from the clean test set (seed {corrupted['seed']})")
    setting = (f"profile {ctx.profile}; {cfg['data']} ({data.meta['source']}, {sizes['train']}/{sizes['val']}/"
               f"{sizes['test']} train/val/test, {data.meta['image_shape'][0]} px); OOD: {ood_what}, "
               f"{len(corrupted['corruptions'])} corruptions × severities {corrupted['severities']}, "
               f"{corrupted['n_clean']} images each ({corrupted['n_images']} in all); seeds {seeds}")
    sec = Section("ood", "S7 — CIFAR-100 model ladder and robustness to corruptions", ctx.profile, setting)
    sec.text("Validation is carved from the training set (never from test). Clean and corrupted test images go "
             "through one identical transform — resize to the model's input size and ImageNet normalisation — and "
             "nothing else: random crop, rotation and blur are applied to training batches only. Mean corruption "
             "accuracy weighs every (corruption, severity) cell equally.")

    runs = {e["name"]: [read_json(out / "models" / e["name"] / f"seed{s}" / "metrics.json") for s in seeds] for e in ladder}
    grids = {e["name"]: _mean_grid(out, e["name"], seeds) for e in ladder}
    setup, results = [], []
    for entry in ladder:
        r = runs[entry["name"]]
        same = [m["clean_acc_same_images"] for m in r]
        ood = [m["mean_corruption_acc"] for m in r]
        setup.append({"model": entry["name"], "arch": entry["arch"], "init": _init(entry["weights"]),
                      "input (px)": entry["input_size"], "train augmentation": "yes" if entry["augment"] else "no",
                      "epochs": entry["epochs"], "recipe": _recipe(entry)})
        results.append({"model": entry["name"], "val acc (%)": mean_std([m["val_acc"] * 100 for m in r]),
                        "clean test acc (%)": mean_std([m["clean_acc"] for m in r]),
                        "mean corruption acc (%)": mean_std(ood), "drop (points)": mean_std(np.subtract(same, ood))})
    native = data.meta["image_shape"][0]
    sec.heading("The ladder: clean vs. corrupted accuracy")
    sec.table(pd.DataFrame(setup), caption=f"The ladder. Input (px) is the size each model was fed: the {native}-px "
              f"images are resized on the device when it differs. Weights: "
              + "; ".join(f"{e['name']} `{e['weights']}`" for e in ladder) + ".")
    sec.table(pd.DataFrame(results), caption=f"Accuracy on the whole clean test set and averaged over every corruption "
              f"and severity (mean ± std over seeds). Drop = clean accuracy on the {corrupted['n_clean']} test images "
              f"the corrupted set was made from − mean corruption accuracy.")
    sec.figure(accuracy_heatmaps(grids, out / "figures" / "heatmaps.png"),
               "Accuracy (%) per corruption (rows) and severity (columns), one panel per model, one colour scale.")
    clean_mean = {name: float(np.mean([m["clean_acc_same_images"] for m in r])) for name, r in runs.items()}
    sec.figure(accuracy_vs_severity(grids, clean_mean, out / "figures" / "severity.png"),
               "Mean accuracy over corruptions against severity; severity 0 is the same test images, clean.", 0.6)
    sec.figure(out / "figures" / "corruption_examples.png",
               "The first test image under every corruption and severity of the OOD set.", 0.7)

    histories = {e["name"]: pd.read_csv(out / "models" / e["name"] / f"seed{seeds[0]}" / "history.csv") for e in ladder}
    sec.heading("Training")
    floors = [f"{e['name']}: {smoothed_loss_floor(len(data.classes), e['label_smoothing']):.2f}"
              for e in ladder if e["label_smoothing"]]
    sec.text("Per-epoch metrics are in each run's history.csv and dvclive folder. "
             + (f"With label smoothing the training loss cannot fall below the entropy of the smoothed target "
                f"({'; '.join(floors)})." if floors else ""))
    sec.figure(plot_histories(histories, out / "figures" / "training.png", f"ladder training, seed {seeds[0]}"),
               "Training curves of the ladder (loss includes label smoothing where used).")
    sec.curves("val_acc", histories)

    sec.heading("Submission files")
    sec.table(pd.DataFrame([{"model": e["name"], "seed": s,
                             "file": str(out / "models" / e["name"] / f"seed{s}" / "submission.csv"),
                             "rows": runs[e["name"]][i]["ood_images"]} for e in ladder for i, s in enumerate(seeds)]),
              caption="id,label per corrupted image; id is the row of the corrupted set (corruption, then severity, "
                      "then test image, as in CIFAR-C); label is the predicted class index.")

    short = f"{ctx.profile}, {sizes['train']} train imgs, {len(corrupted['corruptions'])} corruptions"
    compare = []
    for entry in ladder:
        clean_key, ood_key = PUBLISHED.get(entry.get("published"), (None, None))
        where = f"{entry['arch']}, {_init(entry['weights'])}, {entry['epochs']} ep, {entry['input_size']} px; {short}"
        r = runs[entry["name"]]
        if clean_key:
            compare.append((clean_key, mean_std([m["clean_acc"] for m in r]), where))
        if ood_key:
            compare.append((ood_key, mean_std([m["mean_corruption_acc"] for m in r]), where))
    best = max(ladder, key=lambda e: np.mean([m["mean_corruption_acc"] for m in runs[e["name"]]]))
    compare.append(("ood.course_bar", mean_std([m["mean_corruption_acc"] for m in runs[best["name"]]]),
                    f"best rung ({best['name']}); {short}"))
    sec.heading("Published vs. archlab")
    sec.compare(compare, "D's numbers are on the course's own Kaggle OOD test set, not CIFAR-100-C: compare trends, "
                         "not digits.")
    for name, r in runs.items():
        sec.metric(f"{name}_clean_acc", float(np.mean([m["clean_acc"] for m in r])))
        sec.metric(f"{name}_mean_corruption_acc", float(np.mean([m["mean_corruption_acc"] for m in r])))
    return sec


def _mean_grid(out: Path, name: str, seeds: list[int]) -> pd.DataFrame:
    grids = [pd.read_csv(out / "models" / name / f"seed{s}" / "grid.csv", index_col="corruption") for s in seeds]
    mean = sum(grids) / len(grids)
    return mean.rename(columns=int)
