"""S7 jobs: each receives its inputs, outputs and params from the plan (see plan.py).

Clean and corrupted test images go through the same ``Preprocess`` (resize + normalisation) and
nothing else; augmentation exists only in the training transform.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from archlab.data.batch_augment import TrainAugment, train_and_eval_transforms
from archlab.data.cifar_c import CorruptedSet, convert_cifar100_c, generate_corrupted_set
from archlab.data.kinds import n_batches
from archlab.data.loaders import Preprocess
from archlab.data.prepared import PreparedDataset
from archlab.errors import CorruptResourceError
from archlab.io import read_json, save_torch, write_json, write_text
from archlab.metrics.ood import accuracy_grid, mean_corruption_accuracy, submission_frame
from archlab.models.small_cnns import DeeperCNN, SimpleCNN
from archlab.workflow.provenance import read_run_params
from archlab.runtime import seed_everything, to_channels_last
from archlab.train.classifier import FitConfig, evaluate as evaluate_model, fit
from archlab.train.losses import classification_loss
from archlab.train.optim import make_optimizer, make_scheduler

log = logging.getLogger(__name__)
SMALL_CNNS = {"simple_cnn": SimpleCNN, "deeper_cnn": DeeperCNN}


def build_model(p: dict, num_classes: int, weights: str | None = None) -> nn.Module:
    """A rung's model from its train params; ``weights`` overrides their spec (``none`` before loading a trained one)."""
    weights = p["weights"] if weights is None else weights
    if p["arch"] in SMALL_CNNS:
        cnn = SMALL_CNNS[p["arch"]]
        return cnn(num_classes, input_size=p["input_size"], channels=p.get("channels", cnn.DEFAULT_CHANNELS))
    if p["arch"] == "efficientnet_lite0":
        from archlab.models.efficientnet import build_efficientnet_lite0

        return build_efficientnet_lite0(num_classes, weights)
    from archlab.models.resnet import build_resnet  # here: torchvision costs seconds to import, the CNN rungs skip it

    return build_resnet(p["arch"], num_classes, weights, p.get("resources", "resources"))


def corrupted(job) -> None:
    """The corrupted test set (CIFAR-100-C rows, or generated from the clean test set) and its example figure."""
    from archlab.plots.ood import corruption_examples

    p = job.params
    x_test, y_test = PreparedDataset(job.input["data"]).split("test")
    target = job.run_dir
    if p["source"] == "cifar100_c":
        meta = convert_cifar100_c(Path(job.input["cifar_c"]).parent, p["corruptions"], p["severities"], target, p["images"])
    else:
        n = min(p["images"] or len(y_test), len(y_test))
        meta = generate_corrupted_set(np.asarray(x_test[:n]), y_test[:n], p["corruptions"], p["severities"],
                                      p["seed"], target)
    cs = CorruptedSet(target)
    n = meta["n_clean"]
    if not np.array_equal(cs.y[:n], y_test[:n]):  # row k of each block must be clean test image k
        raise CorruptResourceError(f"the corrupted set's labels do not follow the prepared test set order "
                                   f"({job.input['data']}); was the test set capped or shuffled? ({target})")
    first_rows = np.arange(len(p["corruptions"]) * len(p["severities"])) * n
    examples = cs.x[first_rows].reshape(len(p["corruptions"]), len(p["severities"]), *cs.x.shape[1:])
    corruption_examples(x_test[0], examples, p["corruptions"], p["severities"], job.output["examples"])
    log.info("corrupted set (%s): %d images", meta["source"], meta["n_images"])


def train(job) -> None:
    """One rung of the ladder, one seed; resumes only an interrupted run of these exact params and inputs."""
    p, device = job.params, job.device
    data = PreparedDataset(job.input["data"])
    seed_everything(p["seed"])
    model = build_model(p, len(data.classes)).to(device)  # fit makes it channels_last
    augment = TrainAugment(**p["augment"]) if p["augment"] is not None else None
    train_tf, eval_tf = train_and_eval_transforms(Preprocess(size=p["input_size"]), augment)
    train_split, val = data.split("train"), data.split("val")
    optimizer = make_optimizer(model.parameters(), p["optimizer"])
    scheduler = make_scheduler(optimizer, p["scheduler"], p["epochs"], n_batches(len(train_split[1]), p["batch_size"]))
    name = job.wildcards["model"]
    fit_cfg = FitConfig(epochs=p["epochs"], batch_size=p["batch_size"], seed=p["seed"], train_transform=train_tf,
                        eval_transform=eval_tf, loss_fn=classification_loss(p["label_smoothing"]), desc=name)
    history = fit(model, train_split, val, optimizer, fit_cfg, device, job.run_dir, scheduler=scheduler,
                  checkpoint=job.checkpoint())
    save_torch(job.output["model"], model.state_dict())
    write_json(job.output["info"], {
        "model": name, "seed": p["seed"], "device": str(device), "val_acc": float(history["val_acc"].iloc[-1]),
        "train_seconds": float(history["epoch_seconds"].sum()), "parameters": sum(q.numel() for q in model.parameters())})


def evaluate(job) -> None:
    """Clean and corrupted accuracy of one trained rung, the (corruption × severity) grid, the submission CSV."""
    p, device = job.params, job.device
    tp = read_run_params(job.input["train_params"])
    data = PreparedDataset(job.input["data"])
    cs = CorruptedSet(Path(job.input["corrupted"]).parent)
    model = build_model(tp, len(data.classes), weights="none")
    model.load_state_dict(torch.load(job.input["model"], map_location="cpu", weights_only=True))
    model = to_channels_last(model.to(device), device)
    prep = Preprocess(size=tp["input_size"])  # one transform for clean and corrupted images
    t0 = time.perf_counter()
    clean = evaluate_model(model, data.split("test"), p["batch_size"], device, prep)
    ood = evaluate_model(model, (cs.x, cs.y), p["batch_size"], device, prep)
    grid = accuracy_grid(ood["pred"], cs.y, cs.corruption, cs.severity, cs.corruptions)
    write_text(job.output["grid"], grid.to_csv(index_label="corruption"))
    write_text(job.output["submission"], submission_frame(ood["pred"], len(data.classes)).to_csv(index=False))
    n = cs.meta["n_clean"]  # the corrupted set is built from the first n clean test images
    y_test = data.split("test")[1]
    name, seed = job.wildcards["model"], tp["seed"]
    write_json(job.output["metrics"], {
        "model": name, "seed": seed, "val_acc": read_json(job.input["info"])["val_acc"], "clean_acc": clean["acc"] * 100,
        "clean_acc_same_images": float(np.mean(clean["pred"][:n] == y_test[:n]) * 100),
        "mean_corruption_acc": mean_corruption_accuracy(grid), "ood_source": cs.meta["source"],
        "ood_images": len(cs), "eval_seconds": time.perf_counter() - t0})
    log.info("%s seed %d: clean %.2f%%, mean corruption %.2f%%", name, seed, clean["acc"] * 100,
             mean_corruption_accuracy(grid))
    if "wandb" in p:
        import pandas as pd

        log_wandb(p["wandb"], f"{name}-seed{seed}", tp, pd.read_csv(job.input["history"]))


def log_wandb(wcfg: dict, run_name: str, config: dict, history) -> None:
    """Per-epoch metrics to Weights & Biases when enabled in params and installed (never required)."""
    if not wcfg.get("enabled"):
        return
    try:
        import wandb
    except ImportError:
        log.warning("ood.wandb.enabled is true but wandb is not installed; per-epoch metrics are in dvclive only")
        return
    wb = wandb.init(project=wcfg["project"], name=run_name, config=config, mode=wcfg.get("mode", "offline"), reinit=True)
    for row in history.to_dict("records"):
        wb.log({k: v for k, v in row.items() if k != "epoch"}, step=int(row["epoch"]))
    wb.finish()
