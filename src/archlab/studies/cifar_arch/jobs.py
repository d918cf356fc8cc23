"""S6 jobs: each receives its inputs, outputs and params from the plan (see plan.py)."""
from __future__ import annotations

import torch

from archlab.data.loaders import Preprocess
from archlab.data.prepared import PreparedDataset
from archlab.io import write_json, write_npz
from archlab.models.cifar_nets import build_model, count_parameters, first_conv_weight, token_mixing_weight
from archlab.runtime import seed_everything, to_channels_last
from archlab.train.classifier import FitConfig, evaluate, fit
from archlab.train.gradflow import GradientRecorder
from archlab.train.optim import make_optimizer

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def load_splits(data: PreparedDataset, train_size: int | None):
    """(train, val, test) arrays as S6 uses them: the first ``train_size`` training images, all of val/test."""
    return data.split("train", train_size), data.split("val"), data.split("test")


def drawn_weights(model: torch.nn.Module, name: str) -> dict:
    """What the section draws of a trained model: ResNet-18's first-layer kernels, the Mixer's token mixing."""
    if name == "resnet18":
        return {"first_conv": first_conv_weight(model).float().numpy()}
    if name == "mixer":
        return {"token_mixing": token_mixing_weight(model).float().numpy()}
    return {}


def train_run(job) -> None:
    """Train one sweep setting with gradient recording; write history, final metrics and what the figures draw."""
    p, device = job.params, job.device
    data = PreparedDataset(job.input["data"])
    train, val, test = load_splits(data, p["train_size"])
    seed_everything(p["seed"])
    model = to_channels_last(build_model(p["model"], num_classes=len(data.classes), **p["model_args"]).to(device), device)
    recorder = GradientRecorder(model)
    prep = Preprocess(mean=CIFAR10_MEAN, std=CIFAR10_STD)
    fit_cfg = FitConfig(epochs=p["epochs"], batch_size=p["batch_size"], seed=p["seed"], train_transform=prep,
                        eval_transform=prep, callbacks=(recorder,), desc=f"{p['model']} {job.wildcards['setting']}",
                        compile=p["compile"])
    history = fit(model, train, val, make_optimizer(model.parameters(), p["optimizer"]), fit_cfg, device, job.run_dir,
                  checkpoint=job.checkpoint())
    test_eval = evaluate(model, test, p["batch_size"], device, prep)
    write_npz(job.output["gradflow"], **recorder.arrays())
    write_npz(job.output["drawn"], **drawn_weights(model, p["model"]))
    last = history.iloc[-1]
    write_json(job.output["metrics"], {
        "parameters": count_parameters(model), "epochs": p["epochs"], "device": str(device),
        "train_loss": last["train_loss"], "train_acc": last["train_acc"], "val_loss": last["val_loss"],
        "val_acc": last["val_acc"], "test_loss": test_eval["loss"], "test_acc": test_eval["acc"],
        "seconds_per_epoch": float(history["epoch_seconds"].mean()), "train_images": int(len(train[1])),
        "torch_threads": torch.get_num_threads()})
