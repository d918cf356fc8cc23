"""The report's printed page (report.tex.j2: a4paper, 2 cm margins), which figures are drawn for.

A module of its own so plots can size figures for print without importing the renderer.
"""
from __future__ import annotations

from pathlib import Path

TEXT_WIDTH_IN = (595.28 - 2 * 56.91) / 72.27   # \linewidth in inches
TEXT_HEIGHT_IN = (841.89 - 2 * 56.91) / 72.27
FIGURE_MAX_HEIGHT_IN = 0.6 * TEXT_HEIGHT_IN      # a figure leaves room for its caption and some text
MIN_FONT_PT = 7.0                                 # no figure text below this at print size


def png_size_in(path: str | Path) -> tuple[float, float]:
    """A PNG's size in inches, from its pixels and the dpi matplotlib stored in it."""
    from PIL import Image

    with Image.open(path) as im:
        dpi = im.info.get("dpi", (72, 72))
        return im.width / float(dpi[0]), im.height / float(dpi[1])
