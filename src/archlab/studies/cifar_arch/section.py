"""The S6 report section, from the S6 runs' artifacts and the params each run recorded (params.json)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from archlab.data.prepared import PreparedDataset
from archlab.io import read_json
from archlab.plots.cifar_arch import plot_gradflow, plot_kernel_grids, plot_token_mixing
from archlab.plots.curves import plot_histories
from archlab.workflow.provenance import read_run_params
from archlab.report.published import lookup
from archlab.report.labels import dataset_label
from archlab.report.section import Section, fmt, mean_std
from archlab.studies.cifar_arch.plan import setting_changes

MODEL_NAMES = {"mlp": "MLP", "resnet18": "ResNet-18", "mixer": "MLP-Mixer"}
SWEEP_TEXT = {
    "activations": "MLP with ReLU, sigmoid and tanh hidden activations.",
    "lr": "ResNet-18 trained at each learning rate (with the optimizer the changes column names, else the default).",
    "patch": "MLP-Mixer patch size; parameter count and training time per epoch change with the token count.",
    "optim": "ResNet-18 optimiser settings: SGD with momentum (baseline, higher weight decay, higher learning rate) "
             "and AdamW.",
    "mixer": "MLP-Mixer variants: dropout inside the token/channel MLPs, wider embedding (wide), more blocks "
             "(deep), and their combinations.",
    "width": "MLP-Mixer hidden widths of the token- and channel-mixing MLPs, as (token, channel) multiples of the "
             "embedding dimension.",
    "gradflow": "The three default models; their per-layer weight-gradient norms are drawn below.",
}


def _show(v) -> str:
    if isinstance(v, (list, tuple)):
        return "(" + ", ".join(_show(x) for x in v) + ")"
    return f"{v:g}" if isinstance(v, float) else str(v)


def _published(key: str) -> dict | None:
    try:
        return lookup(f"cifar_arch.{key}")
    except KeyError:
        return None


class Runs:
    """Every run's artifacts, by its name below ``runs/`` (``<model>/<setting>/seed<s>``)."""

    def __init__(self, inp: dict):
        self.dirs: dict[str, Path] = {}
        self.metrics: dict[str, dict] = {}
        self.params: dict[str, dict] = {}
        for m, q in zip(inp["metrics"], inp["run_params"]):
            run_dir = Path(m).parent
            name = "/".join(run_dir.parts[-3:])
            self.dirs[name], self.metrics[name], self.params[name] = run_dir, read_json(m), read_run_params(q)

    def history(self, names: list[str]) -> pd.DataFrame:
        """Per-epoch mean over the seeds' runs."""
        frames = [pd.read_csv(self.dirs[n] / "history.csv") for n in names]
        return pd.concat(frames).groupby("epoch", as_index=False).mean(numeric_only=True)

    def npz(self, name: str, file: str):
        return np.load(self.dirs[name] / file)


def _changes(run_params: dict, defaults: dict) -> str:
    """What a run sets differently from the study defaults, e.g. ``embed_dim 64, dropout 0.1``."""
    return ", ".join(f"{k} {_show(v)}" for k, v in setting_changes(defaults, run_params).items()) or "defaults"


def _triple(metrics: list[dict], metric: str, scale: float = 1.0, digits: int = 2) -> str:
    return " / ".join(mean_std([m[f"{split}_{metric}"] * scale for m in metrics], digits) for split in ("train", "val", "test"))


def build(job) -> None:
    p, inp, out = job.params, job.input, job.output
    runs = Runs(inp)
    sweeps = {sw["name"]: {pt["label"]: pt["runs"] for pt in sw["points"]} for sw in p["sweeps"]}
    data = PreparedDataset(inp["data"], verify=False)
    t = p["train"]
    n_train = runs.metrics[next(iter(runs.metrics))]["train_images"]
    overlap = len(set(data.meta["train_indices"][:n_train]) & set(data.meta["val_indices"]))
    seeds = p["seeds"]
    px = data.meta["image_shape"][0]
    setting = (f"profile {p['profile']}; {dataset_label(data.meta)}: {data.describe(f'{px} px')}, the first {n_train} training images used, "
               f"CIFAR-10 mean/std normalisation, no augmentation; defaults {t['optimizer']} lr {t['lr']:g}, weight "
               f"decay {t['weight_decay']:g}, batch {t['batch_size']}, {t['epochs']} epochs; seeds {seeds} "
               f"(n = {len(seeds)})")
    models = p["models"]
    short = (f"{p['profile']}, {dataset_label(data.meta)}, {n_train} train imgs, {t['epochs']} ep, MLP "
             f"{models['mlp']['hidden']}, ResNet width {models['resnet18']['width']}, Mixer embed "
             f"{models['mixer']['embed_dim']}")
    sec = Section("cifar_arch", f"S6 — MLP, ResNet-18 and MLP-Mixer on {dataset_label(data.meta)}", p["profile"], setting,
                  data=data.meta)
    n_points = sum(len(group) for labels in sweeps.values() for group in labels.values())
    sec.text(f"Validation is carved from the training set by one seeded permutation: {overlap} images are shared "
             f"between the train and validation splits used here (M's course code drew them with two independent "
             f"random splits, which overlap — its validation accuracy sits ~20 points above its test accuracy). "
             f"The test split is evaluated once, after the last epoch. Each sweep point is a run named by its "
             f"setting's changes from the defaults: the {n_points} points (× seeds) of the seven sweeps need "
             f"{len(runs.dirs)} distinct runs, and points with the same setting (e.g. the Mixer baseline of the patch, "
             f"mixer and width sweeps) share one. In the sweep tables, train metrics are the running mean over the "
             f"last epoch, `run` is the run's folder, and M's accuracies are after 30 epochs on full CIFAR-10, with a "
             f"validation split that overlapped its training set.")
    _models_table(sec, sweeps["gradflow"], runs)
    for name, labels in sweeps.items():
        _sweep(sec, name, labels, runs, p, out)
    compared = [(f"cifar_arch.{name}.{label}", mean_std([runs.metrics[r]["test_acc"] * 100 for r in group]),
                 f"{short}; n = {len(group)}")
                for name, labels in sweeps.items() for label, group in labels.items() if _published(f"{name}.{label}")]
    sec.compare(compared, "S6 test accuracy published by M beside archlab's (mean ± std over n seeds).")
    for name, labels in sweeps.items():
        for label, group in labels.items():
            sec.metric(re.sub(r"\W+", "_", f"{name}_{label}_test_acc"), float(np.mean([runs.metrics[r]["test_acc"] for r in group])))
    sec.curves("gradflow_val_acc", {f"{label} seed {runs.params[r]['seed']}": runs.history([r])
                                    for label, group in sweeps["gradflow"].items() for r in group})
    sec.write(out["section"], out["metrics"], {"gradflow_val_acc": out["curves"]})


def _sweep_table(name: str, labels: dict[str, list[str]], runs: Runs, defaults: dict) -> pd.DataFrame:
    rows = []
    for label, group in labels.items():
        metrics = [runs.metrics[r] for r in group]
        rp = runs.params[group[0]]
        published = _published(f"{name}.{label}")
        rows.append({
            "setting": label, "model": MODEL_NAMES[rp["model"]], "changes vs defaults": _changes(rp, defaults),
            "run": " ".join(group), "n (seeds)": len(group),
            "params": metrics[0]["parameters"], "s / epoch": mean_std([m["seconds_per_epoch"] for m in metrics], 1),
            "loss train / val / test": _triple(metrics, "loss"),
            "acc (%) train / val / test": _triple(metrics, "acc", 100, 1),
            "M acc (%) train / val / test": " / ".join(fmt(v) for v in (
                published["train_acc"], published["val_acc"], published["values"][0]["value"])) if published else "–",
        })
    return pd.DataFrame(rows)


def _sweep(sec: Section, name: str, labels: dict[str, list[str]], runs: Runs, p: dict, out: dict) -> None:
    sec.heading(f"Sweep: {name}")
    sec.text(SWEEP_TEXT.get(name, ""))
    histories = {label: runs.history(group) for label, group in labels.items()}
    n = sorted({len(group) for group in labels.values()})
    sec.figure(plot_histories(histories, out[f"{name}_curves"], f"{name} sweep"),
               f"{name}: training/validation loss and accuracy per epoch, one line per setting "
               f"(mean over n = {'/'.join(map(str, n))} seed(s)).")
    sec.table(_sweep_table(name, labels, runs, p),
              f"{name}: final-epoch metrics (mean ± std over n seeds) beside M's published accuracies.")
    first = {label: group[0] for label, group in labels.items()}
    if name == "optim":
        kernels = {label: runs.npz(r, "weights_drawn.npz")["first_conv"] for label, r in first.items()}
        k = next(iter(kernels.values())).shape[0]
        grid = int(np.ceil(np.sqrt(k)))
        sec.figure(plot_kernel_grids(kernels, out["optim_kernels"], "ResNet-18 first-layer kernels"),
                   f"ResNet-18 first-layer kernels after training, one panel per optimiser setting (first seed): "
                   f"{k} 3×3 RGB kernels in a {grid}×{grid} grid, each kernel min–max normalised to [0, 1] on its own "
                   f"(over its 27 weights, as M did), so colour shows each filter's pattern, not its magnitude.")
    if name == "mixer":
        tokens = {label: runs.npz(r, "weights_drawn.npz")["token_mixing"] for label, r in first.items()}
        sec.figure(plot_token_mixing(tokens, out["mixer_tokens"], "MLP-Mixer block 1 token-mixing units"),
                   "Hidden units of block 1's first token-mixing layer, one panel per Mixer setting: each unit's weights "
                   "over the input patches drawn on the patch grid (red > 0 > blue, each unit scaled by its own max |w|). "
                   "As in the MLP-Mixer paper's Figure 5, units are paired with their most opposite-phase partner and "
                   "pairs are sorted from low to high spatial frequency.")
    if name == "gradflow":
        _gradflow(sec, first, runs, out)


def _models_table(sec: Section, labels: dict[str, list[str]], runs: Runs) -> None:
    rows = []
    for group in labels.values():
        rp = runs.params[group[0]]
        rows.append({"model": MODEL_NAMES[rp["model"]],
                     "arguments": ", ".join(f"{k} {_show(v)}" for k, v in rp["model_args"].items()),
                     "parameters": runs.metrics[group[0]]["parameters"]})
    sec.table(pd.DataFrame(rows), "The three default models of this profile (parameter counts of the built models).")


def _gradflow(sec: Section, first: dict[str, str], runs: Runs, out: dict) -> None:
    from archlab.train.gradflow import pooled_over_training  # here: train.gradflow imports torch

    rows = []
    for label, run in first.items():
        g = runs.npz(run, "gradflow.npz")
        mean, std = pooled_over_training(g["mean"], g["std"], g["steps"])
        name = MODEL_NAMES.get(label, label)
        path = plot_gradflow(g["names"].tolist(), g["mean"], mean, std, out[f"gradflow_{label}"],
                             f"{name}: weight-gradient norms")
        sec.figure(path, f"{name}: L2 norm of each layer's weight gradient, mean over the steps of each epoch (left, "
                         f"log scale) and mean ± std over all steps (right), first seed. Weights only: biases, "
                         f"normalisation layers (selected by type, including shortcut BatchNorms) and parameter-free "
                         f"layers are left out.")
        rows.append({"model": name, "layers": len(mean), "first layer": str(g["names"][0]).removesuffix(".weight"),
                     "last layer": str(g["names"][-1]).removesuffix(".weight"),
                     "first / last norm, epoch 1": g["mean"][0, 0] / g["mean"][-1, 0],
                     "first / last norm, all steps": mean[0] / mean[-1]})
    sec.table(pd.DataFrame(rows), "Gradient reaching the first layer relative to the last layer (ratio of weight-gradient "
                                  "norms), first seed: values far below 1 mean the gradient fades on its way back.", digits=3)
