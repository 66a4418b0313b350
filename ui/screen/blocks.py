"""The wall's building blocks: escaped HTML, figures and bars, and the
areas and names the tiles show."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from data_access.config import ScreenView
from data_access.filters import AreaFilter
from ui.data import local_now, session_scope
from ui.filters import scoped_area
from ui.i18n import t
from ui.palette import LEVELS, MUTED
from ui.shell import PageContext, when_text


def _e(value: Any) -> str:
    return html.escape(str(value))


def _pct(share: float) -> str:
    return "—" if share is None or pd.isna(share) else f"{share:.0%}"


def _bar_rows(
    rows: list[tuple[str, float, str]],
    goals: Sequence[float | None] | None = None,
    extra: Sequence[str] | None = None,
) -> str:
    """Bars of shares (0-1, the axis from 0 to 100 %) in a grid: the name
    column is as wide as the longest name (wrapping between words, never
    inside one). ``goals`` draws each row's target share as a tick on its
    bar; ``extra`` adds a small text after each percentage (cases judged)."""
    out = []
    for i, (name, share, colour) in enumerate(rows):
        width = 0 if pd.isna(share) else max(0.0, min(1.0, share)) * 100
        goal = goals[i] if goals else None
        tick = "" if goal is None else f'<i style="left:{max(0.0, min(1.0, goal)) * 100:.1f}%"></i>'
        more = f" <small>{_e(extra[i])}</small>" if extra else ""
        out.append(
            f'<div class="scr-row"><span class="scr-name" title="{_e(name)}">{_e(name)}</span>'
            f'<span class="scr-bar"><span style="width:{width:.1f}%;background:{colour}">'
            f'</span>{tick}</span><span class="scr-pct">{_pct(share)}{more}</span></div>'
        )
    return f'<div class="scr-bars">{"".join(out)}</div>'


def street_goals(ctx: PageContext, codes: list[str]) -> list[float]:
    """The on-time goal (share of judged cases, 0-1) of each street's target set."""
    district = dict(zip(ctx.streets["code"], ctx.streets["district_code"], strict=True))
    return [float(ctx.cfg.targets_for(c, district.get(c, "")).on_time_goal) for c in codes]


def goal_colour(share: float, goal: float) -> str:
    """Green when the share meets the goal, red when below, grey when unknown."""
    if share is None or pd.isna(share):
        return MUTED
    return LEVELS["green"].hex if share >= goal else LEVELS["red"].hex


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
        return t("app.list_sep").join(ctx.street_name(s) for s in f.streets[:3])
    if f.district:
        return ctx.district_name(f.district)
    return ctx.cfg.name_en if ctx.lang == "en" else ctx.cfg.name_zh


def _hhmm(ts: Any) -> str:
    return "—" if ts is None or pd.isna(ts) else pd.Timestamp(ts).strftime("%H:%M")


def dated_when(ts: Any, now: datetime, with_time: bool = True) -> tuple[str, bool]:
    """When something happened, for the wall: ``13:58`` today; before today
    its date and age, ``11-19 13:58（昨天）`` or ``11-17 09:00（3 天前）``
    (without the time of day: ``11-17（3 天前）``). Returns the text and
    whether it is from before today."""
    if ts is None or pd.isna(ts):
        return "—", False
    at = pd.Timestamp(ts)
    days = (now.date() - at.date()).days
    if days <= 0:
        return when_text(ts, now), False
    age = t("screen.yesterday") if days == 1 else t("screen.days_ago", n=days)
    date = (
        when_text(ts, now)
        if with_time
        else at.strftime("%m-%d" if at.year == now.year else "%Y-%m-%d")
    )
    return t("screen.dated", date=date, age=age), True


def domain_name(code: str) -> str:
    key = f"screen.domain_{code}"
    name = t(key)
    return code if name == key else name
