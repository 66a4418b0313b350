"""How every table on the pages shows its numbers: one place, so the formats
cannot drift apart again (90.7 % beside 93.39 %, 12528 beside 12,528).

The column builders return ``st.column_config`` entries with a header
(always a catalogue string, zh or en) and one of :data:`FORMATS`:

- :func:`count`: whole numbers with thousands separators (``12,528``);
- :func:`minutes` / :func:`decimal`: one decimal, with separators (``1,440.0``);
- :func:`percent`: one decimal and a per-cent sign (``93.4%``), on values
  in per cent (:func:`as_percent` turns 0-1 shares into them), as a bar or
  as a number; :func:`points`: a change of a share, signed (``+4.6``);
  :func:`change`: a change of a count, signed (``+1,204``);
- :func:`figures`: figures already written as text (a column that mixes
  counts and shares row by row), right-aligned like numbers;
- :func:`text`, :func:`link`, :func:`when` for names, links and times.

Numbers are right-aligned (Streamlit's default for number columns; text
figures are aligned explicitly). :func:`show` draws a table with the house
defaults (no index, "—" for a missing value); :func:`level_cells` colours
the cells that name a warning colour with that colour.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from data_access.filters import AreaFilter
from ui import phone as phone_view
from ui.i18n import t
from ui.palette import LEVELS

COUNT = "%,d"
DECIMAL = "%,.1f"
PERCENT = "%.1f%%"
POINTS = "%+.1f"
SIGNED = "%+,d"
COORDINATE = "%.5f"
#: Every number format a table may use (tests/test_tables.py checks the pages).
FORMATS = (COUNT, DECIMAL, PERCENT, POINTS, SIGNED, COORDINATE)
#: What a cell shows for a missing value (tests/test_lint.py wants it on every table).
MISSING = "—"


def count(label: str, help: str | None = None) -> Any:
    """A count of cases, rows, items, days: ``12,528``."""
    return st.column_config.NumberColumn(label, help=help, format=COUNT, width="small")


def decimal(label: str, help: str | None = None) -> Any:
    """A measured quantity with one decimal: ``1,440.3``."""
    return st.column_config.NumberColumn(label, help=help, format=DECIMAL, width="small")


def minutes(label: str, help: str | None = None) -> Any:
    """Minutes (a median, a P90, a target), one decimal: ``7.5``."""
    return decimal(label, help)


def percent(label: str, help: str | None = None, bar: bool = True) -> Any:
    """A share in per cent (0-100, see :func:`as_percent`): ``93.4%``, with a
    bar from 0 to 100 % unless ``bar`` is false."""
    if bar:
        return st.column_config.ProgressColumn(
            label, help=help, format=PERCENT, min_value=0.0, max_value=100.0, width="small"
        )
    return st.column_config.NumberColumn(label, help=help, format=PERCENT, width="small")


def points(label: str, help: str | None = None) -> Any:
    """A change of a share in percentage points, signed: ``+4.6``."""
    return st.column_config.NumberColumn(label, help=help, format=POINTS, width="small")


def change(label: str, help: str | None = None) -> Any:
    """A change of a count, signed, with separators: ``+1,204``."""
    return st.column_config.NumberColumn(label, help=help, format=SIGNED, width="small")


def coordinate(label: str, help: str | None = None) -> Any:
    """A latitude or longitude, to about a metre: ``30.27415``."""
    return st.column_config.NumberColumn(label, help=help, format=COORDINATE, width="small")


def typed(frame: pd.DataFrame, labels: Mapping[str, Any]) -> dict[str, Any]:
    """``labels`` (column -> header text, or a column setting, or None to
    hide) with each plain header made the house column for its data: whole
    numbers :func:`count`, other numbers :func:`decimal`, times
    :func:`when`, the rest :func:`text` (a table whose columns are known
    only by their headers, e.g. the import page's)."""
    out: dict[str, Any] = {}
    for column, label in labels.items():
        if not isinstance(label, str) or column not in frame.columns:
            out[column] = label
            continue
        kind = frame[column].dtype
        if pd.api.types.is_bool_dtype(kind):
            out[column] = st.column_config.CheckboxColumn(label)
        elif pd.api.types.is_integer_dtype(kind):
            out[column] = count(label)
        elif pd.api.types.is_numeric_dtype(kind):
            whole = frame[column].dropna()
            out[column] = count(label) if (whole == whole.round()).all() else decimal(label)
        elif pd.api.types.is_datetime64_any_dtype(kind):
            out[column] = when(label)
        else:
            out[column] = text(label)
    return out


def figures(label: str, help: str | None = None) -> Any:
    """Figures written as text (each row its own kind), right-aligned."""
    return st.column_config.TextColumn(label, help=help, alignment="right")


def text(label: str, help: str | None = None, width: Any = None) -> Any:
    return st.column_config.TextColumn(label, help=help, width=width)


def link(label: str, display: str, help: str | None = None) -> Any:
    """A link column whose cells read ``display`` (the URL is the value)."""
    return st.column_config.LinkColumn(label, help=help, display_text=display, width="small")


def when(label: str, help: str | None = None, seconds: bool = False) -> Any:
    """A time: ``2026-11-20 17:58``; with ``seconds`` (handling milestones a
    minute apart) ``11-20 17:58:03``, the year left out to stay narrow."""
    fmt = "MM-DD HH:mm:ss" if seconds else "YYYY-MM-DD HH:mm"
    return st.column_config.DatetimeColumn(label, help=help, format=fmt)


def street_link(page: str, f: AreaFilter, street: str, district: str | None, lang: str) -> str:
    """A link (relative to the app's address) to ``page`` for one street over
    ``f``'s dates, in the URL's own filter parameters (as the sidebar writes them)."""
    params = {"lang": lang, "start": f.start.isoformat(), "end": f.end.isoformat()}
    params |= {"district": district or "", "streets": street}
    return f"{page}?{urlencode(params)}"


def as_percent(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """``frame`` with the 0-1 shares of ``columns`` (those present) in per cent."""
    present = [c for c in columns if c in frame.columns]
    return frame.assign(**{c: pd.to_numeric(frame[c]).astype(float) * 100.0 for c in present})


def level_cells(frame: pd.DataFrame, column: str, levels: Mapping[str, str]) -> Any:
    """A Styler of ``frame`` whose ``column`` cells are filled with the colour
    they name (``levels``: the cell's text -> level key ``red``/``yellow``/
    ``green``); the text stays (icon and word), so colour is never alone."""

    def style(value: Any) -> str:
        key = levels.get(str(value))
        if key is None:
            return ""
        ink = "#212121" if key == "yellow" else "#FFFFFF"
        return f"background-color: {LEVELS[key].hex}; color: {ink}"

    return frame.style.map(style, subset=[column])


def show(
    data: Any,
    config: Mapping[str, Any],
    order: Iterable[str] | None = None,
    phone: Iterable[str] | None = None,
    **kwargs: Any,
) -> Any:
    """``st.dataframe`` with the house defaults: no index, "—" for a missing
    value, the page's width. On a phone (:func:`ui.phone.is_phone`) only
    the ``phone`` columns (the ones that matter there; default the first
    :data:`ui.phone.PHONE_COLUMNS`), with the whole table one tap away in
    an expander under it: a wide table in 358 px scrolls sideways, its
    last columns out of sight."""
    kwargs.setdefault("hide_index", True)
    columns = list(order) if order is not None else None
    if phone_view.is_phone():
        frame = getattr(data, "data", data)  # a Styler's frame
        every = columns or [str(c) for c in frame.columns if config.get(c, "") is not None]
        few = [c for c in (phone or every[: phone_view.PHONE_COLUMNS]) if c in every]
        if 0 < len(few) < len(every):
            shown = _dataframe(data, config, few, kwargs)
            more = dict(kwargs, key=f"{kwargs['key']}_all") if kwargs.get("key") else kwargs
            with st.expander(t("phone.all_columns", n=len(every)), icon=":material/view_column:"):
                st.caption(t("phone.all_columns_help"))
                _dataframe(data, config, every, more)
            return shown
    return _dataframe(data, config, columns, kwargs)


def _dataframe(
    data: Any, config: Mapping[str, Any], order: list[str] | None, kwargs: dict[str, Any]
) -> Any:
    return st.dataframe(
        data, column_config=dict(config), column_order=order, placeholder=MISSING, **kwargs
    )
