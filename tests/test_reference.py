"""The reference run (archlab/commands/reference.py): per-claim per-seed values recorded and compared."""
import json

import pytest

from archlab.cli import main
from archlab.commands.reference import DIFFERING, IDENTICAL, WITHIN, compare, reference_path
from archlab.io import write_json


def _run(root, values, verdict="reproduced"):
    """A finished claims job of profile ``p``: one claim over two seeds, read from the studies' JSON files."""
    files = {}
    for seed, v in values.items():
        path = f"results/p/s/seed{seed}/metrics.json"
        write_json(root / path, {"m": v})
        files[seed] = path
    claim = {"id": "C1", "a": {"files": files, "scale": 1, "key": "m"}, "missing": None}
    write_json(root / "results/p/claims/section/params.json", {"params": {"claims": [claim, {"id": "C2", "missing": "off"}]}})
    (root / "results/p/claims/claims.csv").write_text(f"id,verdict\nC1,{verdict}\nC2,inconclusive\n")


def test_a_run_is_identical_within_tolerance_or_differing(tmp_path, capsys):
    _run(tmp_path, {"0": 0.5, "1": 0.25})
    assert main(["reference", "--profile", "p", "--root", str(tmp_path), "--write"]) == 0
    ref = json.loads(reference_path("p", tmp_path).read_text())
    assert ref["claims"]["C1"] == {"verdict": "reproduced", "a": {"0": 0.5, "1": 0.25}}
    assert main(["reference", "--profile", "p", "--root", str(tmp_path)]) == 0
    assert "every per-seed value identical" in capsys.readouterr().out
    _run(tmp_path, {"0": 0.5 * (1 + 1e-9), "1": 0.25})
    assert main(["reference", "--profile", "p", "--root", str(tmp_path)]) == 0
    assert "within a relative" in capsys.readouterr().out
    _run(tmp_path, {"0": 0.6, "1": 0.25})
    assert main(["reference", "--profile", "p", "--root", str(tmp_path)]) != 0
    assert "C1.a seed 0: 0.6 (reference: 0.5)" in capsys.readouterr().out


@pytest.mark.parametrize("current, status", [
    ({"C1": {"verdict": "reproduced", "a": {"0": 1.0}}}, IDENTICAL),
    ({"C1": {"verdict": "reproduced", "a": {"0": 1.0 + 1e-8}}}, WITHIN),
    ({"C1": {"verdict": "inconclusive", "a": {"0": 1.0}}}, DIFFERING),   # a verdict never moves silently
    ({"C1": {"verdict": "reproduced", "a": {"0": 1.0, "1": 2.0}}}, DIFFERING),  # other seeds
    ({}, DIFFERING),
])
def test_compare(current, status):
    assert compare(current, {"C1": {"verdict": "reproduced", "a": {"0": 1.0}}})["status"] == status


def test_no_reference_yet_names_the_command(tmp_path, capsys):
    _run(tmp_path, {"0": 0.5})
    assert main(["reference", "--profile", "p", "--root", str(tmp_path)]) != 0
    assert "archlab reference --profile p --write" in capsys.readouterr().err
