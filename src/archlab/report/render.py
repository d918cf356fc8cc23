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
_LONG_TOKEN = re.compile(r"[^\s]{25,}")


def _breakable(token: re.Match) -> str:
    """Break points after each / and every 8 characters of a hex run, so paths and hashes wrap."""
    text = token.group(0).replace("/", "/" + _BREAK)
    return re.sub(r"[0-9a-f]{8}(?=[0-9a-f])", lambda m: m.group(0) + _BREAK, text)


def tex_inline(text: str) -> str:
    """Escape, then turn the light markup (**bold**, `code`) into LaTeX; long paths and hashes may wrap."""
    out = tex_escape(_LONG_TOKEN.sub(_breakable, str(text)))
    out = re.sub(r"\*\*(.+?)\*\*", r"\\textbf{\1}", out)
    out = re.sub(r"`(.+?)`", r"\\texttt{\1}", out)
    return out.replace(_BREAK, r"\allowbreak{}")


def html_inline(text: str) -> str:
    """Escape, then turn the light markup (**bold**, `code`) into HTML."""
    out = html.escape(str(text), quote=False)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
         ".svg": "image/svg+xml", ".webp": "image/webp"}


def data_uri(path: str | Path) -> str:
    """A figure file as a ``data:`` URI, so the HTML report carries it inside itself."""
    path = Path(path)
    mime = _MIME.get(path.suffix.lower())
    if mime is None:
        raise ValueError(f"figure {path} has suffix {path.suffix!r}; the HTML report embeds only {sorted(_MIME)}")
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


# table fonts and the mean width of one character in them (pt), from the widest that fits
TABLE_FONTS = ((r"\small", 5.0), (r"\footnotesize", 4.5), (r"\scriptsize", 3.9))
TABCOLSEP_PT = 6.0


def _words(text: str) -> int:
    """The longest piece a cell cannot break: a word; words of 25+ characters break after '/' and every
    8 hex digits (:func:`tex_inline`)."""
    def longest(word: str) -> int:
        if len(word) < 25:
            return len(word)
        return max(min(len(w), 9) if re.fullmatch(r"[0-9a-f]{9,}", w) else len(w) for w in word.split("/"))
    return max((longest(w) for w in str(text).split()), default=1)


def table_layout(block: dict) -> dict:
    r"""Font and column spec of a LaTeX table that never runs wider than the text.

    A table whose columns fit side by side keeps ``l`` columns; otherwise every column becomes a
    ragged-right ``p`` column whose widths add up to ``\linewidth``: each at least its longest word,
    the rest shared in proportion to how much longer its typical cell is, in the largest font where
    the longest words fit. Rows break across pages (longtable)."""
    cells = [block["columns"], *block["rows"]]
    n = len(block["columns"])
    natural = [max(len(str(r[i])) for r in cells) + 1 for i in range(n)]
    words = [max(_words(r[i]) for r in cells) + 1 for i in range(n)]
    width_pt = TEXT_WIDTH_IN * 72.27
    for font, char_pt in TABLE_FONTS:
        budget = (width_pt - 2 * TABCOLSEP_PT * n) / char_pt  # characters across the text width
        if sum(natural) <= 0.9 * budget:
            return {"font": font, "spec": "l" * n, "wrap": False}
        if sum(words) <= budget:
            break
    share = [w for w in words]
    spare = max(budget - sum(share), 0)
    typical = [sum(len(str(r[i])) for r in block["rows"]) / max(len(block["rows"]), 1) for i in range(n)]
    extra = [max(t - w, 0) + 1 for t, w in zip(typical, words)]  # long-text columns get the spare width
    total_extra = sum(extra) or 1
    share = [w + spare * e / total_extra for w, e in zip(share, extra)]
    total = sum(share)
    spec = "".join(f">{{\\raggedright\\arraybackslash}}p{{\\dimexpr {w / total:.4f}\\linewidth-2\\tabcolsep\\relax}}"
                   for w in share)
    return {"font": font, "spec": spec, "wrap": True}


def column_spec(block: dict) -> str:
    return table_layout(block)["spec"]


def figure_width_in(path: str | Path, width: float = 1.0) -> float:
    """Printed width of a figure: its natural size (so its fonts keep their size), enlarged up to ``width``
    × the text width, shrunk only where it would not fit the text width or the page's figure height."""
    w, h = png_size_in(path)
    scale = min(TEXT_WIDTH_IN / w, FIGURE_MAX_HEIGHT_IN / h, max(1.0, width * TEXT_WIDTH_IN / w))
    return w * scale


def references() -> list[dict]:
    """One bibliography: the source reports (the keys every published value names) and the literature values."""
    from archlab.report.published import REPORTS, published

    out = [{"key": k, "text": v} for k, v in REPORTS.items() if k != "lit"]
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


def _numbered(sections: list[dict]) -> list[dict]:
    """Copies of the sections whose figure blocks carry their figure number (1, 2, … in report order)."""
    out, number = [], 0
    for s in sections:
        blocks = []
        for b in s["blocks"]:
            if b["kind"] == "figure":
                number += 1
                b = {**b, "number": number}
            blocks.append(b)
        out.append({**s, "blocks": blocks})
    return out


def render(sections: list[dict], title: str, profile: str, out_dir: str | Path, templates: str | Path,
           provenance: dict | None = None, appendix: dict | None = None) -> dict[str, Path]:
    """Write ``report.md``, ``report.tex`` and ``report.html`` (from ``templates``) into ``out_dir``.

    ``provenance`` (a table block) goes at the top of every format, ``appendix`` (a section) at the
    end; figure paths are relative to ``out_dir`` in Markdown and LaTeX and embedded in the HTML.
    """
    out_dir = Path(out_dir)
    sections = _numbered(ordered(sections))
    env = _env(Path(templates))
    paths = {}
    for fmt_, name in FORMATS.items():
        text = env.get_template(name).render(sections=sections, title=title, profile=profile, provenance=provenance,
                                             appendix=appendix, out_dir=str(out_dir.resolve()), references=references())
        paths[fmt_] = out_dir / f"report.{fmt_}"
        write_text(paths[fmt_], text)
    return paths


def compile_pdf(tex_path: str | Path) -> Path | None:
    """pdflatex twice (for references) when installed; None and a hint otherwise."""
    tex_path = Path(tex_path)
    if shutil.which("pdflatex") is None:
        return None
    for _ in range(2):
        proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex_path.name],
                              cwd=tex_path.parent, capture_output=True, text=True, errors="replace")
        if proc.returncode != 0:
            tail = "\n".join(proc.stdout.splitlines()[-25:])
            raise RuntimeError(f"pdflatex failed on {tex_path}:\n{tail}")
    return tex_path.with_suffix(".pdf")


PDF_HINT = ("pdflatex is not installed, so report.pdf was not built (report.html holds the same report). Install "
            "it with `sudo apt-get install texlive-latex-base texlive-latex-recommended lmodern` (or your OS's "
            "TeX Live) and rerun snakemake: once pdflatex is found, report.pdf is an output of the report rule.")
