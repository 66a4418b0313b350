"""Tables written out for people (Excel, CSV): each column has a *kind* that
says how its values are rounded, shown and formatted, so a workbook opens
with rounded figures, number formats, sensible widths and a frozen header.

Kinds (the value stored -> what Excel shows):

- ``text``, ``code`` (kept as text: a street code is not a number);
- ``int`` (counts, ``#,##0``); ``signed`` (a change in counts, ``+#,##0``);
- ``share`` (0-1, rounded to 0.1 %, ``0.0%``); ``pp`` (a change of a share in
  percentage points, 1 decimal, ``+0.0``);
- ``minutes`` (1 decimal, ``#,##0.0``); ``whole_minutes`` (a target,
  ``#,##0``); ``mean`` (an average of counts, 1 decimal);
- ``z`` (a test statistic, 2 decimals, ``+0.00``); ``coord`` (degrees,
  5 decimals, about a metre);
- ``date`` and ``datetime`` (``yyyy-mm-dd`` / ``yyyy-mm-dd hh:mm``).

:func:`workbook_bytes` writes :class:`Sheet` s (a ``raw`` one as it is: the
machine-readable sheets). :func:`csv_frame` makes a sheet's CSV rows (shares
as "90.7%", which Excel reads as a percentage, the other numbers rounded as
above) and :func:`csv_bytes` writes them as UTF-8 with a byte-order mark
(Excel then reads Chinese correctly).
"""

from __future__ import annotations

import io
import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import pandas as pd

Kind = Literal[
    "text",
    "code",
    "int",
    "signed",
    "share",
    "pp",
    "minutes",
    "whole_minutes",
    "mean",
    "z",
    "coord",
    "date",
    "datetime",
]

#: Excel number format per kind ("General" for text).
NUMBER_FORMATS: dict[str, str] = {
    "text": "General",
    "code": "@",
    "int": "#,##0",
    "signed": "+#,##0;-#,##0;0",
    "share": "0.0%",
    "pp": "+0.0;-0.0;0.0",
    "minutes": "#,##0.0",
    "whole_minutes": "#,##0",
    "mean": "#,##0.0",
    "z": "+0.00;-0.00;0.00",
    "coord": "0.00000",
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm",
}

#: Decimals a value of each numeric kind is rounded to before it is written.
DECIMALS: dict[str, int] = {
    "int": 0,
    "signed": 0,
    "share": 3,
    "pp": 1,
    "minutes": 1,
    "whole_minutes": 0,
    "mean": 1,
    "z": 2,
    "coord": 5,
}

#: Column widths (Excel's character units) are kept between these.
MIN_WIDTH, MAX_WIDTH = 6.0, 48.0
HEADER_FILL = "E3EAF2"
RAW_TAB = "B0BEC5"


def is_missing(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def rounded(value: Any, kind: str) -> Any:
    """``value`` as written for ``kind``: rounded numbers (ints for counts),
    naive datetimes, text; ``None`` when missing."""
    if is_missing(value):
        return None
    if kind in DECIMALS:
        v = float(value)
        if math.isinf(v):
            return None
        places = DECIMALS[kind]
        return int(round(v)) if places == 0 else round(v, places)
    if kind in ("date", "datetime"):
        ts = pd.Timestamp(value)
        return ts.date() if kind == "date" else ts.to_pydatetime().replace(tzinfo=None)
    if kind == "code" and isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def shown(value: Any, kind: str) -> str:
    """How Excel shows a written value (for widths and the CSV's shares)."""
    v = rounded(value, kind)
    if v is None:
        return ""
    if kind in ("int", "whole_minutes"):
        return f"{v:,d}"
    if kind == "signed":
        return f"{v:+,d}"
    if kind == "share":
        return f"{v:.1%}"
    if kind in ("pp", "z"):
        return f"{v:+.{DECIMALS[kind]}f}"
    if kind in ("minutes", "mean"):
        return f"{v:,.1f}"
    if kind == "coord":
        return f"{v:.5f}"
    if kind == "date":
        return v.isoformat()
    if kind == "datetime":
        return v.strftime("%Y-%m-%d %H:%M")
    return str(v)


def text_width(text: str) -> float:
    """Width of ``text`` in Excel character units: wide (CJK, full-width)
    characters count two."""
    return float(sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text))


@dataclass(frozen=True)
class Sheet:
    """One worksheet: ``frame`` (headers as shown), each column's kind in
    ``kinds`` (one kind, or one per row for a column mixing counts and
    shares; a column not named is ``text``), optional ``title`` lines above
    the header, ``freeze_cols`` leading columns kept in view when scrolling
    right, ``raw`` for a machine-readable sheet (values as they are, grey
    tab)."""

    name: str
    frame: pd.DataFrame
    kinds: Mapping[str, Kind | Sequence[Kind]] = field(default_factory=dict)
    title: Sequence[str] = ()
    freeze_cols: int = 0
    raw: bool = False


def raw_sheet(name: str, frame: pd.DataFrame) -> Sheet:
    """A machine-readable sheet: the frame's own column names and values,
    nothing rounded (timestamps shown to the second)."""
    return Sheet(name, frame, raw=True)


def workbook_bytes(sheets: Sequence[Sheet]) -> bytes:
    """An .xlsx of ``sheets`` in order (names cut to Excel's 31 characters):
    a bold shaded header row, frozen below it (and right of
    ``freeze_cols``), an auto-filter, each column as wide as its widest
    shown value (within :data:`MIN_WIDTH`-:data:`MAX_WIDTH`), numbers
    rounded and formatted by kind, long text wrapped in its cell."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor=HEADER_FILL)
    under = Border(bottom=Side(style="thin", color="90A4AE"))
    head_align = Alignment(wrap_text=True, vertical="center")
    wrap = Alignment(wrap_text=True, vertical="top")
    for sheet in sheets:
        ws = wb.create_sheet(sheet.name[:31])
        if sheet.raw:
            ws.sheet_properties.tabColor = RAW_TAB
        for line in sheet.title:
            ws.append([line])
        if sheet.title:
            ws.cell(row=1, column=1).font = Font(bold=True, size=12)
        header_row = len(sheet.title) + 1
        columns = [str(c) for c in sheet.frame.columns]
        ws.append(columns)
        for j in range(len(columns)):
            cell = ws.cell(row=header_row, column=j + 1)
            cell.font, cell.fill, cell.border, cell.alignment = bold, fill, under, head_align
        prepared = [_column(sheet, j) for j in range(len(columns))]
        n = len(sheet.frame)
        for i in range(n):
            ws.append([values[i] for values, _, _ in prepared])
        for j, (values, formats, width) in enumerate(prepared):
            letter = get_column_letter(j + 1)
            ws.column_dimensions[letter].width = min(
                MAX_WIDTH, max(MIN_WIDTH, text_width(columns[j]), width) + 2
            )
            long_text = width > MAX_WIDTH
            for i, value in enumerate(values):
                if value is None or (formats[i] is None and not long_text):
                    continue
                cell = ws.cell(row=header_row + 1 + i, column=j + 1)
                if formats[i] is not None:
                    cell.number_format = formats[i]
                if long_text and isinstance(value, str) and text_width(value) > MAX_WIDTH:
                    cell.alignment = wrap
        ws.freeze_panes = ws.cell(row=header_row + 1, column=sheet.freeze_cols + 1)
        if columns:
            ws.auto_filter.ref = f"A{header_row}:{get_column_letter(len(columns))}{header_row + n}"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _column(sheet: Sheet, j: int) -> tuple[list[Any], list[str | None], float]:
    """Column ``j`` of a sheet as written: its values, each cell's number
    format and the width of its widest shown value."""
    series = sheet.frame.iloc[:, j]
    name = str(sheet.frame.columns[j])
    kind = sheet.kinds.get(name, "text")
    if sheet.raw:
        values = [_raw_value(v) for v in series.tolist()]
        formats = [_raw_format(v) for v in values]
        width = max((_raw_width(v) for v in values if v is not None), default=0.0)
        return values, formats, width
    if not isinstance(kind, str):  # one kind per row
        values = [rounded(v, k) for v, k in zip(series.tolist(), kind, strict=True)]
        formats = [None if k == "text" else NUMBER_FORMATS[k] for k in kind]
        texts = [shown(v, k) for v, k in zip(series.tolist(), kind, strict=True)]
        return values, formats, max((text_width(t) for t in texts), default=0.0)
    fmt = None if kind == "text" else NUMBER_FORMATS[kind]
    if kind in DECIMALS:
        places = DECIMALS[kind]
        numbers = pd.to_numeric(series, errors="coerce").astype(float).round(places)
        values = [
            None if math.isnan(v) or math.isinf(v) else int(v) if places == 0 else v
            for v in numbers.tolist()
        ]
        present = [v for v in values if v is not None]
        extremes = [max(present), min(present)] if present else []
        width = max((text_width(shown(v, kind)) for v in extremes), default=0.0)
    else:
        values = [rounded(v, kind) for v in series.tolist()]
        width = max((text_width(shown(v, kind)) for v in set(values) - {None}), default=0.0)
    return values, [fmt] * len(values), width


def _raw_value(value: Any) -> Any:
    """A raw cell: numbers and text as they are, timestamps naive, numpy
    scalars as Python's, missing values empty."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if is_missing(value):
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return pd.Timestamp(value).to_pydatetime().replace(tzinfo=None)
    if isinstance(value, date):
        return value
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _raw_format(value: Any) -> str | None:
    if isinstance(value, datetime):
        return "yyyy-mm-dd hh:mm:ss"
    return NUMBER_FORMATS["date"] if isinstance(value, date) else None


def _raw_width(value: Any) -> float:
    if isinstance(value, datetime):
        return 19.0
    if isinstance(value, date):
        return 10.0
    return text_width(value) if isinstance(value, str) else float(len(str(value)))


def csv_frame(sheet: Sheet) -> pd.DataFrame:
    """The sheet's frame as the CSV writes it: numbers rounded, shares as
    "90.7%", dates as ISO text, missing values empty."""
    out: dict[Any, Any] = {}
    for j, col in enumerate(sheet.frame.columns):
        kind = sheet.kinds.get(str(col), "text")
        series = sheet.frame.iloc[:, j]
        if isinstance(kind, str) and kind in DECIMALS and kind != "share":
            places = DECIMALS[kind]
            numbers = pd.to_numeric(series, errors="coerce").astype(float).round(places)
            out[col] = numbers.astype("Int64") if places == 0 else numbers
            continue
        kinds = [kind] * len(series) if isinstance(kind, str) else list(kind)
        values = []
        for value, k in zip(series.tolist(), kinds, strict=True):
            if k in ("share", "date", "datetime"):
                values.append(shown(value, k))
            else:
                v = rounded(value, k)
                values.append("" if v is None else v)
        out[col] = values
    return pd.DataFrame(out, columns=sheet.frame.columns)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as CSV, UTF-8 with a byte-order mark (Excel's cue for UTF-8)."""
    return frame.to_csv(index=False).encode("utf-8-sig")
