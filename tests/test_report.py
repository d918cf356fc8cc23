"""Report layer: sections from artifacts only, published numbers from the data file, LaTeX that compiles."""
import shutil

import matplotlib
import pandas as pd
import pytest

from archlab.io import read_json
from archlab.report.published import lookup, published
from archlab.report.render import compile_pdf, render, tex_escape
from archlab.report.section import NOT_RUN, Section, mean_std

from conftest import ROOT

matplotlib.use("Agg")


def _figure(path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    fig.savefig(path)
    plt.close(fig)
    return path


def test_mean_std_over_seeds():
    assert mean_std([1.0]) == "1.00"
    assert mean_std([1.0, 3.0]) == "2.00 ± 1.41"


def test_figure_must_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="written artifacts"):
        Section("resnet", "t", "demo", "s").figure(tmp_path / "missing.png", "x")


def test_compare_reads_published_numbers_with_their_source(tmp_path):
    sec = Section("resnet", "t", "demo", "s").compare([("resnet.no_skip_acc", 55.5, "demo")], "cmp")
    row = sec.data["blocks"][0]["rows"][0]
    assert row[0] == lookup("resnet.no_skip_acc")["label"]
    assert "16.2 (A:" in row[2] and row[3] == "55.50"
    with pytest.raises(KeyError, match="no published number"):
        Section("resnet", "t", "demo", "s").compare([("resnet.nope", 1, "x")], "cmp")


def _rows_by_label(section: dict) -> dict[str, list[list[str]]]:
    out: dict[str, list[list[str]]] = {}
    for block in section["blocks"]:
        if block["kind"] == "table" and block["columns"][:4] == ["quantity", "unit", "published (source: setting)", "archlab"]:
            for row in block["rows"]:
                out.setdefault(row[0], []).append(row)
    return out


def test_a_published_value_whose_setting_a_profile_does_not_run_still_appears_marked(tmp_path):
    """A planted S7 section that compares only its 4-conv CNN (no ResNet-50 rung, as in the demo): D's ResNet-50
    OOD 44 still appears, marked as not run; a setting shown as "–" is marked the same way; nothing twice."""
    sec = Section("ood", "S7 — planted", "demo", "tiny")
    sec.compare([("ood.deeper_cnn_ood_acc", 30.0, "demo deeper"), ("ood.resnet18_ood_acc", None, "demo")], "cmp")
    sec.write(tmp_path / "section.json", tmp_path / "metrics.json")
    rows = _rows_by_label(read_json(tmp_path / "section.json"))
    resnet50 = rows[lookup("ood.resnet50_ood_acc")["label"]]
    assert len(resnet50) == 1 and resnet50[0][3] == NOT_RUN and "44 (D:" in resnet50[0][2]
    assert rows[lookup("ood.resnet18_ood_acc")["label"]][0][3] == NOT_RUN
    assert rows[lookup("ood.deeper_cnn_ood_acc")["label"]][0][3] == "30.00"
    # every published S7 value appears exactly once
    assert sorted(rows) == sorted(e["label"] for e in published()["ood"].values())
    assert all(len(r) == 1 for r in rows.values())


def test_a_section_that_compares_everything_adds_no_not_run_table(tmp_path):
    sec = Section("vae", "S4 — planted", "demo", "tiny")
    sec.compare([(f"vae.{k}", 1.0, "demo") for k in published()["vae"]], "cmp")
    sec.write(tmp_path / "section.json", tmp_path / "metrics.json")
    section = read_json(tmp_path / "section.json")
    assert [b["caption"] for b in section["blocks"]] == ["cmp"]
    assert NOT_RUN not in str(section)


def test_tex_escape_handles_specials_and_unicode():
    assert tex_escape("50% of x_1 & β ± 1") == r"50\% of x\_1 \& $\beta$ $\pm$ 1"
    assert tex_escape("Σ") == r"$\Sigma$" and tex_escape("中") == "?"


def test_render_md_tex_and_pdf(tmp_path):
    fig = _figure(tmp_path / "fig.png")
    sec = (Section("resnet", "S1 — test", "demo", "tiny; β = 1").text("Some **bold** and `code`, 5% μ.")
           .table(pd.DataFrame({"model": ["a_b"], "acc (%)": [12.345]}), "A table.")
           .figure(fig, "A figure.").metric("acc", 0.5))
    sec.write(tmp_path / "section.json", tmp_path / "dvc" / "metrics.json")
    assert read_json(tmp_path / "dvc" / "metrics.json") == {"acc": 0.5}
    out = render([read_json(tmp_path / "section.json")], "Title", "demo", tmp_path / "report", ROOT / "report" / "templates")
    md = out["md"].read_text()
    assert "| a_b | 12.35 |" in md and "](../fig.png)" in md and "demo** profile" in md
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed")
    pdf = compile_pdf(out["tex"])
    assert pdf.exists() and pdf.stat().st_size > 10_000


def test_render_puts_provenance_first_and_appendix_last_in_every_format(tmp_path):
    fig = _figure(tmp_path / "fig.png")
    sec = Section("resnet", "S1 — test", "demo", "tiny").figure(fig, "A figure.")
    sec.write(tmp_path / "section.json", tmp_path / "dvc" / "metrics.json")
    prov = {"kind": "table", "caption": "Provenance: planted.", "columns": ["field", "value"],
            "rows": [["git commit", "abc123"], ["profile", "demo"]]}
    appendix = {"study": "provenance", "title": "Appendix: provenance", "order": 10**6, "setting": "s",
                "blocks": [{"kind": "table", "caption": "Figures.", "columns": ["figure", "rule"], "rows": [["1", "r"]]}]}
    out = render([read_json(tmp_path / "section.json")], "Title", "demo", tmp_path / "report",
                 ROOT / "report" / "templates", provenance=prov, appendix=appendix)
    assert set(out) == {"md", "tex", "html"}
    for fmt_, section_title in (("md", "## S1"), ("tex", r"\section{S1"), ("html", "<h2>S1")):
        text = out[fmt_].read_text()
        assert text.index("abc123") < text.index(section_title) < text.rindex("Appendix: provenance"), fmt_
    assert "*Figure 1. A figure.*" in out["md"].read_text()
    assert "Figure 1.</strong> A figure." in out["html"].read_text()


def test_tex_lets_long_paths_and_hashes_wrap():
    from archlab.report.render import tex_inline

    assert tex_inline("results/demo/resnet/section/x_y.png") == (
        r"results/\allowbreak{}demo/\allowbreak{}resnet/\allowbreak{}section/\allowbreak{}x\_y.png")
    brk = r"\allowbreak{}"
    assert tex_inline("ab" * 16) == brk.join(["abababab"] * 4)  # a 32-character hex run (a hash)
    assert tex_inline("short_words stay as they are") == r"short\_words stay as they are"


def test_html_escapes_text_and_keeps_light_markup():
    from archlab.report.render import html_inline

    assert html_inline("a < b & **c** `d<e>`") == "a &lt; b &amp; <strong>c</strong> <code>d&lt;e&gt;</code>"
