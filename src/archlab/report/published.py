"""The numbers the source reports published, and literature reference values, from one data file
(``published.yaml``); the claims ledger (``claims.yaml``) beside it names which of them each claim uses.

A value is ``{value, source, setting}``; ``source`` is a report key of :data:`REPORTS`, or ``lit`` for
a literature reference value, which also carries its ``citation``.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

REPORTS = {
    "A": "atml-pa0-report-a", "B": "atml-pa0-report-b", "C": "atml-pa0-report-c",
    "M": "ift6135-hw1-report", "D": "ds542-midterm-report", "lit": "literature (citation in the setting)",
}
HERE = Path(__file__).parent
PUBLISHED_FILE, CLAIMS_FILE = HERE / "published.yaml", HERE / "claims.yaml"


@lru_cache(maxsize=1)
def published() -> dict:
    return yaml.safe_load(PUBLISHED_FILE.read_text())


@lru_cache(maxsize=1)
def claims_ledger() -> list[dict]:
    """The claims of ``claims.yaml`` (see its header for the fields)."""
    return yaml.safe_load(CLAIMS_FILE.read_text())["claims"]


def lookup(key: str) -> dict:
    """``study.metric`` → {label, unit, values: [{value, source, setting}]}."""
    study, _, metric = key.partition(".")
    try:
        return published()[study][metric]
    except KeyError as exc:
        raise KeyError(f"no published number {key!r} in published.yaml") from exc


def value(key: str, source: str) -> float:
    """The one value ``source`` published for ``key`` (a claim's threshold)."""
    values = [v["value"] for v in lookup(key)["values"] if v["source"] == source]
    if len(values) != 1:
        raise KeyError(f"published.yaml {key!r} has {len(values)} values from source {source!r} (need exactly one); "
                       f"sources there: {[v['source'] for v in lookup(key)['values']]}")
    return float(values[0])
