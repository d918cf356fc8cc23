"""The claims ledger and its verdicts: planted artifacts with a known answer, the statistics, and the
consistency of claims.yaml with published.yaml and with the plans of every profile."""
import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from archlab.commands import claims as step
from archlab.config import load_params
from archlab.errors import ParamsError
from archlab.metrics import claims as M
from archlab.pipeline import Paths, Pipeline, unit_module
from archlab.report.published import claims_ledger, lookup, published

from conftest import ROOT

PROFILES = ("test", "demo", "full")


# ---------------------------------------------------------------- statistics

def test_t_interval_matches_the_textbook_value():
    lo, hi = M.t_interval([1.0, 2.0, 3.0])
    half = 4.302652729911275 * 1.0 / math.sqrt(3)  # t_{0.975, 2} · s / √n
    assert lo == pytest.approx(2 - half) and hi == pytest.approx(2 + half)
    assert all(math.isnan(v) for v in M.t_interval([5.0]))


def test_sign_flip_p_is_exact():
    assert M.sign_flip_p([1.0, 2.0, 3.0]) == pytest.approx(1 / 8)  # only the observed pattern is as extreme
    assert M.sign_flip_p([1.0, 2.0, 3.0], greater=False) == pytest.approx(1.0)
    assert M.sign_flip_p([1.0, -1.0]) == pytest.approx(3 / 4)


def test_judge_greater_reproduced_not_reproduced_inconclusive():
    assert M.judge("greater", [5.0, 6.0, 7.0]).verdict == M.REPRODUCED
    assert M.judge("greater", [-5.0, -6.0, -7.0]).verdict == M.NOT_REPRODUCED
    assert M.judge("greater", [5.0, -6.0, 7.0]).verdict == M.INCONCLUSIVE
    assert M.judge("greater", [5.0, 6.0, 7.0], margin=10).verdict == M.NOT_REPRODUCED
    one = M.judge("greater", [50.0])
    assert one.verdict == M.INCONCLUSIVE and one.n == 1 and "needs ≥ 2 seeds" in one.reason


def test_judge_thresholds_approx_and_slopes():
    assert M.judge("at_least", M.differences("at_least", {"0": 9, "1": 9}, threshold=8)).verdict == M.REPRODUCED
    assert M.judge("at_most", M.differences("at_most", {"0": 9, "1": 9}, threshold=8)).verdict == M.NOT_REPRODUCED
    assert M.judge("approx", [0.1, -0.1, 0.0], tol=1).verdict == M.REPRODUCED
    assert M.judge("approx", [5.0, 5.2, 4.9], tol=1).verdict == M.NOT_REPRODUCED
    assert M.slope([1, 2, 3], [10, 8, 6]) == pytest.approx(-2)
    assert M.judge("decreasing", [-2.0, -1.5, -2.5]).verdict == M.REPRODUCED
    assert M.differences("greater", {"0": 3, "1": 4, "2": 9}, {"0": 1, "1": 1}) == {"0": 2.0, "1": 3.0}  # paired
    with pytest.raises(ValueError, match="unknown relation"):
        M.judge("bigger", [1, 2])


# ---------------------------------------------------------------- planted artifacts

def _claim(tmp_path, relation, a, b=None, **extra):
    """A resolved claim whose quantity a (and b) are planted metrics.json files, one per seed."""
    def plant(name, values):
        files = {}
        for seed, v in values.items():
            path = tmp_path / name / f"seed{seed}" / "metrics.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"test": {"acc": v}}))
            files[str(seed)] = str(path)
        return {"files": files, "key": "test.acc", "scale": 100}

    claim = {"id": "X-1", "study": "resnet", "sources": ["A"], "statement": "planted", "relation": relation,
             "unit": "pp", "margin": 0, "tol": 0, "seeds": 2, "threshold": None, "missing": None,
             "scale_reason": None, "published": [], "a": plant("a", a)}
    if b is not None:
        claim["b"] = plant("b", b)
    return claim | extra


def test_planted_claim_reproduced_with_its_interval(tmp_path):
    row = step.evaluate(_claim(tmp_path, "greater", {0: 0.80, 1: 0.82, 2: 0.84}, {0: 0.15, 1: 0.16, 2: 0.17}))
    d = np.array([65.0, 66.0, 67.0])
    lo, hi = d.mean() - 4.302652729911275 * d.std(ddof=1) / math.sqrt(3), d.mean() + 4.302652729911275 * d.std(ddof=1) / math.sqrt(3)
    assert row["verdict"] == "reproduced" and row["n"] == 3
    assert row["effect"] == pytest.approx(66.0) and row["ci_low"] == pytest.approx(lo) and row["ci_high"] == pytest.approx(hi)
    assert row["a_n"] == 3 and row["a_mean"] == pytest.approx(82.0)


def test_planted_claim_not_reproduced(tmp_path):
    row = step.evaluate(_claim(tmp_path, "greater", {0: 0.70, 1: 0.71, 2: 0.72}, {0: 0.80, 1: 0.80, 2: 0.81}))
    assert row["verdict"] == "not reproduced" and row["ci_high"] < 0


def test_planted_claim_from_one_seed_is_inconclusive(tmp_path):
    row = step.evaluate(_claim(tmp_path, "greater", {0: 0.9}, {0: 0.1}))
    assert row["verdict"] == "inconclusive" and row["n"] == 1 and "needs ≥ 2 seeds" in row["reason"]
    assert math.isnan(row["ci_low"])


def test_planted_claim_at_small_scale_is_inconclusive_with_its_reason(tmp_path):
    row = step.evaluate(_claim(tmp_path, "greater", {0: 0.9, 1: 0.91}, {0: 0.1, 1: 0.11}, scale_reason="needs ImageNet"))
    assert row["verdict"] == "inconclusive" and "at this scale (reproduced here): needs ImageNet" in row["reason"]
    assert row["effect"] == pytest.approx(80.0)


def test_planted_series_and_csv_seed_column(tmp_path):
    rows = [{"seed": s, "method": "fill", "fraction": f, "accuracy": 0.9 - f * (0.5 + 0.1 * s)}
            for s in (0, 1, 2) for f in (0.0, 0.5, 0.9)]
    path = tmp_path / "curves.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    series = {"files": {step.NO_SEED: str(path)}, "scale": 100,
              "csv": {"where": {"method": "fill"}, "x": "fraction", "y": "accuracy"}}
    claim = {**_claim(tmp_path, "decreasing", {0: 0}), "series": series}
    del claim["a"]
    row = step.evaluate(claim)
    assert row["n"] == 3 and row["effect"] == pytest.approx(-60.0) and row["verdict"] == "reproduced"
    q = {"files": {step.NO_SEED: str(path)}, "scale": 1,
         "csv": {"where": {"fraction": {"gt": 0}}, "column": "accuracy", "row": "mean"}}
    assert step.read_values(q, "X")["1"] == pytest.approx(np.mean([0.9 - 0.5 * 0.6, 0.9 - 0.9 * 0.6]))


def test_missing_key_names_the_file_and_the_ledger(tmp_path):
    claim = _claim(tmp_path, "greater", {0: 0.5, 1: 0.5}, {0: 0.1, 1: 0.1})
    claim["a"]["key"] = "test.nope"
    with pytest.raises(Exception, match=r"metrics.json: no key 'test.nope'.*claims.yaml"):
        step.evaluate(claim)


# ---------------------------------------------------------------- the ledger

def test_ledger_has_25_claims_across_all_seven_studies():
    from archlab.studies import STUDIES

    ledger = claims_ledger()
    assert len(ledger) >= 25 and {c["study"] for c in ledger} == set(STUDIES)
    assert step._ledger_errors(ledger) == []


def test_every_published_key_a_claim_names_exists():
    for c in claims_ledger():
        for key in c.get("published", []):
            assert lookup(key)["values"], f"claim {c['id']}: {key}"
        t = c.get("threshold")
        if isinstance(t, dict):
            assert t["published"] in c.get("published", []), f"claim {c['id']} uses {t['published']} without listing it"
            step._threshold(c)


def _statement_numbers(statement: str):
    """(source, number, approximate) for each number a statement attributes to a report: "A 81.8", "B ≈85"."""
    for src, approx, num in re.findall(r"\b([ABCDM])\s+(≈?)(\d+(?:\.\d+)?)\b", statement):
        yield src, num, bool(approx)


def test_every_number_a_claim_attributes_to_a_report_is_in_the_published_file():
    """A claim's statement ("A 81.8 → 16.2") and published.yaml never disagree: each number the statement gives
    a report (the first after its key) is one of that report's values among the claim's published keys."""
    checked = 0
    for c in claims_ledger():
        values = [(v["source"], float(v["value"])) for k in c.get("published", []) for v in lookup(k)["values"]]
        for src, num, approx in _statement_numbers(c["statement"]):
            decimals = len(num.partition(".")[2])
            tol = 1.0 if approx else 0.5 * 10 ** -decimals
            assert any(s == src and abs(v - float(num)) <= tol + 1e-9 for s, v in values), (
                f"claims.yaml {c['id']}: the statement gives {src} {num}, but its published keys "
                f"{c.get('published', [])} hold {[v for s, v in values if s == src]} from {src}; "
                f"fix the statement or add the value to published.yaml")
            checked += 1
    assert checked >= 20


def test_published_file_names_known_reports_and_studies():
    from archlab.report.published import REPORTS
    from archlab.studies import STUDIES

    assert set(published()) <= set(STUDIES)
    for study, block in published().items():
        for metric, entry in block.items():
            assert entry.get("label") and entry["values"], f"published.yaml {study}.{metric}"
            for v in entry["values"]:
                assert v["source"] in REPORTS and v.get("setting"), f"published.yaml {study}.{metric}: {v}"


def test_literature_values_carry_their_citation_and_claims_use_them():
    lit = [(s, k, e) for s, block in published().items() for k, e in block.items()
           if any(v["source"] == "lit" for v in e["values"])]
    assert {f"{s}.{k}" for s, k, _ in lit} >= {"clip.literature_zero_shot_stl10", "resnet.literature_linear_probe_acc",
                                              "vit.literature_finetune_acc", "ood.literature_augmix_corrupted_acc"}
    for s, k, e in lit:
        assert e.get("literature") is True and e.get("citation"), f"{s}.{k}"
    used = {key for c in claims_ledger() for key in c.get("published", [])}
    assert {f"{s}.{k}" for s, k, _ in lit} <= used


def test_published_corrections():
    assert [v["source"] for v in lookup("resnet.depth_small_acc")["values"]] == ["B"]  # A ran no ResNet-18
    assert all("3 epochs" in v["setting"] for v in lookup("resnet.depth_large_acc")["values"])
    assert "A" not in [v["source"] for v in lookup("vae.baseline_kl")["values"]]  # A: "very low KL", no number
    assert lookup("gan.vanishing_mitigated_d_real")["values"][0]["value"] == 0.879  # epoch 2, as D(G(z)) 0.370
    assert "4-conv" in lookup("ood.deeper_cnn_ood_acc")["values"][0]["setting"]


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


def test_claims_only_for_enabled_studies():
    cfg = load_params("test", ROOT)
    cfg = {**cfg, "studies": ["gan"]}
    (job,) = Pipeline(cfg, Paths("test")).jobs_of("claims")
    assert all("/gan/" in p for p in job.input["artifacts"])
    off = [c for c in job.params["claims"] if c["study"] != "gan"]
    assert off and all("not in this profile's studies" in c["missing"] for c in off)


def test_a_bad_ledger_entry_is_refused(monkeypatch):
    bad = [dict(claims_ledger()[0], relation="bigger")]
    monkeypatch.setattr("archlab.report.published.claims_ledger", lambda: bad)
    with pytest.raises(ParamsError, match="relation 'bigger'"):
        step.check({})


def test_every_verdict_but_reproduced_says_why_in_terms_of_its_interval():
    unsettled = M.judge("greater", [1.0, -1.0, 2.0])
    assert unsettled.verdict == "inconclusive" and "straddles the bound 0" in unsettled.reason
    assert f"[{unsettled.ci_low:.3g}, {unsettled.ci_high:.3g}] (n = 3)" in unsettled.reason
    wrong = M.judge("at_most", [39.0, 40.0, 41.0])
    assert wrong.verdict == "not reproduced" and "lies on the wrong side of the bound 0" in wrong.reason
    assert "outside the band ±0.1" in M.judge("approx", [1.0, 1.1, 0.9], tol=0.1).reason
    assert M.judge("greater", [1.0, 1.1, 0.9]).reason == ""
