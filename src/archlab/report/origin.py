"""Where the report's numbers come from: its provenance block and its appendix of figures and data.

Everything here is read from the runs' ``params.json`` files (written by the runner after each job:
params, input checksums, code version and git state, package versions, device) and from the files
themselves (sha256), never typed. The report step passes the sections' ``params.json`` files and the
datasets' ``meta.json`` files as its inputs; the runs upstream of a section (the figures' and the
inputs' run directories) are found by walking up from a file to the ``params.json`` beside it.
Imports no torch.
"""
from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Iterable

from archlab.workflow.plan import PARAMS_FILE
from archlab.workflow.provenance import PACKAGES, file_sha256, package_versions
from archlab.report.labels import dataset_label

PROVENANCE_CAPTION = "Provenance: what produced this report (read from the runs' params.json files)."
FIGURES_CAPTION = "Each figure, the rule whose run wrote it, and the sha256 of the file."
DATA_CAPTION = ("Each dataset the studies read: what it is, the checksums its source files passed (registry packages) "
                "and the sha256 of its meta.json (which holds the checksums of its arrays).")
_MAX_UP = 6  # a run's files lie at most a few folders below its params.json


def run_of(path: str | Path) -> Path | None:
    """The ``params.json`` of the run whose folder holds ``path`` (``path`` itself if it is one), or None."""
    path = Path(path)
    candidates = [path] if path.name == PARAMS_FILE else []
    candidates += [parent / PARAMS_FILE for parent in list(path.parents)[:_MAX_UP]]
    for candidate in candidates:
        record = _read(candidate)
        if record is not None:
            return candidate
    return None


def _read(path: Path) -> dict | None:
    """A run record (a ``params.json`` naming its rule), or None."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "rule" in record and "params" in record else None


def collect_runs(section_params: Iterable[str | Path], sections: Iterable[dict]) -> dict[Path, dict]:
    """The section runs, the runs of their inputs and the runs that drew their figures, by params.json path."""
    runs: dict[Path, dict] = {}

    def add(params_json: Path | None) -> dict | None:
        if params_json is None:
            return None
        key = Path(params_json)
        if key not in runs:
            record = _read(key)
            if record is None:
                return None
            runs[key] = record
        return runs[key]

    for path in section_params:
        record = add(Path(path))
        for entry in (record or {}).get("inputs", {}).values():
            for upstream in [entry["path"]] if isinstance(entry["path"], str) else entry["path"]:
                add(run_of(upstream))
    for block in figures(sections):
        add(run_of(block["path"]))
    return runs


def figures(sections: Iterable[dict]) -> list[dict]:
    """Every figure block, in report order."""
    return [b for s in sections for b in s["blocks"] if b["kind"] == "figure"]


def _distinct(values: list, sep: str = "; ") -> str:
    """One value, or each distinct value with how many runs hold it (runs that disagree stay visible)."""
    counts = Counter("–" if v is None else str(v) for v in values)
    if not counts:
        return "–"
    if len(counts) == 1:
        return next(iter(counts))
    return sep.join(f"{v} ({n} run{'s' if n != 1 else ''})" for v, n in counts.most_common())


NO_GIT = "unknown (not run in a git checkout)"


def _dirty(value) -> str:
    return NO_GIT if value is None else ("yes (uncommitted changes)" if value else "no")


def provenance(runs: dict[Path, dict], profile: str, params_hash: str, built: str | None = None) -> dict[str, str]:
    """The provenance block: field → value, each taken from the runs (the date is the report's own)."""
    records = list(runs.values())
    packages = [r.get("packages") or {} for r in records] or [package_versions()]
    started = sorted(r["started"] for r in records if r.get("started"))
    versions = []
    for name in ("python", *PACKAGES):
        if name == "archlab":
            continue
        found = _distinct([p[name] for p in packages if name in p], sep=" / ")
        if found != "–":
            versions.append(f"{name} {found}")
    return {
        "date": built or time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "runs": f"{len(records)} runs" + (f", started {started[0]} to {started[-1]}" if started else ""),
        "git commit": _distinct([(r.get("code") or {}).get("commit") or NO_GIT for r in records]),
        "git dirty": _distinct([_dirty((r.get("code") or {}).get("dirty")) for r in records]),
        "archlab": _distinct([p.get("archlab") for p in packages]),
        "packages": ", ".join(versions) or "–",
        "device": _distinct([r.get("device") for r in records]),
        "host": _distinct([r.get("host") for r in records]),
        "profile": profile,
        "params hash": params_hash,
    }


def _run_label(record: dict | None) -> tuple[str, str]:
    if record is None:
        return "–", "–"
    wildcards = " ".join(f"{k}={v}" for k, v in (record.get("wildcards") or {}).items())
    return record["rule"], wildcards or "–"


def figure_rows(sections: list[dict], runs: dict[Path, dict]) -> list[list[str]]:
    """``[number, figure file, study, rule, wildcards, sha256]`` per figure, numbered in report order."""
    rows = []
    by_study = {id(b): s["study"] for s in sections for b in s["blocks"]}
    for number, block in enumerate(figures(sections), start=1):
        params_json = run_of(block["path"])
        rule, wildcards = _run_label(runs.get(params_json) if params_json else None)
        rows.append([str(number), block["path"], by_study[id(block)], rule, wildcards, file_sha256(block["path"])])
    return rows


def data_rows(metas: list[str], data_params: list[str]) -> list[list[str]]:
    """``[dataset, what it is, source, sizes, source files verified, meta.json sha256]`` per dataset; the
    source files are those a registry package shipped, with the checksums they passed (data/registry.py)."""
    rows = []
    for meta_path, params_path in zip(metas, data_params):
        meta = json.loads(Path(meta_path).read_text())
        record = _read(Path(params_path)) or {}
        name = (record.get("params") or {}).get("name") or Path(meta_path).parent.name
        sizes = meta.get("sizes")
        sizes = ", ".join(f"{k} {v}" for k, v in sizes.items()) if isinstance(sizes, dict) else str(sizes or "–")
        rows.append([name, dataset_label(meta), str(meta.get("source", "–")), sizes, _verified(meta.get("origin")),
                     file_sha256(meta_path)])
    return rows


def _verified(origin: dict | None) -> str:
    """``package: file md5 …`` for a registry source, ``–`` for the rest (their arrays' checksums are in meta.json)."""
    if not origin:
        return "–"
    sums = origin.get("unzipped_md5") or {"CSV sha256": origin.get("csv_sha256")}
    return f"{origin['package']}: " + ", ".join(f"{k} {v}" for k, v in sums.items())


def table(caption: str, columns: list[str], rows: list[list[str]]) -> dict:
    return {"kind": "table", "caption": caption, "columns": columns, "rows": rows}


def provenance_block(fields: dict[str, str]) -> dict:
    return table(PROVENANCE_CAPTION, ["field", "value"], [[k, v] for k, v in fields.items()])


def appendix_section(sections: list[dict], runs: dict[Path, dict], metas: list[str], data_params: list[str]) -> dict:
    """The last section: which rule drew each figure, and the checksums of the data."""
    blocks = []
    if figures(sections):
        blocks.append(table(FIGURES_CAPTION, ["figure", "file", "study", "rule", "wildcards", "sha256"],
                            figure_rows(sections, runs)))
    if metas:
        blocks.append(table(DATA_CAPTION, ["dataset", "what it is", "source", "sizes", "source files verified", "meta.json sha256"],
                            data_rows(metas, data_params)))
    return {"study": "provenance", "title": "Appendix: provenance of the figures and data", "order": 10**6,
            "setting": "every figure's producing run (its params.json) and every dataset's checksum", "blocks": blocks}
