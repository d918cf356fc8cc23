"""Issue 17: honest labels, the comparability column, one bibliography, a PDF whose tables wrap and break
across pages without running off the text, figures readable at print size, and the ecosystem views
(snakemake --report tags, dvc plots with a y column)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from archlab.config import load_params
from archlab.dvc_stages import PLOT_TEMPLATE, stages
from archlab.pipeline import Paths, Pipeline
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
def _wide_report(tmp_path: Path) -> tuple[Path, Path, list]:
    """A section with a wide, many-row table, a published comparison and an oversized small-font figure."""
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
    paths = R.render([json.loads((tmp_path / "sec" / "section.json").read_text())], "Test report", "test", out,
                     ROOT / "report" / "templates")
    return paths["tex"], fig_path, texts


def _md_rows(md: str) -> list[list[str]]:
    rows = []
    for line in md.splitlines():
        if line.startswith("| ") and not line.startswith("|---"):
            rows.append([c.strip() for c in line.strip().strip("|").split(" | ")])
    return rows


@needs_tex
def test_pdf_keeps_every_table_row_and_no_table_is_wider_than_the_text(tmp_path):
    tex, _, _ = _wide_report(tmp_path)
    pdf = R.compile_pdf(tex)
    log = tex.with_suffix(".log").read_text(errors="replace")
    overfull = [float(m) for m in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]
    assert all(w < 1.0 for w in overfull), f"overfull boxes in {tex.with_suffix('.log')}: {overfull}"
    bbox = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    page_w = float(re.search(r'<page width="([\d.]+)"', bbox).group(1))
    words = re.findall(r'xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>', bbox)
    too_wide = [w for x0, x1, w in words if float(x1) > page_w - MARGIN_PT + 1 or float(x0) < MARGIN_PT - 1]
    assert not too_wide, f"text outside the margins: {too_wide[:10]}"
    blob = "".join(re.sub(r"-$", "", w) for _, _, w in words).replace("&amp;", "&")
    rows = _md_rows(tex.with_suffix(".md").read_text())
    assert sum(r[0].startswith("row0") for r in rows) == 70
    for row in rows:
        for cell in row:
            for token in cell.replace("±", " ").split():
                assert token.replace("-", "") in blob.replace("-", ""), f"{token!r} of row {row[0]!r} is not in {pdf}"
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
    smk = (ROOT / "workflow" / "rules" / "jobs.smk").read_text()
    assert "report(v, category=_spec.study) if k in _spec.report_outputs" in smk


def test_dvc_plots_name_the_value_column_and_draw_every_run(tmp_path):
    plots = [(path, spec) for stage in stages(ROOT)["stages"].values() for entry in stage["do"].get("plots", [])
             for path, spec in entry.items()]
    assert plots
    for path, spec in plots:
        assert spec["x"] == "epoch" and spec["y"] == Path(path).stem and spec["template"] == PLOT_TEMPLATE
    template = (ROOT / ".dvc" / "plots" / f"{PLOT_TEMPLATE}.json").read_text()
    assert "<DVC_METRIC_DATA>" in template and json.loads(template)["encoding"]["color"]["field"] == "run"
    sec = Section("resnet", "t", "test", "s")
    hist = {label: pd.DataFrame({"epoch": [1, 2], "val_acc": [0.1 * k, 0.2 * k]}) for k, label in enumerate("ab", 1)}
    sec.curves("head_val_acc", hist)
    sec.write(tmp_path / "s.json", tmp_path / "m.json", {"head_val_acc": tmp_path / "head_val_acc.csv"})
    df = pd.read_csv(tmp_path / "head_val_acc.csv")
    assert list(df.columns) == ["epoch", "run", "head_val_acc"] and set(df["run"]) == {"a", "b"} and len(df) == 4
    with pytest.raises(ValueError, match="must be named"):
        sec.write(tmp_path / "s.json", tmp_path / "m.json", {"head_val_acc": tmp_path / "other.csv"})
