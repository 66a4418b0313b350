"""The typeface of the weekly pack: a subset of WenQuanYi Micro Hei shipped in
``assets/fonts`` (made by ``tools/make_cjk_font.py``; source and licence in
``assets/fonts/SOURCES.md``), so the PDF and its charts never depend on the
host's fonts. reportlab embeds it (TrueType outlines, subset again to the
characters a pack uses), matplotlib draws the charts with it."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

FONT_PATH = (
    Path(__file__).resolve().parent.parent / "assets" / "fonts" / "WenQuanYiMicroHei-subset.ttf"
)
#: The name the PDF knows the font by (pdffonts shows ``XXXXXX+WenQuanYiMicroHei``).
PDF_FONT = "WenQuanYiMicroHei"


@lru_cache(maxsize=1)
def pdf_font() -> str:
    """Register the font with reportlab (once) and return its name; the
    same face serves as bold and italic (the subset has one weight)."""
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if PDF_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(PDF_FONT, str(FONT_PATH)))
        for bold in (0, 1):
            for italic in (0, 1):
                addMapping(PDF_FONT, bold, italic, PDF_FONT)
    return PDF_FONT


@lru_cache(maxsize=1)
def chart_font() -> str:
    """Add the font to matplotlib (once) and return its family name."""
    from matplotlib import font_manager

    font_manager.fontManager.addfont(str(FONT_PATH))
    return str(font_manager.FontProperties(fname=str(FONT_PATH)).get_name())


@lru_cache(maxsize=1)
def covered() -> frozenset[int]:
    """The code points the shipped font draws."""
    from fontTools.ttLib import TTFont

    with TTFont(str(FONT_PATH), lazy=True) as font:
        return frozenset(font.getBestCmap())


def missing(text: str) -> set[str]:
    """The characters of ``text`` the font cannot draw (white space aside)."""
    have = covered()
    return {ch for ch in text if not ch.isspace() and ord(ch) not in have}
