"""S5 jobs: each receives its inputs, outputs and params from the plan (see plan.py)."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from archlab.data.prepared import PreparedDataset
from archlab.errors import ParamsError
from archlab.io import write_json, write_npz
from archlab.metrics import alignment as al
from archlab.workflow.provenance import read_run_params

log = logging.getLogger(__name__)
METHODS = ("none", "centroid_shift", "procrustes")


def _load_model(job):
    from archlab.models.clip import load_from_spec

    return load_from_spec(job.params["weights"], job.params["resources"], job.device)


def _npz(path: str) -> dict[str, np.ndarray]:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def _images(path: str) -> tuple[np.ndarray, np.ndarray]:
    f = _npz(path)
    return f["embeddings"], f["labels"]


def pretrain(job) -> None:
    """Demo only: train the tiny CLIP contrastively on synthetic image–caption pairs."""
    from archlab.models.clip import build_clip, save_local_dir
    from archlab.runtime import seed_everything
    from archlab.train.clip_contrastive import train_clip
    from archlab.train.optim import make_optimizer

    p = job.params
    data = PreparedDataset(job.input["data"])
    seed_everything(p["seed"])
    bundle = build_clip(p["model_cfg"], job.device)
    optimizer = make_optimizer(bundle.model.parameters(), p["optimizer"])
    history = train_clip(bundle, *data.split("train"), data.classes, p["captions"], optimizer,
                         epochs=p["epochs"], batch_size=p["batch_size"], seed=p["seed"], device=job.device,
                         history_path=job.output["history"], checkpoint=job.checkpoint(), val=data.split("val"))
    save_local_dir(bundle.model, p["model_cfg"], Path(job.output["weights"]).parent)  # + its config (an output too)
    write_json(job.output["metrics"], {
        "data": p["data"], "classes": data.classes, "train_images": int(data.meta["sizes"]["train"]),
        "epochs": p["epochs"], "final_loss": float(history["loss"].iloc[-1]),
        "val_zero_shot_acc": float(history["val_zero_shot_acc"].iloc[-1])})


def images(job) -> None:
    """Image embeddings of the test and fitting splits, one model load for all of them."""
    from archlab.models.clip import encode_images

    data = PreparedDataset(job.input["data"])
    bundle = _load_model(job)
    for split in job.params["splits"]:
        x, y = data.split(split)
        emb = encode_images(bundle, x, job.params["batch_size"], job.device)
        write_npz(job.output[split], embeddings=emb.astype(np.float32), labels=np.asarray(y, np.int64))
        log.info("%s: %s image embeddings", split, emb.shape)


def texts(job) -> None:
    """Text embeddings of every template × class of every prompt set."""
    from archlab.models.clip import template_embeddings

    classes = PreparedDataset(job.input["data"], verify=False).classes
    bundle = _load_model(job)
    write_npz(job.output["texts"], **{name: template_embeddings(bundle, classes, templates, job.device)
                                      for name, templates in job.params["prompts"].items()})


def zeroshot(job) -> None:
    """Accuracy per prompt set, and whether each test image is right under each (one deterministic model:
    its replicates are the images, which the claims resample)."""
    images, labels = _images(job.input["images"])
    correct = al.zero_shot_correct_by_prompt_set(images, labels, _npz(job.input["texts"]))
    write_json(job.output["metrics"], {"n_images": len(labels), "accuracy": {k: float(v.mean()) for k, v in correct.items()}})
    pd.DataFrame({"image": np.arange(len(labels)), "label": labels,
                  **{f"correct_{k}": v.astype(int) for k, v in correct.items()}}).to_csv(job.output["per_image"], index=False)


def _gap_sample(p: dict, images, labels, texts, seed: int):
    """``n_samples`` test images and one caption each (drawn from the caption set's templates)."""
    n = p["gap"]["n_samples"]
    if n > len(labels):  # plan.check catches this where the dataset spec fixes its size
        raise ParamsError(f"clip.gap.n_samples={n} is larger than the {len(labels)} test images; lower it")
    rows = np.sort(np.random.default_rng(seed).choice(len(labels), n, replace=False))
    return images[rows], al.paired_captions(texts[p["gap"]["caption_set"]], labels[rows], seed), labels[rows]


def gap(job) -> None:
    p = job.params
    images, labels = _images(job.input["images"])
    texts = _npz(job.input["texts"])
    rows = []
    for seed in p["seeds"]:
        img, txt, lab = _gap_sample(p, images, labels, texts, seed)
        for normalize in (False, True):
            rows.append({"seed": seed, "normalised": normalize, **al.gap_metrics(img, txt, lab, normalize)})
        if seed == p["seeds"][0]:
            write_npz(job.output["sample"], images=img, captions=txt, labels=lab)
    pd.DataFrame(rows).to_csv(job.output["metrics"], index=False)


def procrustes(job) -> None:
    p, pp = job.params, job.params["procrustes"]
    test_img, test_lab = _images(job.input["images"])
    pool_img, pool_lab = _images(job.input["fit_images"])
    texts = _npz(job.input["texts"])
    captions = texts[p["caption_set"]]
    class_emb = al.ensemble_embedding(texts[pp["prompt_set"]])
    too_big = [n for n in pp["n_fit"] if n > len(pool_lab)]
    if too_big:  # plan.check catches this where the dataset spec fixes its size
        raise ParamsError(f"clip.procrustes.n_fit {too_big} exceed the {len(pool_lab)} images of split {pp['fit_split']!r}")
    rows, kept = [], {}
    for seed in p["seeds"]:
        held_out = (test_img, al.paired_captions(captions, test_lab, seed), test_lab)
        for n_fit in pp["n_fit"]:
            fit_rows = np.sort(np.random.default_rng([seed, n_fit]).choice(len(pool_lab), n_fit, replace=False))
            fit = (pool_img[fit_rows], al.paired_captions(captions, pool_lab[fit_rows], seed), pool_lab[fit_rows])
            scores, aligners = al.evaluate_alignment(fit, held_out, class_emb, METHODS)
            rows += [{"seed": seed, "n_fit": n_fit, "protocol": protocol, "method": method, **s}
                     for protocol, by_method in scores.items() for method, s in by_method.items()]
            if seed == p["seeds"][0] and n_fit == max(pp["n_fit"]):
                kept = {f"{name}_{part}": getattr(a, part) for name, a in aligners.items() for part in ("rotation", "shift")}
    pd.DataFrame(rows).to_csv(job.output["metrics"], index=False)
    write_npz(job.output["aligners"], **kept)


def projections(job) -> None:
    """Joint 2-D maps of the gap sample (first seed) before and after the alignments procrustes kept."""
    from archlab.features.projections import project_2d
    from archlab.plots.clip import plot_joint_projections

    seed = read_run_params(job.input["gap_params"])["seeds"][0]  # the seed gap drew its sample with
    pp = read_run_params(job.input["procrustes_params"])["procrustes"]
    methods = job.params["methods"]
    sample = _npz(job.input["sample"])
    img, txt = sample["images"], sample["captions"]
    kept = _npz(job.input["aligners"])
    aligners = {m: al.Aligner(m, kept[f"{m}_rotation"], kept[f"{m}_shift"]) for m in ("centroid_shift", "procrustes")}
    views = {"before": {"raw": (img, txt), "L2-normalised": (al.l2_normalize(img), al.l2_normalize(txt))},
             "after": {name.replace("_", " "): (a.apply(img), al.l2_normalize(txt)) for name, a in aligners.items()}}
    titles = {"before": "Image and text embeddings, projected jointly (before alignment)",
              "after": f"After a supervised alignment (fitted on {max(pp['n_fit'])} {pp['fit_split']} images with "
                       f"class-template captions; held-out test sample)"}
    for view, variants in views.items():
        panels = [(f"{variant} · {method}", *project_2d(pair, method, seed))
                  for variant, pair in variants.items() for method in methods]
        plot_joint_projections(panels, job.output[view], titles[view], ncols=len(methods))
