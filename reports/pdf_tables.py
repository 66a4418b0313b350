"""Tables of the PDF pack: column widths from their content, lines broken
where a reader expects (between words, between Chinese characters, never
inside a number or a Latin word, no closing punctuation at a line's start),
and tables that run over pages with their header repeated and never leave
a page holding a header and a row or two.

reportlab's own ``wordWrap="CJK"`` breaks "Significance" as "Significanc-e"
and "12,345" as "12," / "345": the lines here are broken before reportlab
sees them and each column is at least as wide as its widest unbreakable
piece.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

#: Characters set one by one (a line may break before or after each).
_WIDE = "\u2e80-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef"
_TOKEN = re.compile(rf"\s+|[{_WIDE}]|[^\s{_WIDE}]+")
#: Never at a line's start (closing punctuation) / end (opening punctuation).
NO_START = set("，。、；：！？）》」』】〕％”’,.;:!?)%")
NO_END = set("（《「『【〔“‘(")

#: Cell padding (points, each side) and the rows a split table keeps together
#: at its start (with the header) and at its end.
PAD = 3.0
KEEP_ROWS = 3

Measure = Callable[[str], float]


def tokens(text: str) -> list[str]:
    """Unbreakable pieces of ``text``: white space, single wide characters,
    runs of other characters; closing punctuation joined to the piece
    before it and opening punctuation to the piece after."""
    out: list[str] = []
    for tok in _TOKEN.findall(text):
        if out and not out[-1].isspace() and (tok[0] in NO_START or out[-1][-1] in NO_END):
            out[-1] += tok
        else:
            out.append(tok)
    return out


def break_lines(text: str, width: float, measure: Measure) -> list[str]:
    """``text`` in lines no wider than ``width`` (greedy; a piece wider than
    ``width`` on its own is cut by characters, the only time a word is)."""
    lines: list[str] = []
    for para in str(text).split("\n"):
        line = ""
        for tok in tokens(para):
            if measure(line + tok) <= width or not line.strip():
                line = line + tok if line.strip() else tok.lstrip()
            else:
                lines.append(line.rstrip())
                line = tok.lstrip()
            while measure(line) > width and len(line) > 1:  # one piece too wide: cut it
                cut = max(1, max(i for i in range(1, len(line) + 1) if measure(line[:i]) <= width))
                lines.append(line[:cut])
                line = line[cut:]
        lines.append(line.rstrip())
    return lines


def fit_widths(rows: Sequence[Sequence[str]], available: float, measure: Measure) -> list[float]:
    """Column widths (points, padding included) summing to ``available``:
    every column first gets its widest unbreakable piece; then the columns
    that need least more to hold their longest cell on one line get it, as
    long as each such step leaves the others their fair share; the rest
    share what is left in proportion to what they lack. A header so wraps
    only where the page is too narrow for the table on one line. A table
    narrower than ``available`` is widened in proportion to its columns."""
    least, natural = _extents(rows, measure)
    total_least, total_natural = sum(least), sum(natural)
    if total_natural <= available:
        return [w * available / total_natural for w in natural]
    if total_least >= available:
        return [w * available / total_least for w in least]
    # Columns that need little more than their widest piece get their whole
    # line first (fewest columns wrap); the others share what is left.
    widths = list(least)
    budget = available - total_least
    waiting = sorted(range(len(least)), key=lambda j: natural[j] - least[j])
    while waiting and natural[waiting[0]] - least[waiting[0]] <= budget / len(waiting):
        j = waiting.pop(0)
        budget -= natural[j] - least[j]
        widths[j] = natural[j]
    slack = sum(natural[j] - least[j] for j in waiting)
    for j in waiting:
        widths[j] += budget * (natural[j] - least[j]) / slack
    return widths


def data_table(
    rows: Sequence[Sequence[str]],
    available: float,
    font: str,
    size: float,
    right: Sequence[int] = (),
    escape: Callable[[Any], str] = str,
) -> Any:
    """A reportlab ``LongTable`` of ``rows`` (the first is the header, set on
    a tint and repeated on every page), ``right`` columns right-aligned
    (figures). A table of up to ``2 * KEEP_ROWS + 2`` rows stays on one page;
    a longer one keeps its header with its first ``KEEP_ROWS`` rows and its
    last ``KEEP_ROWS`` rows together. The font shrinks (to 6.5 pt at least)
    when the widest pieces would not fit ``available``."""
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_LEFT, TA_RIGHT
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.platypus import LongTable, Paragraph, TableStyle

    unit: dict[str, float] = {}  # a character's width at 1 pt (TrueType: no kerning)

    def measure_at(pt: float) -> Measure:
        def measure(text: str) -> float:
            total = 0.0
            for ch in text:
                if ch not in unit:
                    unit[ch] = pdfmetrics.stringWidth(ch, font, 1.0)
                total += unit[ch]
            return total * pt

        return measure

    while size > 6.5:
        m = measure_at(size)
        if sum(_extents(rows, m)[0]) <= available:
            break
        size -= 0.5
    measure = measure_at(size)
    widths = fit_widths(rows, available, measure)
    styles = [
        ParagraphStyle(f"cell{a}", fontName=font, fontSize=size, leading=size * 1.3, alignment=a)
        for a in (TA_LEFT, TA_RIGHT)
    ]
    data = []
    for i, row in enumerate(rows):
        cells = []
        for j, cell in enumerate(row):
            lines = break_lines(str(cell), widths[j] - 2 * PAD + 0.01, measure)
            style = styles[1 if (j in right and i > 0) else 0]
            cells.append(Paragraph("<br/>".join(escape(line) for line in lines), style))
        data.append(cells)
    table = LongTable(data, colWidths=widths, repeatRows=1, splitByRow=1, hAlign="LEFT")
    cmds: list[tuple[Any, ...]] = [
        # The cells' own font too (reportlab sets it even for paragraph cells,
        # which would add an unembedded Helvetica to the file).
        ("FONT", (0, 0), (-1, -1), font, size),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E3EAF2")),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#B0BEC5")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LEFTPADDING", (0, 0), (-1, -1), PAD),
        ("RIGHTPADDING", (0, 0), (-1, -1), PAD),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]
    n = len(rows)
    if n <= 2 * KEEP_ROWS + 2:
        cmds.append(("NOSPLIT", (0, 0), (-1, -1)))
    else:
        cmds.append(("NOSPLIT", (0, 0), (-1, KEEP_ROWS)))
        cmds.append(("NOSPLIT", (0, n - KEEP_ROWS), (-1, n - 1)))
    table.setStyle(TableStyle(cmds))
    return table


def _extents(rows: Sequence[Sequence[str]], measure: Measure) -> tuple[list[float], list[float]]:
    """Per column: the widest unbreakable piece and the longest cell (padding included)."""
    n = max(len(r) for r in rows)
    least = [2 * PAD] * n
    natural = [2 * PAD] * n
    for row in rows:
        for j, cell in enumerate(row):
            pieces = [t for t in tokens(str(cell)) if not t.isspace()] or [""]
            least[j] = max(least[j], max(measure(t) for t in pieces) + 2 * PAD)
            longest = max(measure(line) for line in str(cell).split("\n"))
            natural[j] = max(natural[j], longest + 2 * PAD)
    return least, natural
