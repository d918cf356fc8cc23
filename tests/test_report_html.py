"""The report job end to end on planted runs: a self-contained HTML file holding every table row of
report.md, a provenance block whose fields are the runs' own, an appendix naming each figure's rule
and each dataset's checksum, and a PDF that is a declared output exactly when pdflatex exists."""
from __future__ import annotations

import base64
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

from archlab.commands import report as report_step
from archlab.io import read_json, write_json
from archlab.workflow.pipeline import Paths
from archlab.workflow.provenance import file_sha256
from archlab.report.section import Section
from archlab.workflow.runner import run_job

from conftest import ROOT

matplotlib.use("Agg")

COMMIT = "0123456789abcdef0123456789abcdef01234567"
PACKAGES = {"python": "3.11.0", "archlab": "0.1.0", "torch": "9.9.9", "numpy": "1.2.3", "matplotlib": "3.0.0"}


def _png(path: Path, title: str) -> Path:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    ax.set_title(title)
    fig.savefig(path, dpi=50)
    plt.close(fig)
    return path


def _record(path: Path, rule: str, device: str, started: str, inputs: dict | None = None, **wildcards) -> dict:
    record = {"rule": rule, "wildcards": wildcards, "params": {"x": 1}, "identity": "id-" + rule,
              "inputs": {k: {"path": str(p), "sha256": file_sha256(p)} for k, p in (inputs or {}).items()},
              "code": {"module": "m", "digest": "d", "commit": COMMIT, "dirty": False}, "packages": PACKAGES,
              "device": device, "host": "planted-host", "started": started, "seconds": 1.0}
    write_json(path, record)
    return record


@pytest.fixture
def planted(tmp_path):
    """A project with one dataset, one upstream run (confusion), the resnet section and the bench appendix."""
    shutil.copytree(ROOT / "report" / "templates", tmp_path / "report" / "templates")
    cfg = {"studies": ["resnet"], "resnet": {"dataset": "digits"}, "data": {"digits": {"source": "sklearn"}},
           "report": {"title": "Planted report", "pdf": False}, "profile": "test"}
    paths = Paths("test", root=str(tmp_path))
    meta = Path(paths.dataset("digits"))
    write_json(meta, {"kind": "image", "source": "sklearn", "sizes": {"train": 10, "test": 5}, "classes": ["0", "1"]})
    _record(meta.with_name("params.json"), "data_prepare", "cpu", "2024-01-01T09:00:00", name="digits")
    upstream = Path(paths.study("resnet")) / "confusion"
    confusion = _png(upstream / "confusion.png", "confusion")
    _record(upstream / "params.json", "resnet_confusion", "cuda", "2024-01-01T10:00:00", {"data": meta})
    sec_dir = Path(paths.section("resnet")).parent
    curves = _png(sec_dir / "curves.png", "curves")
    sec = (Section("resnet", "S1 — planted", "test", "tiny; `code` and **bold**")
           .text("Text with <angle> & ampersand.")
           .table(pd.DataFrame({"model": ["a_b", "c<d"], "acc (%)": [12.345, 50.0]}), "A table.")
           .figure(curves, "Curves drawn by the section job.")
           .figure(confusion, "Confusion drawn upstream.", 0.7))
    sec.write(paths.section("resnet"), tmp_path / "dvc" / "metrics.json")
    _record(sec_dir / "params.json", "resnet_section", "cpu", "2024-01-01T11:00:00", {"confusion": confusion})
    claims = Section("claims", "Claims", "test", "planted claims")
    claims.table(pd.DataFrame({"claim": ["skips help"], "verdict": ["inconclusive"]}), "Claims and verdicts.")
    claims.write(paths.section("claims"), tmp_path / "dvc" / "claims.json")
    _record(Path(paths.section("claims")).with_name("params.json"), "claims", "cpu", "2024-01-01T11:30:00")
    bench = Section("bench", "Where the time goes", "test", "benchmark files")
    bench.table(pd.DataFrame({"study": ["resnet", "total"], "wall (s)": [1.0, 1.0]}), "Time per study.")
    bench.write(Path(paths.results) / "bench" / "section.json", tmp_path / "dvc" / "bench.json")
    return cfg, paths


def _run(cfg, paths):
    job = report_step.jobs(cfg, paths)[0]
    run_job(job.rule.name, job.rule.func, job.wildcards, job.input, job.output, job.params)
    return job


class _Html(HTMLParser):
    """Table rows (cell texts), every src/href, <img> sources and <link>/<script> tags of a page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows, self.refs, self.imgs, self.tags = [], [], [], []
        self._row, self._cell = None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        self.refs += [attrs[k] for k in ("src", "href") if k in attrs]
        if tag == "img":
            self.imgs.append(attrs["src"])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr":
            self.rows.append(self._row)

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _html(path) -> _Html:
    parser = _Html()
    parser.feed(Path(path).read_text())
    return parser


def _md_rows(text: str) -> list[list[str]]:
    """Every row (header included) of every Markdown table, markup removed."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not re.fullmatch(r"\|(---\|)+", line):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            rows.append([re.sub(r"\*\*(.+?)\*\*|`(.+?)`", lambda m: m.group(1) or m.group(2), c) for c in cells])
    return rows


def _md_provenance(text: str) -> dict[str, str]:
    """The provenance table: the first table of report.md, field → value."""
    block = text.split("*Provenance:", 1)[1].split("\n\n##", 1)[0]
    return {r[0]: r[1] for r in _md_rows(block)[1:]}


def test_html_is_self_contained_and_embeds_every_figure(planted):
    job = _run(*planted)
    page = _html(job.output["html"])
    assert page.imgs and all(src.startswith("data:image/png;base64,") for src in page.imgs)
    assert all(ref.startswith(("data:", "#")) for ref in page.refs), page.refs
    assert "link" not in page.tags and "script" not in page.tags
    figures = [b for b in read_json(planted[1].section("resnet"))["blocks"] if b["kind"] == "figure"]
    assert [base64.b64decode(src.split(",", 1)[1]) for src in page.imgs] == [Path(b["path"]).read_bytes() for b in figures]
    text = Path(job.output["html"]).read_text()
    assert "<style>" in text and "overflow-wrap" in text  # a stylesheet, tables that wrap
    assert "Text with &lt;angle&gt; &amp; ampersand." in text and "<code>code</code>" in text


def test_html_holds_every_table_row_of_the_markdown(planted):
    job = _run(*planted)
    md_rows = _md_rows(Path(job.output["md"]).read_text())
    html_rows = _html(job.output["html"]).rows
    assert len(md_rows) >= 12  # provenance, section, bench and both appendix tables
    missing = [r for r in md_rows if r not in html_rows]
    assert not missing, missing
    assert ["c<d", "50.00"] in html_rows


def test_provenance_fields_are_the_runs(planted):
    cfg, paths = planted
    job = _run(cfg, paths)
    md = Path(job.output["md"]).read_text()
    fields = _md_provenance(md)
    assert md.index("*Provenance:") < md.index("## S1 — planted")  # at the top
    assert fields["git commit"] == COMMIT and fields["git dirty"] == "no"
    assert fields["archlab"] == "0.1.0"
    assert "torch 9.9.9" in fields["packages"] and "numpy 1.2.3" in fields["packages"]
    assert fields["device"] == "cpu (2 runs); cuda (1 run)"  # the sections and the upstream run that used the GPU
    assert fields["host"] == "planted-host"
    assert fields["runs"] == "3 runs, started 2024-01-01T10:00:00 to 2024-01-01T11:30:00"
    assert fields["profile"] == "test"
    assert fields["params hash"] == report_step.params_hash(cfg) == job.params["params_hash"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d.*", fields["date"])
    html_rows = _html(job.output["html"]).rows
    for key, value in fields.items():
        assert [key, value] in html_rows
    tex = Path(job.output["tex"]).read_text()
    assert tex.index("Provenance") < tex.index(r"\tableofcontents")
    assert "01234567\\allowbreak{}89abcdef\\allowbreak{}" in tex  # the commit may wrap in the PDF
    assert read_json(job.output["params"])["inputs"]["section_params"]["path"][0].endswith("section/params.json")


def test_runs_that_disagree_stay_visible(planted):
    cfg, paths = planted
    upstream = Path(paths.study("resnet")) / "confusion" / "params.json"
    record = read_json(upstream)
    record["code"].update(commit="f" * 40, dirty=True)
    record["packages"] = {**PACKAGES, "torch": "8.0.0"}
    write_json(upstream, record)
    fields = _md_provenance(Path(_run(cfg, paths).output["md"]).read_text())
    assert fields["git commit"] == f"{COMMIT} (2 runs); {'f' * 40} (1 run)"
    assert fields["git dirty"] == "no (2 runs); yes (uncommitted changes) (1 run)"
    assert "torch 9.9.9 (2 runs) / 8.0.0 (1 run), numpy 1.2.3" in fields["packages"]


def test_appendix_names_each_figures_rule_and_the_data_checksums(planted):
    cfg, paths = planted
    job = _run(cfg, paths)
    rows = _md_rows(Path(job.output["md"]).read_text())
    # no planted figure has wildcards, so the table names that column once instead of showing it
    figure_rows = {r[1]: r for r in rows if len(r) == 5 and r[0].isdigit()}
    sec_dir = Path(paths.section("resnet")).parent
    curves, confusion = str(sec_dir / "curves.png"), str(Path(paths.study("resnet")) / "confusion" / "confusion.png")
    assert figure_rows[curves][:4] == ["1", curves, "resnet", "resnet_section"]
    assert figure_rows[confusion][:4] == ["2", confusion, "resnet", "resnet_confusion"]
    assert figure_rows[confusion][4] == file_sha256(confusion)
    assert "No value in any row: wildcards." in Path(job.output["md"]).read_text()
    meta = paths.dataset("digits")
    assert ["digits", "sklearn (image stand-in)", "sklearn", "train 10, test 5", "–", file_sha256(meta)] in rows
    md = Path(job.output["md"]).read_text()
    assert "*Figure 2. Confusion drawn upstream.*" in md
    assert meta in job.input["data"] and meta.replace("meta.json", "params.json") in job.input["data_params"]


def test_pdf_is_declared_only_when_pdflatex_exists_and_asked_for(planted, monkeypatch):
    cfg, paths = planted
    for found, asked, declared in ((None, True, False), ("/usr/bin/pdflatex", False, False),
                                   ("/usr/bin/pdflatex", True, True)):
        monkeypatch.setattr(report_step.shutil, "which", lambda name, found=found: found)
        job = report_step.jobs({**cfg, "report": {**cfg["report"], "pdf": asked}}, paths)[0]
        assert ("pdf" in job.output) is declared
        assert {"md", "tex", "html", "params"} <= set(job.output)


def test_a_stale_pdf_is_removed_when_the_pdf_is_not_built(planted, monkeypatch):
    cfg, paths = planted
    monkeypatch.setattr(report_step.shutil, "which", lambda name: None)
    stale = Path(paths.report) / "report.pdf"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"%PDF old")
    _run(cfg, paths)
    assert not stale.exists()


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_pdf_is_built_when_declared(planted):
    cfg, paths = planted
    job = _run({**cfg, "report": {**cfg["report"], "pdf": True}}, paths)
    assert Path(job.output["pdf"]).stat().st_size > 10_000
