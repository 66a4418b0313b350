"""The wall's building blocks: escaped HTML, figures and bars, and the
areas and names the tiles show."""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

import pandas as pd

from data_access.config import ScreenView
from data_access.filters import AreaFilter
from ui.data import local_now, session_scope
from ui.filters import scoped_area
from ui.i18n import t
from ui.shell import PageContext


def _e(value: Any) -> str:
    return html.escape(str(value))


def _pct(share: float) -> str:
    return "—" if share is None or pd.isna(share) else f"{share:.0%}"


def _bar_rows(rows: list[tuple[str, float, str]], fit_vh: float = 0.0) -> str:
    """Bars of shares (0-1); with ``fit_vh`` the rows shrink to fit that height."""
    out = []
    style = ""
    if fit_vh and rows:
        row_vh = min(3.6, fit_vh / len(rows))
        style = (
            f' style="font-size:{row_vh * 0.62:.2f}vh;height:{row_vh * 0.9:.2f}vh;'
            f'margin:{row_vh * 0.05:.2f}vh 0;--bar:{row_vh * 0.55:.2f}vh"'
        )
    for name, share, colour in rows:
        width = 0 if pd.isna(share) else max(0.0, min(1.0, share)) * 100
        out.append(
            f'<div class="scr-row"{style}><span class="scr-name">{_e(name)}</span>'
            f'<span class="scr-bar"><span style="width:{width:.1f}%;background:{colour}">'
            f'</span></span><span class="scr-pct">{_pct(share)}</span></div>'
        )
    return "".join(out)


def fig_html(key: str, label: str, value: str, sub: str = "", red: bool = False) -> str:
    """One headline figure (``data-key`` lets tests find it)."""
    cls = "scr-value scr-red" if red else "scr-value"
    return (
        f'<div class="scr-fig" data-key="{_e(key)}"><div class="scr-label">{_e(label)}</div>'
        f'<div class="{cls}">{_e(value)}</div><div class="scr-sub">{_e(sub)}</div></div>'
    )


# ---------------------------------------------------------------------------
# Areas and names


def screen_area(ctx: PageContext, view: ScreenView | None = None, days: int = 1) -> AreaFilter:
    """The screen's area (the view's own district/streets, else the wall's
    global filter) for the last ``days`` local days ending today, within the
    session's scope (:func:`ui.filters.scoped_area`)."""
    today = local_now(ctx.cfg).date()
    district = ctx.area.district
    streets = ctx.area.streets
    if view is not None and (view.district or view.streets):
        district = view.district or None
        streets = view.streets
    area = AreaFilter(
        start=today - timedelta(days=max(days, 1) - 1),
        end=today,
        district=district,
        streets=streets,
    )
    # Within the user's scope, naming its streets where it is part of the area.
    return scoped_area(area, ctx.streets, session_scope())


def area_label(ctx: PageContext, f: AreaFilter) -> str:
    if f.streets:
        return ", ".join(ctx.street_name(s) for s in f.streets[:3])
    if f.district:
        return ctx.district_name(f.district)
    return ctx.cfg.name_en if ctx.lang == "en" else ctx.cfg.name_zh


def _hhmm(ts: Any) -> str:
    return "—" if ts is None or pd.isna(ts) else pd.Timestamp(ts).strftime("%H:%M")


def domain_name(code: str) -> str:
    key = f"screen.domain_{code}"
    name = t(key)
    return code if name == key else name
