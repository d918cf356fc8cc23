"""S1 jobs: each receives its inputs, outputs and params from the plan (see plan.py)."""
from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from archlab.data.prepared import PreparedDataset
from archlab.io import save_torch, write_json

# Each job imports what it uses, inside its function: torch costs seconds of CPU per process and
# torchvision (models.resnet) seconds more, which the numpy-only jobs (hierarchy, confusion) and the
# heads on cached features (no torchvision) would otherwise pay at start-up.
log = logging.getLogger(__name__)
POOLED = "avgpool"


def features(job) -> None:
    """Frozen-backbone features, extracted once: pooled for train/val, every block for test."""
    from archlab.data.loaders import Preprocess
    from archlab.features.extract import extract_to_cache
    from archlab.models.resnet import STAGES, build_resnet, remove_skips

    from archlab.runtime import seed_everything

    p = job.params
    data = PreparedDataset(job.input["data"])
    # torch seeds its global generator at random in every process: a backbone with weights "none" must be
    # drawn from a fixed seed, or each run extracts other features (tests/reference caught it)
    seed_everything(0)
    model = build_resnet(p["arch"], len(data.classes), p["weights"], p["resources"])
    changed = remove_skips(model, p["skips_removed_blocks"]) if p["skips_removed_blocks"] else []
    t0 = time.perf_counter()
    extract_to_cache(model, {"train": (data.split("train")[0], [POOLED]), "val": (data.split("val")[0], [POOLED]),
                             "test": (data.split("test")[0], [*STAGES, POOLED])},
                     job.output["cache"], job.device, Preprocess(size=p["image_size"]), p["batch_size"])
    write_json(job.output["meta"], {"arch": p["arch"], "weights": p["weights"], "skips_removed": changed,
                                    "image_size": p["image_size"], "seconds": time.perf_counter() - t0,
                                    "device": str(job.device)})


def head(job) -> None:
    """A linear head on the cached pooled features."""
    from torch import nn

    from archlab.features.extract import load_cache
    from archlab.runtime import seed_everything
    from archlab.train.classifier import FitConfig, evaluate, fit
    from archlab.train.optim import make_optimizer

    p = job.params
    data = PreparedDataset(job.input["data"])
    feats = load_cache(job.input["features"])
    seed_everything(p["seed"])
    split = {s: (feats[f"{s}/{POOLED}"], data.split(s)[1]) for s in ("train", "val", "test")}
    model = nn.Linear(split["train"][0].shape[1], len(data.classes)).to(job.device)
    fit_cfg = FitConfig(epochs=p["head"]["epochs"], batch_size=p["batch_size"], seed=p["seed"], desc=f"head {p['variant']}")
    t0 = time.perf_counter()
    history = fit(model, split["train"], split["val"], make_optimizer(model.parameters(), p["head"]["optimizer"]),
                  fit_cfg, job.device, job.run_dir, checkpoint=job.checkpoint())
    train_seconds = time.perf_counter() - t0
    test = evaluate(model, split["test"], p["batch_size"], job.device)
    np.save(job.output["pred"], test["pred"])
    save_torch(job.output["head"], model.state_dict())
    write_json(job.output["metrics"], {"variant": p["variant"], "seed": p["seed"], "test_acc": test["acc"],
                                       "test_loss": test["loss"], "val_acc": float(history["val_acc"].iloc[-1]),
                                       "train_seconds": train_seconds})


def strategy(job) -> None:
    """last_block / full / random_init: fine-tuning on images."""
    from archlab.data.loaders import Preprocess
    from archlab.models.resnet import build_resnet
    from archlab.runtime import seed_everything
    from archlab.train.classifier import FitConfig, evaluate, fit, trainable_parameters
    from archlab.train.optim import make_optimizer
    from archlab.train.transfer import apply_strategy

    p = job.params
    data = PreparedDataset(job.input["data"])
    seed_everything(p["seed"])
    model = build_resnet(p["arch"], len(data.classes), p["weights"], p["resources"]).to(job.device)
    frozen = apply_strategy(model, p["strategy"])
    prep = Preprocess(size=p["image_size"])
    train = data.split("train", p["train_size"])
    fit_cfg = FitConfig(epochs=p["epochs"], batch_size=p["batch_size"], seed=p["seed"],
                        train_transform=prep, eval_transform=prep, frozen=frozen, desc=p["strategy"])
    opt = make_optimizer(trainable_parameters(model), p["optimizer"])
    history = fit(model, train, data.split("val"), opt, fit_cfg, job.device, job.run_dir, checkpoint=job.checkpoint())
    test = evaluate(model, data.split("test"), p["batch_size"], job.device, prep)
    write_json(job.output["metrics"], {
        "strategy": p["strategy"], "seed": p["seed"], "test_acc": test["acc"], "val_acc": float(history["val_acc"].iloc[-1]),
        "train_seconds": float(history["epoch_seconds"].sum()), "train_images": len(train[1]),
        "trainable_params": sum(q.numel() for q in trainable_parameters(model))})


def hierarchy(job) -> None:
    """Separability of each block's features (k-NN, silhouette), per image (whether k-NN classifies it right:
    the claims compare two blocks image by image) and their 2-D projections."""
    from archlab.features.projections import project_2d
    from archlab.metrics.separability import knn_correct, silhouette
    from archlab.plots.projections import scatter_grid

    p = job.params
    data = PreparedDataset(job.input["data"])
    y = data.split("test")[1][: p["n_images"]]
    with np.load(job.input["features"]) as cache:  # plain numpy: this job needs no torch
        # every block the features job cached for the test split, in network order (layer1 … layer4, avgpool)
        feats = {k.removeprefix("test/"): cache[k][: p["n_images"]] for k in cache.files if k.startswith("test/")}
    rows, panels, subtitles, per_image = [], {}, {}, {"image": np.arange(len(y)), "label": y}
    for layer, x in feats.items():
        correct = knn_correct(x, y, p["knn_k"])
        knn, sil = float(correct.mean()), silhouette(x, y)
        per_image[f"correct_{layer}"] = correct.astype(int)
        rows.append({"layer": layer, "channels": x.shape[1], "knn_acc": knn, "silhouette": sil})
        for method in p["methods"]:
            panels[(method, layer)] = project_2d(x, method, seed=p["seed"])[0]
            subtitles[(method, layer)] = f"{p['knn_k']}-NN acc {knn * 100:.1f}%"
    pd.DataFrame(rows).to_csv(job.output["csv"], index=False)
    pd.DataFrame(per_image).to_csv(job.output["per_image"], index=False)
    scatter_grid(panels, y, data.classes, job.output["png"], subtitles)


def confusion(job) -> None:
    """Confusion matrix of the baseline head and its most confused pairs."""
    from archlab.metrics.confusion import confusion as confusion_matrix
    from archlab.metrics.confusion import most_confused_pairs
    from archlab.plots.confusion import plot_confusion

    data = PreparedDataset(job.input["data"])
    cm = confusion_matrix(data.split("test")[1], np.load(job.input["pred"]), len(data.classes))
    pd.DataFrame(cm, index=data.classes, columns=data.classes).to_csv(job.output["matrix"])
    most_confused_pairs(cm, data.classes, job.params["top_pairs"]).to_csv(job.output["pairs"], index=False)
    plot_confusion(cm, data.classes, job.output["png"], job.params["title"])
