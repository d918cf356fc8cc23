"""A report section as data: text, tables, figures and published-vs-ours comparisons.

Each study writes ``section.json`` from its artifacts with :class:`Section`; the report stage
renders every section to Markdown and LaTeX. Studies never write markup, and never type numbers.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from archlab.io import atomic_path, write_json
from archlab.report.labels import comparability, real_source
from archlab.report.published import lookup, published

from archlab.studies import STUDIES  # noqa: E402  (a constant; imports nothing else)

ORDER = ("claims", *STUDIES, "bench")
NOT_RUN = "not run in this profile"  # the archlab cell of a published value whose setting this profile does not run
COMPARE_COLUMNS = ["quantity", "unit", "published (source: setting)", "archlab", "archlab setting", "comparability"]


def fmt(value, digits: int = 2) -> str:
    """Numbers as the report shows them; NaN/None as an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{value:.{digits}f}"
    return str(value)


def mean_std(values: Iterable[float], digits: int = 2) -> str:
    """``m ± s`` over seeds (sample std); a single seed shows the value alone."""
    v = np.asarray(list(values), dtype=float)
    if len(v) == 1:
        return fmt(float(v[0]), digits)
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1):.{digits}f}"


class Section:
    def __init__(self, study: str, title: str, profile: str, setting: str, data: dict | None = None):
        """``data``: the dataset's ``meta.json`` (its source decides the comparability column of :meth:`compare`)."""
        self.meta = data
        self.data = {"study": study, "title": title, "profile": profile, "setting": setting,
                     "real_data": None if data is None else real_source(data["source"]),  # for the claims table
                     "order": ORDER.index(study) if study in ORDER else len(ORDER), "blocks": []}
        self.metrics: dict[str, float] = {}
        self._curves: dict[str, pd.DataFrame] = {}
        self._compared: set[str] = set()  # published keys shown beside an archlab number

    def heading(self, text: str) -> "Section":
        self.data["blocks"].append({"kind": "heading", "text": text})
        return self

    def text(self, text: str) -> "Section":
        self.data["blocks"].append({"kind": "text", "text": text})
        return self

    def table(self, df: pd.DataFrame, caption: str, digits: int = 2) -> "Section":
        rows = [[fmt(v, digits) for v in row] for row in df.itertuples(index=False)]
        self.data["blocks"].append({"kind": "table", "caption": caption, "columns": [str(c) for c in df.columns], "rows": rows})
        return self

    def figure(self, path: str | Path, caption: str, width: float = 1.0, here: bool = False) -> "Section":
        """``here``: the figure stays where it is in the text (beside the table it draws), never floated pages away."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"figure {path} does not exist: the section must be built from written artifacts")
        self.data["blocks"].append({"kind": "figure", "path": str(path), "caption": caption, "width": width, "here": here})
        return self

    def compare(self, rows: Iterable[tuple[str, object, str]], caption: str) -> "Section":
        """``(published key, our value as shown, our setting)`` → a published-vs-ours table, with a column saying
        how comparable the two are (from the dataset's source and the profile; see :mod:`archlab.report.labels`).
        The source keys (A, B, …) are listed once, in the report's references. ``ours`` None (or "–") means the
        profile did not run that setting: the row says so (see :data:`NOT_RUN`)."""
        out = [self._published_row(key, ours, our_setting) for key, ours, our_setting in rows]
        self.data["blocks"].append({"kind": "table", "caption": caption, "columns": COMPARE_COLUMNS, "rows": out})
        return self

    def _published_row(self, key: str, ours, our_setting: str) -> list[str]:
        entry = lookup(key)
        self._compared.add(key)
        shown = ours if isinstance(ours, str) else fmt(ours)
        published_values = "; ".join(f"{v['value']:g} ({v['source']}: {v['setting']})" for v in entry["values"])
        if shown == fmt(None):
            return [entry["label"], entry.get("unit", ""), published_values, NOT_RUN, our_setting or "–", "–"]
        literature = bool(entry.get("literature")) or all(v["source"] == "lit" for v in entry["values"])
        return [entry["label"], entry.get("unit", ""), published_values, shown, our_setting,
                comparability(self.meta, self.data["profile"], literature)]

    def published_not_run(self) -> "Section":
        """Every published value of this study (``published.yaml``) that no :meth:`compare` showed, as a row marked
        :data:`NOT_RUN`: the report lists every published number, also where the profile does not run its setting.
        :meth:`write` calls it, so no section can leave one out."""
        study = self.data["study"]
        keys = [f"{study}.{metric}" for metric in published().get(study, {})]
        rows = [self._published_row(key, None, "") for key in keys if key not in self._compared]
        if rows:
            self.data["blocks"].append({
                "kind": "table", "columns": COMPARE_COLUMNS, "rows": rows,
                "caption": f"Published values for settings this profile ({self.data['profile']}) does not run: "
                           "listed so that every published number appears in the report."})
        return self

    def metric(self, name: str, value: float) -> "Section":
        """A headline number for DVC's ``metrics.json`` (what `dvc metrics diff` compares)."""
        self.metrics[name] = float(value)
        return self

    def curves(self, name: str, histories: dict[str, pd.DataFrame], column: str = "val_acc") -> "Section":
        """One per-epoch column of several runs for ``dvc plots``, in long form: ``epoch, run, <name>``.

        Long form lets dvc.yaml draw every curve file alike without knowing the runs (its top-level ``plots``
        folder: x ``epoch``, y the last column, one line per ``run`` through the ``runs`` template in
        .dvc/plots), so every run is drawn."""
        self._curves[name] = pd.concat([pd.DataFrame({"epoch": df["epoch"].to_numpy(), "run": label,
                                                      name: df[column].to_numpy()})
                                        for label, df in histories.items()], ignore_index=True)
        return self

    def write(self, section: str | Path, metrics: str | Path, curves: dict[str, str | Path] | None = None) -> None:
        """``section.json`` for the report; ``metrics.json`` and one CSV per curve set for DVC.

        The paths are the section rule's declared outputs (DVC's metrics and curves live outside the
        study's output folder, in git-tracked ``metrics/`` and ``plots/``: see :class:`archlab.workflow.pipeline.Paths`).
        """
        curves = curves or {}
        if set(curves) != set(self._curves):
            raise ValueError(f"curve outputs {sorted(curves)} do not match the curves drawn {sorted(self._curves)}")
        for name, path in curves.items():
            if Path(path).stem != name:  # the value column (the plot's y) is named like its file
                raise ValueError(f"curve {name!r} is written to {path}: its file must be named {name}.csv")
        self.published_not_run()
        write_json(metrics, self.metrics)
        for name, df in self._curves.items():
            with atomic_path(curves[name]) as tmp:
                df.to_csv(tmp, index=False)
        write_json(section, self.data)
