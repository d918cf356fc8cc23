"""S3 jobs: each receives its inputs, outputs and params from the plan (see plan.py)."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch

from archlab.data.prepared import PreparedDataset
from archlab.errors import ParamsError
from archlab.io import atomic_path, write_json, write_npz
from archlab.models.digit_classifier import SIGNED_RANGE, load_digit_classifier, save_digit_classifier
from archlab.runtime import seed_everything


def signed(x: np.ndarray) -> torch.Tensor:
    """Prepared uint8 images → float (N, 1, H, W) in [-1, 1] (the generator's tanh range)."""
    return SIGNED_RANGE(torch.from_numpy(np.array(x)))  # a writable copy of the memory-mapped array


def _write_history(path: str, rows: list[dict]) -> None:
    with atomic_path(path) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)


def classifier(job) -> None:
    """The digit classifier that judges every run's samples."""
    from archlab.train.classifier import evaluate
    from archlab.train.digit_classifier import train_digit_classifier

    p, device = job.params, job.device
    data = PreparedDataset(job.input["data"])
    model, history = train_digit_classifier(
        data.split("train"), data.split("val"), len(data.classes), epochs=p["epochs"], batch_size=p["batch_size"],
        optimizer=p["optimizer"], seed=p["seed"], device=device, out_dir=job.run_dir, checkpoint=job.checkpoint())
    test = evaluate(model, data.split("test"), p["batch_size"], device, SIGNED_RANGE)
    save_digit_classifier(model, job.output["model"])
    write_json(job.output["metrics"], {"test_acc": test["acc"], "val_acc": float(history["val_acc"].iloc[-1])})


def train(job) -> None:
    """One GAN run (baseline, a pathology or its mitigation), every seed at once; each seed's files as that seed
    trained alone writes them."""
    from archlab.metrics.diversity import DiversityProbe
    from archlab.train.gan import GanConfig, summarise, train_gan_seeds

    p, device, ev = job.params, job.device, job.params["eval"]
    gan_cfg = GanConfig.from_dict(p["config"])
    data = PreparedDataset(job.input["data"])
    train_x, heldout = signed(data.split("train")[0]), signed(data.split("val")[0])[:ev["n_samples"]]
    if gan_cfg.train_size is not None and gan_cfg.train_size > len(train_x):
        raise ParamsError(f"gan run {p['run']}: train_size {gan_cfg.train_size} > the {len(train_x)} training "
                          f"images of {data.meta['name']}; lower it")
    if gan_cfg.steps_per_epoch is not None and gan_cfg.steps_per_epoch != len(train_x) // gan_cfg.batch_size:
        raise ParamsError(f"gan run {p['run']}: the plan gave {gan_cfg.steps_per_epoch} G steps per epoch, but the "
                          f"{len(train_x)} training images of {data.meta['name']} make "
                          f"{len(train_x) // gan_cfg.batch_size}; fix SOURCE_SIZES in data/kinds.py")
    probe = DiversityProbe(load_digit_classifier(job.input["classifier"], device), heldout, len(data.classes),
                           ev["min_class_share"])
    seeds = p["seeds"]

    def write_histories(runs) -> None:
        for seed, run in zip(seeds, runs):
            _write_history(job.output[f"history_seed{seed}"], run.history)

    seed_everything(seeds[0])
    t0 = time.perf_counter()
    results = train_gan_seeds(gan_cfg, train_x, heldout, probe, seeds=seeds, device=device, n_eval=ev["n_samples"],
                              sample_every=ev["sample_every"], n_grid=ev["grid_size"], checkpoint=job.checkpoint(),
                              on_epoch=write_histories, compile=p["compile"])
    seconds = time.perf_counter() - t0
    # written after the loop too: a run resumed after its last epoch trains nothing but writes everything
    write_histories(results)
    for seed, result in zip(seeds, results):
        write_npz(job.output[f"grids_seed{seed}"], **{f"epoch{e}": g for e, g in result.grids.items()})
        last = result.history[-1]
        write_json(job.output[f"summary_seed{seed}"], {
            "run": p["run"], "seed": seed, "device": str(device),
            "summary": summarise(result.history, ev["summary_epochs"]),
            "final_class_histogram": [last[f"class_{c}"] for c in range(len(data.classes))],
            "train_seconds": seconds / len(seeds)})  # the seeds trained together: each one's share
