"""One look for every figure, sized for print, and an atomic save.

Figures are drawn with fonts of at least :data:`MIN_FONT_PT` and saved no larger than the report's text
width × figure height (:mod:`archlab.report.page`), so the report prints them at their natural size or
larger and no text falls below 7 pt on paper. PNGs at 150 dpi with a 256-colour palette keep the demo PDF
small (image grids shrink about threefold; plots lose nothing visible).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.text import Text

from archlab.io import atomic_path
from archlab.report.page import FIGURE_MAX_HEIGHT_IN, MIN_FONT_PT, TEXT_WIDTH_IN, png_size_in

DPI = 150
plt.rcParams.update({
    "figure.dpi": 110, "savefig.dpi": DPI, "axes.grid": True, "grid.alpha": 0.3,
    "axes.spines.top": False, "axes.spines.right": False, "font.size": 8, "legend.fontsize": 7,
    "legend.title_fontsize": 7, "xtick.labelsize": 7, "ytick.labelsize": 7, "axes.labelsize": 8,
    "axes.titlesize": 8, "figure.titlesize": 9, "figure.constrained_layout.use": True,
})


def fit_for_print(fig: plt.Figure, width_in: float = TEXT_WIDTH_IN, height_in: float = FIGURE_MAX_HEIGHT_IN) -> None:
    """Raise every text to at least :data:`MIN_FONT_PT` and shrink the figure (not its fonts) into the print box."""
    for text in fig.findobj(Text):
        if text.get_text() and text.get_fontsize() < MIN_FONT_PT:
            text.set_fontsize(MIN_FONT_PT)
    w, h = fig.get_size_inches()
    scale = min(1.0, width_in / w, height_in / h)
    if scale < 1.0:
        fig.set_size_inches(w * scale, h * scale)


def save(fig: plt.Figure, path: str | Path) -> Path:
    """Save as PNG fitted to the print box; text sticking out of the figure (tight bbox) shrinks it again."""
    path = Path(path)
    fit_for_print(fig)
    with atomic_path(path) as tmp:
        for _ in range(3):
            fig.savefig(tmp, format="png", bbox_inches="tight", pad_inches=0.03)
            w, h = png_size_in(tmp)
            over = max(w / TEXT_WIDTH_IN, h / FIGURE_MAX_HEIGHT_IN)
            if over <= 1.01:
                break
            fw, fh = fig.get_size_inches()
            fig.set_size_inches(fw / over * 0.98, fh / over * 0.98)
        _to_palette(tmp)
    plt.close(fig)
    return path


def _to_palette(path: Path) -> None:
    """Rewrite an RGB(A) PNG with an adaptive 256-colour palette, keeping its dpi (the print size)."""
    from PIL import Image

    with Image.open(path) as im:
        dpi = im.info.get("dpi", (DPI, DPI))
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, format="png", optimize=True, dpi=dpi)
