"""S2 jobs: each receives its inputs, outputs and params from the plan (see plan.py)."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from archlab.data.kinds import n_batches
from archlab.data.loaders import Preprocess, iterate_batches
from archlab.data.prepared import PreparedDataset
from archlab.errors import ParamsError
from archlab.features import attention as A
from archlab.features import patch_masking as PM
from archlab.io import read_json, write_json, write_npz
from archlab.models import vit as V
from archlab.report.published import lookup
from archlab.runtime import autocast, seed_everything
from archlab.studies.vit.plan import MASKING_KEYS, probe_train_size

log = logging.getLogger(__name__)
POOLINGS = ("cls", "mean")
WARMUP = {"name": "onecycle", "pct_start": 0.15}  # ViTs need a learning-rate warm-up


def published_masking_points() -> list[dict]:
    """The published single-image masking confidences as plot points (fraction, value in 0–1)."""
    points = []
    for name, key in MASKING_KEYS.items():
        for v in lookup(key)["values"]:
            points.append({"label": f"{v['source']}, {name}", "fraction": v["fraction"], "metric": "confidence",
                           "value": v["value"] / 100})
    return points


# ---------------------------------------------------------------- helpers
def _load(job, attentions: bool = False):  # eager attention only where the maps are read, SDPA elsewhere
    model, prep = V.load_vit(job.params["weights"], job.params["resources"], attentions)
    return model.to(job.device), prep


def _unlabelled(x: np.ndarray) -> np.ndarray:
    return np.zeros(len(x), np.int64)


def _logits_and_attention(model, prep: Preprocess, x: np.ndarray, batch_size: int, device, residual: float):
    """Logits, last-layer CLS maps per head and rollout maps for ``x``, batch by batch."""
    grid = V.patch_grid(model)
    logits, cls, roll = [], [], []
    for xb, _ in iterate_batches(x, _unlabelled(x), batch_size, device, prep):
        with autocast(device):
            lg, attn = V.attentions(model, xb)
        logits.append(lg.cpu())
        cls.append(A.cls_attention(attn[-1], grid).cpu())
        roll.append(A.rollout_map(attn, grid, residual).cpu())
    return torch.cat(logits), torch.cat(cls).numpy(), torch.cat(roll).numpy()


def _photos(meta: str) -> tuple[list[str], np.ndarray]:
    data = PreparedDataset(meta)
    x, _ = data.split("test")
    names = [Path(f).stem for f in data.meta.get("files") or [f"image{i}" for i in range(len(x))]]
    return names, np.asarray(x)


def _display(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return A.upsample_maps(torch.from_numpy(np.asarray(maps, np.float32)), size).numpy()


# ---------------------------------------------------------------- jobs
def pretrain(job) -> None:
    """Train the demo ViT from scratch on the source task; the optimizer's lr is the peak of a
    one-cycle schedule (15% warm-up, cosine decay)."""
    from archlab.train.classifier import FitConfig, evaluate, fit
    from archlab.train.optim import make_optimizer, make_scheduler

    p = job.params
    data = PreparedDataset(job.input["data"])
    seed_everything(p["seed"])
    model, processor = V.build_demo_vit(data.classes, p["image_size"], p["patch_size"], p["hidden_size"],
                                        p["layers"], p["heads"], p["mlp_ratio"])
    net, prep = V.Logits(model).to(job.device), V.preprocess_of(processor)
    train = data.split("train")
    optimizer = make_optimizer(net.parameters(), p["optimizer"])
    schedule = make_scheduler(optimizer, WARMUP, p["epochs"], n_batches(len(train[1]), p["batch_size"]))
    fit_cfg = FitConfig(epochs=p["epochs"], batch_size=p["batch_size"], seed=p["seed"],
                        train_transform=prep, eval_transform=prep, desc="pretrain vit")
    history = fit(net, train, data.split("val"), optimizer, fit_cfg, job.device, job.run_dir, schedule,
                  checkpoint=job.checkpoint())
    test = evaluate(net, data.split("test"), p["batch_size"], job.device, prep)
    V.save_vit(model.cpu(), processor, Path(job.output["model"]).parent)
    write_json(job.output["metrics"], {
        "classes": data.classes, "val_acc": float(history["val_acc"].iloc[-1]), "test_acc": test["acc"],
        "parameters": sum(q.numel() for q in model.parameters())})
    log.info("demo ViT: source-task test accuracy %.3f", test["acc"])


def predict(job) -> None:
    """Top-k labels and probabilities for every photo."""
    p = job.params
    model, prep = _load(job)
    names, x = _photos(job.input["photos"])
    with torch.no_grad(), autocast(job.device):
        logits = torch.cat([model(pixel_values=xb).logits.float().cpu()
                            for xb, _ in iterate_batches(x, _unlabelled(x), p["batch_size"], job.device, prep)])
    rows = []
    for name, ranked in zip(names, V.top_k(logits, V.label_names(model), p["top_k"])):
        rows += [{"image": name, "rank": r + 1, "label": label, "probability": q} for r, (label, q) in enumerate(ranked)]
    pd.DataFrame(rows).to_csv(job.output["predictions"], index=False)


def attention(job) -> None:
    """Last-layer CLS maps (mean + per head), rollout, and per-head statistics over dataset images."""
    from archlab.plots import vit as P

    p, device = job.params, job.device
    model, prep = _load(job, attentions=True)
    grid, patch = V.patch_grid(model), model.config.patch_size
    names, x = _photos(job.input["photos"])
    logits, cls, roll = _logits_and_attention(model, prep, x, p["batch_size"], device, p["rollout_residual"])
    labels = [ranked[0] for ranked in V.top_k(logits, V.label_names(model), 1)]
    write_npz(job.output["maps"], cls=cls, rollout=roll, names=np.array(names),
              top1=np.array([label for label, _ in labels]), top1_prob=np.array([q for _, q in labels]))

    # per-head statistics, averaged over the first stats_images test images of a dataset
    xs, _ = PreparedDataset(job.input["stats_data"]).split("test", p["stats_images"])
    distance, entropy, seen = 0.0, 0.0, 0
    for xb, _ in iterate_batches(xs, _unlabelled(xs), p["batch_size"], device, prep):
        with autocast(device):
            attn = V.attentions(model, xb)[1]
        distance = distance + A.mean_attention_distance(attn, grid, patch).cpu() * len(xb)
        entropy = entropy + A.cls_entropy(attn).cpu() * len(xb)
        seen += len(xb)
    distance, entropy = (distance / seen).numpy(), (entropy / seen).numpy()
    layers, heads = distance.shape
    pd.DataFrame([{"layer": l + 1, "head": h, "mean_distance_px": distance[l, h], "cls_entropy": entropy[l, h]}
                  for l in range(layers) for h in range(heads)]).to_csv(job.output["stats"], index=False)

    size = x.shape[1:3]
    titles = [f"{n}: {label} ({q:.2f})" for n, (label, q) in zip(names, labels)]
    P.overlay_grid(x, {"last layer CLS, mean of heads": _display(cls.mean(1), size),
                       "rollout, all layers": _display(roll, size)}, job.output["overlays"], titles)
    k = min(p["head_images"], len(x))
    P.overlay_grid(x[:k], {f"head {h}": _display(cls[:k, h], size) for h in range(heads)}, job.output["heads"], titles[:k])
    P.head_statistics(distance, entropy, job.output["stats_png"])


def masking(job) -> None:
    """Accuracy / agreement with the unmasked top-1 / confidence vs fraction of patches masked."""
    from archlab.plots import vit as P

    p = job.params
    model, prep = _load(job)
    data = PreparedDataset(job.input["data"])
    x, y = data.split("test", p["n_images"])
    class_map = PM.load_class_map(p["class_map"]) if p.get("class_map") else None
    accept = PM.accepted_classes(data.classes, V.label_names(model), p["label_map"], class_map)
    y_model = accept[np.asarray(y)]  # per image: the model classes that count as correct
    batches = iterate_batches(x, y_model, p["batch_size"], job.device, prep)
    with autocast(job.device):
        curves = PM.masking_curves(model, batches, len(y), V.patch_grid(model), p["fractions"], p["strategies"],
                                   p["seeds"], p["methods"], p["fill"])
    curves.to_csv(job.output["curves"], index=False)
    summary = PM.summarise_curves(curves)
    summary.to_csv(job.output["summary"], index=False)
    write_json(job.output["meta"], {
        "images": len(y), "labelled_images": int(y_model.any(axis=1).sum()), "grid": V.patch_grid(model),
        "class_map": p.get("class_map") if class_map and any(c in class_map["classes"] for c in data.classes) else None,
        "accepted_per_class": {c: int(row.sum()) for c, row in zip(data.classes, accept)},
        "patch_size": model.config.patch_size, "normalisation": {"mean": list(prep.mean), "std": list(prep.std)},
        "fill_pixel_rgb": [m + p["fill"] * s for m, s in zip(prep.mean, prep.std)]})
    P.masking_curves(summary, job.output["png"], published_masking_points())


def probe_features(job) -> None:
    """Frozen CLS and mean-patch features of the probe's splits, extracted once for every probe."""
    p = job.params
    data = PreparedDataset(job.input["data"])
    model, prep = _load(job)
    arrays = {}
    for split in ("train", "val", "test"):
        x, y = data.split(split, p[f"{split}_size"])
        feats = {pooling: [] for pooling in POOLINGS}
        for xb, _ in iterate_batches(x, y, p["batch_size"], job.device, prep):
            with autocast(job.device):
                for pooling, f in V.token_features(model, xb).items():
                    feats[pooling].append(f.float().cpu())
        arrays |= {f"{split}/{pooling}": torch.cat(v).numpy() for pooling, v in feats.items()}
        arrays[f"{split}/y"] = np.asarray(y)
    write_npz(job.output["features"], **arrays)


def probe_subset(n: int, subsample: float, seed: int) -> np.ndarray:
    """The train rows seed ``seed``'s probe is fitted on: round(subsample × n) of ``range(n)``, drawn without
    replacement with ``numpy.random.default_rng(seed)``, in increasing order."""
    return np.sort(np.random.default_rng(seed).choice(n, probe_train_size(n, subsample), replace=False))


def probe(job) -> None:
    """Logistic-regression probes on a seed's random subsample of the cached train features (C chosen on the
    validation split; val and test are the full cached splits). Each pooling's result records n_train."""
    from archlab.metrics.probe import linear_probe

    p = job.params
    with np.load(job.input["features"], allow_pickle=False) as stored:
        feats = {k: stored[k] for k in stored.files}
    rows = probe_subset(len(feats["train/y"]), p["subsample"], p["seed"])
    results = {}
    for pooling in POOLINGS:
        split = {s: (feats[f"{s}/{pooling}"], feats[f"{s}/y"]) for s in ("val", "test")}
        split["train"] = (feats[f"train/{pooling}"][rows], feats["train/y"][rows])
        results[pooling] = linear_probe(split["train"], split["val"], split["test"], tuple(p["cs"]), p["max_iter"])
        log.info("probe %s, seed %d (%d train images): test accuracy %.3f (C=%g)", pooling, p["seed"], len(rows),
                 results[pooling]["test_accuracy"], results[pooling]["C"])
    write_json(job.output["results"], results)


def cnn(job) -> None:
    """Grad-CAM of the S1 baseline (backbone + trained head) beside the ViT attention of the same photos."""
    from archlab.features.gradcam import gradcam_maps, map_correlation
    from archlab.models.resnet import build_resnet
    from archlab.plots import vit as P

    p, r = job.params, job.params["resnet"]
    head_run = read_json(job.input["resnet_head_params"])
    if head_run["wildcards"].get("variant") != r["arch"]:
        raise ParamsError(f"the S1 head {job.input['resnet_head']} was trained on {head_run['wildcards'].get('variant')!r} "
                          f"features, not on {r['arch']!r}")
    classes = PreparedDataset(job.input["resnet_data"], verify=False).classes
    resnet = build_resnet(r["arch"], len(classes), r["weights"], p["resources"])
    resnet.fc.load_state_dict(torch.load(job.input["resnet_head"], map_location="cpu", weights_only=True))
    resnet = resnet.to(job.device).eval()
    layer = p["target_layer"]

    names, x = _photos(job.input["photos"])
    prep = Preprocess(size=r["image_size"])
    cams, probs = [], []
    for xb, _ in iterate_batches(x, _unlabelled(x), p["batch_size"], job.device, prep):
        with torch.no_grad():
            probs.append(resnet(xb).softmax(-1).cpu())
        cams.append(gradcam_maps(resnet, getattr(resnet, layer), xb))
    probs, cams = torch.cat(probs), np.concatenate(cams)
    maps = np.load(job.input["maps"])
    size = x.shape[1:3]
    cam_name = f"{r['arch']} Grad-CAM ({layer})"
    shown = {"ViT last-layer CLS (mean)": _display(maps["cls"].mean(1), size),
             "ViT rollout": _display(maps["rollout"], size), cam_name: _display(cams, size)}
    conf, pred = probs.max(-1)
    cnn_labels = [classes[int(i)] for i in pred]
    pd.DataFrame({"image": names, "ViT top-1": maps["top1"], "CNN top-1": cnn_labels, "CNN prob": conf.numpy(),
                  "spearman(ViT CLS, Grad-CAM)": map_correlation(shown["ViT last-layer CLS (mean)"], shown[cam_name]),
                  "spearman(rollout, Grad-CAM)": map_correlation(shown["ViT rollout"], shown[cam_name])}
                 ).to_csv(job.output["csv"], index=False)
    titles = [f"{n}: ViT {v} / CNN {c}" for n, v, c in zip(names, maps["top1"], cnn_labels)]
    P.overlay_grid(x, shown, job.output["png"], titles)
