"""S6 ``cifar_arch``: MLP, ResNet-18 and MLP-Mixer on CIFAR-10 — seven sweeps and gradient flow (report M).

    archlab cifar_arch runs          list every run key with the sweep points that share it
    archlab cifar_arch run <key>     train one run (a sweep point's full setting, hashed)
    archlab cifar_arch section       tables, figures and the report section from the runs

Each sweep point resolves to a full setting (archlab.train.sweeps); its hash names the run folder
``results/<profile>/cifar_arch/runs/<key>/``, so points of different sweeps with the same setting
share one run, and Snakemake trains each distinct setting once.
"""
from __future__ import annotations

import json
from pathlib import Path

from archlab.errors import ParamsError
from archlab.stages import common

EXPERIMENTS = ("runs", "run", "section")
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def register(sub) -> None:
    common.add_study_parser(sub, "cifar_arch", "S6: MLP / ResNet-18 / MLP-Mixer sweeps on CIFAR-10", __doc__, EXPERIMENTS, run,
                            target=("key", "run: the run key (see `archlab cifar_arch runs`)"))


def run(args) -> None:
    ctx = common.context(args)
    cfg = ctx.params["cifar_arch"]
    out = ctx.results / "cifar_arch"
    if args.experiment == "runs":
        _list_runs(cfg)
    elif args.experiment == "run":
        train_run(ctx, cfg, out, args.key)
    else:
        from archlab.stages.cifar_arch_section import build_section

        build_section(ctx, cfg, out).write(out / "section.json", ctx.results / "dvc" / "cifar_arch")


def _list_runs(cfg: dict) -> None:
    from archlab.train.sweeps import expand_sweeps

    shared: dict[str, dict] = {}
    for points in expand_sweeps(cfg).values():
        for p in points:
            entry = shared.setdefault(p.key, {"points": [], "setting": p.setting.to_dict()})
            entry["points"].append(f"{p.sweep}/{p.label}/seed{p.seed}")
    print(json.dumps(shared, indent=2))


def load_splits(dataset_dir: Path, train_size: int | None):
    """(train, val, test) arrays as S6 uses them: the first ``train_size`` training images, all of val/test."""
    from archlab.data.prepared import PreparedDataset

    data = PreparedDataset(dataset_dir)
    return data, data.split("train", train_size), data.split("val"), data.split("test")


def train_run(ctx, cfg: dict, out: Path, key: str | None) -> None:
    """Train the run ``key`` with gradient recording; write history, final metrics and what the figures draw."""
    import torch

    from archlab.data.loaders import Preprocess
    from archlab.io import write_json, write_npz
    from archlab.models.cifar_nets import build_model, count_parameters, first_conv_weight, token_mixing_weight
    from archlab.runtime import seed_everything, to_channels_last
    from archlab.train.classifier import FitConfig, evaluate, fit
    from archlab.train.gradflow import GradientRecorder
    from archlab.train.sweeps import expand_sweeps, unique_runs

    runs = unique_runs(expand_sweeps(cfg))
    if key not in runs:
        raise ParamsError(f"no S6 run {key!r} in profile {ctx.profile}; `archlab cifar_arch runs --profile "
                          f"{ctx.profile}` lists its {len(runs)} runs")
    s = runs[key]
    data, train, val, test = load_splits(ctx.dataset_dir(s.dataset), s.train_size)
    run_dir = out / "runs" / key
    write_json(run_dir / "setting.json", s.to_dict())
    seed_everything(s.seed)
    model = to_channels_last(build_model(s.model, num_classes=len(data.classes), **s.model_args).to(ctx.device), ctx.device)
    recorder = GradientRecorder(model)
    optimizer = common.make_optimizer(model.parameters(), {"name": s.optimizer, "lr": s.lr, "weight_decay": s.weight_decay,
                                                           "momentum": s.momentum or 0.0})
    prep = Preprocess(mean=CIFAR10_MEAN, std=CIFAR10_STD)
    fit_cfg = FitConfig(epochs=s.epochs, batch_size=s.batch_size, seed=s.seed, train_transform=prep,
                        eval_transform=prep, callbacks=(recorder,), desc=f"{s.model} {key}")
    history = fit(model, train, val, optimizer, fit_cfg, ctx.device, run_dir)
    test_eval = evaluate(model, test, s.batch_size, ctx.device, prep)
    write_npz(run_dir / "gradflow.npz", **recorder.arrays())
    drawn = {"first_conv": first_conv_weight(model)} if s.model == "resnet18" else \
        {"token_mixing": token_mixing_weight(model)} if s.model == "mixer" else {}
    write_npz(run_dir / "weights_drawn.npz", **{k: v.float().numpy() for k, v in drawn.items()})
    last = history.iloc[-1]
    write_json(run_dir / "final.json", {  # written last: its presence marks a complete run
        "key": key, "parameters": count_parameters(model), "epochs": s.epochs, "device": str(ctx.device),
        "train_loss": last["train_loss"], "train_acc": last["train_acc"], "val_loss": last["val_loss"],
        "val_acc": last["val_acc"], "test_loss": test_eval["loss"], "test_acc": test_eval["acc"],
        "seconds_per_epoch": float(history["epoch_seconds"].mean()), "train_images": int(len(train[1])),
        "torch_threads": torch.get_num_threads()})
