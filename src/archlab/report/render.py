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


def column_spec(block: dict, wrap_after: int = 28) -> str:
    """``l`` per column, ``X`` (wrapping, tabularx) for columns holding long text."""
    cells = [block["columns"], *block["rows"]]
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(block["columns"]))]
    return "".join(">{\\raggedright\\arraybackslash}X" if w > wrap_after else "l" for w in widths)


def _env(templates: Path) -> Environment:
    env = Environment(loader=FileSystemLoader(templates), trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["tex"] = tex_inline
    env.filters["relpath"] = lambda p, start: os.path.relpath(p, start)
    env.filters["colspec"] = column_spec
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
                                             appendix=appendix, out_dir=str(out_dir.resolve()))
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
                              cwd=tex_path.parent, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join(proc.stdout.splitlines()[-25:])
            raise RuntimeError(f"pdflatex failed on {tex_path}:\n{tail}")
    return tex_path.with_suffix(".pdf")


PDF_HINT = ("pdflatex is not installed, so report.pdf was not built (report.html holds the same report). Install "
            "it with `sudo apt-get install texlive-latex-base texlive-latex-recommended lmodern` (or your OS's "
            "TeX Live) and rerun snakemake: once pdflatex is found, report.pdf is an output of the report rule.")
