"""S5 ``clip``: CLIP zero-shot prompting, the modality gap, and held-out Procrustes alignment.

    archlab clip pretrain      demo: train the tiny CLIP contrastively on synthetic image–caption pairs
    archlab clip images        image embeddings of the test and fitting splits (cached once)
    archlab clip texts         text embeddings of every prompt template × class
    archlab clip zeroshot      zero-shot accuracy per prompt set (reads both caches)
    archlab clip gap           matched / unmatched cosine and centroid distance, raw and L2-normalised
    archlab clip procrustes    centroid shift and orthogonal Procrustes: held-out vs in-sample
    archlab clip projections   joint t-SNE / UMAP maps before and after alignment
    archlab clip section       the report section from the artifacts above
"""
from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from archlab.data.prepared import PreparedDataset
from archlab.errors import ParamsError
from archlab.io import write_json, write_npz
from archlab.metrics import alignment as al
from archlab.stages import common

log = logging.getLogger(__name__)
EXPERIMENTS = ("pretrain", "images", "texts", "zeroshot", "gap", "procrustes", "projections", "section")
METHODS = ("none", "centroid_shift", "procrustes")


def register(sub) -> None:
    common.add_study_parser(sub, "clip", "S5: CLIP zero-shot, modality gap, Procrustes", __doc__, EXPERIMENTS, run)


def run(args) -> None:
    ctx = common.context(args)
    cfg = ctx.params["clip"]
    _validate(ctx, cfg)
    handlers = {"pretrain": _pretrain, "images": _images, "texts": _texts, "zeroshot": _zeroshot, "gap": _gap,
                "procrustes": _procrustes, "projections": _projections, "section": _section}
    handlers[args.experiment](ctx, cfg, ctx.results / "clip")


def _validate(ctx, cfg: dict) -> None:
    """Cross-key checks the schema cannot express (prompt-set names), before any work."""
    for key, name in (("gap.caption_set", cfg["gap"]["caption_set"]), ("procrustes.prompt_set", cfg["procrustes"]["prompt_set"])):
        if name not in cfg["prompts"]:
            raise ParamsError(f"clip.{key} = {name!r} is not a prompt set; clip.prompts has {sorted(cfg['prompts'])}")


# ---------------------------------------------------------------- artifacts
def embeddings_path(out: Path, split: str) -> Path:
    return out / "embeddings" / f"{split}.npz"


def _text_embeddings(out: Path) -> dict[str, np.ndarray]:
    with np.load(out / "embeddings" / "text.npz") as f:
        return {k: f[k] for k in f.files}


def _image_embeddings(out: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    with np.load(embeddings_path(out, split)) as f:
        return f["embeddings"], f["labels"]


def _bundle_loader(ctx, cfg: dict):
    from archlab.models.clip import load_from_spec

    return lambda: load_from_spec(cfg["weights"], ctx.resources, ctx.device)


# ---------------------------------------------------------------- experiments
def _pretrain(ctx, cfg, out: Path) -> None:
    from archlab.models.clip import build_clip, save_local_dir
    from archlab.runtime import seed_everything
    from archlab.train.clip_contrastive import train_clip

    pcfg = cfg.get("pretrain")
    if not pcfg:
        raise ParamsError(f"profile {ctx.profile!r} has no clip.pretrain section: it loads {cfg['weights']} instead")
    data = PreparedDataset(ctx.dataset_dir(pcfg["data"]))
    seed_everything(pcfg["seed"])
    bundle = build_clip(pcfg["model_cfg"], ctx.device)
    optimizer = common.make_optimizer(bundle.model.parameters(), pcfg["optimizer"])
    history = train_clip(bundle, *data.split("train"), data.classes, pcfg["captions"], optimizer,
                         epochs=pcfg["epochs"], batch_size=pcfg["batch_size"], seed=pcfg["seed"],
                         device=ctx.device, out_dir=out / "pretrain", val=data.split("val"))
    save_local_dir(bundle.model, pcfg["model_cfg"], out / "pretrain" / "model")
    write_json(out / "pretrain" / "metrics.json", {
        "data": pcfg["data"], "classes": data.classes, "train_images": int(data.meta["sizes"]["train"]),
        "epochs": pcfg["epochs"], "final_loss": float(history["loss"].iloc[-1]),
        "val_zero_shot_acc": float(history["val_zero_shot_acc"].iloc[-1])})


def _images(ctx, cfg, out: Path) -> None:
    from archlab.models.clip import cached_image_embeddings

    data = PreparedDataset(ctx.dataset_dir(cfg["data"]))
    factory = functools.cache(_bundle_loader(ctx, cfg))  # one model load for every split not cached yet
    for split in ("test", cfg["procrustes"]["fit_split"]):
        emb = cached_image_embeddings(embeddings_path(out, split), factory, *data.split(split),
                                      cfg["batch_size"], ctx.device)
        log.info("%s: %s image embeddings", split, emb["embeddings"].shape)


def _texts(ctx, cfg, out: Path) -> None:
    from archlab.models.clip import template_embeddings

    classes = PreparedDataset(ctx.dataset_dir(cfg["data"]), verify=False).classes
    bundle = _bundle_loader(ctx, cfg)()
    write_npz(out / "embeddings" / "text.npz", **{
        name: template_embeddings(bundle, classes, templates, ctx.device) for name, templates in cfg["prompts"].items()})


def _zeroshot(ctx, cfg, out: Path) -> None:
    images, labels = _image_embeddings(out, "test")
    accuracy = al.zero_shot_by_prompt_set(images, labels, _text_embeddings(out))
    write_json(out / "zeroshot" / "metrics.json", {"n_images": len(labels), "accuracy": accuracy})


def _gap_sample(cfg, images, labels, texts, seed: int):
    """``n_samples`` test images and one caption each (drawn from the caption set's templates)."""
    n = cfg["gap"]["n_samples"]
    if n > len(labels):
        raise ParamsError(f"clip.gap.n_samples={n} is larger than the {len(labels)} test images")
    rows = np.sort(np.random.default_rng(seed).choice(len(labels), n, replace=False))
    return images[rows], al.paired_captions(texts[cfg["gap"]["caption_set"]], labels[rows], seed), labels[rows]


def _gap(ctx, cfg, out: Path) -> None:
    images, labels = _image_embeddings(out, "test")
    texts = _text_embeddings(out)
    rows = []
    for seed in cfg["seeds"]:
        img, txt, lab = _gap_sample(cfg, images, labels, texts, seed)
        for normalize in (False, True):
            rows.append({"seed": seed, "normalised": normalize, **al.gap_metrics(img, txt, lab, normalize)})
        if seed == cfg["seeds"][0]:
            write_npz(out / "gap" / "sample.npz", images=img, captions=txt, labels=lab)
    (out / "gap").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out / "gap" / "metrics.csv", index=False)


def _procrustes(ctx, cfg, out: Path) -> None:
    pcfg = cfg["procrustes"]
    test_img, test_lab = _image_embeddings(out, "test")
    pool_img, pool_lab = _image_embeddings(out, pcfg["fit_split"])
    texts = _text_embeddings(out)
    captions = texts[cfg["gap"]["caption_set"]]
    class_emb = al.ensemble_embedding(texts[pcfg["prompt_set"]])
    too_big = [n for n in pcfg["n_fit"] if n > len(pool_lab)]
    if too_big:
        raise ParamsError(f"clip.procrustes.n_fit {too_big} exceed the {len(pool_lab)} images of split {pcfg['fit_split']!r}")
    rows, kept = [], {}
    for seed in cfg["seeds"]:
        held_out = (test_img, al.paired_captions(captions, test_lab, seed), test_lab)
        for n_fit in pcfg["n_fit"]:
            fit_rows = np.sort(np.random.default_rng([seed, n_fit]).choice(len(pool_lab), n_fit, replace=False))
            fit = (pool_img[fit_rows], al.paired_captions(captions, pool_lab[fit_rows], seed), pool_lab[fit_rows])
            scores, aligners = al.evaluate_alignment(fit, held_out, class_emb, METHODS)
            rows += [{"seed": seed, "n_fit": n_fit, "protocol": protocol, "method": method, **s}
                     for protocol, by_method in scores.items() for method, s in by_method.items()]
            if seed == cfg["seeds"][0] and n_fit == max(pcfg["n_fit"]):
                kept = {f"{name}_{part}": getattr(a, part) for name, a in aligners.items() for part in ("rotation", "shift")}
    (out / "procrustes").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out / "procrustes" / "metrics.csv", index=False)
    write_npz(out / "procrustes" / "aligners.npz", **kept)


def _projections(ctx, cfg, out: Path) -> None:
    from archlab.features.projections import project_2d
    from archlab.plots.clip import plot_joint_projections

    seed, methods = cfg["seeds"][0], cfg["projections"]["methods"]
    with np.load(out / "gap" / "sample.npz") as f:
        img, txt = f["images"], f["captions"]
    with np.load(out / "procrustes" / "aligners.npz") as f:
        aligners = {m: al.Aligner(m, f[f"{m}_rotation"], f[f"{m}_shift"]) for m in ("centroid_shift", "procrustes")}
    views = {"before": {"raw": (img, txt), "L2-normalised": (al.l2_normalize(img), al.l2_normalize(txt))},
             "after": {name.replace("_", " "): (a.apply(img), al.l2_normalize(txt)) for name, a in aligners.items()}}
    titles = {"before": "Image and text embeddings, projected jointly (before alignment)",
              "after": f"After alignment fitted on {max(cfg['procrustes']['n_fit'])} "
                       f"{cfg['procrustes']['fit_split']} pairs (held-out test sample)"}
    for view, variants in views.items():
        panels = [(f"{variant} · {method}", *project_2d(pair, method, seed))
                  for variant, pair in variants.items() for method in methods]
        plot_joint_projections(panels, out / "projections" / f"{view}.png", titles[view], ncols=len(methods))


def _section(ctx, cfg, out: Path) -> None:
    from archlab.stages.clip_section import build_section

    build_section(ctx, cfg, out).write(out / "section.json", ctx.results / "dvc" / "clip")
