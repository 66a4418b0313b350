"""The weekly review's model: ISO weeks, the weeks a review reads, and the
tables a review produces (their stable names and columns). Pure Python.

Weeks are ISO weeks, Monday 00:00 to the next Monday 00:00 in the site's
naive local time. The default week is the last complete week before ``now``.
"The same week last year" is the same ISO week number of the previous ISO
year (W53 falls back to W52 when the previous year has no W53).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd

from data_access.filters import AreaFilter, FilterError

# ---------------------------------------------------------------------------
# Week arithmetic (pure Python)

_WEEK = re.compile(r"^\s*(\d{4})-?W(\d{1,2})\s*$", re.IGNORECASE)


def weeks_in_year(year: int) -> int:
    """52 or 53: the number of ISO weeks of ISO year ``year`` (28 December is always in the last)."""
    return date(year, 12, 28).isocalendar().week


@dataclass(frozen=True, order=True)
class IsoWeek:
    """An ISO week: ``year`` is the ISO year (which can differ from the calendar
    year of its Monday), ``week`` 1-53."""

    year: int
    week: int

    def __post_init__(self) -> None:
        if not 1 <= self.week <= weeks_in_year(self.year):
            raise FilterError(f"week: {self.year} has no ISO week {self.week}")

    @property
    def label(self) -> str:
        """``2026-W47``."""
        return f"{self.year}-W{self.week:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    @property
    def start_ts(self) -> datetime:
        return datetime.combine(self.monday, time.min)

    @property
    def end_ts(self) -> datetime:
        """First instant after the week (the next Monday 00:00)."""
        return datetime.combine(self.monday + timedelta(days=7), time.min)

    def shift(self, weeks: int) -> IsoWeek:
        return week_of(self.monday + timedelta(days=7 * weeks))

    def last_year(self) -> IsoWeek:
        """The same ISO week number of the previous ISO year (W53 -> W52 when it has none)."""
        prev = self.year - 1
        return IsoWeek(prev, min(self.week, weeks_in_year(prev)))

    def area(self, f: AreaFilter) -> AreaFilter:
        """``f`` with its dates replaced by this week's Monday..Sunday."""
        return replace(f, start=self.monday, end=self.sunday)

    def as_of(self, now: datetime) -> datetime:
        """The instant this week's figures are evaluated at: its end, capped at ``now``."""
        return min(self.end_ts, now)


def week_of(d: date) -> IsoWeek:
    iso = d.isocalendar()
    return IsoWeek(iso.year, iso.week)


def parse_week(text: str) -> IsoWeek:
    """``2026-W47`` (or ``2026W47``, ``2026-w7``) -> IsoWeek; FilterError otherwise."""
    m = _WEEK.match(text or "")
    if not m:
        raise FilterError(f"week: expected YYYY-Www (e.g. 2026-W47), got {text!r}")
    return IsoWeek(int(m.group(1)), int(m.group(2)))


def last_complete_week(now: datetime) -> IsoWeek:
    """The latest week whose end is at or before ``now``."""
    return week_of(now.date()).shift(-1)


def recent_weeks(now: datetime, count: int = 26) -> list[IsoWeek]:
    """The ``count`` latest complete weeks, newest first (the week picker's choices)."""
    last = last_complete_week(now)
    return [last.shift(-i) for i in range(count)]


#: Period names of the comparison and their offset from the reviewed week.
TREND_OFFSETS = (-4, -3, -2, -1, 0)


def review_weeks(week: IsoWeek) -> dict[str, IsoWeek]:
    """The weeks a review reads: ``this``, ``last``, ``last_year``, and
    ``w-4`` .. ``w-1`` (the four weeks before ``this``; ``w-1`` is ``last``)."""
    out = {"this": week, "last": week.shift(-1), "last_year": week.last_year()}
    for k in TREND_OFFSETS[:-1]:
        out[f"w{k}"] = week.shift(k)
    return out


#: The periods of the cases-per-week chart, oldest first: the four weeks
#: before the reviewed one and the reviewed week. ``last`` is not one of
#: them: it is ``w-1`` under a second name (drawing both stacked that
#: week's bar to twice its height).
TREND_PERIODS = ("w-4", "w-3", "w-2", "w-1", "this")


def week_problem(text: str, now: datetime) -> str | None:
    """Why ``text`` (a ``?week=`` value) cannot be reviewed as of ``now``:
    ``"format"`` (not ``YYYY-Www``), ``"no_such_week"`` (the ISO year has no
    such week), ``"not_started"`` (its Monday is after ``now``); None when it can."""
    m = _WEEK.match(text or "")
    if not m:
        return "format"
    year, number = int(m.group(1)), int(m.group(2))
    if not 1 <= number <= weeks_in_year(year):
        return "no_such_week"
    if IsoWeek(year, number).start_ts > now:
        return "not_started"
    return None


def records(frame: pd.DataFrame) -> Iterator[Any]:
    """The rows of a frame as named tuples (typed ``Any``: the columns vary)."""
    return iter(frame.itertuples())


# ---------------------------------------------------------------------------
# The tables of a review

#: Stable names of the tables (= Excel sheet names) and their columns.
TABLE_COLUMNS: dict[str, list[str]] = {
    "comparison": [
        "section",
        "metric",
        "code",
        "kind",
        "this_week",
        "last_week",
        "change",
        "z",
        "significant",
        "last_year",
        "change_last_year",
        "z_last_year",
        "significant_last_year",
        "mean_4_weeks_before",
    ],
    "weeks": ["week", "section", "metric", "code", "kind", "value"],
    "streets": [
        "street_code",
        "cases",
        "cases_last_week",
        "change",
        "z",
        "significant",
        "closure_rate",
        "backlog_at_end",
        "judged",
        "ontime_share",
        "judged_last_week",
        "ontime_share_last_week",
        "ontime_change",
        "ontime_z",
        "red_at_end",
        "rank",
        "mover",
    ],
    "hotspots_new": ["category", "street_code", "lat", "lon", "cases", "first_at", "last_at"],
    "red_open": [
        "domain",
        "id",
        "street_code",
        "grid_code",
        "grid_name",
        "since",
        "age_days",
        "overdue_days",
        "reasons",
    ],
    "weeks_read": ["period", "week", "monday", "sunday", "as_of", "has_data"],
}

#: Kinds of comparison rows: ``count`` (a flow; Poisson mark), ``share``
#: (0-1; change in percentage points), ``stock`` (a level at the week's end).
KINDS = ("count", "share", "stock")


__all__ = [
    "IsoWeek",
    "last_complete_week",
    "parse_week",
    "week_of",
    "week_problem",
]
