"""S3 ``gan``: MLP GAN training dynamics on MNIST — three pathologies induced, measured, mitigated.

    archlab gan classifier             train the digit classifier that judges generated samples
    archlab gan train <run> --seed S   one run: baseline, <scenario> or <scenario>_mitigated
    archlab gan section                the report section from the artifacts above

Runs are the baseline plus, per scenario in ``gan.scenarios``, a pathology run (baseline +
``pathology`` overrides) and its mitigation (the pathology run + ``mitigation`` overrides).
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from archlab.data.prepared import PreparedDataset
from archlab.errors import ParamsError
from archlab.io import atomic_path, save_torch, write_json, write_npz
from archlab.runtime import seed_everything
from archlab.stages import common

EXPERIMENTS = ("classifier", "train", "section")


def register(sub) -> None:
    common.add_study_parser(sub, "gan", "S3: GAN training dynamics", __doc__, EXPERIMENTS, run,
                            target=("run", "train: baseline, <scenario> or <scenario>_mitigated"), seed=True)


def run(args) -> None:
    ctx = common.context(args)
    cfg = ctx.params["gan"]
    runs = gan_runs(cfg)
    handlers = {"classifier": _classifier, "train": _train, "section": _section}
    handlers[args.experiment](ctx, cfg, runs, ctx.results / "gan", args)


# ---------------------------------------------------------------- helpers
def gan_runs(cfg: dict):
    """Run name → GanConfig, checked before any work (unknown fields, bad loss names)."""
    from archlab.train.gan import GanConfig, scenario_runs

    try:
        return {name: GanConfig.from_dict(values)
                for name, values in scenario_runs(cfg["baseline"], cfg["scenarios"]).items()}
    except (TypeError, ValueError) as exc:
        raise ParamsError(f"gan: {exc}") from exc


def signed(x: np.ndarray) -> torch.Tensor:
    """Prepared uint8 images → float (N, 1, H, W) in [-1, 1] (the generator's tanh range)."""
    from archlab.models.digit_classifier import SIGNED_RANGE

    return SIGNED_RANGE(torch.from_numpy(np.array(x)))  # a writable copy of the memory-mapped array


def run_dir(out: Path, name: str, seed: int) -> Path:
    return out / "runs" / name / f"seed{seed}"


def load_classifier(out: Path, device: torch.device):
    from archlab.models.digit_classifier import DigitClassifier

    path = out / "classifier" / "model.pt"
    if not path.exists():
        raise ParamsError(f"{path} is missing: run `archlab gan classifier` first")
    state = torch.load(path, map_location=device)
    model = DigitClassifier(state["n_classes"]).to(device)
    model.load_state_dict(state["model"])
    return model.eval()


def _write_csv(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)


# ---------------------------------------------------------------- experiments
def _classifier(ctx, cfg, runs, out: Path, args) -> None:
    from archlab.models.digit_classifier import SIGNED_RANGE, train_digit_classifier
    from archlab.train.classifier import evaluate

    c = cfg["classifier"]
    data = PreparedDataset(ctx.dataset_dir(cfg["data"]))
    model, history = train_digit_classifier(
        data.split("train"), data.split("val"), len(data.classes), epochs=c["epochs"], batch_size=c["batch_size"],
        lr=c["optimizer"]["lr"], seed=c["seed"], device=ctx.device, out_dir=out / "classifier")
    test = evaluate(model, data.split("test"), c["batch_size"], ctx.device, SIGNED_RANGE)
    save_torch(out / "classifier" / "model.pt", {"model": model.state_dict(), "n_classes": len(data.classes)})
    write_json(out / "classifier" / "metrics.json", {"test_acc": test["acc"], "val_acc": float(history["val_acc"].iloc[-1]),
                                                     "epochs": c["epochs"]})


def _train(ctx, cfg, runs, out: Path, args) -> None:
    from archlab.metrics.diversity import DiversityProbe
    from archlab.train.gan import summarise, train_gan

    if args.run not in runs:
        raise ParamsError(f"unknown S3 run {args.run!r}; this profile has {sorted(runs)}")
    gan_cfg, ev = runs[args.run], cfg["eval"]
    seed = args.seed if args.seed is not None else cfg["seeds"][0]
    data = PreparedDataset(ctx.dataset_dir(cfg["data"]))
    train_x, heldout = signed(data.split("train")[0]), signed(data.split("val")[0])[:ev["n_samples"]]
    if gan_cfg.train_size is not None and gan_cfg.train_size > len(train_x):
        raise ParamsError(f"gan {args.run}: train_size {gan_cfg.train_size} > the {len(train_x)} training images")
    device = ctx.device
    probe = DiversityProbe(load_classifier(out, device), heldout, len(data.classes), ev["min_class_share"])
    directory = run_dir(out, args.run, seed)
    seed_everything(seed)
    t0 = time.perf_counter()
    result = train_gan(gan_cfg, train_x, heldout, probe, seed=seed, device=device, n_eval=ev["n_samples"],
                       sample_every=ev["sample_every"], n_grid=ev["grid_size"], checkpoint=directory / "checkpoint.pt",
                       data_id=json.dumps(data.meta["sha256"], sort_keys=True),
                       on_epoch=lambda r: _write_csv(directory / "history.csv", r.history))
    write_npz(directory / "grids.npz", **{f"epoch{e}": g for e, g in result.grids.items()})
    last = result.history[-1]
    write_json(directory / "summary.json", {
        "run": args.run, "seed": seed, "config": dataclasses.asdict(gan_cfg), "device": str(device),
        "summary_epochs": ev["summary_epochs"], "summary": summarise(result.history, ev["summary_epochs"]),
        "final_class_histogram": [last[f"class_{c}"] for c in range(len(data.classes))],
        "train_seconds": time.perf_counter() - t0})


def _section(ctx, cfg, runs, out: Path, args) -> None:
    from archlab.stages.gan_section import build_section

    build_section(ctx, cfg, list(runs), out).write(out / "section.json", ctx.results / "dvc" / "gan")
