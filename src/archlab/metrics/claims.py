"""Verdicts on claims over seeds: paired differences, a t-interval, an exact sign-flip test, a slope.

Pure functions (numpy and scipy only). A claim reduces to one number per seed, ``d`` (``a − b``,
``a − threshold`` or a per-seed slope); its verdict comes from the 95 % t-interval of the mean of
``d`` over seeds, never from a single seed:

- ``greater``: reproduced when the interval lies above ``margin``, not reproduced when it lies at or
  below it; ``less`` mirrors it (``d`` below ``−margin``).
- ``at_least`` / ``at_most``: ``d = a − threshold``; reproduced when the interval lies at or above
  (at or below) 0, not reproduced when it lies entirely on the other side.
- ``approx``: reproduced when the interval lies inside ``[−tol, tol]``, not reproduced when it lies
  entirely outside it.
- ``increasing`` / ``decreasing``: ``d`` is the least-squares slope of each seed's series.
Anything else is inconclusive. The exact sign-flip test (all ``2^n`` sign patterns of the paired
differences about the decision boundary) gives a one-sided p-value that is honest for small ``n``.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
RELATIONS = ("greater", "less", "at_least", "at_most", "approx", "increasing", "decreasing")
MIN_SEEDS = 2


@dataclass(frozen=True)
class Verdict:
    verdict: str
    n: int
    effect: float        # mean of d over seeds (NaN when n = 0)
    ci_low: float        # 95 % t-interval of that mean (NaN when n < 2)
    ci_high: float
    p_value: float       # one-sided exact sign-flip p for the claimed direction (NaN where undefined)
    reason: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """The ``level`` t-interval of the mean (NaN, NaN for fewer than two values; zero width for equal values)."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return math.nan, math.nan
    half = stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return float(v.mean() - half), float(v.mean() + half)


def sign_flip_p(values: Sequence[float], greater: bool = True) -> float:
    """One-sided exact p-value that the mean of ``values`` exceeds 0 (``greater``) or falls below it.

    Every one of the ``2^n`` sign patterns is enumerated (n ≤ 16); the observed pattern counts, so
    p ≥ 2^-n: with 3 seeds no test can reach p < 0.125, which the report states beside the interval.
    """
    v = np.asarray(values, dtype=float)
    n = len(v)
    if n == 0 or n > 16:
        return math.nan
    observed = v.mean() if greater else -v.mean()
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    means = (signs * np.abs(v)).mean(axis=1)
    if not greater:
        means = -means
    return float(np.mean(means >= observed - 1e-12))


def slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of ``y`` on ``x`` (NaN for fewer than two distinct x)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2 or np.ptp(x) == 0:
        return math.nan
    return float(np.polyfit(x, y, 1)[0])


def paired(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
    """``a − b`` on the seeds both have."""
    return {s: float(a[s]) - float(b[s]) for s in a if s in b}


def differences(relation: str, a: Mapping[str, float], b: Mapping[str, float] | None = None,
                threshold: float | None = None) -> dict[str, float]:
    """The per-seed numbers ``d`` a relation is judged on (series relations pass slopes as ``a``)."""
    if relation not in RELATIONS:
        raise ValueError(f"unknown relation {relation!r}; one of {RELATIONS}")
    if relation in ("increasing", "decreasing"):
        return {s: float(v) for s, v in a.items()}
    if relation in ("at_least", "at_most") or (relation == "approx" and b is None):
        if threshold is None:
            raise ValueError(f"relation {relation} needs a threshold (or a quantity b)")
        return {s: float(v) - float(threshold) for s, v in a.items()}
    if b is None:
        raise ValueError(f"relation {relation} needs a second quantity b")
    return paired(a, b)


def judge(relation: str, d: Mapping[str, float] | Sequence[float], margin: float = 0.0, tol: float = 0.0,
          min_seeds: int = MIN_SEEDS, level: float = 0.95) -> Verdict:
    """The verdict on per-seed numbers ``d`` (see the module docstring); ``n < min_seeds`` → inconclusive."""
    if relation not in RELATIONS:
        raise ValueError(f"unknown relation {relation!r}; one of {RELATIONS}")
    values = np.asarray(list(d.values()) if isinstance(d, Mapping) else list(d), dtype=float)
    values = values[~np.isnan(values)]
    n = len(values)
    effect = float(values.mean()) if n else math.nan
    need = max(min_seeds, MIN_SEEDS)
    if n < need:
        return Verdict(INCONCLUSIVE, n, effect, math.nan, math.nan, math.nan, f"needs ≥ {need} seeds (has {n})")
    lo, hi = t_interval(values, level)
    up = relation in ("greater", "at_least", "increasing")
    if relation == "approx":
        inside = -tol <= lo and hi <= tol
        outside = lo > tol or hi < -tol
        p = math.nan  # no sign-flip test for an equivalence band
        verdict = REPRODUCED if inside else NOT_REPRODUCED if outside else INCONCLUSIVE
        why = _why(verdict, lo, hi, n, f"lies outside the band ±{tol:g}", f"reaches outside the band ±{tol:g}")
        return Verdict(verdict, n, effect, lo, hi, p, why)
    boundary = {"greater": margin, "less": -margin}.get(relation, 0.0)
    p = sign_flip_p(values - boundary, greater=up)
    if up:
        strict = relation != "at_least"
        ok = lo > boundary if strict else lo >= boundary
        bad = hi <= boundary if strict else hi < boundary
    else:
        strict = relation != "at_most"
        ok = hi < boundary if strict else hi <= boundary
        bad = lo >= boundary if strict else lo > boundary
    verdict = REPRODUCED if ok else NOT_REPRODUCED if bad else INCONCLUSIVE
    why = _why(verdict, lo, hi, n, f"lies on the wrong side of the bound {boundary:g}", f"straddles the bound {boundary:g}")
    return Verdict(verdict, n, effect, lo, hi, p, why)


def _why(verdict: str, lo: float, hi: float, n: int, wrong: str, unsettled: str) -> str:
    """The reason a reader needs beside a verdict other than reproduced, in the interval's own words."""
    ci = f"the 95 % interval [{lo:.3g}, {hi:.3g}] (n = {n})"
    if verdict == NOT_REPRODUCED:
        return f"{ci} {wrong}"
    if verdict == INCONCLUSIVE:
        return f"{ci} {unsettled}: more seeds or a larger scale could settle it"
    return ""


def boundary_band(relation: str, margin: float = 0.0, tol: float = 0.0) -> tuple[float, float]:
    """Where ``d`` must lie for the claim to hold, as an interval (for drawing): e.g. ``(margin, inf)``."""
    if relation == "approx":
        return -tol, tol
    if relation in ("greater",):
        return margin, math.inf
    if relation == "less":
        return -math.inf, -margin
    if relation in ("at_least", "increasing"):
        return 0.0, math.inf
    return -math.inf, 0.0


def summarise(values: Iterable[float]) -> tuple[float, float, int]:
    """Mean, sample std (NaN for one value) and n."""
    v = np.asarray(list(values), dtype=float)
    if len(v) == 0:
        return math.nan, math.nan, 0
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else math.nan, len(v)
