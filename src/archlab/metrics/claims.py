"""Verdicts on claims: exact tests against a smallest effect of interest δ, valid at small n.

Pure functions (numpy only). A claim reduces to one number per replicate, oriented so that a positive
number is the claimed direction: ``d = a − b`` (``greater``), ``b − a`` (``less``), ``a − threshold``
(``at_least``), ``threshold − a`` (``at_most``), a per-seed slope (``increasing``; its negative for
``decreasing``). δ ≥ 0 is the smallest effect that would count as reproducing the claim. Why these
tests: with 3–5 replicates a t-interval rests on a normality nobody can check, and zero variance
gives it zero width (8, 8, 8 would "prove" ≥ 8); an exact test makes no such assumption and says
plainly when n is too small to decide anything.

- **paired** (replicates linked by a seed that fixes the same data, initialisation or sample on
  both sides, or one quantity per replicate): the exact sign-flip test of ``d − δ`` (all ``2^n``
  sign patterns; its smallest one-sided p is ``2^-n``, so α = 0.05 needs n ≥ 5).
- **unpaired** (a seed label that links nothing): the exact two-sample permutation test of
  ``mean(a) − mean(b) − δ`` (all ``C(n_a + n_b, n_a)`` splits; smallest p ``1 / C(n_a + n_b, n_a)``).
- **images** (one deterministic evaluation, e.g. two prompt templates scored by one pretrained model:
  its replicates are the test images, thousands of them): the paired bootstrap of the mean
  per-image difference (:data:`BOOTSTRAP` resamples of the images), conditional on that one model.

Three-way verdict: **reproduced** when the test of "effect ≤ δ" rejects, **not reproduced** when
the test of "effect ≥ δ" rejects (a null is then "not reproduced", not merely unproven),
**inconclusive** otherwise. ``approx`` claims (|effect| ≤ tol) use two one-sided tests (TOST):
reproduced when the effect is credibly inside ±tol, not reproduced when credibly outside.
Multiplicity: the deciding p-values of a family of claims are adjusted by Benjamini–Hochberg
(:func:`adjust`); a verdict needs its adjusted q ≤ α. Holm over ~40 claims would need p ≤ 0.05/40
for the first claim, which an exact test reaches only from n = 10, so Holm would leave every claim
of a 5-seed profile undecided. The interval drawn beside a verdict is the exact test inverted
(every shift it does not reject at α one-sided on each side, i.e. a 90 % interval); it is unbounded
where n is too small for the test to reject anything.
"""
from __future__ import annotations

import functools
import itertools
import math
from dataclasses import asdict, dataclass, replace
from typing import Iterable, Mapping, Sequence

import numpy as np

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
RELATIONS = ("greater", "less", "at_least", "at_most", "approx", "increasing", "decreasing")
ALPHA = 0.05
BOOTSTRAP = 4000          # image resamples for a deterministic evaluation (its smallest p is 1/(B+1))
EXACT_LIMIT = 16          # up to 2^16 sign patterns / 2^16-ish splits enumerated; beyond, a fixed random draw
_DRAWS = 1 << 16
_TIE = 1e-9


@dataclass(frozen=True)
class Verdict:
    verdict: str
    n: int               # replicates the test used (pairs, or n_a + n_b for unpaired)
    effect: float        # mean of d (paired) or mean(a) − mean(b) oriented (unpaired); NaN when n = 0
    ci_low: float        # the exact test inverted (90 %: α one-sided each side); ±inf where n is too small
    ci_high: float
    p_value: float       # the deciding one-sided p (raw)
    q_value: float       # p adjusted over the family (Benjamini–Hochberg); equals p for a family of one
    min_p: float         # the smallest p this design can reach (2^-n, 1/C(n_a+n_b, n_a))
    test: str            # "sign-flip", "permutation", "" (none)
    delta: float         # δ (the tolerance for approx)
    leaning: str = ""    # the verdict the smaller one-sided p points to, before α and the adjustment
    relation: str = ""
    reason: str = ""
    notes: str = ""      # NaN replicates, unmatched seeds: counted and named

    def as_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------- exact tests

@functools.lru_cache(maxsize=32)
def _signs(n: int) -> np.ndarray:
    if n <= EXACT_LIMIT:
        return np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    return np.random.default_rng(0).choice((1.0, -1.0), size=(_DRAWS, n))


def sign_flip_p(values: Sequence[float], greater: bool = True) -> float:
    """Exact one-sided p that the values' centre of symmetry exceeds 0 (``greater``) or falls below it.

    Every sign pattern of ``|values|`` counts (the observed one included), so ``p ≥ 2^-n``; values of
    exactly 0 carry no sign, so all-zero values give p = 1 both ways (no evidence either side).
    """
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return math.nan
    means = _signs(len(v)) @ np.abs(v) / len(v)
    obs = v.mean()
    tie = _TIE * max(1.0, float(np.abs(v).max()))
    return float(np.mean(means >= obs - tie) if greater else np.mean(means <= obs + tie))


@functools.lru_cache(maxsize=32)
def _splits(n_a: int, n_b: int) -> np.ndarray:
    n = n_a + n_b
    if math.comb(n, n_a) <= 1 << EXACT_LIMIT:
        rows = list(itertools.combinations(range(n), n_a))
    else:
        rng = np.random.default_rng(0)
        rows = [tuple(sorted(rng.choice(n, n_a, replace=False))) for _ in range(_DRAWS)]
    mask = np.zeros((len(rows), n), dtype=bool)
    for i, r in enumerate(rows):
        mask[i, list(r)] = True
    return mask


def permutation_p(a: Sequence[float], b: Sequence[float], greater: bool = True) -> float:
    """Exact one-sided p that ``mean(a) − mean(b)`` exceeds 0 (``greater``) or falls below it, by
    enumerating every split of the pooled values into groups of the observed sizes."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) == 0 or len(b) == 0:
        return math.nan
    pooled, mask = np.concatenate([a, b]), _splits(len(a), len(b))
    stats = (mask @ pooled) / len(a) - ((~mask) @ pooled) / len(b)
    obs = a.mean() - b.mean()
    tie = _TIE * max(1.0, float(np.abs(pooled).max()))
    return float(np.mean(stats >= obs - tie) if greater else np.mean(stats <= obs + tie))


def bootstrap_means(values: Sequence[float], draws: int = BOOTSTRAP, seed: int = 0) -> np.ndarray:
    """Means of ``draws`` resamples (with replacement) of ``values``, drawn as multinomial counts of its
    distinct values (per-image 0/1 differences have three), in chunks so thousands of images stay small."""
    v = np.asarray(values, float)
    uniq, counts = np.unique(v, return_counts=True)
    rng = np.random.default_rng(seed)
    chunks = [rng.multinomial(len(v), counts / len(v), size=min(500, draws - i)) @ uniq / len(v)
              for i in range(0, draws, 500)]
    return np.concatenate(chunks)


def min_p(n_a: int, n_b: int | None = None) -> float:
    """The smallest one-sided p an exact test can give: ``2^-n`` paired, ``1/C(n_a+n_b, n_a)`` unpaired."""
    if n_b is None:
        return 2.0 ** -n_a if n_a else 1.0
    return 1.0 / math.comb(n_a + n_b, n_a) if n_a and n_b else 1.0


def min_replicates(paired: bool, alpha: float = ALPHA) -> int:
    """The fewest replicates (per side, unpaired) with which an exact test can reach ``alpha``."""
    n = 1
    while (min_p(n) if paired else min_p(n, n)) > alpha:
        n += 1
    return n


# ---------------------------------------------------------------- per-replicate numbers

def slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of ``y`` on ``x`` (NaN for fewer than two distinct x)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2 or np.ptp(x) == 0:
        return math.nan
    return float(np.polyfit(x, y, 1)[0])


def orientation(relation: str) -> float:
    """+1 where a larger ``a − b`` (or ``a − threshold``, or slope) is the claim's direction, −1 where smaller."""
    if relation not in RELATIONS:
        raise ValueError(f"unknown relation {relation!r}; one of {RELATIONS}")
    return -1.0 if relation in ("less", "at_most", "decreasing") else 1.0


def _clean(values: Mapping[str, float], side: str) -> tuple[dict[str, float], list[str]]:
    """The finite values, and a note naming each NaN/inf replicate (never dropped silently)."""
    ok = {s: float(v) for s, v in values.items() if math.isfinite(float(v))}
    bad = [s for s in values if s not in ok]
    return ok, ([f"{side}: {len(bad)} non-finite replicate(s) excluded (seed {', '.join(map(str, bad))}: NaN, inf, "
                 f"or a setting its file does not hold)"] if bad else [])


# ---------------------------------------------------------------- the verdict

def _inverted(p_up, p_down, lo: float, hi: float, alpha: float) -> tuple[float, float]:
    """The shifts c the one-sided tests do not reject at ``alpha``: [c_low, c_high] by bisection."""
    span = max(hi - lo, abs(hi), abs(lo), 1e-12)
    a, b = lo - 10 * span, hi + 10 * span

    def edge(p, reject_at, keep_at):
        if p(reject_at) > alpha:
            return None
        x, y = reject_at, keep_at  # p(x) ≤ alpha, p(y) > alpha
        for _ in range(60):
            m = (x + y) / 2
            x, y = (m, y) if p(m) <= alpha else (x, m)
        return (x + y) / 2

    low = edge(p_up, a, hi)
    high = edge(p_down, b, lo)
    return (-math.inf if low is None else low), (math.inf if high is None else high)


def judge(relation: str, a: Mapping[str, float], b: Mapping[str, float] | None = None,
          threshold: float | None = None, delta: float = 0.0, tol: float = 0.0, paired: bool = True,
          images: bool = False, alpha: float = ALPHA) -> Verdict:
    """The verdict on one claim from each replicate's ``a`` (and ``b``), before any multiplicity adjustment.

    ``a``/``b`` map a replicate label (a seed) to a number; ``paired`` says whether equal labels link
    the two sides. ``threshold`` replaces ``b`` for at_least / at_most / approx; series relations
    pass each seed's slope as ``a``. ``images``: the replicates are test images of one deterministic
    evaluation (paired by image), judged by the paired bootstrap.
    """
    sign = orientation(relation)
    if relation in ("at_least", "at_most") and threshold is None:
        raise ValueError(f"relation {relation} needs a threshold")
    if relation in ("greater", "less") and b is None:
        raise ValueError(f"relation {relation} needs a second quantity b")
    labels = (set(a), set(b) if b is not None else set())
    a, notes = _clean(a, "a")
    if b is not None:
        b, more = _clean(b, "b")
        notes += more
        if paired:
            unmatched = sorted(labels[0] ^ labels[1])
            if unmatched:
                notes.append(f"{len(unmatched)} seed(s) without a partner on the other side "
                             f"(seed {', '.join(unmatched)}): not in the paired test")
            d = {s: a[s] - b[s] for s in a if s in b}
        else:
            d = None
    else:
        base = threshold if threshold is not None else 0.0
        d = {s: v - base for s, v in a.items()}
    note = "; ".join(notes)
    if d is not None and images and d:
        x = sign * np.array(list(d.values()), float)
        n, effect, test, floor = len(x), float(x.mean()), "bootstrap", 1.0 / (BOOTSTRAP + 1)
        centred = bootstrap_means(x) - effect

        def p_up(c):
            return float((np.sum(centred >= effect - c) + 1) / (BOOTSTRAP + 1))

        def p_down(c):
            return float((np.sum(centred <= effect - c) + 1) / (BOOTSTRAP + 1))
        span = (float(x.min()), float(x.max()))
    elif d is not None:
        x = sign * np.array(list(d.values()), float)
        n, effect, test, floor = len(x), (float(x.mean()) if len(x) else math.nan), "sign-flip", min_p(len(x))

        def p_up(c):
            return sign_flip_p(x - c, True)

        def p_down(c):
            return sign_flip_p(x - c, False)
        span = (float(x.min()), float(x.max())) if n else (0.0, 0.0)
    else:
        xa, xb = np.array(list(a.values()), float), np.array(list(b.values()), float)
        if sign < 0:
            xa, xb = xb, xa
        n, test, floor = len(xa) + len(xb), "permutation", min_p(len(xa), len(xb))
        effect = float(xa.mean() - xb.mean()) if len(xa) and len(xb) else math.nan

        def p_up(c):
            return permutation_p(xa, xb + c, True)

        def p_down(c):
            return permutation_p(xa, xb + c, False)
        both = np.concatenate([xa, xb]) if n else np.zeros(1)
        span = (float(both.min() - both.max()), float(both.max() - both.min()))
    if math.isnan(effect):
        return Verdict(INCONCLUSIVE, 0, math.nan, math.nan, math.nan, math.nan, math.nan, 1.0, "", delta, "",
                       relation, "not run: no replicate has a value", note)
    if relation == "approx":
        inside = max(p_up(-tol), p_down(tol))           # TOST: credibly above −tol and below +tol
        outside = min(p_up(tol), p_down(-tol))          # credibly beyond one edge
        p, verdict = (inside, REPRODUCED) if inside <= outside else (outside, NOT_REPRODUCED)
    else:
        up, down = p_up(delta), p_down(delta)
        p, verdict = (up, REPRODUCED) if up <= down else (down, NOT_REPRODUCED)
    lo, hi = _inverted(p_up, p_down, *span, alpha)
    v = Verdict(INCONCLUSIVE, n, effect, lo, hi, p, p, floor, test, tol if relation == "approx" else delta,
                verdict, relation, "", note)
    return decide(v, p, alpha)


def decide(v: Verdict, q: float, alpha: float = ALPHA) -> Verdict:
    """``v`` decided at its adjusted ``q``: its leaning stands when q ≤ α, else inconclusive; the reason in words."""
    if v.n == 0:
        return replace(v, q_value=q)
    if v.min_p > alpha:
        need = min_replicates(v.test == "sign-flip", alpha)
        per = " per side" if v.test == "permutation" else ""
        what = "one replicate: no test is possible" if v.n == 1 else (
            f"n = {v.n} is too few: the exact {v.test} test cannot go below p = {v.min_p:.3g} > α = {alpha:g}")
        return replace(v, verdict=INCONCLUSIVE, q_value=q, reason=f"{what}; a verdict needs n ≥ {need}{per}")
    stats = f"{v.test} p = {v.p_value:.3g}, q = {q:.3g}, n = {v.n}"
    if q <= alpha:
        if v.relation == "approx":
            words = f"effect credibly {'within' if v.leaning == REPRODUCED else 'outside'} ±{v.delta:g}"
        else:
            words = f"effect credibly {'≥' if v.leaning == REPRODUCED else '<'} δ = {v.delta:g}"
        return replace(v, verdict=v.leaning, q_value=q, reason=f"{words} ({stats})")
    band = f"±{v.delta:g}" if v.relation == "approx" else f"δ = {v.delta:g}"
    return replace(v, verdict=INCONCLUSIVE, q_value=q,
                   reason=f"the data do not separate the effect from {band} ({stats}; a verdict needs q ≤ {alpha:g})")


def adjust(pvalues: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted q-values (NaN stays NaN): q_(i) = min_{j ≥ i} p_(j) · m / j."""
    p = np.asarray(pvalues, float)
    ok = np.flatnonzero(~np.isnan(p))
    q = np.full(len(p), math.nan)
    if len(ok):
        order = ok[np.argsort(p[ok], kind="stable")]
        m = len(ok)
        scaled = p[order] * m / np.arange(1, m + 1)
        q[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return q.tolist()


def judge_family(verdicts: Sequence[Verdict], alpha: float = ALPHA) -> list[Verdict]:
    """Each verdict decided at its Benjamini–Hochberg q over the family (the claims that have a test)."""
    testable = [i for i, v in enumerate(verdicts) if v.n and v.min_p <= alpha]
    out = list(verdicts)
    for i, q in zip(testable, adjust([verdicts[i].p_value for i in testable])):
        out[i] = decide(verdicts[i], q, alpha)
    return out


def summarise(values: Iterable[float]) -> tuple[float, float, int]:
    """Mean, sample std (NaN for one value) and n of the finite values."""
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=float)
    if len(v) == 0:
        return math.nan, math.nan, 0
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else math.nan, len(v)
