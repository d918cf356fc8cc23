"""Benchmark 7: one representative step of every study on the GPU, against the GPU's own peak.

Each step runs the library's real code path — ``archlab.models.*`` built with random weights,
``archlab.train.*`` loops, ``archlab.features.*``, ``archlab.data.loaders`` batches — on random
uint8 images shaped like the study's dataset, with the full profile's architecture, batch size and
settings (params.yaml + config/full.yaml; nothing is downloaded):

    S1  ResNet feature extraction (``pooled_activations``), and a strategy epoch (``fit``, all layers training)
    S2  ViT-B/16 patch masking (``masking_curves``: the reference forward and every masking condition)
    S3  a GAN epoch (``train_gan``, with its per-epoch evaluation)
    S4  a VAE epoch (``train.vae.fit``)
    S5  CLIP ViT-B/32 image encoding (``encode_images``)
    S6  a ResNet-18, a Mixer and an MLP epoch (``fit`` with the gradient recorder)
    S7  a ResNet-50 epoch at 224 px (``fit`` with the batch augmentation, label smoothing, OneCycle)

For each it prints images/s (S2: forward passes/s), the FLOP rate (FLOPs counted by PyTorch's
``FlopCounterMode`` on the warm-up run, a multiply-add = 2 FLOP) as a fraction of the device's
bf16 matrix-product peak measured first, and the full profile's time for that kind of work:
the full profile's jobs (from its plans) × epochs × images, divided by the rate measured here.
Each extrapolation says which jobs it counts. On a machine without CUDA every step runs at tiny
sizes (small models, a few images) as a smoke test of the code paths; its figures mean nothing.

    python -m bench gpu_suite [--device auto|cpu] [--tiny] [--scale 1.0] [--budget 480] [--json out.json]
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from bench.common import ROOT, result
from bench.gpu_throughput import matmul_peak

PROFILE = "full"
# Images in the public datasets' own train and test splits (the full profile carves validation from train).
SOURCE_SIZES = {"cifar10": (50000, 10000), "cifar100": (50000, 10000), "mnist": (60000, 10000),
                "fashionmnist": (60000, 10000), "stl10": (5000, 8000)}
TINY_CLIP = {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 8},
             "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


@dataclass
class Step:
    """One timed step: ``prepare(n_max)`` builds model and data for up to ``n_max`` items and returns
    ``run(n) -> units processed`` (images, or forward passes for S2)."""

    study: str
    label: str
    prepare: Callable[[int], Callable[[int], int]]
    n: int                 # items (images) in the timed run on a GPU
    n_warm: int            # items in the untimed warm-up; FLOPs are counted at n_warm and 2 n_warm
    work: float            # units the full profile processes in this kind of step
    covers: str            # which jobs ``work`` counts
    unit: str = "images"


# ---------------------------------------------------------------------------------------- data sizes

def split_sizes(spec: dict, kind: str) -> dict[str, int]:
    """Train / val / test images of a full-profile dataset, carved as ``archlab.data.prepared`` does."""
    train, test = SOURCE_SIZES[kind]
    train, test = spec.get("train_size") or train, spec.get("test_size") or test
    val = spec.get("val_size") or int(round(train * spec.get("val_fraction", 0.1)))
    train -= val
    if spec.get("train_size_cap"):
        train = min(train, spec["train_size_cap"])
    return {"train": train, "val": val, "test": test}


def data_of(job) -> str:
    """The dataset a job reads (its ``data`` input is ``results/<profile>/data/<name>/meta.json``)."""
    return Path(job.input["data"]).parent.name


def kind_of(cfg: dict, name: str):
    from archlab.data.kinds import KINDS

    return KINDS[cfg["data"][name].get("kind", name)]


def sizes_of(cfg: dict, name: str) -> dict[str, int]:
    return split_sizes(cfg["data"][name], cfg["data"][name].get("kind", name))


def random_images(n: int, kind, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random uint8 N×H×W×C images and labels of a dataset kind's shape (throughput ignores content)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, kind.size, kind.size, kind.channels), dtype=np.uint8)
    return x, rng.integers(0, max(kind.n_classes, 1), n).astype(np.int64)


def with_val(n: int) -> int:
    """Images to make for up to ``n`` training images plus the tenth validated after each epoch."""
    return n + max(n // 10, 64)


def _pick(jobs: list, **wanted):
    """The first job whose wildcards or params have the wanted values (else the first job)."""
    for job in jobs:
        if all(str(job.wildcards.get(k, job.params.get(k))) == str(v) for k, v in wanted.items()):
            return job
    return jobs[0]


# ----------------------------------------------------------------------------------------- the steps

def _fit_step(model, train_transform, eval_transform, optimizer_spec, batch_size, x, y, device, tmp,
              loss_fn=None, scheduler_spec=None, frozen=(), callbacks=(), compile=False):
    """``run(n)``: one epoch of ``archlab.train.classifier.fit`` on the first n images, validating on the next n/10.
    ``compile`` as the job gets it (``auto`` for S6's small models: compiled on CUDA, the first call warms up)."""
    from archlab.data.kinds import n_batches
    from archlab.train.classifier import FitConfig, fit, trainable_parameters
    from archlab.train.optim import make_optimizer, make_scheduler

    model = model.to(device)

    def run(n: int) -> int:
        n_val = max(n // 10, 1)
        opt = make_optimizer(trainable_parameters(model), optimizer_spec)
        sched = make_scheduler(opt, scheduler_spec, 1, n_batches(n, batch_size)) if scheduler_spec else None
        cfg = FitConfig(epochs=1, batch_size=batch_size, train_transform=train_transform, eval_transform=eval_transform,
                        frozen=frozen, callbacks=callbacks, live=False, desc="bench", compile=compile,
                        **({"loss_fn": loss_fn} if loss_fn is not None else {}))
        fit(model, (x[:n], y[:n]), (x[n:n + n_val], y[n:n + n_val]), opt, cfg, device, tmp, scheduler=sched)
        return len(y[:n])
    return run


def s1_steps(cfg, pipe, device, tiny, tmp) -> list[Step]:
    from archlab.data.loaders import Preprocess
    from archlab.features.extract import pooled_activations
    from archlab.models.resnet import build_resnet
    from archlab.train.transfer import apply_strategy

    feats, strategies = pipe.jobs_of("resnet_features"), pipe.jobs_of("resnet_strategy")
    fp = _pick(feats, variant=cfg["resnet"]["arch"]).params
    sj = _pick(strategies, strategy="full")
    sp, data = sj.params, data_of(sj)
    kind, sizes = kind_of(cfg, data), sizes_of(cfg, data)
    extract_work = len(feats) * sum(sizes.values())
    strategy_work = sum(j.params["epochs"] * (j.params["train_size"] or sizes["train"]) for j in strategies)

    def shape(p):
        return ("resnet10", 32, 8) if tiny else (p["arch"], p["image_size"], p["batch_size"])

    def extraction(n_max: int):
        arch, size, bs = shape(fp)
        model = build_resnet(arch, kind.n_classes, "none")
        x, _ = random_images(n_max, kind)
        prep = Preprocess(size=size)

        def run(n: int) -> int:
            pooled_activations(model, x[:n], ["avgpool"], device, prep, bs, desc="bench")
            return len(x[:n])
        return run

    def strategy(n_max: int):
        arch, size, bs = shape(sp)
        x, y = random_images(with_val(n_max), kind)
        prep = Preprocess(size=size)
        model = build_resnet(arch, kind.n_classes, "none")
        return _fit_step(model, prep, prep, sp["optimizer"], bs, x, y, device, tmp,
                         frozen=apply_strategy(model, sp["strategy"]))

    arch, size, _ = shape(fp)
    s_arch, s_size, _ = shape(sp)
    return [
        Step("S1 resnet", f"{arch} feature extraction, {size} px", extraction, 4096, 256, extract_work,
             f"{len(feats)} resnet_features jobs x train+val+test images, all at {fp['arch']}'s rate"),
        Step("S1 resnet", f"{s_arch} {sp['strategy']}-strategy epoch, {s_size} px", strategy, 4096, 256, strategy_work,
             f"{len(strategies)} resnet_strategy jobs x epochs x train images, all at the {sp['strategy']} strategy's rate"),
    ]


def s2_steps(cfg, pipe, device, tiny, tmp) -> list[Step]:
    from archlab.data.loaders import iterate_batches
    from archlab.features import patch_masking as PM
    from archlab.models import vit as V
    from archlab.runtime import autocast

    p = pipe.jobs_of("vit_masking")[0].params
    kind = kind_of(cfg, cfg["vit"]["masking"]["data"])

    def forwards(fractions, seeds) -> int:
        """Per image: the unmasked reference, then every (method, strategy, fraction, seed) condition."""
        return 1 + len(p["methods"]) * sum(len(fractions) * (len(seeds) if s == "random" else 1) for s in p["strategies"])

    fractions, seeds = ([0.0, 0.5], [0]) if tiny else (p["fractions"], p["seeds"])
    per_image, full_per_image = forwards(fractions, seeds), forwards(p["fractions"], p["seeds"])
    bs = 8 if tiny else p["batch_size"]
    # ViT-B/16, the shape of google/vit-base-patch16-224 (random weights), or the demo's tiny ViT
    shape = {} if tiny else {"image_size": 224, "patch_size": 16, "hidden_size": 768, "num_layers": 12,
                             "num_heads": 12, "mlp_ratio": 4}

    def masking(n_max: int):
        model, processor = V.build_demo_vit([str(i) for i in range(10 if tiny else 1000)], **shape)
        model = model.eval().to(device)
        prep = V.preprocess_of(processor)
        x, y = random_images(n_max, kind)

        def run(n: int) -> int:
            batches = iterate_batches(x[:n], y[:n], bs, device, prep)
            with autocast(device):
                PM.masking_curves(model, batches, len(y[:n]), V.patch_grid(model), fractions, p["strategies"], seeds,
                                  p["methods"], p["fill"])
            return len(y[:n]) * per_image
        return run

    name = "tiny ViT" if tiny else "ViT-B/16"
    return [Step("S2 vit", f"{name} patch masking, {per_image} forwards per image", masking, 256, 64,
                 p["n_images"] * full_per_image, f"vit_masking: {p['n_images']} images x {full_per_image} forwards",
                 unit="forwards")]


def s3_steps(cfg, pipe, device, tiny, tmp) -> list[Step]:
    from archlab.data.loaders import iterate_batches
    from archlab.metrics.diversity import DiversityProbe
    from archlab.models.digit_classifier import SIGNED_RANGE, DigitClassifier
    from archlab.train.gan import GanConfig, train_gan

    jobs = pipe.jobs_of("gan_train")
    job = _pick(jobs, run="baseline")
    base, ev = {**job.params["config"], "epochs": 1}, job.params["eval"]
    if tiny:
        base.update(latent_dim=16, g_hidden=[32, 64], d_hidden=[32, 32], batch_size=16)
        ev = {**ev, "n_samples": 32, "grid_size": 8}
    kind, sizes = kind_of(cfg, data_of(job)), sizes_of(cfg, data_of(job))
    # an epoch makes d_steps D updates and one G update per batch: weighed against the timed run's
    work = sum(j.params["config"]["epochs"] * (j.params["config"].get("train_size") or sizes["train"])
               * (j.params["config"]["d_steps"] + 1) / (base["d_steps"] + 1) for j in jobs)

    def epoch(n_max: int):
        x, y = random_images(max(n_max, ev["n_samples"]), kind)
        images = torch.cat([xb for xb, _ in iterate_batches(x, y, 4096, torch.device("cpu"), SIGNED_RANGE)])
        heldout = images[: ev["n_samples"]]
        probe = DiversityProbe(DigitClassifier(kind.n_classes).to(device).eval(), heldout, kind.n_classes,
                               ev["min_class_share"])
        gan_cfg = GanConfig.from_dict(base)

        def run(n: int) -> int:
            train_gan(gan_cfg, images[:n], heldout, probe, seed=0, device=device, n_eval=ev["n_samples"],
                      sample_every=ev["sample_every"], n_grid=ev["grid_size"], progress=False,
                      compile=job.params.get("compile", False))
            return len(images[:n])
        return run

    return [Step("S3 gan", f"MLP GAN epoch ({job.params['run']}, with its evaluation)", epoch, sizes["train"], 2048,
                 work, f"{len(jobs)} gan_train jobs x epochs x train images, weighed by D + G steps per batch")]


def s4_steps(cfg, pipe, device, tiny, tmp) -> list[Step]:
    from archlab.data.kinds import n_batches
    from archlab.data.loaders import Preprocess, iterate_batches
    from archlab.models.vae import ConvVAE
    from archlab.runtime import to_channels_last
    from archlab.train.kl_schedules import make_schedule
    from archlab.train.optim import make_optimizer
    from archlab.train.vae import fit

    jobs = pipe.jobs_of("vae_train")
    p = _pick(jobs, run="baseline").params
    model_cfg = {"latent_dim": 4, "channels": [4, 8], "hidden": 16} if tiny else p["model"]
    bs = 16 if tiny else p["batch_size"]
    kind, sizes = kind_of(cfg, data_of(jobs[0])), sizes_of(cfg, data_of(jobs[0]))
    work = sum(j.params["epochs"] * sizes["train"] for j in jobs)
    unit_range = Preprocess(size=None, mean=(0.0,), std=(1.0,), channels=1)  # pixels in [0, 1], as the S4 jobs feed them

    def epoch(n_max: int):
        x, y = random_images(with_val(n_max), kind)
        model = to_channels_last(ConvVAE(model_cfg["latent_dim"], tuple(model_cfg["channels"]), model_cfg["hidden"],
                                         image_size=kind.size, in_channels=kind.channels).to(device), device)

        def batches(xs, ys, shuffle):
            return (b for b, _ in iterate_batches(xs, ys, bs, device, unit_range, shuffle=shuffle))

        def run(n: int) -> int:
            n_val = max(n // 10, 1)
            fit(model, lambda epoch: batches(x[:n], y[:n], True), lambda: batches(x[n:n + n_val], y[n:n + n_val], False),
                epochs=1, steps_per_epoch=n_batches(n, bs), optimizer=make_optimizer(model.parameters(), p["optimizer"]),
                schedule=make_schedule(**p["schedule"]), free_bits=p["free_bits"], desc="bench",
                compile=p.get("compile", False))
            return len(y[:n])
        return run

    return [Step("S4 vae", f"conv VAE epoch (latent {model_cfg['latent_dim']})", epoch, sizes["train"], 2048, work,
                 f"{len(jobs)} vae_train jobs x epochs x train images (not the mutual-information diagnostic)")]


def s5_steps(cfg, pipe, device, tiny, tmp) -> list[Step]:
    import open_clip

    from archlab.models.clip import build_clip, encode_images

    jobs = pipe.jobs_of("clip_images")
    p = jobs[0].params
    name = p["weights"].split(":")[1]  # open_clip:<model>:<pretrained>
    model_cfg = TINY_CLIP if tiny else open_clip.get_model_config(name)
    bs = 4 if tiny else p["batch_size"]
    kind, sizes = kind_of(cfg, data_of(jobs[0])), sizes_of(cfg, data_of(jobs[0]))
    work = sum(sizes[split] for j in jobs for split in j.params["splits"])

    def encoding(n_max: int):
        bundle = build_clip(model_cfg, device)
        x, _ = random_images(n_max, kind)

        def run(n: int) -> int:
            encode_images(bundle, x[:n], bs, device)
            return len(x[:n])
        return run

    return [Step("S5 clip", f"{'tiny CLIP' if tiny else name} image encoding from {kind.size} px", encoding, 2048, 256,
                 work, f"{len(jobs)} clip_images job(s): {' + '.join(p['splits'])} images")]


def s6_steps(cfg, pipe, device, tiny, tmp) -> list[Step]:
    from archlab.data.loaders import Preprocess
    from archlab.models.cifar_nets import build_model
    from archlab.train.gradflow import GradientRecorder

    jobs = pipe.jobs_of("cifar_arch_run")
    kind, sizes = kind_of(cfg, data_of(jobs[0])), sizes_of(cfg, data_of(jobs[0]))
    tiny_args = {"mlp": {"hidden": [32, 16]}, "resnet18": {"width": 4},
                 "mixer": {"patch_size": 8, "embed_dim": 16, "num_blocks": 1}}
    prep = Preprocess(mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616))  # the S6 jobs' CIFAR statistics
    steps = []
    for model in ("resnet18", "mixer", "mlp"):
        mine = [j for j in jobs if j.params["model"] == model]
        p = _pick(mine, setting="defaults").params
        args = {**p["model_args"], **(tiny_args[model] if tiny else {})}
        bs = 16 if tiny else p["batch_size"]
        work = sum(j.params["epochs"] * (j.params["train_size"] or sizes["train"]) for j in mine)

        def epoch(n_max: int, model=model, args=args, p=p, bs=bs):
            x, y = random_images(with_val(n_max), kind)
            net = build_model(model, kind.n_classes, **args)
            return _fit_step(net, prep, prep, p["optimizer"], bs, x, y, device, tmp, callbacks=(GradientRecorder(net),),
                             compile=p.get("compile", False))

        steps.append(Step("S6 cifar_arch", f"{model} epoch (default setting, gradient recorder)", epoch,
                          20000 if model == "resnet18" else sizes["train"], 2048, work,
                          f"{len(mine)} cifar_arch_run {model} jobs x epochs x train images, at the default setting's rate"))
    return steps


def s7_steps(cfg, pipe, device, tiny, tmp) -> list[Step]:
    from archlab.data.batch_augment import TrainAugment, train_and_eval_transforms
    from archlab.data.loaders import Preprocess
    from archlab.models.resnet import build_resnet
    from archlab.train.losses import classification_loss

    jobs = [j for j in pipe.jobs_of("ood_train") if j.params["arch"] == "resnet50"]
    p = jobs[0].params
    arch, size, bs = ("resnet10", 32, 8) if tiny else (p["arch"], p["input_size"], p["batch_size"])
    kind, sizes = kind_of(cfg, data_of(jobs[0])), sizes_of(cfg, data_of(jobs[0]))
    work = sum(j.params["epochs"] * sizes["train"] for j in jobs)

    def epoch(n_max: int):
        x, y = random_images(with_val(n_max), kind)
        augment = TrainAugment(**p["augment"]) if p["augment"] is not None else None
        train_tf, eval_tf = train_and_eval_transforms(Preprocess(size=size), augment)
        return _fit_step(build_resnet(arch, kind.n_classes, "none"), train_tf, eval_tf, p["optimizer"], bs, x, y,
                         device, tmp, loss_fn=classification_loss(p["label_smoothing"]), scheduler_spec=p["scheduler"])

    return [Step("S7 ood", f"{arch} epoch at {size} px (augmentation, label smoothing, {p['scheduler']['name']})",
                 epoch, 8192, 256, work,
                 f"{len(jobs)} ood_train {p['arch']} job(s) x epochs x train images (other rungs not counted)")]


STUDIES = (s1_steps, s2_steps, s3_steps, s4_steps, s5_steps, s6_steps, s7_steps)
TINY_N = 32  # images timed per step at tiny sizes (warm-up and FLOP count: half of it)


# ------------------------------------------------------------------------------------------- timing

def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def count_flops(run: Callable[[int], int], n: int) -> tuple[float, int]:
    """FLOPs PyTorch counts for ``run(n)`` (forward, backward, evaluation), and the units it processed."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        units = run(n)
    return float(counter.get_total_flops()), units


def time_step(step: Step, device: torch.device, peak: float, scale: float, tiny: bool) -> dict:
    """Warm up, count the FLOPs at two sizes (a fixed part per run + a part per unit), then time ``n`` items."""
    t_start = time.perf_counter()
    n_half, n = (TINY_N // 2, TINY_N) if tiny else (step.n_warm, max(2 * step.n_warm, int(step.n * scale)))
    run = step.prepare(max(n, 2 * n_half))
    run(n_half)  # untimed: cuDNN autotuning, the allocator, lazy imports
    f1, u1 = count_flops(run, n_half)
    f2, u2 = count_flops(run, 2 * n_half)
    per_unit = (f2 - f1) / (u2 - u1)
    fixed = max(f1 - per_unit * u1, 0.0)  # e.g. the GAN's per-epoch evaluation
    _sync(device)
    t0 = time.perf_counter()
    units = run(n)
    _sync(device)
    seconds = time.perf_counter() - t0
    rate = units / seconds
    flop_rate = (fixed + per_unit * units) / seconds
    return {"study": step.study, "step": step.label, "unit": step.unit, "timed_units": units, "timed_s": seconds,
            "units_per_s": rate, "gflop_per_unit": per_unit / 1e9, "tflop_per_s": flop_rate / 1e12,
            "fraction_of_peak": flop_rate / peak, "full_profile_units": step.work,
            "full_profile_s": step.work / rate, "covers": step.covers, "step_s": time.perf_counter() - t_start}


def _release(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def run_suite(device: str = "auto", tiny: bool | None = None, scale: float = 1.0, budget_s: float = 480,
              peak_size: int | None = None, only: list[str] | None = None) -> dict:
    import archlab  # noqa: F401  (torchvision import fix)
    from archlab.config import load_params
    from archlab.workflow.pipeline import Pipeline, Paths
    from archlab.runtime import pick_device

    t_suite = time.perf_counter()
    dev = pick_device(device)
    tiny = dev.type != "cuda" if tiny is None else tiny
    cfg = load_params(PROFILE, ROOT)
    pipe = Pipeline(cfg, Paths(PROFILE))
    peak_size = peak_size or (8192 if dev.type == "cuda" else 256)
    peak = matmul_peak(dev, peak_size)
    print(f"one representative step per study with the {PROFILE} profile's settings, at "
          f"{'tiny smoke-test' if tiny else 'GPU'} sizes on {dev}", flush=True)
    rows, skipped = [], []
    with tempfile.TemporaryDirectory(prefix="bench-gpu-suite-") as tmp:
        steps = [s for fn in STUDIES for s in fn(cfg, pipe, dev, tiny, Path(tmp))]
        for step in steps:
            if only and not any(step.study.startswith(o) or o in step.study for o in only):
                continue
            if time.perf_counter() - t_suite > budget_s:
                skipped.append(f"{step.study}: {step.label}")
                continue
            row = time_step(step, dev, peak, scale, tiny)
            rows.append(row)
            print(_format_row(row), flush=True)
            _release(dev)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    return {"device": name, "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"), "tiny": tiny,
            "peak_flops": peak, "peak_dtype": "bf16" if dev.type == "cuda" else "fp32", "rows": rows,
            "skipped_over_budget": skipped, "seconds": time.perf_counter() - t_suite}


def per_study(rows: list[dict]) -> dict[str, float]:
    """The extrapolated full-profile seconds of each study (its timed steps summed)."""
    out: dict[str, float] = {}
    for row in rows:
        out[row["study"]] = out.get(row["study"], 0.0) + row["full_profile_s"]
    return out


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:7.1f} min" if math.isfinite(seconds) else "      -    "


def _format_row(row: dict) -> str:
    return (f"  {row['study']:<14} {row['step'][:58]:<58} {row['units_per_s']:9.0f} {row['unit']}/s "
            f"{row['tflop_per_s']:7.2f} TFLOP/s {row['fraction_of_peak']:6.1%} of peak   "
            f"full profile {_minutes(row['full_profile_s'])}  [{row['step_s']:.0f} s]")


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench gpu_suite", description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto", help="auto (a GPU where there is one) or e.g. cpu")
    p.add_argument("--tiny", action="store_true", help="tiny sizes also on a GPU (the default without CUDA)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply the timed images per step (GPU sizes)")
    p.add_argument("--budget", type=float, default=480, help="seconds: steps not started by then are skipped")
    p.add_argument("--peak-size", type=int, default=None, help="side of the matrix product measuring the peak")
    p.add_argument("--only", nargs="+", default=None, help="studies to run, e.g. S1 S7")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    a = p.parse_args(argv)
    r = run_suite(a.device, True if a.tiny else None, a.scale, a.budget, a.peak_size, a.only)
    print(f"{r['device']}, torch {r['torch']}, {r['date']}; measured {r['peak_dtype']} matmul peak "
          f"{r['peak_flops'] / 1e12:.1f} TFLOP/s; suite {r['seconds']:.0f} s")
    if r["tiny"]:
        print("tiny sizes (small models, a few images): a smoke test of the code paths; the figures mean nothing")
    for row in r["rows"]:
        print(f"  {row['study']:<14} {row['step'][:58]:<58} covers: {row['covers']}")
    studies = per_study(r["rows"])
    for study, seconds in studies.items():
        print(f"  {study:<14} extrapolated full-profile time of the timed steps: {_minutes(seconds).strip()}")
    if r["skipped_over_budget"]:
        print(f"skipped (over the {a.budget:.0f} s budget): {'; '.join(r['skipped_over_budget'])}")
    if a.json:
        a.json.write_text(json.dumps(r, indent=2) + "\n")
    total = sum(studies.values())
    worst = min(r["rows"], key=lambda row: row["fraction_of_peak"]) if r["rows"] else None
    result(f"{len(r['rows'])} steps on {r['device']}: the full profile's timed work extrapolates to {total / 60:.1f} min"
           + (f"; lowest share of the {r['peak_dtype']} peak {worst['fraction_of_peak']:.1%} ({worst['study']}: "
              f"{worst['step'].split(',')[0]})" if worst else ""))
    return r


if __name__ == "__main__":
    main()
