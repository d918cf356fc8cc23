"""Render study sections to Markdown and LaTeX (Jinja2 templates) and compile the PDF."""
from __future__ import annotations

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


def tex_inline(text: str) -> str:
    """Escape, then turn the light markup (**bold**, `code`) into LaTeX."""
    out = tex_escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"\\textbf{\1}", out)
    return re.sub(r"`(.+?)`", r"\\texttt{\1}", out)


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
    return env


def render(sections: list[dict], title: str, profile: str, out_dir: str | Path, templates: str | Path) -> dict[str, Path]:
    """Write ``report.md`` and ``report.tex`` (from ``templates``) into ``out_dir``, figure paths relative to it."""
    out_dir = Path(out_dir)
    sections = sorted(sections, key=lambda s: (s["order"], s["study"]))
    env = _env(Path(templates))
    paths = {}
    for fmt_, name in (("md", "report.md.j2"), ("tex", "report.tex.j2")):
        text = env.get_template(name).render(sections=sections, title=title, profile=profile, out_dir=str(out_dir.resolve()))
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


PDF_HINT = ("pdflatex is not installed, so report.pdf was not built. Install it with "
            "`sudo apt-get install texlive-latex-base texlive-latex-recommended lmodern` "
            "(or your OS's TeX Live) and rerun the report rule.")
