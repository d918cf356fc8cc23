"""The claims step: every entry of the ledger (``src/archlab/report/claims.yaml``) judged from the
artifacts the studies wrote → ``results/<profile>/claims/claims.csv`` and the report's first section
(the rule in five lines, the source reports' claims with a verdict per source, then archlab's own
checks, each table followed by its figure).

The plan resolves each claim's quantities against the enabled studies' own plans (the same
:class:`~archlab.workflow.plan.Job` objects Snakemake runs), so the rule's inputs are exactly the files the
claims read, and it decides before anything runs whether a claim can be judged in the profile
(:func:`judgeability`): a claim whose study is off, whose run the profile lacks, whose comparison the
profile confounds, that describes the full-scale models, whose replicates are test images the
artifacts do not hold, or whose planned replicates are too few for an exact test is "not judged in
this profile", with that reason (``python -m archlab claims --plan --profile P`` prints it). The
statistics are :mod:`archlab.metrics.claims`.
"""
from __future__ import annotations

import logging
import math
import re

from archlab.errors import ArchlabError, ParamsError
from archlab.workflow.plan import Rule

log = logging.getLogger(__name__)
LEDGER = "src/archlab/report/claims.yaml"
PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
NO_SEED = "-"
IMAGES = "images"   # the planned replicates of a deterministic evaluation: its test images
NOT_JUDGED = "not judged"
SIDES = ("a", "b", "series")
KINDS = {"report": "Claims of the source reports", "check": "archlab's own checks (sanity checks, literature comparisons)"}
OPPOSITE = {"greater": "less", "less": "greater", "at_least": "at_most", "at_most": "at_least",
            "increasing": "decreasing", "decreasing": "increasing"}


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


def _cfg_value(cfg: dict, dotted: str):
    """A params value, or None where the profile does not set it (a comparable's default)."""
    try:
        return _cfg_get(cfg, dotted)
    except (KeyError, IndexError, TypeError):
        return None


def _fill(value, cfg: dict):
    """A ledger value with its ``{dotted.path}`` placeholders read from the profile's params."""
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: str(_cfg_get(cfg, m.group(1))), value)
    if isinstance(value, dict):
        return {k: _fill(v, cfg) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, cfg) for v in value]
    return value


def _files(claim: dict, name: str, q: dict, cfg: dict, plan_jobs: list) -> dict:
    """One quantity resolved: its files by seed (``-`` for a job without a seed wildcard) and planned seeds."""
    where = f"{LEDGER}: claim {claim['id']}.{name}"
    try:
        match = {k: str(v) for k, v in _fill(q.get("match", {}), cfg).items()}
        spec = {k: _fill(q[k], cfg) for k in ("csv", "minus", "npz", "key", "images") if k in q}
    except (KeyError, IndexError, TypeError) as exc:
        return {"missing": f"its setting is not configured in this profile ({exc})"}
    rules = {j.rule.name: j.rule for j in plan_jobs}
    if q["rule"] not in rules:
        return {"missing": f"this profile runs no {q['rule']} jobs"}
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
        return {"missing": f"this profile runs no {q['rule']} job with {match}"}
    if "images" in q:
        planned = [IMAGES]
    elif list(files) == [NO_SEED]:
        planned = [str(s) for s in _cfg_get(cfg, q["seeds"])] if "seeds" in q else [NO_SEED]
    else:
        planned = sorted(files)
    return {"files": files, "planned": planned, "scale": q.get("scale", 1), "log10": bool(q.get("log10")), **spec}


def _threshold(entry: dict):
    t = entry.get("threshold")
    if isinstance(t, dict):
        from archlab.report.published import value

        return value(t["published"], t["source"]) * t.get("scale", 1)
    return t


def _tests(claim: dict) -> list[dict]:
    """The distinct hypotheses a claim's sources make: the claim's own ("as stated"), plus one per
    disagreeing source (its relation, threshold, δ); each names the sources that make it."""
    base = {"relation": claim["relation"], "threshold": _threshold(claim), "delta": claim.get("delta", 0),
            "tol": claim.get("tol", 0), "reads": "as stated", "sources": []}
    tests = [base]
    for s in claim.get("sources", []):
        if not any(k in s for k in ("relation", "threshold", "delta", "tol")):
            base["sources"].append(s["key"])
            continue
        own = {"relation": s.get("relation", base["relation"]), "threshold": _threshold(s) if "threshold" in s
               else base["threshold"], "delta": s.get("delta", base["delta"]), "tol": s.get("tol", base["tol"]),
               "reads": s.get("reads", "differently"), "sources": [s["key"]]}
        tests.append(own)
    if claim.get("kind") == "report" and not base["sources"]:
        raise ParamsError(f"{LEDGER}: claim {claim['id']}: no source states it as written; every report claim needs one")
    return tests


def judgeability(claim: dict, cfg: dict) -> tuple[int | str, str | None]:
    """(planned replicates, reason it is not judged in this profile or None), from the plan alone."""
    from archlab.metrics.claims import ALPHA, min_p, min_replicates

    if claim["missing"]:
        return 0, claim["missing"]
    if claim.get("full_scale") and cfg["profile"] != "full":
        return 0, f"a claim about the full-scale models: {claim['full_scale']}"
    for c in claim.get("comparable", []):
        have = _cfg_value(cfg, c["path"])
        want = _cfg_value(cfg, c["equals"]) if isinstance(c["equals"], str) else c["equals"]
        if have != want:
            source = f" (= {c['equals']})" if isinstance(c["equals"], str) else ""
            need = "it unset (the pathology may change nothing else)" if want is None else f"{want}{source}"
            return 0, f"confounded: {c['path']} = {have}, but a fair comparison needs {need}"
    sides = [claim[s]["planned"] for s in SIDES if s in claim]
    if IMAGES in sides[0]:
        return IMAGES, None  # thousands of test images: the paired bootstrap can always decide
    paired = len(sides) == 1 or claim.get("pairing") == "paired"
    if len(sides) == 1:
        n, floor = len(sides[0]), min_p(len(sides[0]))
    elif paired:
        n = len(set(sides[0]) & set(sides[1]))
        floor = min_p(n)
    else:
        n, floor = len(sides[0]) + len(sides[1]), min_p(len(sides[0]), len(sides[1]))
    if NO_SEED in sides[0]:
        return 1, "one deterministic evaluation (no seed): conditional on one trained model, no replicate to test"
    if floor > ALPHA:
        need = min_replicates(paired)
        return n, (f"{n} replicate(s) planned ({'paired' if paired else 'unpaired'}): an exact test needs "
                   f"n ≥ {need}{'' if paired else ' per side'} to reach p ≤ {ALPHA:g}")
    return n, None


def resolve(claim: dict, cfg: dict, plan_jobs: dict[str, list]) -> dict:
    """A ledger claim as its job receives it: its tests, each quantity's files by seed, and whether it is judged."""
    from archlab.report.published import lookup

    keep = ("id", "study", "kind", "statement", "a_is", "b_is", "relation", "pairing", "pairing_why", "delta_why",
            "tol_why", "full_scale", "comparable", "varies")
    out = {k: claim[k] for k in keep if k in claim}
    out |= {"sources": [{"key": s["key"], "quote": s["quote"], "reads": s.get("reads", "as stated")}
                        for s in claim.get("sources", [])],
            "tests": _tests(claim), "missing": None,
            "published": ["; ".join(f"{v['value']:g} ({v['source']})" for v in lookup(k)["values"])
                          for k in claim.get("published", [])]}
    if claim["study"] not in plan_jobs:
        out["missing"] = f"study {claim['study']} is not in this profile's studies"
    else:
        for name in SIDES:
            if name in claim:
                out[name] = _files(claim, name, claim[name], cfg, plan_jobs[claim["study"]])
                out["missing"] = out["missing"] or out[name].get("missing")
    out["planned_n"], out["not_judged"] = judgeability(out, cfg)
    out["data"] = data_kind(cfg, claim["study"])
    return out


def data_kind(cfg: dict, study: str) -> str:
    """Whether a study's verdicts rest on the published datasets' real images ("real"), on stand-ins, or on
    both: from the sources of the datasets its params name, known before any job."""
    from archlab.commands.data import datasets_named
    from archlab.report.labels import real_source

    real = {real_source(cfg["data"][name]["source"]) for name in datasets_named(cfg, cfg.get(study, {}))}
    return "real" if real == {True} else "stand-in" if real == {False} else "real and stand-in" if real else "–"


def _ledger_errors(claims: list[dict]) -> list[str]:
    from archlab.metrics.claims import RELATIONS
    from archlab.report.published import REPORTS
    from archlab.studies import STUDIES

    errors, seen = [], set()
    for i, c in enumerate(claims):
        cid = c.get("id", f"#{i}")
        for key in ("id", "study", "kind", "statement", "relation", "a_is"):
            if key not in c:
                errors.append(f"claim {cid}: missing {key!r}")
        if cid in seen:
            errors.append(f"claim {cid}: id used twice")
        seen.add(cid)
        if c.get("study") not in STUDIES:
            errors.append(f"claim {cid}: study {c.get('study')!r} is not one of {STUDIES}")
        if c.get("kind") not in KINDS:
            errors.append(f"claim {cid}: kind {c.get('kind')!r} is not one of {list(KINDS)}")
        if c.get("kind") == "report" and not c.get("sources"):
            errors.append(f"claim {cid}: a report claim quotes its sources (sources: [{{key, quote}}])")
        for s in c.get("sources", []):
            if s.get("key") not in REPORTS or s.get("key") == "lit" or not s.get("quote"):
                errors.append(f"claim {cid}: source {s} needs a report key of {list(REPORTS)[:-1]} and a quote")
            if s.get("relation", c.get("relation")) not in RELATIONS:
                errors.append(f"claim {cid}: source {s.get('key')} relation {s.get('relation')!r} is not one of {RELATIONS}")
        rel = c.get("relation")
        if rel not in RELATIONS:
            errors.append(f"claim {cid}: relation {rel!r} is not one of {RELATIONS}")
        needs = {"increasing": ("series",), "decreasing": ("series",), "at_least": ("a", "threshold"),
                 "at_most": ("a", "threshold"), "greater": ("a", "b", "pairing"),
                 "less": ("a", "b", "pairing")}.get(rel, ("a",))
        errors += [f"claim {cid}: relation {rel} needs {k!r}" for k in needs if k not in c]
        if rel == "approx":
            errors += [f"claim {cid}: approx needs {k!r}" for k in ("tol", "tol_why") if k not in c]
            if "b" not in c and "threshold" not in c:
                errors.append(f"claim {cid}: relation approx needs 'b' or 'threshold'")
        elif not ("delta" in c and "delta_why" in c and c["delta"] >= 0):
            errors.append(f"claim {cid}: needs delta ≥ 0 (the smallest effect of interest) and delta_why")
        if "b" in c and c.get("pairing") not in ("paired", "unpaired"):
            errors.append(f"claim {cid}: pairing must be paired or unpaired (and say why in pairing_why)")
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
            _tests(c)
        except (KeyError, ParamsError) as exc:
            errors.append(f"claim {c['id']}: {exc}")
    if errors:
        raise ParamsError(f"{LEDGER}: " + "; ".join(errors))


def plan_claims(cfg: dict, paths) -> list[dict]:
    """Every ledger claim resolved against the profile's plans (no job runs, no torch)."""
    from archlab.workflow.pipeline import unit_module
    from archlab.report.published import claims_ledger
    from archlab.studies import STUDIES

    plan_jobs = {s: unit_module(s).jobs(cfg, paths) for s in STUDIES if s in cfg["studies"]}
    return [resolve(c, cfg, plan_jobs) for c in claims_ledger()]


def plan_table(claims: list[dict]) -> str:
    """The ``--plan`` printout: per claim, its planned replicates and whether (and why not) it is judged."""
    lines = []
    for c in claims:
        state = "judged" if not c["not_judged"] else f"not judged in this profile: {c['not_judged']}"
        lines.append(f"{c['id']:<28} {c['kind']:<6} n = {c['planned_n']:<6} {state}")
    judged = sum(not c["not_judged"] for c in claims)
    lines.append(f"{judged} of {len(claims)} claims judged in this profile")
    return "\n".join(lines)


def jobs(cfg: dict, paths) -> list:
    claims = plan_claims(cfg, paths)
    artifacts = sorted({path for c in claims if not c["missing"]
                        for n in SIDES if n in c for path in c[n]["files"].values()})
    out = paths.study("claims")
    rule = Rule("claims", "claims", f"{__name__}:claims", f"{out}/section",
                {"section": paths.section("claims"), "csv": f"{out}/claims.csv", "figure": f"{out}/section/claims.png",
                 "metrics": paths.metrics("claims")},
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
        elif isinstance(want, (int, float)) and not isinstance(want, bool):
            df = df[[math.isclose(float(v), float(want), abs_tol=1e-9) for v in df[col]]]
        else:
            allowed = {str(w) for w in (want if isinstance(want, list) else [want])}
            df = df[df[col].astype(str).isin(allowed)]
    return df


def _by_seed(q: dict):
    """(seed, path, data) per seed: a file's ``seed`` column splits a seedless file."""
    import numpy as np
    import pandas as pd

    from archlab.io import read_json

    for seed, path in q["files"].items():
        if "key" in q:
            yield seed, path, read_json(path)
        elif "npz" in q:
            with np.load(path, allow_pickle=False) as z:
                yield seed, path, {k: z[k] for k in z.files}
        else:
            df = pd.read_csv(path)
            if seed == NO_SEED and "seed" in df.columns:
                for s, part in df.groupby("seed", sort=True):
                    yield str(s), path, part
            else:
                yield seed, path, df


def _select(df, spec: dict, path: str, cid: str) -> float:
    df = _rows(df, spec.get("where"), path, cid)
    if df.empty:  # the profile did not run that setting (e.g. no centre masking)
        return math.nan
    if spec["column"] not in df.columns:
        raise ArchlabError(f"{path}: no column {spec['column']!r} (claim {cid}); fix {LEDGER} or rerun the study")
    col = df[spec["column"]].astype(float)
    row = spec.get("row", "last" if len(col) > 1 else "mean")
    return float({"last": col.iloc[-1], "mean": col.mean(), "max": col.max(), "min": col.min()}[row])


def _gradflow_ratio(arrays: dict, path: str, cid: str) -> float:
    """log10(first / last weight layer's gradient norm, averaged over epochs): how much the signal fades."""
    import numpy as np

    names = [str(n) for n in arrays["names"]]
    rows = [i for i, n in enumerate(names) if n.endswith("weight")]
    if len(rows) < 2:
        raise ArchlabError(f"{path}: fewer than two weight layers in the gradient record (claim {cid})")
    mean = np.asarray(arrays["mean"], float)
    return float(np.log10(mean[rows[0]].mean()) - np.log10(mean[rows[-1]].mean()))


# A quantity compared in log10 (gradient norms) that is exactly 0 (float underflow: the gradient vanished
# completely) is the effect at its strongest, not a missing value: it counts as 1e-12 (log10 = -12), below
# any norm float32 training resolves, instead of being dropped as -inf.
LOG10_FLOOR = 1e-12


def read_values(q: dict, cid: str) -> dict[str, float]:
    """One quantity's value per seed (minus its ``minus`` selection, log10 if asked, then scaled), or per test
    image for a deterministic evaluation (``images``: one row per image, the image is the replicate)."""
    if "images" in q:
        import pandas as pd

        (path,) = q["files"].values()
        df, column = pd.read_csv(path), q["images"]["column"]
        if column not in df.columns:
            raise ArchlabError(f"{path}: no column {column!r} (claim {cid}; columns {list(df.columns)}); fix {LEDGER}")
        return {str(i): float(v) * q["scale"] for i, v in enumerate(df[column])}
    out = {}
    for seed, path, data in _by_seed(q):
        if "key" in q:
            v = _dig(data, q["key"], path, cid)
        elif "npz" in q:
            v = _gradflow_ratio(data, path, cid)
        else:
            v = _select(data, q["csv"], path, cid)
            if "minus" in q:
                v -= _select(data, q["minus"], path, cid)
        if q.get("log10"):
            v = math.log10(max(v, LOG10_FLOOR)) if v >= 0 else math.nan
        out[seed] = v * q["scale"]
    return out


def read_slopes(q: dict, cid: str) -> dict[str, float]:
    """Each seed's least-squares slope of the series ``y`` on ``x``."""
    import numpy as np

    from archlab.metrics.claims import slope

    out = {}
    for seed, path, df in _by_seed(q):
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


def _not_judged(reason: str, test: dict):
    from archlab.metrics.claims import Verdict

    return Verdict(NOT_JUDGED, 0, math.nan, math.nan, math.nan, math.nan, math.nan, 1.0, "", test["delta"], "",
                   test["relation"], f"not judged in this profile: {reason}")


def raw_verdicts(claim: dict) -> tuple[dict, list]:
    """Each side's values per seed and one unadjusted verdict per test of the claim."""
    from dataclasses import replace

    from archlab.metrics.claims import judge

    cid = claim["id"]
    if claim["missing"]:
        return {}, [_not_judged(claim["not_judged"], t) for t in claim["tests"]]
    if "series" in claim:
        sides = {"a": read_slopes(claim["series"], cid), "b": None}
    else:
        sides = {"a": read_values(claim["a"], cid), "b": read_values(claim["b"], cid) if "b" in claim else None}
    out = []
    for t in claim["tests"]:
        v = judge(t["relation"], sides["a"], sides["b"], t["threshold"], t["delta"], t["tol"],
                  paired=claim.get("pairing", "paired") == "paired", images="images" in claim.get("a", {}))
        if claim["not_judged"]:  # the effect is still shown, never a verdict
            v = replace(v, verdict=NOT_JUDGED, reason=f"not judged in this profile: {claim['not_judged']}")
        out.append(v)
    return sides, out


def evaluate(claims: list[dict]) -> list[dict]:
    """Every claim's rows, the verdicts of each kind adjusted together (Benjamini–Hochberg)."""
    from archlab.metrics.claims import judge_family

    raw = [raw_verdicts(c) for c in claims]
    for kind in KINDS:
        slots = [(i, j) for i, c in enumerate(claims) if c["kind"] == kind for j in range(len(c["tests"]))
                 if raw[i][1][j].verdict != NOT_JUDGED]
        decided = judge_family([raw[i][1][j] for i, j in slots])
        for (i, j), v in zip(slots, decided):
            raw[i][1][j] = v
    return [_row(c, sides, verdicts) for c, (sides, verdicts) in zip(claims, raw)]


def _row(claim: dict, sides: dict, verdicts: list) -> dict:
    from archlab.metrics.claims import summarise

    main = verdicts[0]
    varies = f" The two sides differ in: {', '.join(claim['varies'])}." if claim.get("varies") else ""
    row = {"id": claim["id"], "study": claim["study"], "kind": claim["kind"], "statement": claim["statement"] + varies,
           "a_is": claim.get("a_is", ""), "b_is": claim.get("b_is", ""), "relation": claim["relation"],
           "pairing": claim.get("pairing", "one-sample"), "published": " | ".join(claim["published"]),
           "sources": ", ".join(s["key"] for s in claim["sources"]), "bound": bound_text(claim["tests"][0], bool(claim.get("b_is"))),
           "delta_why": claim.get("delta_why") or claim.get("tol_why", ""), "data": claim.get("data", "–"),
           **main.as_dict()}
    if len(verdicts) == 1:  # every source says the claim as stated: one verdict for them all
        row["per_source"] = f"{', '.join(claim['tests'][0]['sources'])}: {main.verdict}" if claim["sources"] else ""
    else:
        row["per_source"] = "; ".join(f"{k}{_says(t)}: {v.verdict}" for t, v in zip(claim["tests"], verdicts)
                                      for k in t["sources"])
    row["other_reasons"] = " | ".join(f"{'/'.join(t['sources'])}: {v.reason}"
                                      for t, v in zip(claim["tests"][1:], verdicts[1:]) if v.reason != main.reason)
    row["quotes"] = [(s["key"], s["reads"], " … ".join(s["quote"]) if isinstance(s["quote"], list) else s["quote"],
                      verdict) for s in claim["sources"]
                     for t, verdict in zip(claim["tests"], (v.verdict for v in verdicts)) if s["key"] in t["sources"]]
    for name in ("a", "b"):
        m, s, n = summarise((sides.get(name) or {}).values())
        row[f"{name}_mean"], row[f"{name}_std"], row[f"{name}_n"] = m, s, n
    return row


def _says(test: dict) -> str:
    return "" if test["reads"] == "as stated" else f" (says: {test['reads']})"


def bound_text(test: dict, two_sided: bool) -> str:
    """Where the claim holds, in the effect's own terms: "a − b ≥ δ = 30"."""
    rel, d, t, thr = test["relation"], test["delta"], test["tol"], test["threshold"]
    if rel == "approx":
        return f"|a − b| ≤ {t:g}" if two_sided else f"|a − {thr:g}| ≤ {t:g}"
    return {"greater": f"a − b ≥ δ = {d:g}", "less": f"b − a ≥ δ = {d:g}",
            "at_least": f"a − {thr:g} ≥ δ = {d:g}" if thr is not None else "",
            "at_most": f"{thr:g} − a ≥ δ = {d:g}" if thr is not None else "",
            "increasing": f"slope ≥ δ = {d:g}", "decreasing": f"−slope ≥ δ = {d:g}"}[rel]


def _side(what: str, m, s, n, images: bool = False) -> str:
    from archlab.report.section import fmt

    if not what:
        return ""
    if n == 0:
        return f"{what}: not run"
    if images:  # a per-image 0/100 score: its mean over the images, no spread worth printing
        return f"{what}: {fmt(m, 3)} over {n} test images"
    return f"{what}: {fmt(m, 3)} (n = 1)" if n == 1 else f"{what}: {fmt(m, 3)} ± {fmt(s, 3)} (n = {n})"


def _effect(r: dict) -> str:
    from archlab.report.section import fmt

    if math.isnan(r["effect"]):
        return "–"
    if r["n"] < 2 or not math.isfinite(r["ci_low"]) and not math.isfinite(r["ci_high"]):
        return f"{fmt(r['effect'], 3)} (no interval: n = {r['n']})"
    lo = "−∞" if not math.isfinite(r["ci_low"]) else fmt(r["ci_low"], 3)
    hi = "∞" if not math.isfinite(r["ci_high"]) else fmt(r["ci_high"], 3)
    return f"{fmt(r['effect'], 3)} [{lo}, {hi}]"


def _status(r: dict) -> str:
    """What kind of "no verdict" a row is: one replicate, not run, too few, an interval straddling δ."""
    if r["verdict"] in ("reproduced", "not reproduced"):
        return r["verdict"]
    if r["verdict"] == NOT_JUDGED:
        return "not judged (not run)" if r["n"] == 0 and math.isnan(r["effect"]) else NOT_JUDGED
    if r["n"] == 1:
        return "inconclusive (one replicate)"
    if r["min_p"] > 0.05:
        return "inconclusive (too few replicates)"
    return "inconclusive (effect not separated from δ)"


def draw(rows: list[dict], path) -> None:
    """Effect and its exact-test interval per claim, each row scaled to its own largest |number| (printed at the
    right); one-replicate and interval-less rows are a point only; the legend sits above the rows."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from archlab.plots.style import save

    colours = {"reproduced": "tab:green", "not reproduced": "tab:red", "inconclusive": "tab:grey",
               NOT_JUDGED: "tab:blue"}
    fig, ax = plt.subplots(figsize=(8, 0.24 * len(rows) + 1.6))
    for i, r in enumerate(rows):
        y = len(rows) - 1 - i
        lo_b = r["delta"] if r["relation"] != "approx" else -r["delta"]
        hi_b = math.inf if r["relation"] != "approx" else r["delta"]
        finite = [abs(x) for x in (r["effect"], r["ci_low"], r["ci_high"], lo_b, hi_b) if math.isfinite(x)]
        k = max(finite + [1e-12])
        ax.axhspan(y - 0.4, y + 0.4, xmin=(max(lo_b / k, -1.1) + 1.1) / 2.2, xmax=(min(hi_b / k, 1.1) + 1.1) / 2.2,
                   color="tab:green", alpha=0.08, lw=0)
        c = colours.get(r["verdict"], "tab:grey")
        if math.isfinite(r["effect"]):
            if r["n"] > 1 and (math.isfinite(r["ci_low"]) or math.isfinite(r["ci_high"])):
                lo = max(r["ci_low"] / k, -1.1) if math.isfinite(r["ci_low"]) else -1.1
                hi = min(r["ci_high"] / k, 1.1) if math.isfinite(r["ci_high"]) else 1.1
                ax.plot([lo, hi], [y, y], color=c, lw=2)
            ax.plot(r["effect"] / k, y, "o", color=c, ms=4, mfc=c if r["n"] > 1 else "white")
        ax.text(1.15, y, _effect(r) if r["n"] else "not run", va="center", fontsize=7)
    ax.axvline(0, color="k", lw=0.6)
    ax.set_yticks(range(len(rows)), [r["id"] for r in reversed(rows)], fontsize=7)
    ax.set_xlim(-1.1, 1.1)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel("effect in the claim's direction / the row's largest |number| (green band: effect ≥ δ)")
    for verdict, c in colours.items():
        ax.plot([], [], "o-", color=c, label=verdict)
    ax.plot([], [], "o", color="tab:grey", mfc="white", label="one replicate: no interval")
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=3, fontsize=7, frameon=False)
    save(fig, path)


RULE_TEXT = (
    "How a claim is judged (the rule in five lines). "
    "(1) Each claim states δ, the smallest effect that would count as reproducing it (usually half the smallest "
    "published effect), and each replicate (a seed) gives one effect in the claim's direction. "
    "(2) An exact test valid at any n decides: the sign-flip test where equal seeds link the two sides (or one "
    "quantity is tested), the two-sample permutation test where they do not; no normality is assumed, and ties and "
    "zero variance are handled exactly. "
    "(3) **reproduced** when the effect is credibly ≥ δ, **not reproduced** when it is credibly < δ (a null effect "
    "can be not reproduced), **inconclusive** otherwise; approximate-equality claims use two one-sided tests. "
    "(4) 'Credibly' means a Benjamini–Hochberg adjusted q ≤ 0.05 over the claims of the same table; an exact test "
    "cannot reach p ≤ 0.05 below 5 paired replicates (3 per side unpaired), so fewer replicates are inconclusive "
    "whatever the data. "
    "(5) Replicates whose value is not finite, and seeds without a partner, are named in the notes, never dropped "
    "silently; claims the profile cannot judge (full-scale claims, confounded comparisons, evaluations whose "
    "replicates would be test images) say 'not judged' and why.")


def _table(rows: list[dict], reports: bool):
    import pandas as pd

    cols = {"claim": [f"{r['id']}: {r['statement']}" for r in rows],
            "a and b": ["; ".join(x for x in (_side(r["a_is"], r["a_mean"], r["a_std"], r["a_n"], r["test"] == "bootstrap"),
                                              _side(r["b_is"], r["b_mean"], r["b_std"], r["b_n"], r["test"] == "bootstrap"))
                                  if x) for r in rows],
            "holds if": [f"{r['bound']} ({r['delta_why']})" for r in rows],
            "effect [90 % interval]": [_effect(r) for r in rows],
            "verdict": [_status(r) for r in rows],
            "data": [r["data"] for r in rows]}
    if reports:
        cols["verdict per source"] = [r["per_source"] for r in rows]
    cols["why"] = ["; ".join(x for x in (r["reason"], r["other_reasons"], r["notes"]) if x) or "–" for r in rows]
    return pd.DataFrame(cols)


def claims(job) -> None:
    import pandas as pd

    from archlab.io import atomic_path
    from archlab.metrics.claims import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED
    from archlab.report.section import Section

    rows = evaluate(job.params["claims"])
    table = pd.DataFrame([{k: v for k, v in r.items() if k != "quotes"} for r in rows])
    with atomic_path(job.output["csv"]) as tmp:
        table.to_csv(tmp, index=False)
    verdicts = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_JUDGED)
    counts = {k: {v: sum(r["verdict"] == v and r["kind"] == k for r in rows) for v in verdicts} for k in KINDS}
    sec = Section("claims", "Claims of the source reports and their verdicts", job.params["profile"],
                  setting=f"{len(rows)} entries of {LEDGER}, each judged from this profile's artifacts")
    sec.text(RULE_TEXT)
    for kind, title in KINDS.items():
        part = [r for r in rows if r["kind"] == kind]
        c = counts[kind]
        sec.heading(title)
        sec.text(f"This profile: {c[REPRODUCED]} reproduced, {c[NOT_REPRODUCED]} not reproduced, "
                 f"{c[INCONCLUSIVE]} inconclusive, {c[NOT_JUDGED]} not judged. The effect is in the claim's direction "
                 f"(positive = as claimed); its interval is the exact test inverted (90 %: 5 % each side, unbounded "
                 f"where n is too small for any test).")
        sec.table(_table(part, kind == "report"),
                  f"{title}: what a and b are, where the claim holds (δ and why), the effect, the verdict"
                  f"{' per source (a source that says something else is judged on its own claim)' if kind == 'report' else ''}"
                  f" and the reason in words.")
        if kind == "report":
            draw(part, job.output["figure"])
            sec.figure(job.output["figure"], "The table's effects and intervals, one row per claim (each row scaled to "
                                             "its own range; the numbers are printed on the right; an open circle is one "
                                             "replicate, drawn without an interval).", here=True)
    quotes = [(r["id"], *q) for r in rows if r["kind"] == "report" for q in r["quotes"]]
    sec.heading("What each source says, verbatim")
    sec.table(pd.DataFrame(quotes, columns=["claim", "source", "claims", "quote", "verdict"]),
              "Each source's own words for each claim (tests/test_claims.py finds every quote in the report's text), "
              "what it claims where it departs from the claim as stated, and the verdict on it.")
    for kind in KINDS:
        for v in verdicts:
            sec.metric(f"{kind}_{v.replace(' ', '_')}", counts[kind][v])
    log.info("claims: %s", "; ".join(f"{k}: " + ", ".join(f"{v} {n}" for v, n in c.items()) for k, c in counts.items()))
    sec.write(job.output["section"], job.output["metrics"])
