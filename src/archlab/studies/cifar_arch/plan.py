"""S6 ``cifar_arch``: MLP, ResNet-18 and MLP-Mixer on CIFAR-10 — seven sweeps and gradient flow (report M).

The sweeps are expanded here, once: each sweep point x seed resolves to a full run setting (study
defaults + the model's defaults + the point's flat overrides). Points with the same setting share
one run (the Mixer baseline is patch 4, ratio (0.5, 4) and the ``mixer`` baseline), so each
distinct setting is trained once by a ``cifar_arch_run`` job that receives exactly that setting.
A run's folder names its setting readably, as its changes from the profile's defaults:
``runs/<model>/<changes>/seed<s>``, e.g. ``runs/mixer/defaults/seed0`` or
``runs/resnet18/optimizer=sgd,lr=0.01/seed0``; the name is a function of the setting alone, and
distinct settings get distinct names. ``cifar_arch_section`` builds the report section.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from archlab.data.kinds import check_subset
from archlab.errors import ParamsError
from archlab.workflow.plan import Rule, require_unique, run_files

STUDY = "cifar_arch"
JOBS = "archlab.studies.cifar_arch.jobs"
TRAIN_KEYS = ("optimizer", "lr", "weight_decay", "momentum", "batch_size", "epochs")
IMAGE_KINDS = ("cifar10", "cifar100")  # 32x32 RGB: what the three models are built for
DEFAULTS = "defaults"


@dataclass(frozen=True)
class SweepPoint:
    """One sweep point at one seed, and the run that trains its setting."""

    sweep: str
    label: str
    seed: int
    setting: dict = field(repr=False, compare=False)

    @property
    def model(self) -> str:
        return self.setting["model"]

    @property
    def wildcards(self) -> dict[str, str]:
        return {"model": self.model, "setting": self.setting["name"], "seed": str(self.seed)}

    @property
    def run(self) -> str:
        """The run's folder below ``runs/``: ``<model>/<changes>/seed<s>``."""
        return f"{self.model}/{self.setting['name']}/seed{self.seed}"


# ---------------------------------------------------------------------------------------------- sweeps

def _fmt(v: Any) -> str:
    """A value as a label or folder name shows it: ``0.001``, ``1e-05``, ``0.5x4``; exact for every number."""
    if isinstance(v, (list, tuple)):
        return "x".join(_fmt(x) for x in v)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    short = f"{float(v):g}"
    return short if float(short) == float(v) else repr(float(v))


def _label(axes: Mapping[str, Any]) -> str:
    """``0.001`` on a one-axis grid (the sweep names the axis), ``a=1,b=x`` on several."""
    def show(v):
        return "(" + ",".join(show(x) for x in v) + ")" if isinstance(v, (list, tuple)) else \
            (f"{v:g}" if isinstance(v, float) else str(v))

    if len(axes) == 1:
        return show(next(iter(axes.values())))
    return ",".join(f"{k}={show(v)}" for k, v in axes.items())


def sweep_overrides(sweep: Mapping[str, Any], key: str = "sweep") -> dict[str, dict[str, Any]]:
    """``label -> flat overrides`` of one sweep's points, in declaration order (``key`` names the sweep)."""
    if ("grid" in sweep) == ("points" in sweep):
        raise ParamsError(f"{key}: a sweep declares exactly one of `grid` (axis -> values) or `points` (label -> overrides)")
    if "grid" in sweep:
        names = list(sweep["grid"])
        combos = list(itertools.product(*(sweep["grid"][n] for n in names)))
        labels = [_label(dict(zip(names, combo))) for combo in combos]
        require_unique(labels, f"{key}.grid (point labels)")
        points = {label: dict(zip(names, combo)) for label, combo in zip(labels, combos)}
    else:
        points = {str(label): dict(over or {}) for label, over in sweep["points"].items()}
    points = {label: {**sweep.get("base", {}), **over} for label, over in points.items()}
    only = sweep.get("only")
    if only is not None:
        require_unique(list(only), f"{key}.only")
        missing = [label for label in only if label not in points]
        if missing:
            raise ParamsError(f"{key}.only names unknown points {missing}; known: {list(points)}. "
                              f"Name existing points, or add them under {key}.points")
        points = {label: points[label] for label in only}
    return points


def resolve_setting(section: Mapping[str, Any], model: str | None, overrides: Mapping[str, Any], seed: int,
                    key: str = STUDY, origin: Callable[[str], str] | None = None) -> dict:
    """Study defaults + model defaults + a point's overrides -> the run's full setting (what its job receives).

    ``key`` names the sweep in messages; ``origin(k)`` the params key an override ``k`` came from.
    """
    origin = origin or (lambda k: f"{key}.{k}")
    if model not in section["models"]:
        raise ParamsError(f"{key}: unknown model {model!r}; set `model:` on the sweep or the point to one of "
                          f"{list(section['models'])}")
    model_args = dict(section["models"][model])
    train = dict(section["train"])
    for k, v in overrides.items():
        if k in TRAIN_KEYS:
            train[k] = v
        elif k in model_args:
            model_args[k] = v
        elif k != "model":
            raise ParamsError(f"{origin(k)}: {k!r} is neither a training key {list(TRAIN_KEYS)} nor an argument of "
                              f"model {model!r} {sorted(model_args)}; remove it or set the point's model")
    optimizer = {"name": train["optimizer"], "lr": float(train["lr"]), "weight_decay": float(train["weight_decay"])}
    if train["optimizer"] == "sgd":  # only SGD reads it: other optimizers' settings do not depend on it
        optimizer["momentum"] = float(train["momentum"])
    setting = {"model": model, "model_args": model_args, "optimizer": optimizer, "batch_size": int(train["batch_size"]),
               "epochs": int(train["epochs"]), "seed": int(seed), "train_size": section.get("train_size")}
    return {**setting, "name": setting_name(section, setting)}


def _canonical(value: Any) -> Any:
    """JSON-ready form in which equal settings are equal: every number a float, tuples as lists."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    raise TypeError(f"cannot compare a setting containing {type(value).__name__}: {value!r}")


def setting_key(setting: Mapping[str, Any]) -> str:
    """Equal exactly when two settings train the same run (``1e-3`` = ``0.001``, ``256`` = ``256.0``)."""
    return json.dumps(_canonical({k: v for k, v in setting.items() if k != "name"}), sort_keys=True)


def setting_changes(section: Mapping[str, Any], setting: Mapping[str, Any]) -> dict[str, Any]:
    """What a setting sets differently from the profile's defaults (training keys, then model arguments)."""
    train, opt = section["train"], setting["optimizer"]
    current = {"optimizer": opt["name"], "lr": opt["lr"], "weight_decay": opt["weight_decay"],
               "momentum": opt.get("momentum"), "batch_size": setting["batch_size"], "epochs": setting["epochs"],
               **setting["model_args"]}
    defaults = {**train, **section["models"][setting["model"]]}
    return {k: v for k, v in current.items() if v is not None and _canonical(v) != _canonical(defaults[k])}


def setting_name(section: Mapping[str, Any], setting: Mapping[str, Any]) -> str:
    """``defaults`` or ``k=v,k=v`` (changes from the defaults): readable, and distinct for distinct settings."""
    changes = setting_changes(section, setting)
    return ",".join(f"{k}={_fmt(v)}" for k, v in changes.items()) or DEFAULTS


def expand_sweeps(section: Mapping[str, Any], key: str = STUDY) -> dict[str, list[SweepPoint]]:
    """Every sweep of the study section as its points x seeds."""
    expanded = {}
    for name, sweep in section["sweeps"].items():
        where = f"{key}.sweeps.{name}"
        seeds = sweep.get("seeds", section["seeds"])
        points = []
        for label, over in sweep_overrides(sweep, where).items():
            def origin(k, label=label):
                if "points" in sweep and k in (sweep["points"][label] or {}):
                    return f"{where}.points.{label}.{k}"
                return f"{where}.{'grid' if k in sweep.get('grid', {}) else 'base'}.{k}"

            for seed in seeds:
                setting = resolve_setting(section, over.get("model", sweep.get("model")), over, seed, where, origin)
                points.append(SweepPoint(name, label, int(seed), setting))
        expanded[name] = points
    return expanded


def unique_runs(expanded: Mapping[str, list[SweepPoint]]) -> dict[str, SweepPoint]:
    """``run -> its first point``, each distinct setting once: what actually has to be trained."""
    runs: dict[str, SweepPoint] = {}
    for points in expanded.values():
        for p in points:
            if p.run in runs and setting_key(runs[p.run].setting) != setting_key(p.setting):
                raise ParamsError(f"{STUDY}.sweeps.{p.sweep}.{p.label}: two different settings would share the run "
                                  f"folder {p.run}; make the two points' values differ visibly")
            runs.setdefault(p.run, p)
    return runs


def runs_by_label(points: list[SweepPoint]) -> dict[str, list[str]]:
    """``label -> runs`` (one per seed), in declaration order: what a sweep's table row averages."""
    out: dict[str, list[str]] = {}
    for p in points:
        out.setdefault(p.label, []).append(p.run)
    return out


# ------------------------------------------------------------------------------------------- the plan

def check(cfg: dict) -> None:
    s6 = cfg[STUDY]
    spec = cfg["data"][s6["dataset"]]
    kind = spec.get("kind", s6["dataset"])
    if kind not in IMAGE_KINDS:
        raise ParamsError(f"{STUDY}.dataset: {s6['dataset']!r} is a {kind} dataset, but the S6 models take 32x32 RGB "
                          f"images; name a dataset of kind {' or '.join(IMAGE_KINDS)}")
    check_subset(f"{STUDY}.train_size", s6.get("train_size"), s6["dataset"], spec, "train")
    expanded = expand_sweeps(s6)
    unique_runs(expanded)
    # points a profile leaves out with `only` are checked too: they run in another profile
    every = expand_sweeps({**s6, "sweeps": {n: {k: v for k, v in sw.items() if k != "only"}
                                            for n, sw in s6["sweeps"].items()}})
    for name, points in every.items():
        for p in points:
            args = p.setting["model_args"]
            if p.model == "mixer" and min(int(r * args["embed_dim"]) for r in args["mlp_ratio"]) < 1:
                raise ParamsError(f"{STUDY}.sweeps.{name} point {p.label!r}: mlp_ratio {args['mlp_ratio']} x embed_dim "
                                  f"{args['embed_dim']} gives an MLP of 0 hidden units; raise mlp_ratio or embed_dim")


def jobs(cfg: dict, paths) -> list:
    s6, out = cfg[STUDY], paths.study(STUDY)
    data = {"data": paths.dataset(s6["dataset"])}
    expanded = expand_sweeps(s6)
    runs = unique_runs(expanded)

    run_dir = f"{out}/runs/{{model}}/{{setting}}/seed{{seed}}"
    run = Rule("cifar_arch_run", STUDY, f"{JOBS}:train_run", run_dir,
               run_files(run_dir, metrics="metrics.json", history="history.csv", gradflow="gradflow.npz",
                         drawn="weights_drawn.npz"),
               mem_mb=6000, runtime=240, gpu=True, description="train one sweep setting with gradient recording",
               gpu_share=lambda wildcards: 0.25 if wildcards["model"] in ("mlp", "mixer") else 1.0)
    out_jobs = []
    for point in runs.values():
        params = {k: v for k, v in point.setting.items() if k != "name"}
        out_jobs.append(run.job(data, {**params, "device": cfg["device"], "compile": cfg.get("compile", "auto")},
                                **point.wildcards))

    sec_dir = f"{out}/section"
    figures = {f"{name}_curves": f"{name}_curves.png" for name in expanded}
    figures["optim_kernels"] = "optim_first_layer_kernels.png"
    figures["mixer_tokens"] = "mixer_token_mixing.png"
    gradflow_labels = list(runs_by_label(expanded["gradflow"]))
    figures.update({f"gradflow_{label}": f"gradflow_{label}.png" for label in gradflow_labels})
    section = Rule("cifar_arch_section", STUDY, "archlab.studies.cifar_arch.section:build", sec_dir,
                   {**run_files(sec_dir, section="section.json", **figures),
                    "metrics": paths.metrics(STUDY), "curves": paths.curve(STUDY, "gradflow_val_acc")},
                   mem_mb=2000, runtime=15)
    dirs = [f"{out}/runs/{name}" for name in runs]
    sweeps = [{"name": name, "points": [{"label": label, "runs": group} for label, group in runs_by_label(points).items()]}
              for name, points in expanded.items()]  # a list: the section keeps the declaration order
    out_jobs.append(section.job(
        {"metrics": [f"{d}/metrics.json" for d in dirs], "run_params": [f"{d}/params.json" for d in dirs],
         "histories": [f"{d}/history.csv" for d in dirs], "gradflow": [f"{d}/gradflow.npz" for d in dirs],
         "drawn": [f"{d}/weights_drawn.npz" for d in dirs], **data},
        {"profile": cfg["profile"], "seeds": s6["seeds"], "train": s6["train"], "models": s6["models"],
         "sweeps": sweeps}))
    return out_jobs
