"""KL-weight (β) schedules as functions of training progress p ∈ [0, 1] (0 = first step, 1 = last).

Every annealing schedule ends at β = 1, so its final model optimises the same ELBO as the baseline
and the two can be compared; a schedule that stopped below 1 would win on reconstruction by
optimising a different objective. Only ``constant`` may sit elsewhere: a heavy constant β is how
the study *induces* collapse (the posterior is pushed onto the prior before the decoder uses z).
"""
from __future__ import annotations

import inspect
import math
from typing import Callable

Schedule = Callable[[float], float]


def constant(beta: float = 1.0) -> Schedule:
    return lambda p: beta


def linear(ramp: float = 0.3, start: float = 0.0) -> Schedule:
    """Linear warm-up from ``start`` to 1 over the first ``ramp`` of training, then 1."""
    _check_fraction("ramp", ramp)
    return lambda p: start + (1.0 - start) * min(p / ramp, 1.0)


def cosine(ramp: float = 1.0, start: float = 0.1) -> Schedule:
    """β = start + (1 − start)(1 − cos(π t/T))/2 with t/T = p/ramp, then 1 (report A: start 0.1, T = 20 epochs)."""
    _check_fraction("ramp", ramp)
    return lambda p: start + (1.0 - start) * (1.0 - math.cos(math.pi * min(p / ramp, 1.0))) / 2.0


def cyclical(cycles: int = 4, ratio: float = 0.5) -> Schedule:
    """Fu et al. (2019): ``cycles`` repeats of a linear 0 → 1 ramp over ``ratio`` of each cycle, then 1.

    The last step sits at the end of the last cycle, so the run ends at β = 1.
    """
    if cycles < 1:
        raise ValueError(f"cycles must be ≥ 1, got {cycles}")
    _check_fraction("ratio", ratio)

    def beta(p: float) -> float:
        position = p * cycles
        tau = position - min(math.floor(position), cycles - 1)  # ∈ [0, 1], 1 only at p = 1
        return min(tau / ratio, 1.0)

    return beta


SCHEDULES: dict[str, Callable[..., Schedule]] = {
    "constant": constant, "linear": linear, "cosine": cosine, "cyclical": cyclical,
}


def make_schedule(kind: str, **options) -> Schedule:
    """Build a schedule by name from its options (the params' ``schedule:`` mapping)."""
    if kind not in SCHEDULES:
        raise ValueError(f"unknown KL schedule {kind!r}; choose one of {sorted(SCHEDULES)}")
    return SCHEDULES[kind](**options)


def final_beta(kind: str, **options) -> float:
    """Where a schedule *ends*: β at the last optimisation step, p = 1 (:func:`progress` maps the last
    step to exactly 1). This is the β the trained model last optimised, and what ``fit`` records as the
    last epoch's β. Annealing schedules ramp to β = 1 by construction; ``constant`` ends at its ``beta``."""
    return make_schedule(kind, **options)(1.0)


def describe(kind: str, **options) -> str:
    """A short human label, with the defaults filled in (``cosine 0.1→1 over 100%``)."""
    defaults = {k: p.default for k, p in inspect.signature(SCHEDULES[kind]).parameters.items()}
    o = {**defaults, **options}
    labels = {
        "constant": lambda: f"β = {o['beta']:g}",
        "linear": lambda: f"linear {o['start']:g}→1 over {o['ramp']:.0%}",
        "cosine": lambda: f"cosine {o['start']:g}→1 over {o['ramp']:.0%}",
        "cyclical": lambda: f"{o['cycles']} cycles 0→1, ramp {o['ratio']:.0%}",
    }
    return labels[kind]()


def progress(step: int, total_steps: int) -> float:
    """p of optimisation step ``step`` (0-based) out of ``total_steps``: 0 first, exactly 1 last."""
    return 1.0 if total_steps <= 1 else step / (total_steps - 1)


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{name} is a fraction of training in (0, 1], got {value}")
