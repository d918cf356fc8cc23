"""The S7 report section, from the S7 runs' artifacts and the params each run recorded (params.json)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from archlab.data.prepared import PreparedDataset
from archlab.io import read_json
from archlab.plots.curves import plot_histories
from archlab.plots.ood import accuracy_heatmaps, accuracy_vs_severity
from archlab.workflow.provenance import read_run_params
from archlab.report.labels import dataset_label, model_label
from archlab.report.section import Section, mean_std
from archlab.train.losses import smoothed_loss_floor

# a ladder entry's ``published:`` rung → the keys its clean / mean-OOD accuracy is compared with
PUBLISHED = {"deeper": (None, "ood.deeper_cnn_ood_acc"),
             "resnet18": ("ood.resnet18_clean_acc", "ood.resnet18_ood_acc"), "resnet50": (None, "ood.resnet50_ood_acc")}


def _recipe(tp: dict) -> str:
    opt, sched = tp["optimizer"], tp["scheduler"]["name"]
    schedule = "constant lr" if sched == "none" else f"{sched} schedule"
    smoothing = f", label smoothing {tp['label_smoothing']}" if tp["label_smoothing"] else ""
    return f"{opt['name']} lr {opt['lr']}, {schedule}, batch {tp['batch_size']}{smoothing}"


def _init(arch: str, weights: str) -> str:
    return model_label(arch, weights).strip()


def build(job) -> None:
    p, inp = job.params, job.input
    names, seeds, profile = p["models"], p["seeds"], p["profile"]
    data = PreparedDataset(inp["data"], verify=False)
    corrupted = read_json(inp["corrupted"])
    # every run by (model, seed): its evaluation metrics and grid; each rung's train params (seed 0's)
    runs: dict[str, list[dict]] = {n: [] for n in names}
    grids: dict[str, list[pd.DataFrame]] = {n: [] for n in names}
    for m, g in zip(inp["metrics"], inp["grids"]):
        metrics = read_json(m)
        runs[metrics["model"]].append({**metrics, "submission": str(Path(m).parent / "submission.csv")})
        grids[metrics["model"]].append(pd.read_csv(g, index_col="corruption"))
    train = dict(zip(names, (read_run_params(q) for q in inp["train_params"])))
    mean_grid = {n: (sum(gs) / len(gs)).rename(columns=int) for n, gs in grids.items()}

    ood_what = ("CIFAR-100-C (Hendrycks & Dietterich)" if corrupted["source"] == "cifar100_c"
                else f"corruptions generated from the clean test set (seed {corrupted['seed']})")
    native = data.meta["image_shape"][0]
    setting = (f"profile {profile}; {dataset_label(data.meta)}: {data.describe(f'{native} px')}; OOD: {ood_what}, "
               f"{len(corrupted['corruptions'])} corruptions × severities {corrupted['severities']}, "
               f"{corrupted['n_clean']} images each ({corrupted['n_images']} in all); seeds "
               + ", ".join(f"{n} {seeds[n]}" for n in names))
    sec = Section("ood", f"S7 — model ladder and robustness to corruptions on {dataset_label(data.meta)}", profile, setting,
                  data=data.meta)
    sec.text("Validation is carved from the training set (never from test). Clean and corrupted test images go "
             "through one identical transform — resize to the model's input size and ImageNet normalisation — and "
             "nothing else: random crop, rotation and blur are applied to training batches only. Mean corruption "
             "accuracy weighs every (corruption, severity) cell equally.")

    setup, results = [], []
    for name in names:
        r, tp = runs[name], train[name]
        same = [m["clean_acc_same_images"] for m in r]
        ood = [m["mean_corruption_acc"] for m in r]
        setup.append({"model": name, "arch": tp["arch"], "init": _init(tp["arch"], tp["weights"]), "input (px)": tp["input_size"],
                      "train augmentation": "yes" if tp["augment"] is not None else "no",
                      "epochs": tp["epochs"], "recipe": _recipe(tp)})
        results.append({"model": name, "val acc (%)": mean_std([m["val_acc"] * 100 for m in r]),
                        "clean test acc (%)": mean_std([m["clean_acc"] for m in r]),
                        "mean corruption acc (%)": mean_std(ood), "drop (points)": mean_std(np.subtract(same, ood)),
                        "n (seeds)": len(r)})
    augmented = next((train[n]["augment"] for n in names if train[n]["augment"] is not None), None)
    aug_text = ("" if augmented is None else
                f" Augmentation: random crop (padding {augmented['crop_padding']} px at 32 px), rotation up to "
                f"±{augmented['max_rotation_deg']}°, Gaussian blur (p {augmented['blur_p']}, σ {augmented['blur_sigma']}).")
    sec.heading("The ladder: clean vs. corrupted accuracy")
    sec.table(pd.DataFrame(setup), caption=f"The ladder. Input (px) is the size each model was fed: the {native}-px "
              f"images are resized on the device when it differs. Weights: "
              + "; ".join(f"{n} `{train[n]['weights']}`" for n in names) + "." + aug_text)
    sec.table(pd.DataFrame(results), caption=f"Accuracy on the whole clean test set and averaged over every corruption "
              f"and severity (mean ± std over the n seeds of each row). Drop = clean accuracy on the "
              f"{corrupted['n_clean']} test images the corrupted set was made from − mean corruption accuracy.")
    sec.figure(accuracy_heatmaps(mean_grid, job.output["heatmaps"]),
               f"Accuracy (%) per corruption (rows) and severity (columns), one panel per model, one colour scale "
               f"(mean over each model's seeds: " + ", ".join(f"{n} n = {len(seeds[n])}" for n in names) + ").")
    clean_mean = {n: float(np.mean([m["clean_acc_same_images"] for m in r])) for n, r in runs.items()}
    sec.figure(accuracy_vs_severity(mean_grid, clean_mean, job.output["severity"]),
               "Mean accuracy over corruptions against severity; severity 0 is the same test images, clean.", 0.6)
    sec.figure(inp["examples"], "The first test image under every corruption and severity of the OOD set.", 0.7)

    # the plan lists every run's history, models in order, seeds in order within each
    every_run = dict(zip([(n, s) for n in names for s in seeds[n]], map(pd.read_csv, inp["histories"])))
    histories = {n: every_run[(n, seeds[n][0])] for n in names}
    sec.heading("Training")
    floors = [f"{n}: {smoothed_loss_floor(len(data.classes), train[n]['label_smoothing']):.2f}"
              for n in names if train[n]["label_smoothing"]]
    sec.text("Per-epoch metrics are in each run's history.csv and dvclive folder. "
             + (f"With label smoothing the training loss cannot fall below the entropy of the smoothed target "
                f"({'; '.join(floors)})." if floors else ""))
    sec.figure(plot_histories(histories, job.output["training"], "ladder training, each model's first seed"),
               "Training curves of the ladder (loss includes label smoothing where used).")
    sec.curves("val_acc", {f"{n} seed {s}": h for (n, s), h in every_run.items()})

    sec.heading("Submission files")
    sec.table(pd.DataFrame([{"model": n, "seed": m["seed"], "file": m["submission"], "rows": m["ood_images"]}
                            for n in names for m in runs[n]]),
              caption="id,label per corrupted image; id is the row of the corrupted set (corruption, then severity, "
                      "then test image, as in CIFAR-C); label is the predicted class index.")

    short = f"{profile}, {data.meta['sizes']['train']} train imgs, {len(corrupted['corruptions'])} corruptions"
    compare = []
    for name in names:
        clean_key, ood_key = PUBLISHED.get(p["published"].get(name), (None, None))
        tp, r = train[name], runs[name]
        where = f"{_init(tp['arch'], tp['weights'])}, {tp['epochs']} ep, {tp['input_size']} px; {short}; n = {len(r)}"
        if clean_key:
            compare.append((clean_key, mean_std([m["clean_acc"] for m in r]), where))
        if ood_key:
            compare.append((ood_key, mean_std([m["mean_corruption_acc"] for m in r]), where))
    sec.heading("Published vs. archlab")
    sec.compare(compare, "D's numbers are on the course's own Kaggle OOD test set, not CIFAR-100-C: compare trends, "
                         "not digits.")
    for name, r in runs.items():
        sec.metric(f"{name}_clean_acc", float(np.mean([m["clean_acc"] for m in r])) / 100)  # % → fraction
        sec.metric(f"{name}_mean_corruption_acc", float(np.mean([m["mean_corruption_acc"] for m in r])) / 100)
    sec.write(job.output["section"], job.output["metrics"], {"val_acc": job.output["curves"]})
