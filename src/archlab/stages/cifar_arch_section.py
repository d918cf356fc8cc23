"""The S6 report section, assembled from the S6 runs only (every number read from an artifact)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from archlab.data.prepared import PreparedDataset
from archlab.io import read_json
from archlab.plots.cifar_arch import plot_gradflow, plot_kernel_grids, plot_token_mixing
from archlab.plots.curves import plot_histories
from archlab.report.published import lookup
from archlab.report.section import Section, fmt, mean_std
from archlab.train.gradflow import pooled_over_training
from archlab.train.sweeps import SweepPoint, expand_sweeps, keys_by_label, unique_runs

MODEL_NAMES = {"mlp": "MLP", "resnet18": "ResNet-18", "mixer": "MLP-Mixer"}
SWEEP_TEXT = {
    "activations": "MLP with ReLU, sigmoid and tanh hidden activations.",
    "lr": "ResNet-18 trained with Adam at each learning rate.",
    "patch": "MLP-Mixer patch size; parameter count and training time per epoch change with the token count.",
    "optim": "ResNet-18 optimiser settings: SGD with momentum (baseline, higher weight decay, higher learning rate) "
             "and AdamW.",
    "mixer": "MLP-Mixer variants: dropout inside the token/channel MLPs, wider embedding (wide), more blocks "
             "(deep), and their combinations.",
    "width": "MLP-Mixer hidden widths of the token- and channel-mixing MLPs, as (token, channel) multiples of the "
             "embedding dimension.",
    "gradflow": "The three default models; their per-layer weight-gradient norms are drawn below.",
}


def build_section(ctx, cfg: dict, out: Path) -> Section:
    sweeps = expand_sweeps(cfg)
    runs = unique_runs(sweeps)
    finals = {key: read_json(out / "runs" / key / "final.json") for key in runs}
    data = PreparedDataset(ctx.dataset_dir(cfg["dataset"]), verify=False)
    sizes, t = data.meta["sizes"], cfg["train"]
    n_train = cfg.get("train_size") or sizes["train"]
    overlap = len(set(data.meta["train_indices"][:n_train]) & set(data.meta["val_indices"]))
    setting = (f"profile {ctx.profile}; {cfg['dataset']} ({data.meta['source']}, {n_train}/{sizes['val']}/{sizes['test']} "
               f"train/val/test images, {data.meta['image_shape'][0]} px, CIFAR-10 mean/std normalisation, no "
               f"augmentation); defaults {t['optimizer']} lr {t['lr']:g}, weight decay {t['weight_decay']:g}, batch "
               f"{t['batch_size']}, {t['epochs']} epochs; seeds {cfg['seeds']}")
    short = (f"{ctx.profile}, {data.meta['source']} {n_train} train imgs, {t['epochs']} ep, MLP "
             f"{cfg['models']['mlp']['hidden']}, ResNet width {cfg['models']['resnet18']['width']}, Mixer embed "
             f"{cfg['models']['mixer']['embed_dim']}")
    sec = Section("cifar_arch", "S6 — MLP, ResNet-18 and MLP-Mixer on CIFAR-10", ctx.profile, setting)
    n_points = sum(len(p) for p in sweeps.values())
    sec.text(f"Validation is carved from the training set by one seeded permutation: {overlap} images are shared "
             f"between the train and validation splits used here (M's course code drew them with two independent "
             f"random splits, which overlap — its validation accuracy sits ~20 points above its test accuracy). "
             f"The test split is evaluated once, after the last epoch. Each sweep point is a run keyed by its full "
             f"setting: the {n_points} points of the seven sweeps need {len(runs)} distinct runs, and points with "
             f"the same setting (e.g. the Mixer baseline of the patch, mixer and width sweeps) share one. In the "
             f"sweep tables, train metrics are the running mean over the last epoch, `run` is the cached run's key, "
             f"and M's accuracies are after 30 epochs on full CIFAR-10, with a validation split that overlapped "
             f"its training set.")
    _models_table(sec, sweeps["gradflow"], finals)
    for name, points in sweeps.items():
        _sweep(sec, name, points, finals, cfg, out)
    compared = [(f"cifar_arch.{name}.{label}", mean_std([finals[k]["test_acc"] * 100 for k in keys]), short)
                for name, points in sweeps.items() for label, keys in keys_by_label(points).items()
                if _published(f"{name}.{label}")]
    sec.compare(compared, "S6 test accuracy published by M beside archlab's.")
    for name, points in sweeps.items():
        for label, keys in keys_by_label(points).items():
            sec.metric(f"{name}.{label}.test_acc", float(np.mean([finals[k]["test_acc"] for k in keys])))
    sec.curves("gradflow_val_acc", {label: _mean_history(out, keys) for label, keys in keys_by_label(sweeps["gradflow"]).items()})
    return sec


def _published(key: str) -> dict | None:
    try:
        return lookup(f"cifar_arch.{key}")
    except KeyError:
        return None


def _mean_history(out: Path, keys: list[str]) -> pd.DataFrame:
    """Per-epoch mean over the seeds' runs."""
    frames = [pd.read_csv(out / "runs" / k / "history.csv") for k in keys]
    return pd.concat(frames).groupby("epoch", as_index=False).mean(numeric_only=True)


def _changes(point: SweepPoint, cfg: dict) -> str:
    """What a point sets differently from the study defaults, e.g. ``embed_dim 64, dropout 0.1``."""
    s = point.setting
    defaults = {**cfg["train"], **cfg["models"][s.model]}
    current = {"optimizer": s.optimizer, "lr": s.lr, "weight_decay": s.weight_decay, "batch_size": s.batch_size,
               "epochs": s.epochs, **s.model_args}
    if s.optimizer == "sgd":
        current["momentum"] = s.momentum
    diffs = [f"{k} {_show(v)}" for k, v in current.items() if k in defaults and _show(v) != _show(defaults[k])]
    return ", ".join(diffs) or "defaults"


def _show(v) -> str:
    if isinstance(v, (list, tuple)):
        return "(" + ", ".join(_show(x) for x in v) + ")"
    return f"{v:g}" if isinstance(v, float) else str(v)


def _triple(finals: list[dict], metric: str, scale: float = 1.0, digits: int = 2) -> str:
    return " / ".join(mean_std([f[f"{split}_{metric}"] * scale for f in finals], digits) for split in ("train", "val", "test"))


def _sweep_table(name: str, points: list[SweepPoint], finals: dict, cfg: dict) -> pd.DataFrame:
    rows = []
    for label, keys in keys_by_label(points).items():
        runs = [finals[k] for k in keys]
        point = next(p for p in points if p.label == label)
        published = _published(f"{name}.{label}")
        rows.append({
            "setting": label, "model": MODEL_NAMES[point.setting.model], "changes vs defaults": _changes(point, cfg),
            "run": " ".join(k[:6] for k in keys),
            "params": runs[0]["parameters"], "s / epoch": mean_std([r["seconds_per_epoch"] for r in runs], 1),
            "loss train / val / test": _triple(runs, "loss"),
            "acc (%) train / val / test": _triple(runs, "acc", 100, 1),
            "M acc (%) train / val / test": " / ".join(fmt(v) for v in (
                published["train_acc"], published["val_acc"], published["values"][0]["value"])) if published else "–",
        })
    return pd.DataFrame(rows)


def _sweep(sec: Section, name: str, points: list[SweepPoint], finals: dict, cfg: dict, out: Path) -> None:
    figures = out / "figures"
    grouped = keys_by_label(points)
    sec.heading(f"Sweep: {name}")
    sec.text(SWEEP_TEXT[name])
    histories = {label: _mean_history(out, keys) for label, keys in grouped.items()}
    sec.figure(plot_histories(histories, figures / f"{name}_curves.png", f"{name} sweep"),
               f"{name}: training/validation loss and accuracy per epoch, one line per setting "
               f"(mean over {len(next(iter(grouped.values())))} seed(s)).")
    sec.table(_sweep_table(name, points, finals, cfg),
              f"{name}: final-epoch metrics beside M's published accuracies.")
    first = {label: keys[0] for label, keys in grouped.items()}
    if name == "optim":
        kernels = {label: np.load(out / "runs" / k / "weights_drawn.npz")["first_conv"] for label, k in first.items()}
        n = next(iter(kernels.values())).shape[0]
        grid = int(np.ceil(np.sqrt(n)))
        sec.figure(plot_kernel_grids(kernels, figures / "optim_first_layer_kernels.png", "ResNet-18 first-layer kernels"),
                   f"ResNet-18 first-layer kernels after training, one panel per optimiser setting (first seed): "
                   f"{n} 3×3 RGB kernels in a {grid}×{grid} grid, each kernel min–max normalised to [0, 1] on its own "
                   f"(over its 27 weights, as M did), so colour shows each filter's pattern, not its magnitude.")
    if name == "mixer":
        tokens = {label: np.load(out / "runs" / k / "weights_drawn.npz")["token_mixing"] for label, k in first.items()}
        sec.figure(plot_token_mixing(tokens, figures / "mixer_token_mixing.png", "MLP-Mixer block 1 token-mixing units"),
                   "Hidden units of block 1's first token-mixing layer, one panel per Mixer setting: each unit's weights "
                   "over the input patches drawn on the patch grid (red > 0 > blue, each unit scaled by its own max |w|). "
                   "As in the MLP-Mixer paper's Figure 5, units are paired with their most opposite-phase partner and "
                   "pairs are sorted from low to high spatial frequency.")
    if name == "gradflow":
        _gradflow(sec, first, out, figures)


def _models_table(sec: Section, points: list[SweepPoint], finals: dict) -> None:
    rows = [{"model": MODEL_NAMES[p.setting.model], "arguments": ", ".join(f"{k} {_show(v)}" for k, v in p.setting.model_args.items()),
             "parameters": finals[p.key]["parameters"]} for p in points if p.seed == points[0].seed]
    sec.table(pd.DataFrame(rows), "The three default models of this profile (parameter counts of the built models).")


def _gradflow(sec: Section, first: dict[str, str], out: Path, figures: Path) -> None:
    rows = []
    for label, key in first.items():
        g = np.load(out / "runs" / key / "gradflow.npz")
        mean, std = pooled_over_training(g["mean"], g["std"], g["steps"])
        name = MODEL_NAMES.get(label, label)
        path = plot_gradflow(g["names"].tolist(), g["mean"], mean, std, figures / f"gradflow_{label}.png",
                             f"{name}: weight-gradient norms")
        sec.figure(path, f"{name}: L2 norm of each layer's weight gradient, mean over the steps of each epoch (left, "
                         f"log scale) and mean ± std over all steps (right). Weights only: biases, normalisation layers "
                         f"(selected by type, including shortcut BatchNorms) and parameter-free layers are left out.")
        rows.append({"model": name, "layers": len(mean), "first layer": str(g["names"][0]).removesuffix(".weight"),
                     "last layer": str(g["names"][-1]).removesuffix(".weight"),
                     "first / last norm, epoch 1": g["mean"][0, 0] / g["mean"][-1, 0],
                     "first / last norm, all steps": mean[0] / mean[-1]})
    sec.table(pd.DataFrame(rows), "Gradient reaching the first layer relative to the last layer (ratio of weight-gradient "
                                  "norms): values far below 1 mean the gradient fades on its way back.", digits=3)
