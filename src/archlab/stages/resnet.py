"""S1 ``resnet``: ResNet transfer learning on CIFAR-10 (six experiments + the report section).

    archlab resnet features <arch>[-noskip]   frozen-backbone features, extracted once (cache)
    archlab resnet head <arch>[-noskip] --seed S   linear head on the cached features
    archlab resnet strategy <name> --seed S   last_block / full / random_init on images
    archlab resnet hierarchy                  separability per block + t-SNE/UMAP
    archlab resnet confusion                  confusion matrix of the baseline head
    archlab resnet section                    the report section from the artifacts above
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
from torch import nn

from archlab.data.loaders import Preprocess
from archlab.data.prepared import PreparedDataset
from archlab.errors import ParamsError
from archlab.features.extract import extract_to_cache, load_cache
from archlab.io import save_torch, write_json
from archlab.models.resnet import STAGES, build_resnet, remove_skips
from archlab.runtime import seed_everything
from archlab.stages import common
from archlab.train.classifier import FitConfig, evaluate, fit, trainable_parameters
from archlab.train.transfer import apply_strategy

log = logging.getLogger(__name__)
EXPERIMENTS = ("features", "head", "strategy", "hierarchy", "confusion", "section")
POOLED = "avgpool"


def register(sub) -> None:
    common.add_study_parser(sub, "resnet", "S1: ResNet transfer learning", __doc__, EXPERIMENTS, run,
                            target=("variant", "features/head: <arch> or <arch>-noskip; strategy: its name"), seed=True)


def run(args) -> None:
    ctx = common.context(args)
    cfg = ctx.params["resnet"]
    out = ctx.results / "resnet"
    handlers = {"features": _features, "head": _head, "strategy": _strategy,
                "hierarchy": _hierarchy, "confusion": _confusion, "section": _section}
    handlers[args.experiment](ctx, cfg, out, args)


# ---------------------------------------------------------------- helpers
def variants(cfg: dict) -> dict[str, str]:
    """Every feature variant S1 needs → its weights spec (the baseline arch is shared with depth)."""
    out = {m["arch"]: m["weights"] for m in cfg["depth"]["models"]}
    out[cfg["arch"]] = cfg["weights"]
    out[f"{cfg['arch']}-noskip"] = cfg["weights"]
    return out


def _parse_variant(cfg: dict, variant: str | None) -> tuple[str, str, bool]:
    known = variants(cfg)
    if variant not in known:
        raise ParamsError(f"unknown S1 variant {variant!r}; this profile has {sorted(known)}")
    return variant.removesuffix("-noskip"), known[variant], variant.endswith("-noskip")


def _preprocess(cfg: dict) -> Preprocess:
    return Preprocess(size=cfg["image_size"])


# ---------------------------------------------------------------- experiments
def _features(ctx, cfg, out: Path, args) -> None:
    arch, spec, noskip = _parse_variant(cfg, args.variant)
    data = PreparedDataset(ctx.dataset_dir(cfg["data"]))
    model = build_resnet(arch, len(data.classes), spec, ctx.resources)
    changed = remove_skips(model, cfg["no_skip"]["blocks"]) if noskip else []
    t0 = time.perf_counter()
    all_layers = [*STAGES, POOLED]
    extract_to_cache(model, {"train": (data.split("train")[0], [POOLED]), "val": (data.split("val")[0], [POOLED]),
                             "test": (data.split("test")[0], all_layers)},
                     out / "features" / f"{args.variant}.npz", ctx.device, _preprocess(cfg), cfg["batch_size"])
    write_json(out / "features" / f"{args.variant}.json", {
        "arch": arch, "weights": spec, "skips_removed": changed, "image_size": cfg["image_size"],
        "seconds": time.perf_counter() - t0, "device": str(ctx.device)})


def _head(ctx, cfg, out: Path, args) -> None:
    _parse_variant(cfg, args.variant)
    data = PreparedDataset(ctx.dataset_dir(cfg["data"]))
    feats = load_cache(out / "features" / f"{args.variant}.npz")
    seed = args.seed if args.seed is not None else cfg["seeds"][0]
    seed_everything(seed)
    split = {s: (feats[f"{s}/{POOLED}"], data.split(s)[1]) for s in ("train", "val", "test")}
    head = nn.Linear(split["train"][0].shape[1], len(data.classes)).to(ctx.device)
    run_dir = out / "head" / args.variant / f"seed{seed}"
    fit_cfg = FitConfig(epochs=cfg["head"]["epochs"], batch_size=cfg["batch_size"], seed=seed, desc=f"head {args.variant}")
    t0 = time.perf_counter()
    history = fit(head, split["train"], split["val"], common.make_optimizer(head.parameters(), cfg["head"]["optimizer"]),
                  fit_cfg, ctx.device, run_dir)
    train_seconds = time.perf_counter() - t0
    test = evaluate(head, split["test"], cfg["batch_size"], ctx.device)
    np.save(run_dir / "test_pred.npy", test["pred"])
    save_torch(run_dir / "head.pt", head.state_dict())
    write_json(run_dir / "metrics.json", {"variant": args.variant, "seed": seed, "test_acc": test["acc"],
                                          "test_loss": test["loss"], "val_acc": float(history["val_acc"].iloc[-1]),
                                          "train_seconds": train_seconds})


def _strategy(ctx, cfg, out: Path, args) -> None:
    strategy = args.variant
    if strategy not in cfg["strategies"]["names"] or strategy == "head":
        raise ParamsError(f"strategy {strategy!r} is not trained on images; choose from "
                          f"{[s for s in cfg['strategies']['names'] if s != 'head']} (head reuses the cached features)")
    data = PreparedDataset(ctx.dataset_dir(cfg["data"]))
    seed = args.seed if args.seed is not None else cfg["seeds"][0]
    seed_everything(seed)
    weights = "none" if strategy == "random_init" else cfg["weights"]
    model = build_resnet(cfg["arch"], len(data.classes), weights, ctx.resources).to(ctx.device)
    frozen = apply_strategy(model, strategy)
    prep = _preprocess(cfg)
    train = data.split("train", cfg["strategies"].get("train_size"))
    run_dir = out / "strategies" / strategy / f"seed{seed}"
    fit_cfg = FitConfig(epochs=cfg["strategies"]["epochs"], batch_size=cfg["batch_size"], seed=seed,
                        train_transform=prep, eval_transform=prep, frozen=frozen, desc=strategy)
    opt = common.make_optimizer(trainable_parameters(model), cfg["strategies"]["optimizer"])
    t0 = time.perf_counter()
    history = fit(model, train, data.split("val"), opt, fit_cfg, ctx.device, run_dir)
    seconds = float(history["epoch_seconds"].sum()) if len(history) else time.perf_counter() - t0
    test = evaluate(model, data.split("test"), cfg["batch_size"], ctx.device, prep)
    write_json(run_dir / "metrics.json", {
        "strategy": strategy, "seed": seed, "test_acc": test["acc"], "val_acc": float(history["val_acc"].iloc[-1]),
        "train_seconds": seconds, "train_images": len(train[1]),
        "trainable_params": sum(p.numel() for p in trainable_parameters(model))})


def _hierarchy(ctx, cfg, out: Path, args) -> None:
    from archlab.features.projections import project_2d
    from archlab.metrics.separability import knn_accuracy, silhouette
    from archlab.plots.projections import scatter_grid

    hcfg = cfg["hierarchy"]
    data = PreparedDataset(ctx.dataset_dir(cfg["data"]))
    y = data.split("test")[1]
    n = hcfg["n_images"]
    if n > len(y):
        raise ParamsError(f"resnet.hierarchy.n_images={n} is larger than the {len(y)} test images")
    feats = load_cache(out / "features" / f"{cfg['arch']}.npz")
    y = y[:n]
    rows, panels, subtitles = [], {}, {}
    for layer in [*STAGES, POOLED]:
        x = feats[f"test/{layer}"][:n]
        knn, sil = knn_accuracy(x, y, hcfg["knn_k"]), silhouette(x, y)
        rows.append({"layer": layer, "channels": x.shape[1], "knn_acc": knn, "silhouette": sil})
        for method in hcfg["methods"]:
            panels[(method, layer)] = project_2d(x, method, seed=cfg["seeds"][0])[0]
            subtitles[(method, layer)] = f"{hcfg['knn_k']}-NN acc {knn * 100:.1f}%"
    (out / "hierarchy").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out / "hierarchy" / "separability.csv", index=False)
    scatter_grid(panels, y, data.classes, out / "hierarchy" / "projections.png", subtitles)


def _confusion(ctx, cfg, out: Path, args) -> None:
    from archlab.metrics.confusion import confusion, most_confused_pairs
    from archlab.plots.confusion import plot_confusion

    data = PreparedDataset(ctx.dataset_dir(cfg["data"]))
    y = data.split("test")[1]
    pred = np.load(out / "head" / cfg["arch"] / f"seed{cfg['seeds'][0]}" / "test_pred.npy")
    cm = confusion(y, pred, len(data.classes))
    d = out / "confusion"
    d.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(cm, index=data.classes, columns=data.classes).to_csv(d / "confusion.csv")
    most_confused_pairs(cm, data.classes, cfg["confusion"]["top_pairs"]).to_csv(d / "pairs.csv", index=False)
    plot_confusion(cm, data.classes, d / "confusion.png", f"{cfg['arch']} head only, test set")


def _section(ctx, cfg, out: Path, args) -> None:
    from archlab.stages.resnet_section import build_section

    build_section(ctx, cfg, out).write(out / "section.json", ctx.results / "dvc" / "resnet")
