"""Issue 17: honest labels, the comparability column, one bibliography, a PDF whose tables wrap and break
across pages without running off the text, figures readable at print size, and the ecosystem views
(snakemake --report tags, dvc plots whose y is each curve file's last column)."""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from archlab.config import load_params
from archlab.workflow.dvc_stages import PLOT_TEMPLATE, stages
from archlab.workflow.pipeline import PLOTS_DIR, Paths, Pipeline
from archlab.plots import style
from archlab.plots.curves import plot_histories
from archlab.report import page as P
from archlab.report import render as R
from archlab.report.labels import comparability, dataset_label, model_label
from archlab.report.published import REPORTS
from archlab.report.section import Section

HAVE_TEX = shutil.which("pdflatex") is not None and shutil.which("pdftotext") is not None
needs_tex = pytest.mark.skipif(not HAVE_TEX, reason="pdflatex/pdftotext not installed (apt-get install texlive-latex-"
                               "base texlive-latex-recommended lmodern poppler-utils)")
MARGIN_PT = 56.91  # report.tex.j2: geometry margin=2cm


def _meta(kind: str, source: str) -> dict:
    return {"name": kind, "kind": kind, "source": source, "sizes": {"train": 1, "val": 1, "test": 1}}


# --- (a) labels --------------------------------------------------------------------------------------
def test_dataset_and_model_labels_come_from_meta_and_weights_spec():
    assert dataset_label(_meta("cifar10", "synthetic")) == "synthetic CIFAR-10 stand-in"
    assert dataset_label(_meta("mnist", "digits")) == "scikit-learn digits (MNIST stand-in)"
    assert dataset_label(_meta("imagefolder", "skimage")) == "scikit-image sample photos"
    assert dataset_label(_meta("cifar100", "torchvision")) == "CIFAR-100"
    assert model_label("resnet18", "file:results/demo/pretrain/resnet18/weights.pt") == \
        "demo ResNet-18 pretrained on synthetic shapes"
    assert model_label("resnet152", "torchvision:resnet152:IMAGENET1K_V2") == "ResNet-152 (IMAGENET1K_V2 weights)"
    assert model_label("resnet18", "none") == "ResNet-18 from scratch"


def test_comparability_column_from_source_and_profile(tmp_path):
    assert comparability(_meta("cifar10", "torchvision"), "full") == "same setting"
    assert comparability(_meta("cifar10", "torchvision"), "demo").startswith("different scale")
    synthetic = comparability(_meta("cifar10", "synthetic"), "demo")
    assert "different data (synthetic stand-in for CIFAR-10)" in synthetic and "different scale" in synthetic
    sec = Section("resnet", "t", "demo", "s", data=_meta("cifar10", "synthetic"))
    sec.compare([("resnet.head_only_acc", "50.0", "demo setting")], "Caption.")
    table = sec.data["blocks"][-1]
    assert table["columns"][-1] == "comparability" and table["rows"][0][-1] == synthetic
    assert table["caption"] == "Caption." and "Published sources" not in table["caption"]
    full = Section("resnet", "t", "full", "s", data=_meta("cifar10", "torchvision"))
    full.compare([("resnet.head_only_acc", "50.0", "full")], "C.")
    assert full.data["blocks"][-1]["rows"][0][-1] == "same setting"


# --- (b) PDF -----------------------------------------------------------------------------------------
def _strip(path: Path, height: float) -> Path:
    fig, axes = plt.subplots(1, 4, figsize=(13, height))
    for i, ax in enumerate(axes):
        ax.plot(np.arange(10), np.arange(10) ** 0.5 * (i + 1))
        ax.set_title(f"panel {i}")
    return style.save(fig, path)


def _narrow_section(tmp_path: Path) -> dict:
    """Short tables of narrow number columns ('n (seeds)', ± cells, headers longer than their numbers, run ids),
    each followed by a figure: the pattern whose figures ran off the page bottom (a longtable forgot the
    figures already at the top of its page), then a table of 13 narrow columns."""
    rng = np.random.default_rng(1)
    sec = Section("gan", "Narrow columns", "test", "setting", data=_meta("mnist", "digits"))
    strips = {h: _strip(tmp_path / "sec2" / f"strip{h}.png", h) for h in (1.6, 2.4)}
    for k, (height, n_rows) in enumerate([(1.6, 2), (2.4, 5), (1.6, 4)] * 3):
        sec.heading(f"Part {k}")
        sec.text("A paragraph of text between the figures and the tables, long enough to wrap over two lines "
                 "of the page.")
        rows = [{"variant": f"cifar_arch_run_mixer_embed_dim={64 * k},num_blocks={j}_0",
                 "val acc (%)": f"{rng.random() * 100:.2f} ± {rng.random():.2f}", "n (seeds)": j + 1}
                for j in range(n_rows)]
        sec.table(pd.DataFrame(rows), caption=f"Short table {k}.")
        sec.figure(strips[height], f"A strip of panels {k}.")
    cols = ["run", "D loss", "G loss", "D(x)", "D(G(z))", "G grad norm", "D acc held-out (real+fake)",
            "D(x) gap train−held-out", "classes covered", "entropy (bits)", "pixel var", "pairwise dist",
            "Fréchet dist"]
    rows = [[f"overfit_mitigated_{i}", *(f"{rng.random():.2f} ± {rng.random():.2f}" for _ in cols[1:5]),
             f"{rng.random():.2e}", *(f"{rng.random():.4f}" for _ in cols[6:])] for i in range(8)]
    sec.table(pd.DataFrame(rows, columns=cols), caption="Thirteen narrow columns.")
    sec.write(tmp_path / "sec2" / "section.json", tmp_path / "sec2" / "metrics.json")
    return json.loads((tmp_path / "sec2" / "section.json").read_text())


def _wide_report(tmp_path: Path) -> tuple[Path, Path, list]:
    """A section with a wide, many-row table, a published comparison and an oversized small-font figure,
    then a section of narrow-column tables each followed by a figure (:func:`_narrow_section`)."""
    fig, axes = plt.subplots(2, 3, figsize=(14, 12))
    texts = []
    for i, ax in enumerate(axes.flat):
        ax.plot(np.arange(10), np.arange(10) ** 0.5 * (i + 1), label=f"run {i}")
        texts += [ax.set_title(f"panel {i}", fontsize=5), ax.set_xlabel("epoch", fontsize=4)]
        ax.legend(fontsize=4)
    fig_path = style.save(fig, tmp_path / "sec" / "grid.png")
    texts = [t for t in fig.findobj(plt.Text) if t.get_text()]
    rng = np.random.default_rng(0)
    rows = [{"row id": f"row{i:03d}", "setting": f"optimizer sgd lr {10.0 ** -rng.integers(1, 5):g} momentum 0.9 "
             f"nesterov weight decay 5e-4 schedule cosine warmup {i} epochs", **{f"metric column {j}": rng.random()
             for j in range(9)}, "path": f"results/test/cifar_arch/runs/{i:040x}/history.csv"} for i in range(70)]
    sec = Section("cifar_arch", "Wide table", "test", "setting", data=_meta("cifar10", "synthetic"))
    sec.table(pd.DataFrame(rows), caption="A wide table of many rows.", digits=3)
    sec.compare([("resnet.head_only_acc", "50.0 ± 1.0", "test, synthetic CIFAR-10 stand-in, 360 train imgs")], "Cmp.")
    sec.figure(fig_path, "An oversized figure drawn with small fonts.")
    sec.write(tmp_path / "sec" / "section.json", tmp_path / "sec" / "metrics.json")
    out = tmp_path / "report"
    paths = R.render([json.loads((tmp_path / "sec" / "section.json").read_text()), _narrow_section(tmp_path)],
                     "Test report", "test", out, ROOT / "report" / "templates")
    return paths["tex"], fig_path, texts


def _page_fill(bbox: str) -> list[float]:
    """How far down each page its text reaches (0 = top margin, 1 = bottom margin), from pdftotext -bbox;
    the page number below the text area does not count. Figures end with their caption, so they count."""
    fills = []
    for height, page in re.findall(r'<page width="[\d.]+" height="([\d.]+)">(.*?)</page>', bbox, re.S):
        bottom = float(height) - MARGIN_PT
        ys = [float(y) for y in re.findall(r'yMax="([\d.]+)"', page) if float(y) <= bottom + 2]
        fills.append((max(ys, default=MARGIN_PT) - MARGIN_PT) / (bottom - MARGIN_PT))
    return fills


def _half_empty_pages(bbox: str, toc: str) -> list[tuple[int, float]]:
    """Pages (number, fill) that end more than half empty although more of the same section follows: every
    page but the last and those right before a page where a section starts (numbers from report.toc)."""
    starts = {int(p) for p in re.findall(r"^\\contentsline \{section\}.*\}\{(\d+)\}\{section\.\d+\}", toc, re.M)}
    fills = _page_fill(bbox)
    return [(i, round(f, 2)) for i, f in enumerate(fills[:-1], 1) if f < 0.5 and i + 1 not in starts]


def _md_rows(md: str) -> list[list[str]]:
    rows = []
    for line in md.splitlines():
        if line.startswith("| ") and not line.startswith("|---"):
            rows.append([c.strip() for c in line.strip().strip("|").split(" | ")])
    return rows


def test_table_columns_are_at_least_their_widest_unbreakable_piece():
    """Every wrapped column holds its widest number / header word / id piece, and the columns with their
    gaps add up to at most the text width (a p column's width excludes its 2 \\tabcolsep)."""
    cols = ["run", "D(G(z))", "D acc held-out (real+fake)", "n (seeds)", "pairwise dist", "Fréchet dist"] * 2
    block = {"columns": cols, "rows": [["cifar_arch_run_mixer_embed_dim=64,num_blocks=8_0", "0.94 ± 0.02",
                                        "2.11e+00", "3", "**0.0359**", "`code_path`"] * 2] * 3}
    lay = R.table_layout(block)
    assert lay["wrap"] and lay["font"] in [f for f, _, _ in R.TABLE_FONTS]
    size_pt, widen = next((s, w) for f, s, w in R.TABLE_FONTS if f == lay["font"])
    sep = float(lay["tabcolsep"].removesuffix("pt"))
    n = len(cols)
    room = P.TEXT_WIDTH_IN * 72.27 - 2 * n * sep
    parts = [int(k) for k in re.findall(rf"p\{{\\dimexpr\(\\linewidth-{2 * n}\\tabcolsep\)\*(\d+)/10000", lay["spec"])]
    assert len(parts) == n and sum(parts) <= 10000, lay["spec"]
    for i, k in enumerate(parts):
        widest = max(R.text_width_em(t) for r in [cols, *block["rows"]] for t in R._tokens(r[i])) * size_pt * widen
        assert room * k / 10000 >= widest, f"column {cols[i]!r}: {room * k / 10000:.1f} pt < {widest:.1f} pt"
    assert R._tokens("cifar_arch_run_mixer_embed_dim=64,num_blocks=8_0")[:2] == ["cifar_", "arch_"]
    assert R._tokens("0.0359 -0.018 held-out") == ["0.0359", "-0.018", "held-", "out"]  # numbers never break
    small = R.table_layout({"columns": ["a", "b"], "rows": [["1", "2"]]})
    assert small == {"font": R.TABLE_FONTS[0][0], "spec": "ll", "wrap": False, "tabcolsep": "6pt"}


@needs_tex
def test_pdf_keeps_every_table_row_and_no_table_is_wider_than_the_text(tmp_path):
    tex, _, _ = _wide_report(tmp_path)
    build = tmp_path / "latex"
    pdf = R.compile_pdf(tex, build_dir=build)
    log = (build / "report.log").read_text(errors="replace")
    overfull = [float(m) for m in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]
    assert all(w < 1.0 for w in overfull), f"overfull boxes in {build / 'report.log'}: {overfull}"
    too_high = re.findall(r"Overfull \\vbox \(([\d.]+)pt too high\)", log)
    assert not too_high, f"pages run off the bottom (Overfull \\vbox, pt) in {build / 'report.log'}: {too_high}"
    bbox = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    half_empty = _half_empty_pages(bbox, (build / "report.toc").read_text())
    assert not half_empty, f"pages (number, fill) of {pdf} end more than half empty mid-section: {half_empty}"
    page_w = float(re.search(r'<page width="([\d.]+)"', bbox).group(1))
    words = re.findall(r'xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>', bbox)
    too_wide = [w for x0, x1, w in words if float(x1) > page_w - MARGIN_PT + 1 or float(x0) < MARGIN_PT - 1]
    assert not too_wide, f"text outside the margins: {too_wide[:10]}"
    # TeX prints ' " as curly quotes and `code` without its backticks, and may hyphenate: compare without them
    plain = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "`": "", "-": ""})
    blob = html.unescape("".join(re.sub(r"-$", "", w) for _, _, w in words)).translate(plain)
    rows = _md_rows(tex.with_suffix(".md").read_text())
    assert sum(r[0].startswith("row0") for r in rows) == 70 and sum(r[0].startswith("overfit_") for r in rows) == 8
    for row in rows:
        for cell in row:
            # tex prints − as -; pdftotext reads a superscript ² as 2
            for token in unicodedata.normalize("NFKC", cell.replace("±", " ").replace("−", "-")).split():
                assert token.translate(plain) in blob, f"{token!r} of row {row[0]!r} is not in {pdf}"
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "(continued)" in text  # the long table broke across pages with its header repeated
    assert text.count("Published sources") == 0 and "References" in text
    assert all(name in text for name in REPORTS.values() if "citation" not in name)


def test_figure_fonts_at_least_7pt_at_print_size(tmp_path):
    tex, fig_path, texts = _wide_report(tmp_path)
    width_in = float(re.search(r"\\includegraphics\[width=([\d.]+)in\]\{[^}]*grid\.png\}", tex.read_text()).group(1))
    natural_w, natural_h = P.png_size_in(fig_path)
    assert natural_w <= P.TEXT_WIDTH_IN * 1.01 and natural_h <= P.FIGURE_MAX_HEIGHT_IN * 1.01
    scale = width_in / natural_w
    assert width_in <= P.TEXT_WIDTH_IN + 1e-3
    smallest = min(t.get_fontsize() for t in texts)
    assert smallest * scale >= P.MIN_FONT_PT - 1e-6, f"{smallest} pt × {scale:.2f} at print size"
    # a real plot module's figure (13 in wide as drawn) prints at its natural size or larger
    hist = pd.DataFrame({"epoch": [1, 2], "train_loss": [1, .5], "val_loss": [1, .6], "train_acc": [.1, .2],
                         "val_acc": [.1, .3], "lr": [.1, .1]})
    path = plot_histories({"a": hist}, tmp_path / "curves.png", "title")
    assert R.figure_width_in(path) >= P.png_size_in(path)[0] - 1e-6


# --- (c) ecosystem views -----------------------------------------------------------------------------
def test_rules_tag_figures_and_reports_for_snakemake_report():
    pipeline = Pipeline(load_params("test", ROOT), Paths("test"))
    tagged = 0
    for rule in pipeline.rules.values():
        for key, path in rule.output.items():
            shown = path.endswith((".png", ".html")) or path.endswith("/section.json")
            assert (key in rule.report_outputs) == shown, (rule.name, key, path)
            tagged += shown
    assert tagged and "report" in pipeline.rules and "html" in pipeline.rules["report"].report_outputs
    smk = "".join(p.read_text() for p in (ROOT / "workflow" / "rules").glob("*.smk"))
    assert 'html=report(f"{REPORT}/report.html", category="report", caption="../report/report.rst")' in smk
    for rule in pipeline.rules.values():
        body = smk.split(f"\nrule {rule.name}:\n")[1].split("\n\n\n")[0]
        assert body.count("=report(f") == len(rule.report_outputs), rule.name


def test_dvc_plots_draw_the_value_column_of_every_run(tmp_path):
    """dvc.yaml draws its plots folder (top level, no y: each CSV's last column); a curve file is
    ``epoch, run, <its name>``, so its value column is drawn against epoch, one line per run."""
    spec = stages(ROOT)
    assert spec["plots"] == [{PLOTS_DIR: {"x": "epoch", "template": PLOT_TEMPLATE}}]
    assert all("plots" not in stage["do"] for stage in spec["stages"].values())  # per-profile entries: errors
    curves = [path for stage in spec["stages"].values() for entry in stage["do"]["outs"] for path in entry
              if path.startswith(f"{PLOTS_DIR}/")]
    assert curves and all(path.endswith(".csv") for path in curves), curves
    template = (ROOT / ".dvc" / "plots" / f"{PLOT_TEMPLATE}.json").read_text()
    assert "<DVC_METRIC_DATA>" in template and json.loads(template)["encoding"]["detail"]["field"] == "run"
    sec = Section("resnet", "t", "test", "s")
    hist = {label: pd.DataFrame({"epoch": [1, 2], "val_acc": [0.1 * k, 0.2 * k]}) for k, label in enumerate("ab", 1)}
    sec.curves("head_val_acc", hist)
    sec.write(tmp_path / "s.json", tmp_path / "m.json", {"head_val_acc": tmp_path / "head_val_acc.csv"})
    df = pd.read_csv(tmp_path / "head_val_acc.csv")
    assert list(df.columns) == ["epoch", "run", "head_val_acc"] and set(df["run"]) == {"a", "b"} and len(df) == 4
    with pytest.raises(ValueError, match="must be named"):
        sec.write(tmp_path / "s.json", tmp_path / "m.json", {"head_val_acc": tmp_path / "other.csv"})
