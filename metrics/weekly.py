"""The weekly review (周例会): every table of the page and the pack.

:func:`review_tables` is what the page and the pack ask for: a stored review
when the rollup job stored one, else :func:`compute_review_tables` (which the
rollup job calls). Each table comes from the module that computes it, and
the SQL of each figure is in the function named there:

- ``weeks`` (every figure of every week: cases, handling, warnings,
  petitions, crowds, and their definitions): :mod:`metrics.weekly_figures`;
- ``comparison`` and ``streets`` (league table, movers, significance
  marks): :mod:`metrics.weekly_compare`;
- ``hotspots_new`` and ``red_open``: :mod:`metrics.weekly_lists`;
- ``weeks_read`` and the cases-per-week chart (:func:`case_trend`): here.

The weeks (ISO weeks, the weeks a review reads) and the tables' columns are
in :mod:`metrics.weekly_model`; the written summary from the tables is in
:mod:`metrics.weekly_summary`.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Connection

import rollups
from data_access.config import SiteConfig
from data_access.connection import side_by_side
from data_access.filters import AreaFilter, FilterError
from metrics.warning_rules import WarningRules
from metrics.weekly_compare import comparison, street_league
from metrics.weekly_figures import first_case_at, weekly_series
from metrics.weekly_lists import new_hotspots, red_still_open
from metrics.weekly_model import TABLE_COLUMNS, TREND_PERIODS, IsoWeek, parse_week, review_weeks


def weeks_read(conn: Connection, f: AreaFilter, now: datetime, week: IsoWeek) -> pd.DataFrame:
    """The weeks of the review and what they cover. Columns: ``period``
    (``this``, ``last``, ``last_year``, ``w-4`` .. ``w-1``), ``week``,
    ``monday``/``sunday`` (dates), ``as_of`` (the instant evaluated),
    ``has_data`` (False when the week ended before the first recorded case)."""
    first = first_case_at(conn, f, now)
    rows = [
        (p, w.label, w.monday, w.sunday, w.as_of(now), first is not None and w.as_of(now) > first)
        for p, w in review_weeks(week).items()
    ]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS["weeks_read"])


TREND_COLUMNS = ["period", "week", "cases", "has_data"]


def case_trend(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The cases-per-week chart of a review (page and pack): one row per
    week of ``TREND_PERIODS``, oldest first, each week once. Columns:
    ``period``, ``week``, ``cases`` (reported in the week, as in the
    comparison; NaN when the week has no data), ``has_data``."""
    read = tables["weeks_read"].set_index("period")
    series = tables["weeks"]
    totals = series[(series["metric"] == "cases") & (series["code"] == "")]
    cases = dict(zip(totals["week"], totals["value"], strict=True))
    rows = [
        (
            p,
            read.at[p, "week"],
            float(cases.get(read.at[p, "week"], math.nan)),
            read.at[p, "has_data"],
        )
        for p in TREND_PERIODS
    ]
    frame = pd.DataFrame(rows, columns=TREND_COLUMNS)
    return frame.astype({"cases": float, "has_data": bool})


def started_week(week_label: str, now: datetime) -> IsoWeek:
    """The parsed week; FilterError when it is malformed or starts after ``now``."""
    week = parse_week(week_label)
    if week.start_ts > now:
        raise FilterError(f"week: {week.label} has not started yet")
    return week


#: The tables of a review, in order (also the workbook's sheets).
REVIEW_TABLES = ("comparison", "weeks", "streets", "hotspots_new", "red_open", "weeks_read")


def review_tables(
    conn: Connection,
    f: AreaFilter,
    now: datetime,
    cfg: SiteConfig,
    week_label: str,
    rules: WarningRules | None = None,
) -> dict[str, pd.DataFrame]:
    """Every table of the weekly review of ``week_label`` for the area of
    ``f`` (its dates are replaced by the weeks'), as of ``now``.

    Keys (also the Excel sheet names, stable): ``comparison``, ``weeks``
    (the long series behind it), ``streets`` (league table with movers),
    ``hotspots_new``, ``red_open``, ``weeks_read``; columns in
    ``TABLE_COLUMNS``. Without ``rules`` the warning figures are left out.

    An ended week of a district (or of every district) comes from the
    reviews the rollup job stored, when it stored one with the same
    configuration and rules (:func:`rollups.stored_review`);
    otherwise it is computed (:func:`compute_review_tables`).
    """
    week = started_week(week_label, now)
    stored = rollups.stored_review(
        conn, f, now, cfg, rules, week, REVIEW_TABLES, review_reads(week, cfg)
    )
    if stored is not None:
        return stored
    return compute_review_tables(conn, f, now, cfg, week_label, rules)


def review_reads(week: IsoWeek, cfg: SiteConfig) -> list[tuple[datetime, datetime]]:
    """The ``reported_at`` spans a review of ``week`` reads, besides the
    backlog at its end (every case before it): each of its weeks
    (:func:`review_weeks`), with the hot spots' look-back before it."""
    back = timedelta(days=cfg.hotspots.within_days + 1)
    return [(w.start_ts - back, w.end_ts) for w in review_weeks(week).values()]


def compute_review_tables(
    conn: Connection,
    f: AreaFilter,
    now: datetime,
    cfg: SiteConfig,
    week_label: str,
    rules: WarningRules | None = None,
) -> dict[str, pd.DataFrame]:
    """:func:`review_tables` computed from the (rolled-up) cases."""
    week = started_week(week_label, now)
    ontime: dict[str, pd.DataFrame] = {}

    def apart(c: Connection) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The tables that share nothing with the series (hot spots: two
        30-day look-backs, the city's costliest part after the series)."""
        hot = new_hotspots(c, f, now, cfg, week)
        if rules is None:
            return hot, pd.DataFrame(columns=TABLE_COLUMNS["red_open"])
        return hot, red_still_open(c, f, now, cfg, week, rules)

    # Side by side on two connections where the server allows it.
    series, (hot, red) = side_by_side(
        conn, lambda c: weekly_series(c, f, now, cfg, week, rules, ontime), apart
    )
    tables = {
        "comparison": comparison(series, week),
        "weeks": series,
        "streets": street_league(conn, f, now, cfg, week, rules, ontime),
        "hotspots_new": hot,
        "red_open": red,
        "weeks_read": weeks_read(conn, f, now, week),
    }
    return tables


__all__ = [
    "case_trend",
    "review_tables",
    "started_week",
]
