"""S7 ``ood``: a CIFAR-100 model ladder and its accuracy under corruption (report D).

    archlab ood fetch                      download CIFAR-100-C into resources/ (needs internet)
    archlab ood corrupted                  the corrupted test set (CIFAR-100-C or generated) + examples
    archlab ood train <model> --seed S     train one rung of the ladder (history, dvclive, resume)
    archlab ood evaluate <model> --seed S  clean and corrupted accuracy, the grid, the submission CSV
    archlab ood section                    the report section from the artifacts above

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

from archlab.data import corruptions
from archlab.data.batch_augment import TrainAugment, train_and_eval_transforms
from archlab.data.cifar_c import (CIFAR100_C_CORRUPTIONS, CorruptedSet, cifar100_c_dir, convert_cifar100_c,
                                  generate_corrupted_set)
from archlab.data.loaders import Preprocess, n_batches
from archlab.data.prepared import PreparedDataset
from archlab.errors import CorruptResourceError, ParamsError
from archlab.io import read_json, save_torch, write_json, write_text
from archlab.metrics.ood import accuracy_grid, mean_corruption_accuracy, submission_frame
from archlab.models.resnet import build_resnet
from archlab.models.small_cnns import DeeperCNN, SimpleCNN
from archlab.runtime import seed_everything, to_channels_last
from archlab.stages import common
from archlab.train.classifier import FitConfig, evaluate, fit
from archlab.train.losses import classification_loss

log = logging.getLogger(__name__)
EXPERIMENTS = ("fetch", "corrupted", "train", "evaluate", "section")
SMALL_CNNS = {"simple_cnn": SimpleCNN, "deeper_cnn": DeeperCNN}


def register(sub) -> None:
    common.add_study_parser(sub, "ood", "S7: CIFAR-100 model ladder and OOD robustness", __doc__, EXPERIMENTS, run,
                            target=("model", "train/evaluate: a ladder name from ood.ladder"), seed=True)


def run(args) -> None:
    ctx = common.context(args)
    cfg = ctx.params["ood"]
    handlers = {"fetch": _fetch, "corrupted": _corrupted, "train": _train, "evaluate": _evaluate, "section": _section}
    handlers[args.experiment](ctx, cfg, ctx.results / "ood", args)


# ---------------------------------------------------------------- helpers
def cifar_c_root(ctx) -> Path:
    return ctx.resources / "data" / "cifar100_c"


def ladder_entry(cfg: dict, name: str | None) -> dict:
    entries = {e["name"]: e for e in cfg["ladder"]}
    if name not in entries:
        raise ParamsError(f"unknown ladder model {name!r}; ood.ladder of this profile has {sorted(entries)}")
    return entries[name]


def run_dir(out: Path, name: str, seed: int) -> Path:
    return out / "models" / name / f"seed{seed}"


def build_model(entry: dict, num_classes: int, resources: Path, weights: str | None = None) -> nn.Module:
    """The ladder's model; ``weights`` overrides the entry's spec (``none`` before loading a trained one)."""
    weights = entry["weights"] if weights is None else weights
    if entry["arch"] in SMALL_CNNS:
        if weights != "none":
            raise ParamsError(f"ladder model {entry['name']!r}: {entry['arch']} trains from scratch; set weights: none")
        cnn = SMALL_CNNS[entry["arch"]]
        channels = entry.get("channels", cnn.DEFAULT_CHANNELS)
        if len(channels) != len(cnn.DEFAULT_CHANNELS):
            raise ParamsError(f"ladder model {entry['name']!r}: {entry['arch']} has {len(cnn.DEFAULT_CHANNELS)} "
                              f"convolutions, so channels needs {len(cnn.DEFAULT_CHANNELS)} widths, got {channels}")
        return cnn(num_classes, input_size=entry["input_size"], channels=channels)
    return build_resnet(entry["arch"], num_classes, weights, str(resources))


def make_scheduler(spec: dict, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int):
    """A per-batch scheduler (the training loop steps it every batch): StepLR counts epochs in batches."""
    if spec["name"] == "none":
        return None
    if spec["name"] == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=spec["step_epochs"] * steps_per_epoch,
                                               gamma=spec["gamma"])
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=optimizer.param_groups[0]["lr"], epochs=epochs,
                                               steps_per_epoch=steps_per_epoch, pct_start=spec.get("pct_start", 0.3))


def check_corruptions(ccfg: dict) -> None:
    known = CIFAR100_C_CORRUPTIONS if ccfg["source"] == "cifar100_c" else tuple(corruptions.CORRUPTIONS)
    unknown = [c for c in ccfg["corruptions"] if c not in known]
    if unknown:
        raise ParamsError(f"ood.corrupted.corruptions: {unknown} not available from source "
                          f"{ccfg['source']!r}; it offers {list(known)}")


def log_wandb(wcfg: dict, run_name: str, entry: dict, history) -> None:
    """Per-epoch metrics to Weights & Biases when enabled in params and installed (never required)."""
    if not wcfg.get("enabled"):
        return
    try:
        import wandb
    except ImportError:
        log.warning("ood.wandb.enabled is true but wandb is not installed; per-epoch metrics are in dvclive only")
        return
    wb = wandb.init(project=wcfg["project"], name=run_name, config=entry, mode=wcfg.get("mode", "offline"), reinit=True)
    for row in history.to_dict("records"):
        wb.log({k: v for k, v in row.items() if k != "epoch"}, step=int(row["epoch"]))
    wb.finish()


# ---------------------------------------------------------------- experiments
def _fetch(ctx, cfg, out: Path, args) -> None:
    folder = cifar100_c_dir(cifar_c_root(ctx), download=True)
    log.info("CIFAR-100-C is at %s", folder)


def _corrupted(ctx, cfg, out: Path, args) -> None:
    from archlab.plots.ood import corruption_examples

    ccfg = cfg["corrupted"]
    check_corruptions(ccfg)
    x_test, y_test = PreparedDataset(ctx.dataset_dir(cfg["data"])).split("test")
    target = out / "corrupted"
    if ccfg["source"] == "cifar100_c":
        folder = cifar100_c_dir(cifar_c_root(ctx), ccfg["download"])
        meta = convert_cifar100_c(folder, ccfg["corruptions"], ccfg["severities"], target, ccfg.get("images"))
    else:
        n = min(ccfg.get("images") or len(y_test), len(y_test))
        meta = generate_corrupted_set(np.asarray(x_test[:n]), y_test[:n], ccfg["corruptions"], ccfg["severities"],
                                      ccfg["seed"], target)
    cs = CorruptedSet(target)
    n = meta["n_clean"]
    if not np.array_equal(cs.y[:n], y_test[:n]):  # row k of each block must be clean test image k
        raise CorruptResourceError(f"the corrupted set's labels do not follow the prepared {cfg['data']} test set "
                                   f"order; was the test set capped or shuffled? ({target})")
    first_rows = np.arange(len(ccfg["corruptions"]) * len(ccfg["severities"])) * n
    examples = cs.x[first_rows].reshape(len(ccfg["corruptions"]), len(ccfg["severities"]), *cs.x.shape[1:])
    corruption_examples(x_test[0], examples, ccfg["corruptions"], ccfg["severities"], out / "figures" / "corruption_examples.png")
    log.info("corrupted set (%s): %d images", meta["source"], meta["n_images"])


def _seed(cfg: dict, args) -> int:
    return args.seed if args.seed is not None else cfg["seeds"][0]


def _train(ctx, cfg, out: Path, args) -> None:
    entry = ladder_entry(cfg, args.model)
    data = PreparedDataset(ctx.dataset_dir(cfg["data"]))
    seed = _seed(cfg, args)
    seed_everything(seed)
    device = ctx.device
    model = build_model(entry, len(data.classes), ctx.resources).to(device)  # fit makes it channels_last
    augment = TrainAugment(**cfg["augment"]) if entry["augment"] else None
    train_tf, eval_tf = train_and_eval_transforms(Preprocess(size=entry["input_size"]), augment)
    train, val = data.split("train"), data.split("val")
    optimizer = common.make_optimizer(model.parameters(), entry["optimizer"])
    scheduler = make_scheduler(entry["scheduler"], optimizer, entry["epochs"], n_batches(len(train[1]), entry["batch_size"]))
    fit_cfg = FitConfig(epochs=entry["epochs"], batch_size=entry["batch_size"], seed=seed, train_transform=train_tf,
                        eval_transform=eval_tf, loss_fn=classification_loss(entry["label_smoothing"]), desc=entry["name"])
    folder = run_dir(out, entry["name"], seed)
    history = fit(model, train, val, optimizer, fit_cfg, device, folder, scheduler=scheduler)
    save_torch(folder / "model.pt", model.state_dict())
    write_json(folder / "train.json", {
        "model": entry, "seed": seed, "device": str(device), "val_acc": float(history["val_acc"].iloc[-1]),
        "train_seconds": float(history["epoch_seconds"].sum()), "parameters": sum(p.numel() for p in model.parameters())})
    log_wandb(cfg["wandb"], f"{entry['name']}-seed{seed}", entry, history)


def _evaluate(ctx, cfg, out: Path, args) -> None:
    entry = ladder_entry(cfg, args.model)
    data = PreparedDataset(ctx.dataset_dir(cfg["data"]))
    cs = CorruptedSet(out / "corrupted")
    seed = _seed(cfg, args)
    folder = run_dir(out, entry["name"], seed)
    device = ctx.device
    model = build_model(entry, len(data.classes), ctx.resources, weights="none")
    model.load_state_dict(torch.load(folder / "model.pt", map_location="cpu", weights_only=True))
    model = to_channels_last(model.to(device), device)
    prep = Preprocess(size=entry["input_size"])  # one transform for clean and corrupted images
    bs = cfg["eval_batch_size"]
    t0 = time.perf_counter()
    clean = evaluate(model, data.split("test"), bs, device, prep)
    ood = evaluate(model, (cs.x, cs.y), bs, device, prep)
    grid = accuracy_grid(ood["pred"], cs.y, cs.corruption, cs.severity, cs.corruptions)
    write_text(folder / "grid.csv", grid.to_csv(index_label="corruption"))
    write_text(folder / "submission.csv", submission_frame(ood["pred"], len(data.classes)).to_csv(index=False))
    train_info = read_json(folder / "train.json")
    n = cs.meta["n_clean"]  # the corrupted set is built from the first n clean test images
    y_test = data.split("test")[1]
    write_json(folder / "metrics.json", {
        "model": entry["name"], "seed": seed, "val_acc": train_info["val_acc"], "clean_acc": clean["acc"] * 100,
        "clean_acc_same_images": float(np.mean(clean["pred"][:n] == y_test[:n]) * 100),
        "mean_corruption_acc": mean_corruption_accuracy(grid), "ood_source": cs.meta["source"],
        "ood_images": len(cs), "eval_seconds": time.perf_counter() - t0})
    log.info("%s seed %d: clean %.2f%%, mean corruption %.2f%%", entry["name"], seed, clean["acc"] * 100,
             mean_corruption_accuracy(grid))


def _section(ctx, cfg, out: Path, args) -> None:
    from archlab.stages.ood_section import build_section

    build_section(ctx, cfg, out).write(out / "section.json", ctx.results / "dvc" / "ood")
