"""Issue 29: a report that reads well. The HTML breaks only long tokens, keeps its contents in view with an
anchor for every section and heading, and says once per table what every row repeats; the PDF has no link
boxes, no stray caret, and leaves no LaTeX build files beside it."""
from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import matplotlib
import pandas as pd
import pytest
from conftest import ROOT

from archlab.io import read_json
from archlab.report import render as R
from archlab.report.section import Section

matplotlib.use("Agg")

SETTING = "demo, synthetic Fashion-MNIST stand-in, 2000 train images, 12 epochs"
PATH = "results/demo/cifar_arch/runs/mixer_embed_dim=64,num_blocks=8_0/history.csv"


def _figure(path: Path) -> Path:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    fig.savefig(path, dpi=50)
    plt.close(fig)
    return path


@pytest.fixture
def small_report(tmp_path) -> dict[str, Path]:
    """Two sections with headings, a figure, a comparison whose setting and comparability are the same in
    every row, a table whose rows differ, a long path and a power 2^-n in the text."""
    fig = _figure(tmp_path / "fig.png")
    vae = Section("vae", "S4 — planted VAE", "demo", "tiny; p ≥ 2^-n", data={"kind": "fashionmnist",
                                                                            "source": "synthetic"})
    vae.heading("Collapse diagnostics").text(f"The history is {PATH}; with 3 seeds p ≥ 2^-n.")
    vae.compare([("vae.baseline_recon", 1.0, SETTING), ("vae.baseline_kl", 2.0, SETTING)], "Published vs archlab.")
    vae.table(pd.DataFrame({"run": ["a", "b"], "setting": [SETTING, SETTING + " and more"]}), "Rows differ.")
    vae.figure(fig, "A figure.")
    vae.write(tmp_path / "vae.json", tmp_path / "m1.json")
    gan = Section("gan", "S3 — planted GAN", "demo", "tiny").heading("Overfitting").text("Text.")
    gan.write(tmp_path / "gan.json", tmp_path / "m2.json")
    sections = [read_json(tmp_path / name) for name in ("vae.json", "gan.json")]
    return R.render(sections, "Layout", "demo", tmp_path / "report", ROOT / "report" / "templates")


class _Page(HTMLParser):
    """Ids, in-page links, each table's header cells and the text of the table notes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids, self.links, self.headers, self.notes, self.back = set(), [], [], [], 0
        self._in, self._text = None, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href", "").startswith("#"):
            self.links.append(attrs["href"][1:])
            self.back += attrs["href"] == "#top"
        if tag == "table":
            self.headers.append([])
        if tag == "th" or (tag == "p" and attrs.get("class") == "common"):
            self._in, self._text = tag, []

    def handle_endtag(self, tag):
        if tag == self._in:
            (self.headers[-1] if tag == "th" else self.notes).append("".join(self._text).strip())
            self._in = None

    def handle_data(self, data):
        if self._in:
            self._text.append(data)


def test_html_wraps_only_long_tokens(small_report):
    text = small_report["html"].read_text()
    css = text[text.index("<style>"):text.index("</style>")]
    assert "anywhere" not in css and "break-all" not in css, "a rule that breaks words or numbers mid-token"
    assert re.search(r"th, td, code \{ overflow-wrap: normal; word-break: normal;", css)
    # the long path carries break points after its separators, and a break point follows only a separator
    assert "results/<wbr>demo/<wbr>cifar_arch/<wbr>runs/<wbr>mixer_<wbr>embed_<wbr>dim=<wbr>64,<wbr>num_<wbr>blocks=<wbr>8_<wbr>0/" in text
    assert not re.findall(r".{12}[^/_=,.]<wbr>", text.split("</style>", 1)[1])


def test_html_contents_stay_in_view_and_every_anchor_resolves(small_report):
    text = small_report["html"].read_text()
    page = _Page()
    page.feed(text)
    assert re.search(r"nav\.toc \{ position: sticky; top: 0; align-self: start;", text)
    assert {"vae", "gan", "vae-collapse-diagnostics", "gan-overfitting", "top", "references"} <= page.ids
    assert set(page.links) <= page.ids, sorted(set(page.links) - page.ids)
    assert {"vae", "gan", "vae-collapse-diagnostics", "gan-overfitting"} <= set(page.links)
    assert page.back >= 3  # one back-to-top link per section (and references) for narrow screens


def test_a_sentence_every_row_repeats_is_said_once(small_report):
    page = _Page()
    page.feed(small_report["html"].read_text())
    # S3's published values it does not run, then S4's comparison and its table whose rows differ
    not_run, compared, differing = page.headers[:3]
    assert not_run == ["quantity", "unit", "published (source: setting)"]
    assert "archlab (every row): not run in this profile" in page.notes
    assert "No value in any row: archlab setting, comparability." in page.notes
    assert compared == ["quantity", "unit", "published (source: setting)", "archlab"]
    assert f"archlab setting (every row): {SETTING}" in page.notes
    assert any(n.startswith("comparability (every row): different data") for n in page.notes)
    assert differing == ["run", "setting"]  # rows that differ keep their column
    md = small_report["md"].read_text()
    assert f"*archlab setting* (every row): {SETTING}" in md and SETTING not in md.split("(every row)")[-1]


def test_factor_common_keeps_short_and_differing_values():
    block = {"caption": "c", "columns": ["a", "unit", "long", "differs", "none"],
             "rows": [["1", "%", "x" * 30, "y" * 30, "–"], ["2", "%", "x" * 30, "z" * 30, "–"]]}
    out = R.factor_common(block)
    assert out["columns"] == ["a", "unit", "differs"] and out["common"] == [("long", "x" * 30)]
    assert out["rows"] == [["1", "%", "y" * 30], ["2", "%", "z" * 30]] and out["empty"] == ["none"]
    one_row = {**block, "rows": block["rows"][:1]}
    assert R.factor_common(one_row)["columns"] == block["columns"]  # one row repeats nothing


def test_powers_are_printed_as_superscripts():
    assert R.tex_inline("p ≥ 2^-n") == r"p $\geq$ $2^{{-}n}$"
    assert R.html_inline("p ≥ 2^-n") == "p ≥ 2<sup>-n</sup>"
    assert "textasciicircum" not in R.tex_inline("below 2^-n, 10^3")


@pytest.mark.skipif(shutil.which("pdflatex") is None or shutil.which("pdftotext") is None,
                    reason="pdflatex/pdftotext not installed (CI installs texlive-latex-base, "
                           "texlive-latex-recommended, lmodern, poppler-utils)")
def test_pdf_has_hidden_links_no_stray_caret_and_no_build_files(small_report):
    tex = small_report["tex"]
    assert r"\usepackage[hidelinks]{hyperref}" in tex.read_text()
    for suffix in R.LATEX_BUILD_FILES:  # an older build's leftovers are removed too
        tex.with_suffix(suffix).write_text("stale")
    pdf = R.compile_pdf(tex)
    assert sorted(p.name for p in tex.parent.iterdir()) == ["report.html", "report.md", "report.pdf", "report.tex"]
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "ˆ" not in text and "^" not in text
    assert "(every row)" in text
