"""Render study sections to Markdown, LaTeX and one self-contained HTML file (Jinja2 templates); compile the PDF.

The HTML file embeds every figure (base64 data URIs) and its stylesheet, so it opens in any browser
without the results folder and without LaTeX.
"""
from __future__ import annotations

import base64
import html
import os
import re
import shutil
import subprocess
import tempfile
import unicodedata
from pathlib import Path

from jinja2 import Environment, FileSystemLoader

from archlab.io import write_text
from archlab.report.page import FIGURE_MAX_HEIGHT_IN, TEXT_WIDTH_IN, png_size_in

_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_TEX_UNICODE = {"±": r"$\pm$", "→": r"$\rightarrow$", "×": r"$\times$", "β": r"$\beta$", "μ": r"$\mu$",
                "σ": r"$\sigma$", "≈": r"$\approx$", "≥": r"$\geq$", "≤": r"$\leq$", "α": r"$\alpha$",
                "λ": r"$\lambda$", "θ": r"$\theta$", "π": r"$\pi$", "∞": r"$\infty$", "·": r"$\cdot$",
                "≠": r"$\neq$", "−": "-", "✓": "yes", "✗": "no", "∼": r"$\sim$", "ℓ": r"$\ell$", "Δ": r"$\Delta$"}


_TEXT_SAFE = set("–—‘’“”…•")
_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu",
          "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega",
          "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega"}


def _tex_char(ch: str) -> str:
    """One character for pdflatex: mapped symbols, Greek letters by name, else a visible '?'."""
    if ch in _TEX_UNICODE:
        return _TEX_UNICODE[ch]
    if ord(ch) < 0x250 or ch in _TEXT_SAFE:
        return ch
    kind, _, letter = unicodedata.name(ch, "").rpartition(" LETTER ")
    if kind == "GREEK SMALL" and letter.lower() in _GREEK:
        return f"$\\{letter.lower()}$"
    if kind == "GREEK CAPITAL" and letter.capitalize() in _GREEK:
        return f"$\\{letter.capitalize()}$"
    return "?"


def tex_escape(text: str) -> str:
    return "".join(_TEX_SPECIAL.get(ch) or _tex_char(ch) for ch in str(text))


_BREAK = "\x00"  # where a long token may break; passes tex_escape unchanged, then becomes \allowbreak
_LONG_TOKEN = re.compile(r"[^\s]{12,}")
_IDENT_BREAK = re.compile(r"[_=,]|\.(?=[A-Za-z])")  # inside identifiers such as run ids and ledger keys
_HYPHEN = re.compile(r"(?<=[A-Za-z])[-−](?=[A-Za-z])")  # TeX itself may break after a hyphen between letters


def _breakable(token: re.Match) -> str:
    """Break points in a long token (12+ characters): after each /; in tokens of 25+ characters (hashes)
    every 8 characters of a hex run; in any part of 12+ characters between slashes (an identifier such as
    ``cifar_arch_run_mixer_dropout=0.1_0``) after each _, =, comma and dot before a letter."""
    text = token.group(0).replace("/", "/" + _BREAK)
    if len(token.group(0)) >= 25:
        text = re.sub(r"[0-9a-f]{8}(?=[0-9a-f])", lambda m: m.group(0) + _BREAK, text)
    return "/".join(_IDENT_BREAK.sub(lambda m: m.group(0) + _BREAK, part) if len(part) >= 12 else part
                    for part in text.split("/"))


# a power written in plain text, such as 2^-n or 10^3: printed as a superscript, not as a caret
_POWER = re.compile(r"(?<![\w^])(\d+|[A-Za-z])\^(-?\w+)")


def tex_inline(text: str) -> str:
    """Escape, then turn the light markup (**bold**, `code`, powers such as 2^-n) into LaTeX; long paths and
    hashes may wrap."""
    text = _POWER.sub(lambda m: f"\x01{m.group(1)}\x02{m.group(2)}\x03", str(text))
    out = tex_escape(_LONG_TOKEN.sub(_breakable, text))
    out = re.sub(r"\x01(.*?)\x02(.*?)\x03", lambda m: f"${m.group(1)}^{{{m.group(2).replace('-', '{-}')}}}$", out)
    out = re.sub(r"\*\*(.+?)\*\*", r"\\textbf{\1}", out)
    out = re.sub(r"`(.+?)`", r"\\texttt{\1}", out)
    return out.replace(_BREAK, r"\allowbreak{}")


def html_inline(text: str) -> str:
    """Escape, then turn the light markup (**bold**, `code`, powers such as 2^-n) into HTML. Long tokens (paths,
    run ids, hashes) get ``<wbr>`` break points where :func:`tex_inline` lets them wrap, so the stylesheet can
    keep every other word and number whole."""
    out = html.escape(_LONG_TOKEN.sub(_breakable, str(text)), quote=False)
    out = _POWER.sub(r"\1<sup>\2</sup>", out)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"`(.+?)`", r"<code>\1</code>", out)
    return out.replace(_BREAK, "<wbr>")


_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
         ".svg": "image/svg+xml", ".webp": "image/webp"}


def data_uri(path: str | Path) -> str:
    """A figure file as a ``data:`` URI, so the HTML report carries it inside itself."""
    path = Path(path)
    mime = _MIME.get(path.suffix.lower())
    if mime is None:
        raise ValueError(f"figure {path} has suffix {path.suffix!r}; the HTML report embeds only {sorted(_MIME)}")
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


# character widths (em) of Latin Modern Roman 10 (ec-lmr10.tfm), grouped by width; others: _EM_OTHER
_EM_GROUPS = {0.278: "il!',.:;[]`|", 0.306: "fj", 0.333: "- ", 0.361: "I", 0.374: '"', 0.389: "t()", 0.392: "r",
              0.394: "s", 0.444: "cez", 0.472: "?", 0.5: "ago0123456789$*/\\{}", 0.514: "J", 0.528: "kqvxy",
              0.556: "bdhnpuS^~", 0.611: "Z", 0.625: "L", 0.653: "F", 0.681: "EP", 0.708: "B", 0.722: "wCT",
              0.736: "R", 0.75: "AHNUVXY_", 0.764: "D", 0.778: "KOQ&+<=>@", 0.785: "G", 0.833: "m#%", 0.917: "M",
              1.028: "W"}
_EM = {ch: em for em, chars in _EM_GROUPS.items() for ch in chars}
_EM_OTHER = 1.0      # a symbol set in math (±, ×, →) or an unmapped character: as wide as an M, rounded up
_BOLD, _TT_EM = 1.15, 0.525  # **bold** is at most 15 % wider; `code` is monospaced, 0.525 em a character
# the table fonts, widest first: (command, size in pt, how much wider its design is than 10 pt's, per em)
TABLE_FONTS = ((r"\small", 9.0, 1.04), (r"\footnotesize", 8.0, 1.08), (r"\scriptsize", 7.0, 1.17))
TABCOLSEP_PT = (6.0, 3.0)  # space each side of a column: LaTeX's default, else (smallest font) half of it
CELL_SLACK_PT = 1.5  # kept free in every column, for rounding and kerning


def text_width_em(text: str) -> float:
    """Printed width (em of the 10 pt font) of a cell's text after :func:`tex_inline`: bold is wider, code is
    monospaced, math symbols are wide."""
    text = str(text)
    scale = _BOLD if "**" in text else 1.0
    code = "`" in text
    plain = text.replace("**", "").replace("`", "")
    em = sum(max(_EM.get(ch, _EM_OTHER), _TT_EM if code else 0.0) for ch in plain)
    return em * scale


def _tokens(text: str) -> list[str]:
    """The pieces of a cell that cannot break: its words, split where :func:`tex_inline` lets long tokens
    break and after hyphens between letters. A bold cell's pieces stay marked bold, so they measure as bold."""
    out = []
    bold = "**" in str(text)
    for word in str(text).split():
        pieces = _HYPHEN.sub(lambda m: m.group(0) + _BREAK, _LONG_TOKEN.sub(_breakable, word)).split(_BREAK)
        out += [f"**{p}**" if bold else p for p in (p.replace("**", "") for p in pieces) if p]
    return out or [""]


def table_layout(block: dict) -> dict:
    r"""Font, column spec and ``\tabcolsep`` of a LaTeX table that never runs wider than the text.

    Widths are measured with the font's character widths (:func:`text_width_em`). A table whose cells fit
    side by side unbroken keeps ``l`` columns; otherwise every column becomes a ragged-right ``p`` column:
    each at least as wide as its widest unbreakable piece (a number, a header word such as ``(seeds)``,
    :func:`_tokens`), the spare width shared in proportion to how much longer its typical cell is, all
    adding up to ``\linewidth``, in the largest font (then the narrower column gap) where the widest pieces
    fit. Rows break across pages (longtable)."""
    cells = [block["columns"], *block["rows"]]
    n = len(block["columns"])
    natural_em = [max(text_width_em(r[i]) for r in cells) for i in range(n)]
    words_em = [max(text_width_em(t) for r in cells for t in _tokens(r[i])) for i in range(n)]
    typical_em = [sum(text_width_em(r[i]) for r in block["rows"]) / max(len(block["rows"]), 1) for i in range(n)]
    tries = [(f, TABCOLSEP_PT[0]) for f in TABLE_FONTS] + [(TABLE_FONTS[-1], sep) for sep in TABCOLSEP_PT[1:]]
    for (font, size_pt, widen), sep in tries:
        pt = size_pt * widen  # pt per em of the 10 pt widths in this font
        room_pt = TEXT_WIDTH_IN * 72.27 - 2 * sep * n  # the text width less the gaps between columns
        if sum(e * pt + CELL_SLACK_PT for e in natural_em) <= room_pt:
            return {"font": font, "spec": "l" * n, "wrap": False, "tabcolsep": f"{sep:g}pt"}
        words = [e * pt + CELL_SLACK_PT for e in words_em]
        if sum(words) <= room_pt:
            break
    spare = max(room_pt - sum(words), 0.0)
    extra = [max(t * pt + CELL_SLACK_PT - w, 0.0) + 1.0 for t, w in zip(typical_em, words)]  # long text gets more
    share = [w + spare * e / sum(extra) for w, e in zip(words, extra)]
    # in 1/10000 of the room (\linewidth less 2n \tabcolsep), rounded down so they add up to at most it
    parts = [int(10000 * w / sum(share)) for w in share]
    room = f"(\\linewidth-{2 * n}\\tabcolsep)"
    spec = "".join(f">{{\\raggedright\\arraybackslash}}p{{\\dimexpr{room}*{k}/10000\\relax}}" for k in parts)
    return {"font": font, "spec": spec, "wrap": True, "tabcolsep": f"{sep:g}pt"}


def column_spec(block: dict) -> str:
    return table_layout(block)["spec"]


def figure_width_in(path: str | Path, width: float = 1.0) -> float:
    """Printed width of a figure: its natural size (so its fonts keep their size), enlarged up to ``width``
    × the text width, shrunk only where it would not fit the text width or the page's figure height."""
    w, h = png_size_in(path)
    scale = min(TEXT_WIDTH_IN / w, FIGURE_MAX_HEIGHT_IN / h, max(1.0, width * TEXT_WIDTH_IN / w))
    return w * scale


def citation(entry: dict) -> str:
    """One source report as the bibliography prints it (``sources.yaml``)."""
    code = f" Code: {entry['code']}." if entry["code"].startswith("http") else ""
    return f"{entry['author']}. {entry['title']}. {entry['course']}; {entry['year']}. Text file: {entry['file']}.{code}"


def references() -> list[dict]:
    """One bibliography: the source reports (the keys every published value names, cited from ``sources.yaml``)
    and the literature values."""
    import yaml

    from archlab.report.published import HERE, published

    sources = yaml.safe_load((HERE / "sources.yaml").read_text())
    out = [{"key": k, "text": citation(v)} for k, v in sources.items()]
    cites = sorted({e["citation"] for block in published().values() for e in block.values()
                    if isinstance(e, dict) and e.get("citation")})
    return out + [{"key": "lit", "text": c} for c in cites]


def _env(templates: Path) -> Environment:
    env = Environment(loader=FileSystemLoader(templates), trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["tex"] = tex_inline
    env.filters["relpath"] = lambda p, start: os.path.relpath(p, start)
    env.filters["colspec"] = column_spec
    env.filters["layout"] = table_layout
    env.filters["figwidth"] = lambda path, width=1.0: f"{figure_width_in(path, width):.3f}in"
    env.filters["html"] = html_inline
    env.filters["datauri"] = data_uri
    env.filters["anchor"] = lambda text: re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")
    return env


FORMATS = {"md": "report.md.j2", "tex": "report.tex.j2", "html": "report.html.j2"}


def ordered(sections: list[dict]) -> list[dict]:
    """Sections in report order (the study order, then the name)."""
    return sorted(sections, key=lambda s: (s["order"], s["study"]))


COMMON_MIN_CHARS = 20  # a column whose every row holds the same text this long is a sentence, said once
EMPTY = "–"  # the cell of a value that does not exist (section.fmt)


def factor_common(block: dict) -> dict:
    """A table block whose columns that hold the same sentence in every row (the setting, the comparability
    of a whole published-vs-archlab table) are taken out into ``common``: ``[(column, text), …]``, printed once
    as a note under the caption, so the columns that differ get the width. Columns empty (``–``) in every row
    go to ``empty``, named once. Short repeated values (a unit, a seed count) stay in their column; a table
    keeps at least one column."""
    rows, columns = block["rows"], block["columns"]
    same = [i for i in range(len(columns)) if len(rows) >= 2 and len({r[i] for r in rows}) == 1]
    empty = [i for i in same if rows[0][i] == EMPTY]
    common = [i for i in same if i not in empty and len(str(rows[0][i])) >= COMMON_MIN_CHARS]
    if len(empty) + len(common) == len(columns):
        empty, common = [], []
    keep = [i for i in range(len(columns)) if i not in empty and i not in common]
    return {**block, "columns": [columns[i] for i in keep], "rows": [[r[i] for i in keep] for r in rows],
            "common": [(columns[i], rows[0][i]) for i in common], "empty": [columns[i] for i in empty]}


def _prepared(sections: list[dict]) -> list[dict]:
    """Copies of the sections whose figure blocks carry their figure number (1, 2, … in report order) and whose
    tables state once what every row repeats (:func:`factor_common`)."""
    out, number = [], 0
    for s in sections:
        blocks = []
        for b in s["blocks"]:
            if b["kind"] == "figure":
                number += 1
                b = {**b, "number": number}
            elif b["kind"] == "table":
                b = factor_common(b)
            blocks.append(b)
        out.append({**s, "blocks": blocks})
    return out


def render(sections: list[dict], title: str, profile: str, out_dir: str | Path, templates: str | Path,
           provenance: dict | None = None, appendix: dict | None = None, data: str = "") -> dict[str, Path]:
    """Write ``report.md``, ``report.tex`` and ``report.html`` (from ``templates``) into ``out_dir``.

    ``provenance`` (a table block) goes at the top of every format, ``appendix`` (a section) at the
    end; figure paths are relative to ``out_dir`` in Markdown and LaTeX and embedded in the HTML.
    ``data`` names the profile's datasets in words, for the banner of a profile other than full.
    """
    out_dir = Path(out_dir)
    sections = _prepared(ordered(sections))
    provenance = factor_common(provenance) if provenance else provenance
    appendix = _prepared([appendix])[0] if appendix else appendix
    env = _env(Path(templates))
    paths = {}
    for fmt_, name in FORMATS.items():
        text = env.get_template(name).render(sections=sections, title=title, profile=profile, provenance=provenance, data=data,
                                             appendix=appendix, out_dir=str(out_dir.resolve()), references=references())
        paths[fmt_] = out_dir / f"report.{fmt_}"
        write_text(paths[fmt_], text)
    return paths


LATEX_BUILD_FILES = (".aux", ".log", ".out", ".toc")  # what pdflatex leaves beside the PDF


def compile_pdf(tex_path: str | Path, build_dir: str | Path | None = None) -> Path | None:
    """pdflatex twice (for the contents and references) when installed; None otherwise.

    LaTeX's own files (:data:`LATEX_BUILD_FILES`) are written to ``build_dir`` — a temporary folder, deleted
    afterwards, unless one is given (tests read the log there) — so only ``report.pdf`` lands beside the
    ``.tex``; any such file an older build left there is removed. The figures' paths stay relative to the
    ``.tex``, which is compiled from its own folder."""
    tex_path = Path(tex_path)
    if shutil.which("pdflatex") is None:
        return None
    for suffix in LATEX_BUILD_FILES:
        tex_path.with_suffix(suffix).unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="archlab-latex-") as tmp:
        build = Path(build_dir or tmp).resolve()
        build.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                                   f"-output-directory={build}", tex_path.name],
                                  cwd=tex_path.parent, capture_output=True, text=True, errors="replace")
            if proc.returncode != 0:
                tail = "\n".join(proc.stdout.splitlines()[-25:])
                raise RuntimeError(f"pdflatex failed on {tex_path}:\n{tail}")
        pdf = tex_path.with_suffix(".pdf")
        shutil.move(build / pdf.name, pdf)
    return pdf


PDF_HINT = ("pdflatex is not installed, so report.pdf was not built (report.html holds the same report). Install "
            "it with `sudo apt-get install texlive-latex-base texlive-latex-recommended lmodern` (or your OS's "
            "TeX Live) and rerun snakemake: once pdflatex is found, report.pdf is an output of the report rule.")
