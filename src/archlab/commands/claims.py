"""The claims step: every claim of the ledger (``src/archlab/report/claims.yaml``) judged from the
artifacts the studies wrote, over seeds → ``results/<profile>/claims/claims.csv`` and the report's
first section (the table of all claims and verdicts, one figure of effect and 95 % CI per claim,
then each study's claims again, grouped by study).

The plan resolves each claim's quantities against the enabled studies' own plans (the same
:class:`~archlab.plan.Job` objects Snakemake runs), so the rule's inputs are exactly the files the
claims read, and the job receives each claim with its files by seed. A claim whose study is off, or
whose run this profile does not have, is listed as inconclusive with that reason. The statistics
are :mod:`archlab.metrics.claims`.
"""
from __future__ import annotations

import logging
import math
import re

from archlab.errors import ArchlabError, ParamsError
from archlab.plan import Rule

log = logging.getLogger(__name__)
LEDGER = "src/archlab/report/claims.yaml"
PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
NO_SEED = "-"


# ---------------------------------------------------------------- plan

def _cfg_get(cfg: dict, dotted: str):
    """``resnet.depth.models.-1.arch`` / ``ood.ladder[published=resnet18].name`` in the params."""
    node = cfg
    for part in dotted.split("."):
        m = re.fullmatch(r"(\w+)\[(\w+)=([^\]]+)\]", part)
        if m:
            hits = [e for e in node[m.group(1)] if str(e.get(m.group(2))) == m.group(3)]
            if len(hits) != 1:
                raise KeyError(f"{dotted}: {len(hits)} entries with {m.group(2)}={m.group(3)}")
            node = hits[0]
        elif isinstance(node, list):
            node = node[int(part)]
        else:
            node = node[part]
    return node


def _fill(value, cfg: dict):
    """A ledger value with its ``{dotted.path}`` placeholders read from the profile's params."""
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: str(_cfg_get(cfg, m.group(1))), value)
    if isinstance(value, dict):
        return {k: _fill(v, cfg) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, cfg) for v in value]
    return value


def _files(claim: dict, name: str, q: dict, cfg: dict, plan_jobs: dict) -> dict:
    """One quantity resolved: its files by seed (``-`` for a job without a seed wildcard)."""
    where = f"{LEDGER}: claim {claim['id']}.{name}"
    try:
        match = {k: str(v) for k, v in _fill(q.get("match", {}), cfg).items()}
        csv = _fill(q.get("csv"), cfg)
    except (KeyError, IndexError, TypeError) as exc:
        return {"missing": f"not configured in this profile ({exc})"}
    rules = {j.rule.name: j.rule for j in plan_jobs}
    if q["rule"] not in rules:
        return {"missing": f"not run in this profile (no {q['rule']} jobs)"}
    if not rules[q["rule"]].declares(q["output"]):
        raise ParamsError(f"{where}: rule {q['rule']} has no output {q['output']!r} "
                          f"(outputs: {sorted(rules[q['rule']].outputs)}); fix the ledger")
    files = {}
    for job in plan_jobs:
        if job.rule.name != q["rule"] or any(job.wildcards.get(k) != v for k, v in match.items()):
            continue
        for seed, path in job.files_by_seed(q["output"], NO_SEED).items():  # a multi-seed job: each of its seeds
            if seed in files:
                raise ParamsError(f"{where}: match {match} selects several {q['rule']} jobs for seed {seed}; "
                                  f"name every wildcard but seed ({list(rules[q['rule']].wildcards)})")
            files[seed] = path
    if not files:
        return {"missing": f"not run in this profile (no {q['rule']} job with {match})"}
    out = {"files": files, "scale": q.get("scale", 1)}
    out.update({"key": q["key"]} if "key" in q else {"csv": csv})
    return out


def _threshold(claim: dict):
    t = claim.get("threshold")
    if isinstance(t, dict):
        from archlab.report.published import value

        return value(t["published"], t["source"]) * t.get("scale", 1)
    return t


def resolve(claim: dict, cfg: dict, plan_jobs: dict[str, list]) -> dict:
    """A ledger claim as its job receives it: relation, bounds and each quantity's files by seed."""
    from archlab.report.published import lookup

    out = {k: claim[k] for k in ("id", "study", "sources", "statement", "relation", "unit") if k in claim}
    out |= {"margin": claim.get("margin", 0), "tol": claim.get("tol", 0), "seeds": claim.get("seeds", 2),
            "threshold": _threshold(claim), "missing": None, "scale_reason": None,
            "published": ["; ".join(f"{v['value']:g} ({v['source']})" for v in lookup(k)["values"])
                          for k in claim.get("published", [])]}
    if claim["study"] not in plan_jobs:
        out["missing"] = f"study {claim['study']} is not in this profile's studies"
        return out
    for name in ("a", "b", "series"):
        if name in claim:
            out[name] = _files(claim, name, claim[name], cfg, plan_jobs[claim["study"]])
            out["missing"] = out["missing"] or out[name].get("missing")
    if claim.get("full_scale") and cfg["profile"] != "full":
        out["scale_reason"] = claim["full_scale"]
    return out


def _ledger_errors(claims: list[dict]) -> list[str]:
    from archlab.metrics.claims import RELATIONS
    from archlab.studies import STUDIES

    errors, seen = [], set()
    for i, c in enumerate(claims):
        cid = c.get("id", f"#{i}")
        for key in ("id", "study", "sources", "statement", "relation"):
            if key not in c:
                errors.append(f"claim {cid}: missing {key!r}")
        if cid in seen:
            errors.append(f"claim {cid}: id used twice")
        seen.add(cid)
        if c.get("study") not in STUDIES:
            errors.append(f"claim {cid}: study {c.get('study')!r} is not one of {STUDIES}")
        rel = c.get("relation")
        if rel not in RELATIONS:
            errors.append(f"claim {cid}: relation {rel!r} is not one of {RELATIONS}")
        needs = {"increasing": ("series",), "decreasing": ("series",), "at_least": ("a", "threshold"),
                 "at_most": ("a", "threshold"), "greater": ("a", "b"), "less": ("a", "b")}.get(rel, ("a",))
        errors += [f"claim {cid}: relation {rel} needs {k!r}" for k in needs if k not in c]
        if rel == "approx" and "b" not in c and "threshold" not in c:
            errors.append(f"claim {cid}: relation approx needs 'b' or 'threshold'")
        if c.get("seeds", 2) < 2:
            errors.append(f"claim {cid}: seeds must be ≥ 2 (no verdict from one seed)")
    return errors


def check(cfg: dict) -> None:
    """The ledger's claims are well formed and name published values that exist."""
    from archlab.report.published import claims_ledger, lookup

    claims = claims_ledger()
    errors = _ledger_errors(claims)
    for c in claims:
        for key in c.get("published", []):
            try:
                lookup(key)
            except KeyError:
                errors.append(f"claim {c['id']}: published key {key!r} is not in src/archlab/report/published.yaml")
        try:
            _threshold(c)
        except KeyError as exc:
            errors.append(f"claim {c['id']}: threshold: {exc}")
    if errors:
        raise ParamsError(f"{LEDGER}: " + "; ".join(errors))


def jobs(cfg: dict, paths) -> list:
    from archlab.pipeline import unit_module
    from archlab.report.published import claims_ledger
    from archlab.studies import STUDIES

    plan_jobs = {s: unit_module(s).jobs(cfg, paths) for s in STUDIES if s in cfg["studies"]}
    claims = [resolve(c, cfg, plan_jobs) for c in claims_ledger()]
    artifacts = sorted({path for c in claims if not c["missing"]
                        for n in ("a", "b", "series") if n in c for path in c[n]["files"].values()})
    out = paths.study("claims")
    rule = Rule("claims", "claims", f"{__name__}:claims", f"{out}/section",
                {"section": paths.section("claims"), "csv": f"{out}/claims.csv", "figure": f"{out}/section/claims.png",
                 "metrics": f"{paths.dvc('claims')}/metrics.json"},
                description="judge every claim of the ledger from the studies' artifacts, over seeds")
    return [rule.job({"artifacts": artifacts}, {"claims": claims, "profile": cfg["profile"]})]


# ---------------------------------------------------------------- job

def _dig(obj, dotted: str, path: str, cid: str):
    node = obj
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            keys = sorted(node) if isinstance(node, dict) else type(node).__name__
            raise ArchlabError(f"{path}: no key {dotted!r} (claim {cid}; at {part!r} the keys are {keys}); "
                               f"fix the key in {LEDGER} or rerun the study that writes {path}")
        node = node[part]
    return float(node)


def _rows(df, where: dict, path: str, cid: str):
    for col, want in (where or {}).items():
        if col not in df.columns:
            raise ArchlabError(f"{path}: no column {col!r} (claim {cid}; columns {list(df.columns)}); fix {LEDGER}")
        if isinstance(want, dict):
            ops = {"gt": float.__gt__, "ge": float.__ge__, "lt": float.__lt__, "le": float.__le__}
            for op, bound in want.items():
                df = df[[ops[op](float(v), float(bound)) for v in df[col]]]
        else:
            allowed = {str(w) for w in (want if isinstance(want, list) else [want])}
            df = df[df[col].astype(str).isin(allowed)]
    return df


def _by_seed(q: dict, cid: str):
    """(seed, DataFrame or JSON) per seed: a file's ``seed`` column splits a seedless file."""
    import pandas as pd

    from archlab.io import read_json

    for seed, path in q["files"].items():
        if "key" in q:
            yield seed, path, read_json(path)
            continue
        df = pd.read_csv(path)
        if seed == NO_SEED and "seed" in df.columns:
            for s, part in df.groupby("seed", sort=True):
                yield str(s), path, part
        else:
            yield seed, path, df


def read_values(q: dict, cid: str) -> dict[str, float]:
    """One quantity's value per seed (scaled)."""
    out = {}
    for seed, path, data in _by_seed(q, cid):
        if "key" in q:
            out[seed] = _dig(data, q["key"], path, cid) * q["scale"]
            continue
        spec = q["csv"]
        df = _rows(data, spec.get("where"), path, cid)
        if df.empty:  # the profile did not run that setting (e.g. no centre masking in the demo)
            continue
        if spec["column"] not in df.columns:
            raise ArchlabError(f"{path}: no column {spec['column']!r} (claim {cid}); fix {LEDGER} or rerun the study")
        col = df[spec["column"]].astype(float)
        row = spec.get("row", "last" if len(col) > 1 else "mean")
        out[seed] = float({"last": col.iloc[-1], "mean": col.mean(), "max": col.max(), "min": col.min()}[row]) * q["scale"]
    return out


def read_slopes(q: dict, cid: str) -> dict[str, float]:
    """Each seed's least-squares slope of the series ``y`` on ``x``."""
    import numpy as np

    from archlab.metrics.claims import slope

    out = {}
    for seed, path, df in _by_seed(q, cid):
        spec = q["csv"]
        df = _rows(df, spec.get("where"), path, cid)
        if spec.get("wide"):
            cols = [c for c in df.columns if re.fullmatch(r"-?\d+(\.\d+)?", str(c))]
            x, y = [float(c) for c in cols], [df[c].astype(float).mean() for c in cols]
        else:
            y = df[spec["y"]].astype(float).tolist()
            x = list(range(len(y))) if spec["x"] == "order" else df[spec["x"]].astype(float).tolist()
        out[seed] = slope(x, np.asarray(y) * q["scale"])
    return out


def evaluate(claim: dict) -> dict:
    """One claim's row: verdict, n, effect, 95 % CI, exact p, and each side's mean ± std (n)."""
    from archlab.metrics.claims import INCONCLUSIVE, Verdict, differences, judge, summarise

    cid, rel = claim["id"], claim["relation"]
    row = {"id": cid, "study": claim["study"], "sources": ", ".join(claim["sources"]), "relation": rel,
           "statement": claim["statement"], "unit": claim.get("unit", ""), "published": " | ".join(claim["published"])}
    sides = {}
    if claim["missing"]:
        v = Verdict(INCONCLUSIVE, 0, math.nan, math.nan, math.nan, math.nan, claim["missing"])
    else:
        if "series" in claim:
            a, b = read_slopes(claim["series"], cid), None
        else:
            a = read_values(claim["a"], cid)
            b = read_values(claim["b"], cid) if "b" in claim else None
        sides = {"a": a, "b": b}
        d = differences(rel, a, b, claim["threshold"])
        v = judge(rel, d, claim["margin"], claim["tol"], claim["seeds"])
        if not a or b == {}:
            v = Verdict(INCONCLUSIVE, 0, math.nan, math.nan, math.nan, math.nan,
                        "not run in this profile (its artifacts hold no such rows)")
        elif claim["scale_reason"]:
            v = Verdict(INCONCLUSIVE, v.n, v.effect, v.ci_low, v.ci_high, v.p_value,
                        f"inconclusive at this scale{'' if v.verdict == INCONCLUSIVE else f' ({v.verdict} here)'}: "
                        f"{claim['scale_reason']}")
    row |= v.as_dict()
    for name in ("a", "b"):
        m, s, n = summarise((sides.get(name) or {}).values())
        row[f"{name}_mean"], row[f"{name}_std"], row[f"{name}_n"] = m, s, n
    row["bound"] = _bound_text(claim)
    return row


def _bound_text(claim: dict) -> str:
    rel, m, t, thr = claim["relation"], claim["margin"], claim["tol"], claim["threshold"]
    side = "a − b" if "b" in claim else f"a − {thr:g}" if thr is not None else "a"
    return {"greater": f"a − b > {m:g}", "less": f"a − b < {-m:g}", "at_least": f"a ≥ {thr:g}" if thr is not None else "",
            "at_most": f"a ≤ {thr:g}" if thr is not None else "", "increasing": "slope > 0", "decreasing": "slope < 0",
            "approx": f"|{side}| ≤ {t:g}"}[rel]


def _mean_std_n(m, s, n) -> str:
    from archlab.report.section import fmt

    if n == 0:
        return "–"
    return f"{fmt(m)} (n = 1)" if n == 1 else f"{fmt(m)} ± {fmt(s)} (n = {n})"


def _ci(r) -> str:
    from archlab.report.section import fmt

    return "–" if math.isnan(r["ci_low"]) else f"[{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]"


def draw(rows: list[dict], bands: list[tuple[float, float]], path) -> None:
    """Effect and 95 % CI per claim, each row scaled to its own largest |number| (printed at the right)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from archlab.plots.style import save

    colours = {"reproduced": "tab:green", "not reproduced": "tab:red", "inconclusive": "tab:grey"}
    fig, ax = plt.subplots(figsize=(8, 0.24 * len(rows) + 1.2))
    for i, (r, (lo_b, hi_b)) in enumerate(zip(rows, bands)):
        y = len(rows) - 1 - i
        nums = [abs(x) for x in (r["effect"], r["ci_low"], r["ci_high"], lo_b, hi_b) if not math.isnan(x) and math.isfinite(x)]
        k = max(nums + [1e-12])
        ax.axhspan(y - 0.4, y + 0.4, xmin=(max(lo_b / k, -1.1) + 1.1) / 2.2, xmax=(min(hi_b / k, 1.1) + 1.1) / 2.2,
                   color="tab:green", alpha=0.08, lw=0)
        if not math.isnan(r["effect"]):
            if not math.isnan(r["ci_low"]):
                ax.plot([r["ci_low"] / k, r["ci_high"] / k], [y, y], color=colours[r["verdict"]], lw=2)
            ax.plot(r["effect"] / k, y, "o", color=colours[r["verdict"]], ms=4)
        ci = "" if math.isnan(r["ci_low"]) else f" [{r['ci_low']:.3g}, {r['ci_high']:.3g}]"
        ax.text(1.15, y, f"{r['effect']:.3g}{ci}, n={r['n']}" if r["n"] else "not run", va="center", fontsize=6)
    ax.axvline(0, color="k", lw=0.6)
    ax.set_yticks(range(len(rows)), [r["id"] for r in reversed(rows)], fontsize=6)
    ax.set_xlim(-1.1, 1.1)
    ax.set_xlabel("effect / largest |effect, CI bound, boundary| of the row (green band: where the claim holds)")
    for verdict, c in colours.items():
        ax.plot([], [], "o-", color=c, label=verdict)
    ax.legend(loc="lower left", fontsize=6)
    save(fig, path)


def claims(job) -> None:
    import pandas as pd

    from archlab.io import atomic_path
    from archlab.metrics.claims import NOT_REPRODUCED, REPRODUCED, boundary_band
    from archlab.report.section import Section
    from archlab.studies import STUDIES

    cl = job.params["claims"]
    rows = [evaluate(c) for c in cl]
    table = pd.DataFrame(rows)
    with atomic_path(job.output["csv"]) as tmp:
        table.to_csv(tmp, index=False)
    counts = {v: int((table["verdict"] == v).sum()) for v in (REPRODUCED, NOT_REPRODUCED, "inconclusive")}
    sec = Section("claims", "Claims of the source reports and their verdicts", job.params["profile"],
                  setting=f"{len(rows)} claims from {LEDGER}, each judged from this profile's artifacts over seeds")
    sec.text(
        f"Each claim reduces to one number per seed d (a − b, a − threshold, or the slope of a series); its verdict comes "
        f"from the 95 % t-interval of the mean of d over the n seeds: **reproduced** when the interval lies where the claim "
        f"holds, **not reproduced** when it lies entirely on the other side, **inconclusive** otherwise, when n < 2 "
        f"(no verdict from one seed) or when the profile does not run the setting. p is the one-sided exact sign-flip "
        f"p-value (with n seeds it cannot fall below 2^-n). Claims marked in the ledger as needing the full scale are "
        f"inconclusive at smaller scales, with the effect still shown. This profile: {counts[REPRODUCED]} reproduced, "
        f"{counts[NOT_REPRODUCED]} not reproduced, {counts['inconclusive']} inconclusive.")
    overview = pd.DataFrame({"claim": table["id"], "sources": table["sources"], "holds if": table["bound"],
                             "n": table["n"], "effect": table["effect"], "95 % CI": [_ci(r) for r in rows],
                             "p": table["p_value"], "verdict": table["verdict"], "unit": table["unit"]})
    sec.table(overview, "All claims: verdict, n (seeds), effect (mean of d) and its 95 % t-interval over seeds.", digits=3)
    bands = [boundary_band(c["relation"], c["margin"], c["tol"]) for c in cl]
    draw(rows, bands, job.output["figure"])
    sec.figure(job.output["figure"], "Effect and 95 % CI per claim (each row scaled to its own range; the numbers are printed on the right).")
    for study in [s for s in STUDIES if s in set(table["study"])]:
        part = [r for r in rows if r["study"] == study]
        sec.heading(f"Claims of {study}")
        sec.table(pd.DataFrame({
            "claim": [r["id"] for r in part], "statement (source reports)": [r["statement"] for r in part],
            "a: mean ± std (n)": [_mean_std_n(r["a_mean"], r["a_std"], r["a_n"]) for r in part],
            "b: mean ± std (n)": [_mean_std_n(r["b_mean"], r["b_std"], r["b_n"]) for r in part],
            "published": [r["published"] or "–" for r in part],
            "verdict": [r["verdict"] for r in part], "reason": [r["reason"] or "–" for r in part]}),
            f"{study}: each claim's quantities over seeds (a, and b where the claim compares two) and its verdict.")
    for name, n in counts.items():
        sec.metric(name.replace(" ", "_"), n)
    log.info("claims: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))
    sec.write(job.output["section"], job.output["metrics"])
