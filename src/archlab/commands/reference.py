"""The reference run: a profile's per-claim, per-seed values in a reviewed file, and whether a run matches it.

Why: pinned CPU numerics (:mod:`archlab.cpu_pin`) make a profile's numbers the same on every x86-64 machine
with AVX2; this file is what "the same" is checked against. ``archlab reference --profile P --write``
records, from a finished run's claims job (its ``params.json`` names every claim's files by seed), each
claim's per-seed values of the quantities it is judged on (``a``, ``b`` or the series' slopes) and its
verdict, in ``tests/reference/<profile>.json``; ``archlab reference --profile P`` compares the run with it:
**identical** (every value bit for bit), **within tolerance** (every value within ``TOLERANCE`` relative, no
verdict changed) or **differing** (the list says which claim, side and seed). The test profile's file is
checked by its end-to-end test (tests/test_pipeline.py), the demo's is written by whoever lands a change
that moves its numbers, after reviewing what moved.
"""
from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path

from archlab.errors import ArchlabError, MissingResourceError

REFERENCE_DIR = Path("tests/reference")
TOLERANCE = 1e-6  # relative: rounding of a value printed and read back, not a different computation
IDENTICAL, WITHIN, DIFFERING = "identical", "within tolerance", "differing"


def reference_path(profile: str, root: Path = Path(".")) -> Path:
    return Path(root) / REFERENCE_DIR / f"{profile}.json"


def collect(claims_params: dict, verdicts: dict[str, str]) -> dict:
    """Per claim: each side's value per seed, read from the files the claims job read, and its verdict."""
    from archlab.commands.claims import read_slopes, read_values

    out = {}
    for claim in claims_params["claims"]:
        cid = claim["id"]
        entry: dict = {"verdict": verdicts.get(cid)}
        if claim.get("missing"):
            entry["missing"] = claim["missing"]
        else:
            for side in ("a", "b"):
                if side in claim:
                    entry[side] = _plain(read_values(claim[side], cid))
            if "series" in claim:
                entry["slope"] = _plain(read_slopes(claim["series"], cid))
        out[cid] = entry
    return out


def _plain(values: dict) -> dict[str, float]:
    return {str(seed): float(v) for seed, v in sorted(values.items())}


def compare(current: dict, reference: dict, tolerance: float = TOLERANCE) -> dict:
    """``{"status": identical | within tolerance | differing, "differing": [...], "largest_relative": x}``."""
    differing, largest = [], 0.0
    for cid in sorted(set(current) | set(reference)):
        now, ref = current.get(cid), reference.get(cid)
        if now is None or ref is None:
            differing.append(f"{cid}: {'not in this run' if now is None else 'not in the reference'}")
            continue
        if now.get("verdict") != ref.get("verdict"):
            differing.append(f"{cid}: verdict {now.get('verdict')} (reference: {ref.get('verdict')})")
        for side in ("a", "b", "slope"):
            a, b = now.get(side, {}), ref.get(side, {})
            if set(a) != set(b):
                differing.append(f"{cid}.{side}: seeds {sorted(a)} (reference: {sorted(b)})")
                continue
            for seed in a:
                x, y = a[seed], b[seed]
                if x == y or (math.isnan(x) and math.isnan(y)):
                    continue
                rel = abs(x - y) / max(abs(x), abs(y))
                largest = max(largest, rel)
                if not rel <= tolerance:
                    differing.append(f"{cid}.{side} seed {seed}: {x!r} (reference: {y!r})")
    status = DIFFERING if differing else (IDENTICAL if largest == 0 else WITHIN)
    return {"status": status, "differing": differing, "largest_relative": largest, "tolerance": tolerance}


def from_files(claims_params: str | Path, claims_csv: str | Path) -> dict:
    """A run's values from its claims job's ``params.json`` and ``claims.csv`` (the files it read are named
    relative to the project root, the working directory)."""
    import pandas as pd

    table = pd.read_csv(claims_csv)
    record = json.loads(Path(claims_params).read_text())
    return collect(record["params"], dict(zip(table["id"], table["verdict"])))


def from_run(profile: str, root: Path = Path(".")) -> dict:
    """This run's values, from its finished claims job (``results/<profile>/claims``)."""
    folder = Path(root) / "results" / profile / "claims"
    params, csv = folder / "section" / "params.json", folder / "claims.csv"
    if not params.exists() or not csv.exists():
        raise MissingResourceError(f"{params} or {csv} is missing: run the profile's claims job first "
                                   f"(`snakemake --cores 2 --configfile config/{profile}.yaml`)")
    with contextlib.chdir(root):  # the claims name their files relative to the project root
        return {"profile": profile, "claims": from_files(params.resolve(), csv.resolve())}


def main(profile: str, root: Path = Path("."), write: bool = False) -> dict:
    """Write the reference (``write``) or compare this run with it; the comparison is printed as one line."""
    current = from_run(profile, root)
    path = reference_path(profile, root)
    if write:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
        print(f"wrote {path}: {len(current['claims'])} claims (review the diff before committing it)")
        return {"status": "written"}
    if not path.exists():
        raise MissingResourceError(f"{path} is missing: write it with `python -m archlab reference --profile {profile} "
                                   f"--write` from a reviewed run")
    result = compare(current["claims"], json.loads(path.read_text())["claims"])
    print(line(result, path))
    for item in result["differing"]:
        print(f"  {item}")
    if result["status"] == DIFFERING:
        raise ArchlabError(f"this run does not match the reference run {path}: {len(result['differing'])} differences")
    return result


def line(result: dict, path: Path) -> str:
    """The report's sentence: does this run match the reference?"""
    if result["status"] == IDENTICAL:
        return f"matches the reference run ({path}): every per-seed value identical"
    if result["status"] == WITHIN:
        return (f"matches the reference run ({path}) within a relative {result['tolerance']:g} "
                f"(largest {result['largest_relative']:.1e}); every verdict the same")
    return f"does not match the reference run ({path}): {len(result['differing'])} differences"
