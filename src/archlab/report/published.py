"""The numbers the source reports published, from one data file (``published.yaml``)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

REPORTS = {
    "A": "atml-pa0-report-a", "B": "atml-pa0-report-b", "C": "atml-pa0-report-c",
    "M": "ift6135-hw1-report", "D": "ds542-midterm-report",
}


@lru_cache(maxsize=1)
def published() -> dict:
    return yaml.safe_load((Path(__file__).parent / "published.yaml").read_text())


def lookup(key: str) -> dict:
    """``study.metric`` → {label, unit, values: [{value, source, setting}]}."""
    study, _, metric = key.partition(".")
    try:
        return published()[study][metric]
    except KeyError as exc:
        raise KeyError(f"no published number {key!r} in published.yaml") from exc
