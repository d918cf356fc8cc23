"""S2 ``vit``: Vision Transformer attention, masking robustness and linear probes.

    archlab vit pretrain          demo: train the small ViT on the synthetic source task
    archlab vit predict           top-1 / top-k for every image of the predict dataset
    archlab vit attention         last-layer CLS maps (mean + per head), rollout, head statistics
    archlab vit masking           accuracy / agreement / confidence vs fraction of patches masked
    archlab vit probe-features    frozen CLS and mean-patch features, extracted once (cache)
    archlab vit probe             logistic-regression probes on the cached features
    archlab vit cnn               Grad-CAM of the S1 ResNet beside the ViT attention
    archlab vit section           the report section from the artifacts above
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from archlab.data.loaders import Preprocess, iterate_batches
from archlab.data.prepared import PreparedDataset
from archlab.errors import ParamsError
from archlab.features import attention as A
from archlab.features import patch_masking as PM
from archlab.io import write_json, write_npz
from archlab.metrics.probe import cached_features, linear_probe
from archlab.models import vit as V
from archlab.models import weights as W
from archlab.runtime import autocast, seed_everything
from archlab.stages import common

log = logging.getLogger(__name__)
EXPERIMENTS = ("pretrain", "predict", "attention", "masking", "probe-features", "probe", "cnn", "section")
POOLINGS = ("cls", "mean")


def register(sub) -> None:
    common.add_study_parser(sub, "vit", "S2: ViT attention, masking and probes", __doc__, EXPERIMENTS, run)


def run(args) -> None:
    ctx = common.context(args)
    cfg = ctx.params["vit"]
    handlers = {"pretrain": _pretrain, "predict": _predict, "attention": _attention, "masking": _masking,
                "probe-features": _probe_features, "probe": _probe, "cnn": _cnn, "section": _section}
    handlers[args.experiment](ctx, cfg, ctx.results / "vit")


# ---------------------------------------------------------------- helpers
def _load(ctx, cfg):
    model, prep = V.load_vit(cfg["weights"], ctx.resources)
    return model.to(ctx.device), prep


def _logits_and_attention(model, prep: Preprocess, x: np.ndarray, batch_size: int, device, residual: float):
    """Logits, last-layer CLS maps per head and rollout maps for ``x``, batch by batch."""
    grid = V.patch_grid(model)
    logits, cls, roll = [], [], []
    for xb, _ in iterate_batches(x, np.zeros(len(x), np.int64), batch_size, device, prep):
        with autocast(device):
            lg, attn = V.attentions(model, xb)
        logits.append(lg.cpu())
        cls.append(A.cls_attention(attn[-1], grid).cpu())
        roll.append(A.rollout_map(attn, grid, residual).cpu())
    return torch.cat(logits), torch.cat(cls).numpy(), torch.cat(roll).numpy()


def _photos(ctx, cfg) -> tuple[list[str], np.ndarray]:
    data = PreparedDataset(ctx.dataset_dir(cfg["predict"]["dataset"]))
    x, _ = data.split("test")
    names = [Path(f).stem for f in data.meta.get("files") or [f"image{i}" for i in range(len(x))]]
    return names, np.asarray(x)


def _test_split(ctx, name: str, n: int, key: str):
    data = PreparedDataset(ctx.dataset_dir(name))
    available = data.meta["sizes"]["test"]
    if n > available:
        raise ParamsError(f"{key}={n} but dataset {name!r} has only {available} test images")
    return data, *data.split("test", n)


def _display(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return A.upsample_maps(torch.from_numpy(np.asarray(maps, np.float32)), size).numpy()


# ---------------------------------------------------------------- experiments
def _pretrain(ctx, cfg, out: Path) -> None:
    """Train the demo ViT from scratch on the source task. ViTs need a learning-rate warm-up, so
    the optimizer's lr is the peak of a one-cycle schedule (15% warm-up, cosine decay)."""
    from archlab.data.loaders import n_batches
    from archlab.train.classifier import FitConfig, evaluate, fit

    pc = cfg.get("pretrain")
    if pc is None:
        raise ParamsError(f"profile {ctx.profile!r} has no vit.pretrain section (it uses {cfg['weights']})")
    data = PreparedDataset(ctx.dataset_dir(pc["data"]))
    seed_everything(pc["seed"])
    model, processor = V.build_demo_vit(data.classes, pc["image_size"], pc["patch_size"], pc["hidden_size"],
                                        pc["layers"], pc["heads"], pc["mlp_ratio"])
    net, prep = V.Logits(model).to(ctx.device), V.preprocess_of(processor)
    train = data.split("train")
    optimizer = common.make_optimizer(net.parameters(), pc["optimizer"])
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=pc["optimizer"]["lr"], pct_start=0.15,
        total_steps=pc["epochs"] * n_batches(len(train[1]), pc["batch_size"]))
    run_dir = out / "pretrain"
    fit_cfg = FitConfig(epochs=pc["epochs"], batch_size=pc["batch_size"], seed=pc["seed"],
                        train_transform=prep, eval_transform=prep, desc="pretrain vit")
    history = fit(net, train, data.split("val"), optimizer, fit_cfg, ctx.device, run_dir, schedule)
    test = evaluate(net, data.split("test"), pc["batch_size"], ctx.device, prep)
    V.save_vit(model.cpu(), processor, run_dir / "model")
    write_json(run_dir / "metrics.json", {
        "source_task": pc["data"], "classes": data.classes, "epochs": pc["epochs"],
        "val_acc": float(history["val_acc"].iloc[-1]), "test_acc": test["acc"],
        "parameters": sum(p.numel() for p in model.parameters())})
    log.info("demo ViT: source-task test accuracy %.3f", test["acc"])


def _predict(ctx, cfg, out: Path) -> None:
    model, prep = _load(ctx, cfg)
    names, x = _photos(ctx, cfg)
    with torch.no_grad(), autocast(ctx.device):
        logits = torch.cat([model(pixel_values=xb).logits.float().cpu()
                            for xb, _ in iterate_batches(x, np.zeros(len(x), np.int64), cfg["batch_size"], ctx.device, prep)])
    rows = []
    for name, ranked in zip(names, V.top_k(logits, V.label_names(model), cfg["predict"]["top_k"])):
        rows += [{"image": name, "rank": r + 1, "label": label, "probability": p} for r, (label, p) in enumerate(ranked)]
    (out / "predict").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out / "predict" / "predictions.csv", index=False)


def _attention(ctx, cfg, out: Path) -> None:
    from archlab.plots import vit as P

    ac = cfg["attention"]
    model, prep = _load(ctx, cfg)
    grid, patch = V.patch_grid(model), model.config.patch_size
    names, x = _photos(ctx, cfg)
    logits, cls, roll = _logits_and_attention(model, prep, x, cfg["batch_size"], ctx.device, ac["rollout_residual"])
    labels = [ranked[0] for ranked in V.top_k(logits, V.label_names(model), 1)]
    d = out / "attention"
    write_npz(d / "maps.npz", cls=cls, rollout=roll, names=np.array(names),
              top1=np.array([label for label, _ in labels]), top1_prob=np.array([p for _, p in labels]))

    # per-head statistics, averaged over a set of dataset images
    _, xs, _ = _test_split(ctx, ac["data"], ac["stats_images"], "vit.attention.stats_images")
    distance, entropy, seen = 0.0, 0.0, 0
    for xb, _ in iterate_batches(xs, np.zeros(len(xs), np.int64), cfg["batch_size"], ctx.device, prep):
        with autocast(ctx.device):
            attn = V.attentions(model, xb)[1]
        distance = distance + A.mean_attention_distance(attn, grid, patch).cpu() * len(xb)
        entropy = entropy + A.cls_entropy(attn).cpu() * len(xb)
        seen += len(xb)
    distance, entropy = (distance / seen).numpy(), (entropy / seen).numpy()
    layers, heads = distance.shape
    pd.DataFrame([{"layer": l + 1, "head": h, "mean_distance_px": distance[l, h], "cls_entropy": entropy[l, h]}
                  for l in range(layers) for h in range(heads)]).to_csv(d / "head_stats.csv", index=False)

    size = x.shape[1:3]
    titles = [f"{n}: {label} ({p:.2f})" for n, (label, p) in zip(names, labels)]
    P.overlay_grid(x, {"last layer CLS, mean of heads": _display(cls.mean(1), size),
                       "rollout, all layers": _display(roll, size)}, d / "overlays.png", titles)
    k = min(ac["head_images"], len(x))
    P.overlay_grid(x[:k], {f"head {h}": _display(cls[:k, h], size) for h in range(heads)}, d / "heads.png", titles[:k])
    P.head_statistics(distance, entropy, d / "head_stats.png")


def _masking(ctx, cfg, out: Path) -> None:
    from archlab.plots import vit as P
    from archlab.stages.vit_section import published_masking_points

    mc = cfg["masking"]
    model, prep = _load(ctx, cfg)
    data, x, y = _test_split(ctx, mc["data"], mc["n_images"], "vit.masking.n_images")
    y_model = PM.map_labels(data.classes, V.label_names(model), mc.get("label_map"))(y)
    batches = iterate_batches(x, y_model, cfg["batch_size"], ctx.device, prep)
    with autocast(ctx.device):
        curves = PM.masking_curves(model, batches, len(y), V.patch_grid(model), mc["fractions"], mc["strategies"],
                                   cfg["seeds"], mc["methods"], mc["fill"])
    d = out / "masking"
    d.mkdir(parents=True, exist_ok=True)
    curves.to_csv(d / "curves.csv", index=False)
    summary = PM.summarise_curves(curves)
    summary.to_csv(d / "summary.csv", index=False)
    write_json(d / "meta.json", {
        "images": len(y), "labelled_images": int((y_model >= 0).sum()), "grid": V.patch_grid(model),
        "patch_size": model.config.patch_size, "fill_model_space": mc["fill"],
        "normalisation": {"mean": list(prep.mean), "std": list(prep.std)},
        "fill_pixel_rgb": [m + mc["fill"] * s for m, s in zip(prep.mean, prep.std)]})
    P.masking_curves(summary, d / "curves.png", published_masking_points())


def _probe_cache(ctx, cfg) -> dict[str, np.ndarray]:
    """CLS / mean-patch features of the probe's splits, from the cache when it matches."""
    pc = cfg["probe"]
    data = PreparedDataset(ctx.dataset_dir(pc["data"]))
    sizes = {"train": pc["train_size"], "val": pc["val_size"], "test": pc["test_size"]}
    for split, n in sizes.items():
        if n > data.meta["sizes"][split]:
            raise ParamsError(f"vit.probe.{split}_size={n} but {pc['data']!r} has {data.meta['sizes'][split]} {split} images")
    fingerprint = {"weights": cfg["weights"], "weights_sha256": _weights_digest(cfg["weights"]),
                   "data": pc["data"], "data_sha256": data.meta["sha256"], "sizes": sizes}

    def extract() -> dict[str, np.ndarray]:
        model, prep = _load(ctx, cfg)
        arrays = {}
        for split, n in sizes.items():
            x, y = data.split(split, n)
            feats = {p: [] for p in POOLINGS}
            for xb, _ in iterate_batches(x, y, cfg["batch_size"], ctx.device, prep):
                with autocast(ctx.device):
                    for pooling, f in V.token_features(model, xb).items():
                        feats[pooling].append(f.float().cpu())
            arrays |= {f"{split}/{p}": torch.cat(v).numpy() for p, v in feats.items()}
            arrays[f"{split}/y"] = np.asarray(y)
        return arrays

    return cached_features(ctx.results / "vit" / "probe" / "features.npz", fingerprint, extract)


def _weights_digest(spec: str) -> str:
    """Content hash of a local weights file (a retrained demo ViT must invalidate the cache)."""
    ws = W.parse(spec)
    if ws.kind != "file":
        return ""
    path = Path(ws.parts[0])
    weights = path.parent / "model.safetensors" if path.is_file() else path / "model.safetensors"
    return hashlib.sha256(weights.read_bytes()).hexdigest() if weights.exists() else ""


def _probe_features(ctx, cfg, out: Path) -> None:
    _probe_cache(ctx, cfg)


def _probe(ctx, cfg, out: Path) -> None:
    pc = cfg["probe"]
    feats = _probe_cache(ctx, cfg)
    results = {}
    for pooling in POOLINGS:
        split = {s: (feats[f"{s}/{pooling}"], feats[f"{s}/y"]) for s in ("train", "val", "test")}
        results[pooling] = linear_probe(split["train"], split["val"], split["test"], tuple(pc["cs"]), pc["max_iter"])
        log.info("probe %s: test accuracy %.3f (C=%g)", pooling, results[pooling]["test_accuracy"], results[pooling]["C"])
    write_json(out / "probe" / "results.json", results)


def _cnn(ctx, cfg, out: Path) -> None:
    from archlab.features.gradcam import gradcam_maps, map_correlation
    from archlab.models.resnet import build_resnet
    from archlab.plots import vit as P

    s1 = ctx.params["resnet"]
    classes = PreparedDataset(ctx.dataset_dir(s1["data"]), verify=False).classes
    head = ctx.results / "resnet" / "head" / s1["arch"] / f"seed{s1['seeds'][0]}" / "head.pt"
    if not head.exists():
        raise ParamsError(f"the S1 head {head} is missing; run the resnet_head rule for {s1['arch']} first")
    resnet = build_resnet(s1["arch"], len(classes), s1["weights"], ctx.resources)
    resnet.fc.load_state_dict(torch.load(head, map_location="cpu", weights_only=True))
    resnet = resnet.to(ctx.device).eval()
    layer = cfg["cnn"]["target_layer"]

    names, x = _photos(ctx, cfg)
    prep = Preprocess(size=s1["image_size"])
    cams, probs = [], []
    for xb, _ in iterate_batches(x, np.zeros(len(x), np.int64), cfg["batch_size"], ctx.device, prep):
        with torch.no_grad():
            probs.append(resnet(xb).softmax(-1).cpu())
        cams.append(gradcam_maps(resnet, getattr(resnet, layer), xb))
    probs, cams = torch.cat(probs), np.concatenate(cams)
    maps = np.load(out / "attention" / "maps.npz")
    size = x.shape[1:3]
    shown = {"ViT last-layer CLS (mean)": _display(maps["cls"].mean(1), size),
             "ViT rollout": _display(maps["rollout"], size),
             f"{s1['arch']} Grad-CAM ({layer})": _display(cams, size)}
    cam = shown[f"{s1['arch']} Grad-CAM ({layer})"]
    conf, pred = probs.max(-1)
    cnn_labels = [classes[int(p)] for p in pred]
    d = out / "cnn"
    d.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"image": names, "ViT top-1": maps["top1"], "CNN top-1": cnn_labels, "CNN prob": conf.numpy(),
                  "spearman(ViT CLS, Grad-CAM)": map_correlation(shown["ViT last-layer CLS (mean)"], cam),
                  "spearman(rollout, Grad-CAM)": map_correlation(shown["ViT rollout"], cam)}
                 ).to_csv(d / "comparison.csv", index=False)
    titles = [f"{n}: ViT {v} / CNN {c}" for n, v, c in zip(names, maps["top1"], cnn_labels)]
    P.overlay_grid(x, shown, d / "gradcam_vs_attention.png", titles)


def _section(ctx, cfg, out: Path) -> None:
    from archlab.stages.vit_section import build_section

    build_section(ctx, cfg, out).write(out / "section.json", ctx.results / "dvc" / "vit")
