"""Sweep grids -> runs: expand each param-declared sweep into points, key each run by its setting.

A sweep names a model and either a ``grid`` (axes -> value lists, Cartesian product, labels like
``0.001`` or ``lr=0.001,epochs=5``) or named ``points`` (label -> overrides); ``base`` overrides
apply to every point, and ``only`` narrows the points (how the demo profile runs fewer).
Overrides are flat: training keys (``TRAIN_KEYS``), ``model``, or the model's own arguments. Every point x seed resolves to a full :class:`RunSetting`, whose key
is a hash of that setting alone, so points of different sweeps with the same setting (the Mixer
baseline is patch 4, ratio (0.5, 4) and the ``mixer`` baseline) share one cached run.
"""
from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

TRAIN_KEYS = ("optimizer", "lr", "weight_decay", "momentum", "batch_size", "epochs")
KEY_LENGTH = 16


@dataclass(frozen=True)
class RunSetting:
    """Everything that changes a run's result, and nothing else (device, paths, logging are out)."""

    dataset: str
    model: str
    model_args: Mapping[str, Any]
    optimizer: str
    lr: float
    weight_decay: float
    batch_size: int
    epochs: int
    seed: int
    train_size: int | None = None  # first n training images; None = all
    momentum: float | None = None  # only SGD uses it; kept out of other optimisers' keys

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (what ``setting.json`` holds and :meth:`from_dict` reads back)."""
        return json.loads(json.dumps(asdict(self)))

    @property
    def key(self) -> str:
        blob = json.dumps(_canonical(self.to_dict()), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:KEY_LENGTH]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "RunSetting":
        return cls(**d)


@dataclass(frozen=True)
class SweepPoint:
    sweep: str
    label: str
    seed: int
    setting: RunSetting = field(repr=False)

    @property
    def key(self) -> str:
        return self.setting.key


def _canonical(value: Any) -> Any:
    """JSON-ready form in which equal settings are equal: every number a float, tuples as lists.

    ``1e-3`` and ``0.001``, ``256`` and ``256.0`` mean the same run, so they must hash the same.
    """
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    raise TypeError(f"cannot key a setting containing {type(value).__name__}: {value!r}")


def _label(axes: Mapping[str, Any]) -> str:
    """``0.001`` on a one-axis grid (the sweep names the axis), ``a=1,b=x`` on several."""
    if len(axes) == 1:
        return _fmt(next(iter(axes.values())))
    return ",".join(f"{k}={_fmt(v)}" for k, v in axes.items())


def _fmt(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "(" + ",".join(_fmt(x) for x in v) + ")"
    return f"{v:g}" if isinstance(v, float) else str(v)


def sweep_overrides(sweep: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``label -> flat overrides`` of one sweep's points, in declaration order."""
    if ("grid" in sweep) == ("points" in sweep):
        raise ValueError("a sweep declares exactly one of 'grid' or 'points'")
    if "grid" in sweep:
        names = list(sweep["grid"])
        points = {_label(dict(zip(names, combo))): dict(zip(names, combo))
                  for combo in itertools.product(*(sweep["grid"][n] for n in names))}
    else:
        points = {str(label): dict(over or {}) for label, over in sweep["points"].items()}
    points = {label: {**sweep.get("base", {}), **over} for label, over in points.items()}
    only = sweep.get("only")
    if only is not None:
        missing = [label for label in only if label not in points]
        if missing:
            raise ValueError(f"'only' names unknown points {missing}; known: {list(points)}")
        points = {label: points[label] for label in only}
    return points


def resolve_setting(section: Mapping[str, Any], model: str, overrides: Mapping[str, Any], seed: int) -> RunSetting:
    """Study defaults + model defaults + a point's overrides -> the run's full setting."""
    if model not in section["models"]:
        raise ValueError(f"unknown model {model!r}; configured models: {list(section['models'])}")
    model_args = dict(section["models"][model])
    train = dict(section["train"])
    for k, v in overrides.items():
        if k in TRAIN_KEYS:
            train[k] = v
        elif k in model_args:
            model_args[k] = v
        elif k != "model":
            raise ValueError(f"override {k!r} is neither a training key {TRAIN_KEYS} nor an argument of "
                             f"{model!r} {sorted(model_args)}")
    return RunSetting(
        dataset=section["dataset"], model=model, model_args=model_args, optimizer=train["optimizer"],
        lr=float(train["lr"]), weight_decay=float(train["weight_decay"]), batch_size=int(train["batch_size"]),
        epochs=int(train["epochs"]), seed=int(seed), train_size=section.get("train_size"),
        momentum=float(train["momentum"]) if train["optimizer"] == "sgd" else None,
    )


def expand_sweeps(section: Mapping[str, Any]) -> dict[str, list[SweepPoint]]:
    """Every sweep of the study section as its points x seeds."""
    expanded = {}
    for name, sweep in section["sweeps"].items():
        seeds = sweep.get("seeds", section["seeds"])
        expanded[name] = [
            SweepPoint(name, label, seed, resolve_setting(section, over.get("model", sweep.get("model")), over, seed))
            for label, over in sweep_overrides(sweep).items()
            for seed in seeds
        ]
    return expanded


def unique_runs(expanded: Mapping[str, list[SweepPoint]]) -> dict[str, RunSetting]:
    """``key -> setting`` with each distinct setting once: what actually has to be trained."""
    return {p.key: p.setting for points in expanded.values() for p in points}


def keys_by_label(points: list[SweepPoint]) -> dict[str, list[str]]:
    """``label -> run keys`` (one per seed), in declaration order: what a sweep's table row averages."""
    out: dict[str, list[str]] = {}
    for p in points:
        out.setdefault(p.label, []).append(p.key)
    return out
