"""The weekly review (周例会): week arithmetic, comparison figures, league table, summary.

Weeks are ISO weeks, Monday 00:00 to the next Monday 00:00 in the site's
naive local time. The default week is the last complete week before ``now``.
"The same week last year" is the same ISO week number of the previous ISO
year (W53 falls back to W52 when the previous year has no W53).

Every figure of a week is evaluated *as of the end of that week* (capped at
``now``), so a pack generated today or next month for 2026-W47 shows the
same numbers, and a week is compared with its predecessor on equal terms
(an old week has not had more time to close its cases):

- ``cases``: cases reported in the week (deduplicated, area and
  category/source filters), by category and by source;
- ``closure_rate``: of those, the share closed by the end of the week
  (status ``closed`` with ``closed_at`` before the week's end);
  ``backlog_at_end``: cases of the area, whenever reported, not cancelled
  and not closed at the week's end;
- ``ontime_share`` per milestone: :func:`metrics.throughput.ontime_by_milestone`
  for the week's cases, judged as of the week's end (a milestone recorded
  later counts with its recorded time);
- warning colours per domain at the week's end: :func:`metrics.warnings.trend`;
- ``petitions_opened`` (received in the week) and ``petitions_closed``
  (:func:`metrics.warnings.petition_closures`);
- crowd peaks: the largest head count of one cell in one reading, and the
  largest area total of one reading time (persons).

Changes of counts carry the Poisson significance mark used in CompStat-style
reviews: ``z = 2 * (sqrt(current) - sqrt(previous))``; ``|z| > 2`` is
flagged. Shares are compared in percentage points; stocks (backlog,
colours, crowd peaks) by their absolute change only.

A week that ends before the area's first recorded case has no data: its
figures are NaN ("—"), never zeros.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, and_, case, func, literal, or_, select

import rollups
from data_access.area import area_extreme, area_streets, in_area
from data_access.config import SiteConfig
from data_access.connection import side_by_side
from data_access.filters import AreaFilter, FilterError
from data_access.schema import MILESTONES, crowd_reading, incident, petition, street
from data_access.sqlfn import count_if
from metrics import heatmap, throughput, warnings
from metrics.warning_rules import WarningRules
from rollups import clean_incidents, disjoint_spans

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
# Significance (pure Python)

SIGNIFICANCE_Z = 2.0


def poisson_z(current: float, previous: float) -> float:
    """``2 * (sqrt(current) - sqrt(previous))`` for two counts; NaN when
    either is missing or negative. Under "no change" it is roughly standard
    normal, so ``|z| > 2`` marks a change unlikely to be chance."""
    if current is None or previous is None:
        return math.nan
    c, p = float(current), float(previous)
    if math.isnan(c) or math.isnan(p) or c < 0 or p < 0:
        return math.nan
    return 2.0 * (math.sqrt(c) - math.sqrt(p))


def significant(z: float) -> bool:
    """True when ``|z| > 2`` (NaN is never significant)."""
    return bool(not math.isnan(z) and abs(z) > SIGNIFICANCE_Z)


def proportion_z(k1: float, n1: float, k0: float, n0: float) -> float:
    """Two-proportion z score of ``k1/n1`` against ``k0/n0`` (pooled); NaN
    when either denominator is 0 or every case went the same way."""
    if not n1 or not n0:
        return math.nan
    p = (k1 + k0) / (n1 + n0)
    se = math.sqrt(p * (1 - p) * (1 / n1 + 1 / n0))
    if se == 0:
        return math.nan
    return (k1 / n1 - k0 / n0) / se


# ---------------------------------------------------------------------------
# Queries: one row per week (and street) for the figures no other module has


def _span(weeks: Iterable[IsoWeek]) -> tuple[datetime, datetime]:
    ws = list(weeks)
    return min(w.start_ts for w in ws), max(w.end_ts for w in ws)


def _week_label(col: Any, weeks: list[IsoWeek]) -> Any:
    return case(
        *((and_(col >= w.start_ts, col < w.end_ts), literal(w.label)) for w in weeks),
        else_=None,
    )


CASE_MIX_COLUMNS = ["week", "category", "source", "cases"]


def case_mix(
    conn: Connection, f: AreaFilter, now: datetime, weeks: tuple[IsoWeek, ...]
) -> pd.DataFrame:
    """Cases reported in each of ``weeks`` (and by ``now``) per category and source.

    Deduplicated, area and category/source/status filters; the filter's
    dates are ignored. Columns: ``week`` (``YYYY-Www``), ``category``,
    ``source`` (codes; NULL kept), ``cases`` (count). Only non-empty groups.
    """
    parts = []
    for w in weeks:
        inc = clean_incidents(w.area(f), now, rollup=rollups.state(conn, now))
        q = (
            select(literal(w.label).label("week"), inc.c.category, inc.c.source, func.count())
            .group_by(inc.c.category, inc.c.source)
            .order_by(inc.c.category, inc.c.source)
        )
        parts.append(pd.DataFrame(conn.execute(q).all(), columns=CASE_MIX_COLUMNS))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if frame.empty:
        return pd.DataFrame(columns=CASE_MIX_COLUMNS)
    return frame.astype({"cases": "int64"})


CASE_FLOW_COLUMNS = ["week", "street_code", "cases", "closed_by_end", "backlog_at_end"]


def case_flow(
    conn: Connection,
    f: AreaFilter,
    now: datetime,
    weeks: tuple[IsoWeek, ...],
    by: str = "area",
) -> pd.DataFrame:
    """Per week (and street when ``by="street"``): ``cases`` reported in the
    week, ``closed_by_end`` (of those, status closed with ``closed_at``
    before the week's end), ``backlog_at_end`` (cases of the area reported
    before the week's end, whenever, not cancelled and not closed by then;
    a closed case without ``closed_at`` counts as closed). Counts; each week
    as of its end capped at ``now``. ``street_code`` is NULL for the area;
    with ``by="street"`` only streets with a non-zero figure are listed.
    """
    if by not in ("area", "street"):
        raise ValueError(f"unknown grouping {by!r}")
    if not weeks:
        return pd.DataFrame(columns=CASE_FLOW_COLUMNS)
    state = rollups.state(conn, now)
    inc = clean_incidents(
        f, now, window=False, rollup=state, rolled_spans=_flow_spans(weeks, now, state)
    )
    r, c, status = inc.c.reported_at, inc.c.closed_at, inc.c.status
    cols: list[Any] = []
    for i, w in enumerate(weeks):
        end = w.as_of(now)
        closed_by_end = and_(status == "closed", or_(c.is_(None), c < end))
        in_week = and_(r >= w.start_ts, r < end)
        cols += [
            count_if(in_week).label(f"cases_{i}"),
            count_if(and_(in_week, status == "closed", c < end)).label(f"closed_{i}"),
            count_if(and_(r < end, status != "cancelled", ~closed_by_end)).label(f"backlog_{i}"),
        ]
    group = [inc.c.street_code] if by == "street" else []
    q = (
        select(*group, *cols)
        .select_from(inc)
        .where(r < _span(weeks)[1])
        .group_by(*group)
        .order_by(*group)
    )
    rows = []
    for rec in conn.execute(q).mappings().all():
        for i, w in enumerate(weeks):
            vals = [int(rec[f"{k}_{i}"] or 0) for k in ("cases", "closed", "backlog")]
            if by == "street" and not any(vals):
                continue
            rows.append([w.label, rec["street_code"] if by == "street" else None, *vals])
    if by == "area" and not rows:
        rows = [[w.label, None, 0, 0, 0] for w in weeks]
    frame = pd.DataFrame(rows, columns=CASE_FLOW_COLUMNS)
    return frame.astype({k: "int64" for k in CASE_FLOW_COLUMNS[2:]})


def _flow_spans(
    weeks: tuple[IsoWeek, ...], now: datetime, state: rollups.RollupState | None
) -> list[tuple[datetime, datetime]] | None:
    """The ``reported_at`` ranges of the rolled-up cases that can count in
    :func:`case_flow`: each week, and the time before its end within which a
    rolled-up case may still have been open then (the longest
    reported-to-closed time in the rollup, plus a minute). Every other
    rolled-up case was closed or cancelled before the week and reported
    outside it. None (read everything) without a rollup."""
    if state is None or state.max_closed_min is None:
        return None
    reach = timedelta(minutes=state.max_closed_min + 1)
    return disjoint_spans([(min(w.start_ts, w.as_of(now) - reach), w.as_of(now)) for w in weeks])


#: Key under which :func:`weekly_series` leaves its by-street case flow in
#: the shared ``ontime`` memo for :func:`street_league`.
_FLOW_BY_STREET = "__case_flow_by_street__"


def _area_flow(by_street: pd.DataFrame, weeks: tuple[IsoWeek, ...]) -> pd.DataFrame:
    """:func:`case_flow` ``by="area"`` from its ``by="street"`` frame: every
    clean case has one street, so the area's counts are the sums (a week
    without a listed street is all zeros, as the area query gives it)."""
    sums = by_street.groupby("week")[CASE_FLOW_COLUMNS[2:]].sum()
    rows = [
        [
            w.label,
            None,
            *(
                int(sums.at[w.label, c]) if w.label in sums.index else 0  # type: ignore[arg-type]
                for c in CASE_FLOW_COLUMNS[2:]
            ),
        ]
        for w in weeks
    ]
    frame = pd.DataFrame(rows, columns=CASE_FLOW_COLUMNS)
    return frame.astype({k: "int64" for k in CASE_FLOW_COLUMNS[2:]})


PETITION_COLUMNS = ["week", "petitions_opened"]


def petitions_opened(
    conn: Connection, f: AreaFilter, now: datetime, weeks: tuple[IsoWeek, ...]
) -> pd.DataFrame:
    """Petitions of the area received in each week (and by ``now``).

    Columns: ``week``, ``petitions_opened`` (count); every week listed.
    """
    if not weeks:
        return pd.DataFrame(columns=PETITION_COLUMNS)
    label = _week_label(petition.c.received_at, list(weeks))
    start, end = _span(weeks)
    q = (
        select(label.label("week"), func.count())
        .where(
            in_area(petition.c.street_code, f),
            petition.c.received_at >= start,
            petition.c.received_at < end,
            petition.c.received_at <= now,
            label.is_not(None),
        )
        .group_by(label)
    )
    got: dict[Any, Any] = {row[0]: row[1] for row in conn.execute(q)}
    return pd.DataFrame(
        [(w.label, int(got.get(w.label, 0) or 0)) for w in weeks], columns=PETITION_COLUMNS
    )


CROWD_PEAK_COLUMNS = ["week", "peak_cell_people", "peak_area_people", "peak_area_at"]


def crowd_peaks(
    conn: Connection, f: AreaFilter, now: datetime, weeks: tuple[IsoWeek, ...]
) -> pd.DataFrame:
    """Peak crowds of each week (readings at or before ``now``).

    Columns: ``week``, ``peak_cell_people`` (largest head count of one cell
    in one reading, persons), ``peak_area_people`` (largest total of the
    area's cells at one reading time, persons), ``peak_area_at`` (that
    reading's start, naive local time). NaN/NaT for a week without readings.
    Totals per reading time are summed in the database; at most one row per
    15-minute reading reaches Python.
    """
    if not weeks:
        return pd.DataFrame(columns=CROWD_PEAK_COLUMNS)
    c = crowd_reading.c
    # One scan for all the weeks: per reading time, the area's total and its
    # busiest cell (two scans per week took 1.2 s for 拱墅 at city scale).
    per_ts = pd.DataFrame(
        conn.execute(
            select(c.ts, func.sum(c.people), func.max(c.people))
            .where(
                in_area(c.street_code, f),
                or_(*(and_(c.ts >= w.start_ts, c.ts < w.end_ts) for w in weeks)),
                c.ts <= now,
                c.people.is_not(None),
            )
            .group_by(c.ts)
        ).all(),
        columns=["ts", "total", "cell_max"],
    )
    per_ts["ts"] = pd.to_datetime(per_ts["ts"])
    rows: list[tuple[str, float, float, Any]] = []
    for w in weeks:
        week = per_ts[(per_ts["ts"] >= w.start_ts) & (per_ts["ts"] < w.end_ts)]
        if week.empty:
            rows.append((w.label, math.nan, math.nan, pd.NaT))
            continue
        # Busiest total; the earliest reading time on a tie.
        top = week.sort_values(["total", "ts"], ascending=[False, True]).iloc[0]
        rows.append(
            (w.label, float(week["cell_max"].max()), float(top["total"]), pd.Timestamp(top["ts"]))
        )
    frame = pd.DataFrame(rows, columns=CROWD_PEAK_COLUMNS)
    frame["peak_area_at"] = pd.to_datetime(frame["peak_area_at"])
    return frame


def first_case_at(conn: Connection, f: AreaFilter, now: datetime) -> datetime | None:
    """The area's earliest ``reported_at`` at or before ``now`` (None without cases)."""
    r = incident.c.reported_at
    q = area_extreme(func.min, r, incident.c.street_code, f, r <= now, dialect=conn.dialect.name)
    value = conn.execute(q).scalar()
    return None if value is None else pd.Timestamp(value).to_pydatetime()


# ---------------------------------------------------------------------------
# The review: every table of the page and the pack

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

#: The milestone the league table and movers rank on.
HEADLINE_MILESTONE = "arrived"
#: A street is a mover candidate only with at least this many judged cases
#: in both weeks: below it one late case swings the rate by 10+ points.
MOVER_MIN_JUDGED = 10
#: Movers listed each way.
MOVERS_EACH_WAY = 3
#: Most red items listed as "still open from earlier weeks".
RED_OPEN_LIMIT = 200


def _long(week: str, section: str, metric: str, code: str, kind: str, value: float) -> tuple:
    return (week, section, metric, code, kind, value)


def ontime_per_street(
    conn: Connection, f: AreaFilter, now: datetime, cfg: SiteConfig, w: IsoWeek
) -> pd.DataFrame:
    """:func:`metrics.throughput.ontime_by_milestone` per street for the
    week's cases, judged as of the week's end (columns as there)."""
    return throughput.ontime_by_milestone(conn, w.area(f), w.as_of(now), cfg, by="street")


def area_ontime(per_street: pd.DataFrame) -> pd.DataFrame:
    """Per-street on-time figures summed to the area: ``milestone``,
    ``judged``, ``on_time``, ``on_time_share`` (0-1, NaN when nothing judged)."""
    cols = ["milestone", "judged", "on_time", "on_time_share"]
    if per_street.empty:
        return pd.DataFrame(columns=cols)
    out = per_street.groupby("milestone", sort=False)[["judged", "on_time"]].sum().reset_index()
    out["on_time_share"] = (out["on_time"] / out["judged"].where(out["judged"] > 0)).astype(float)
    return out[cols]


#: The columns naming one figure of :func:`weekly_series` (all but week and value).
SERIES_KEYS = ["section", "metric", "code", "kind"]


def _total_keys(cfg: SiteConfig, rules: WarningRules | None) -> pd.DataFrame:
    """The figures of :func:`weekly_series` that do not depend on which
    categories and sources occur, in its row order."""
    keys = [
        ("cases", "cases", "", "count"),
        ("handling", "closure_rate", "", "share"),
        ("handling", "backlog_at_end", "", "stock"),
        *(("handling", "ontime_share", m, "share") for m in MILESTONES if cfg.judges(m)),
        ("petitions", "opened", "", "count"),
        ("petitions", "closed", "", "count"),
        *(
            ("warnings", colour, domain, "stock")
            for domain in (rules.domains if rules is not None else ())
            for colour in ("red", "yellow", "green")
        ),
        ("crowds", "peak_area_people", "", "stock"),
        ("crowds", "peak_cell_people", "", "stock"),
    ]
    return pd.DataFrame(keys, columns=SERIES_KEYS)


def weekly_series(
    conn: Connection,
    f: AreaFilter,
    now: datetime,
    cfg: SiteConfig,
    week: IsoWeek,
    rules: WarningRules | None = None,
    ontime: dict[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Every figure of every week the review reads, long format.

    Columns: ``week`` (``YYYY-Www``), ``section`` (``cases``, ``handling``,
    ``warnings``, ``petitions``, ``crowds``), ``metric``, ``code`` (the
    category / source / milestone / colour-domain code, ``""`` for totals),
    ``kind`` (``count``, ``share``, ``stock``), ``value`` (count, share 0-1
    or persons; NaN when the week has no data). See the module docstring for
    each metric's definition.
    """
    weeks = review_weeks(week)
    first = first_case_at(conn, f, now)
    # A week that ended before the first recorded case has no data, not
    # zeros: its case, handling and warning figures are NaN, not queried.
    ordered = tuple(sorted(set(weeks.values())))
    no_data = [w for w in ordered if first is None or w.as_of(now) <= first]
    ordered = tuple(w for w in ordered if w not in no_data)
    ontime = {} if ontime is None else ontime
    rows: list[tuple] = []

    mix = case_mix(conn, f, now, ordered)
    categories = sorted(mix["category"].dropna().unique().tolist())
    sources = sorted(mix["source"].dropna().unique().tolist())
    # By street once: the area's flow is its sum, and the street league
    # reads this and last week's rows from it (one statement, not two).
    by_street = case_flow(conn, f, now, ordered, by="street")
    ontime[_FLOW_BY_STREET] = by_street
    flow: dict[Any, Any] = _area_flow(by_street, ordered).set_index("week").to_dict("index")
    opened: dict[Any, Any] = (
        petitions_opened(conn, f, now, ordered).set_index("week").to_dict("index")
    )
    peaks: dict[Any, Any] = crowd_peaks(conn, f, now, ordered).set_index("week").to_dict("index")
    colours: dict[str, pd.DataFrame] = {}
    if rules is not None:
        # One trend query per run of consecutive weeks (the recent block, last year's week).
        runs: list[list[IsoWeek]] = []
        for w in ordered:
            if runs and runs[-1][-1].shift(1) == w:
                runs[-1].append(w)
            else:
                runs.append([w])
        for domain in rules.domains:
            parts = [
                warnings.trend(
                    conn,
                    replace(f, start=run[0].monday, end=run[-1].sunday),
                    now,
                    rules,
                    domain,
                    freq="week",
                )
                for run in runs
            ]
            if parts:  # no week with data: no colours to read
                colours[domain] = pd.concat(parts, ignore_index=True)

    for w in ordered:
        wk = w.label
        mw = mix[mix["week"] == wk]
        rows.append(_long(wk, "cases", "cases", "", "count", float(mw["cases"].sum())))
        for code in categories:
            n = float(mw.loc[mw["category"] == code, "cases"].sum())
            rows.append(_long(wk, "cases", "category", code, "count", n))
        for code in sources:
            n = float(mw.loc[mw["source"] == code, "cases"].sum())
            rows.append(_long(wk, "cases", "source", code, "count", n))

        fw = flow[wk]
        cases = float(fw["cases"])
        closure = float(fw["closed_by_end"]) / cases if cases else math.nan
        rows.append(_long(wk, "handling", "closure_rate", "", "share", closure))
        rows.append(
            _long(wk, "handling", "backlog_at_end", "", "stock", float(fw["backlog_at_end"]))
        )
        if wk not in ontime:
            ontime[wk] = ontime_per_street(conn, f, now, cfg, w)
        for rec in records(area_ontime(ontime[wk])):
            rows.append(
                _long(wk, "handling", "ontime_share", rec.milestone, "share", rec.on_time_share)
            )

        closed: dict[Any, Any] = (
            warnings.petition_closures(conn, w.area(f), w.as_of(now)).iloc[0].to_dict()
        )
        rows.append(
            _long(wk, "petitions", "opened", "", "count", float(opened[wk]["petitions_opened"]))
        )
        rows.append(
            _long(
                wk,
                "petitions",
                "closed",
                "",
                "count",
                float(closed["closed_on_time"] + closed["closed_late"]),
            )
        )
        for domain, frame in colours.items():
            hit = frame.loc[frame["bucket"] == w.monday.isoformat()]
            for colour in ("red", "yellow", "green"):
                value = float(hit[colour].iloc[0]) if not hit.empty else math.nan
                rows.append(_long(wk, "warnings", colour, domain, "stock", value))

        pk = peaks[wk]
        rows.append(_long(wk, "crowds", "peak_area_people", "", "stock", pk["peak_area_people"]))
        rows.append(_long(wk, "crowds", "peak_cell_people", "", "stock", pk["peak_cell_people"]))

    frame = pd.DataFrame(rows, columns=TABLE_COLUMNS["weeks"])
    if no_data:
        # The rows of a week with data, else (no week has any: a review
        # before the first case) the totals every week has, so the page and
        # the pack show "—" instead of finding no row at all.
        keys = (
            frame[frame["week"] == frame["week"].iloc[0]][SERIES_KEYS]
            if len(frame)
            else _total_keys(cfg, rules)
        )
        empty = [keys.assign(week=w.label, value=math.nan) for w in no_data]
        frame = pd.concat([*empty, frame], ignore_index=True)[TABLE_COLUMNS["weeks"]]
        frame = frame.sort_values("week", kind="stable").reset_index(drop=True)
    frame["value"] = frame["value"].astype(float)
    return frame


def comparison(series: pd.DataFrame, week: IsoWeek) -> pd.DataFrame:
    """This week against last week, the same week last year and the mean of
    the four weeks before, one row per (section, metric, code) of
    :func:`weekly_series`. Columns: see ``TABLE_COLUMNS["comparison"]``;
    ``change`` = this - other (counts/stocks in their unit, shares in 0-1,
    i.e. 0.05 = 5 percentage points); ``z``/``significant`` only for counts.
    """
    w = review_weeks(week)
    keys = ["section", "metric", "code", "kind"]
    order = series[keys].drop_duplicates()
    wide = series.set_index([*keys, "week"])["value"].unstack("week")
    wide = wide.reindex(pd.MultiIndex.from_frame(order))
    before = [w[f"w{k}"].label for k in TREND_OFFSETS[:-1]]
    out = pd.DataFrame(index=wide.index).reset_index()

    def col(label: str) -> pd.Series:
        return (
            wide[label].reset_index(drop=True)
            if label in wide.columns
            else pd.Series([math.nan] * len(out))
        )

    out["this_week"] = col(w["this"].label)
    out["last_week"] = col(w["last"].label)
    out["last_year"] = col(w["last_year"].label)
    out["mean_4_weeks_before"] = pd.concat([col(b) for b in before], axis=1).mean(
        axis=1, skipna=False
    )
    for other, suffix in (("last_week", ""), ("last_year", "_last_year")):
        out[f"change{suffix}"] = out["this_week"] - out[other]
        zs = [
            poisson_z(a, b) if kind == "count" else math.nan
            for a, b, kind in zip(out["this_week"], out[other], out["kind"], strict=True)
        ]
        out[f"z{suffix}"] = zs
        out[f"significant{suffix}"] = [significant(z) for z in zs]
    return out[TABLE_COLUMNS["comparison"]].reset_index(drop=True)


def street_league(
    conn: Connection,
    f: AreaFilter,
    now: datetime,
    cfg: SiteConfig,
    week: IsoWeek,
    rules: WarningRules | None = None,
    ontime: dict[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """One row per street of the area: the week's cases against last week's
    (Poisson mark), closure rate and backlog at the week's end, on-time
    share of ``HEADLINE_MILESTONE`` this and last week, red warning items at
    the week's end (all domains), ``rank`` (1 = best on-time share; streets
    with nothing judged are unranked) and ``mover`` (``improved`` /
    ``slipped`` / ``""``: the ``MOVERS_EACH_WAY`` largest changes of on-time
    share each way among streets with at least ``MOVER_MIN_JUDGED`` judged
    cases in both weeks). Columns: ``TABLE_COLUMNS["streets"]``; shares 0-1.
    """
    this, last = week, week.shift(-1)
    base = pd.DataFrame(
        [r[0] for r in conn.execute(area_streets(f).order_by(street.c.code))],
        columns=["street_code"],
    )
    # weekly_series leaves the by-street flow of every review week (this and
    # last week included; a week before the first case has no rows, i.e.
    # zeros, exactly as the query would give).
    flow = (ontime or {}).get(_FLOW_BY_STREET)
    if flow is None:
        flow = case_flow(conn, f, now, (this, last), by="street")
    cur = flow[flow["week"] == this.label].set_index("street_code")
    prev = flow[flow["week"] == last.label].set_index("street_code")
    out = base.copy()
    codes = out["street_code"]
    out["cases"] = codes.map(cur["cases"]).fillna(0).astype("int64")
    out["cases_last_week"] = codes.map(prev["cases"]).fillna(0).astype("int64")
    out["change"] = out["cases"] - out["cases_last_week"]
    out["z"] = [poisson_z(a, b) for a, b in zip(out["cases"], out["cases_last_week"], strict=True)]
    out["significant"] = [significant(z) for z in out["z"]]
    closed = codes.map(cur["closed_by_end"]).fillna(0)
    out["closure_rate"] = (closed / out["cases"].where(out["cases"] > 0)).astype(float)
    out["backlog_at_end"] = codes.map(cur["backlog_at_end"]).fillna(0).astype("int64")

    known = {} if ontime is None else ontime

    def headline(w: IsoWeek) -> pd.DataFrame:
        got = known.get(w.label)
        if got is None:
            got = ontime_per_street(conn, f, now, cfg, w)
        return got[got["milestone"] == HEADLINE_MILESTONE].set_index("street_code")

    on_now, on_prev = headline(this), headline(last)
    out["judged"] = codes.map(on_now["judged"]).fillna(0).astype("int64")
    out["ontime_share"] = codes.map(on_now["on_time_share"]).astype(float)
    out["judged_last_week"] = codes.map(on_prev["judged"]).fillna(0).astype("int64")
    out["ontime_share_last_week"] = codes.map(on_prev["on_time_share"]).astype(float)
    out["ontime_change"] = out["ontime_share"] - out["ontime_share_last_week"]
    k1 = codes.map(on_now["on_time"]).fillna(0)
    k0 = codes.map(on_prev["on_time"]).fillna(0)
    out["ontime_z"] = [
        proportion_z(a, n, b, m)
        for a, n, b, m in zip(k1, out["judged"], k0, out["judged_last_week"], strict=True)
    ]
    red = pd.Series(0, index=codes.values, dtype="int64")
    if rules is not None:
        for domain in rules.domains:
            dist = warnings.distribution(conn, f, this.as_of(now), rules, domain)
            red = red.add(dist.set_index("street_code")["red"], fill_value=0)
    out["red_at_end"] = codes.map(red).fillna(0).astype("int64")

    ranked = out[out["judged"] > 0].sort_values(
        ["ontime_share", "judged", "street_code"], ascending=[False, False, True]
    )
    out["rank"] = codes.map(
        pd.Series(range(1, len(ranked) + 1), index=ranked["street_code"])
    ).astype("Int64")
    eligible = out[
        (out["judged"] >= MOVER_MIN_JUDGED) & (out["judged_last_week"] >= MOVER_MIN_JUDGED)
    ]
    up = eligible[eligible["ontime_change"] > 0].nlargest(MOVERS_EACH_WAY, "ontime_change")
    down = eligible[eligible["ontime_change"] < 0].nsmallest(MOVERS_EACH_WAY, "ontime_change")
    out["mover"] = ""
    out.loc[out["street_code"].isin(up["street_code"]), "mover"] = "improved"
    out.loc[out["street_code"].isin(down["street_code"]), "mover"] = "slipped"
    out = out.sort_values(["rank", "street_code"], na_position="last", kind="stable")
    return out[TABLE_COLUMNS["streets"]].reset_index(drop=True)


def new_hotspots(
    conn: Connection, f: AreaFilter, now: datetime, cfg: SiteConfig, week: IsoWeek
) -> pd.DataFrame:
    """Repeat hot spots (:func:`metrics.heatmap.repeat_hotspots`) at the
    week's end that were not one at the end of the week before.

    Matching: the same category and a mean position within one hot-spot
    square (``hotspots.grid_m`` metres) of last week's; a hot spot also needs
    a case reported this week to be new. Columns: ``TABLE_COLUMNS["hotspots_new"]``.
    """
    cur = heatmap.repeat_hotspots(conn, week.area(f), week.as_of(now), cfg)
    prev_w = week.shift(-1)
    prev = heatmap.repeat_hotspots(conn, prev_w.area(f), prev_w.as_of(now), cfg)
    # Last week's positions per category as arrays: a pandas filter per hot
    # spot took 0.5 s for a district's 450 (2 s for the city's 2,400).
    before = {
        cat: (g["lat"].to_numpy(dtype=float), g["lon"].to_numpy(dtype=float))
        for cat, g in prev.groupby("category", sort=False)
    }
    nowhere = (np.empty(0), np.empty(0))
    started = pd.Timestamp(week.start_ts)
    keep = []
    for rec in records(cur):
        if pd.isna(rec.last_at) or rec.last_at < started:
            keep.append(False)
            continue
        lat, lon = before.get(rec.category, nowhere)
        dy = (lat - rec.lat) * heatmap.M_PER_DEG_LAT
        dx = (lon - rec.lon) * heatmap.M_PER_DEG_LON * math.cos(math.radians(rec.lat))
        keep.append(not bool(((dx * dx + dy * dy) <= cfg.hotspots.grid_m**2).any()))
    out = cur[pd.Series(keep, index=cur.index, dtype=bool)] if len(cur) else cur
    return out[TABLE_COLUMNS["hotspots_new"]].reset_index(drop=True)


def red_still_open(
    conn: Connection,
    f: AreaFilter,
    now: datetime,
    cfg: SiteConfig,
    week: IsoWeek,
    rules: WarningRules,
) -> pd.DataFrame:
    """Items red at the week's end that were raised / received (or last
    verified) before the week began, or never verified: every domain's
    :func:`metrics.warnings.red_list` as of the week's end, most
    overdue then oldest first, at most ``RED_OPEN_LIMIT`` rows.

    Columns: ``TABLE_COLUMNS["red_open"]`` (``age_days``/``overdue_days`` in
    whole days; ``reasons`` comma-separated codes). No personal data.
    """
    parts = []
    for domain in rules.domains:
        items = warnings.red_list(conn, f, week.as_of(now), rules, domain, cfg.row_cap)
        items = items[items["since"].isna() | (items["since"] < pd.Timestamp(week.start_ts))]
        parts.append(items.assign(domain=domain))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if frame.empty:
        return pd.DataFrame(columns=TABLE_COLUMNS["red_open"])
    frame = frame.sort_values(
        ["overdue_days", "age_days", "domain", "id"],
        ascending=[False, False, True, True],
        na_position="last",
        kind="stable",
    )
    return frame[TABLE_COLUMNS["red_open"]].head(RED_OPEN_LIMIT).reset_index(drop=True)


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
    stored = rollups.stored_review(conn, f, now, cfg, rules, week, REVIEW_TABLES)
    if stored is not None:
        return stored
    return compute_review_tables(conn, f, now, cfg, week_label, rules)


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


# ---------------------------------------------------------------------------
# The written summary: every sentence from figures of the tables


@dataclass(frozen=True)
class Figure:
    """One number of a sentence: ``table``/``row`` (a dict of column ->
    value selecting exactly one row)/``column``, and its ``fmt``
    (``int``, ``signed``, ``pct``, ``pp``, ``z``) as printed."""

    name: str
    table: str
    row: tuple[tuple[str, Any], ...]
    column: str
    fmt: str


@dataclass(frozen=True)
class Sentence:
    key: str  # the catalogue key of the template (weekly.summary.<key>)
    text: str
    figures: tuple[Figure, ...]


def format_figure(value: Any, fmt: str) -> str:
    """How a figure is printed in the summary, the page and the PDF."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    v = float(value)
    if fmt == "int":
        return f"{round(v):d}"
    if fmt == "signed":
        return f"{round(v):+d}"
    if fmt == "pct":
        return f"{v:.1%}"
    if fmt == "pp":
        return f"{v * 100:+.1f}"
    if fmt == "z":
        return f"{v:+.1f}"
    raise ValueError(f"unknown format {fmt!r}")


def figure_value(tables: dict[str, pd.DataFrame], fig: Figure) -> Any:
    """The cell a figure refers to (exactly one row must match)."""
    frame = tables[fig.table]
    if fig.column == ROWS:
        return len(frame)
    mask = pd.Series(True, index=frame.index)
    for col, value in fig.row:
        mask &= frame[col] == value
    hit = frame.loc[mask, fig.column]
    if len(hit) != 1:
        raise KeyError(f"{fig}: {len(hit)} rows match")
    return hit.iloc[0]


#: ``Figure.column`` meaning "the number of rows of the table".
ROWS = "#rows"

Translate = Callable[..., str]


def summary(
    tables: dict[str, pd.DataFrame],
    tr: Translate,
    names: dict[str, str],
) -> list[Sentence]:
    """The written summary: what went up, what went down, which streets need
    attention. ``tr(key, **figures)`` renders a catalogue template
    (``weekly.summary.*``); ``names`` maps street / category / source /
    milestone / domain codes to display names. Each sentence lists the
    :class:`Figure` cells its numbers come from (the test checks every
    number printed is one of them)."""
    out: list[Sentence] = []
    cmp_ = tables["comparison"]

    def say(key: str, figs: list[Figure], **extra: str) -> None:
        values = {f.name: format_figure(figure_value(tables, f), f.fmt) for f in figs}
        out.append(Sentence(key, tr(f"weekly.summary.{key}", **values, **extra), tuple(figs)))

    def cmp_fig(name: str, metric: str, code: str, column: str, fmt: str) -> Figure:
        return Figure(name, "comparison", (("metric", metric), ("code", code)), column, fmt)

    total = cmp_[(cmp_["metric"] == "cases") & (cmp_["code"] == "")]
    if total.empty or pd.isna(total["this_week"].iloc[0]):
        say("no_data", [])
        return out
    figs = [
        cmp_fig("this", "cases", "", "this_week", "int"),
        cmp_fig("last", "cases", "", "last_week", "int"),
        cmp_fig("change", "cases", "", "change", "signed"),
        cmp_fig("z", "cases", "", "z", "z"),
    ]
    sig = bool(total["significant"].iloc[0])
    say("cases_sig" if sig else "cases_flat", figs)

    mix = cmp_[cmp_["metric"].isin(["category", "source"]) & cmp_["significant"]]
    for direction, frame in (
        ("up", mix[mix["change"] > 0].sort_values("z", ascending=False)),
        ("down", mix[mix["change"] < 0].sort_values("z")),
    ):
        for rec in records(frame.head(3)):
            say(
                f"mix_{direction}",
                [
                    cmp_fig("last", rec.metric, rec.code, "last_week", "int"),
                    cmp_fig("this", rec.metric, rec.code, "this_week", "int"),
                    cmp_fig("z", rec.metric, rec.code, "z", "z"),
                ],
                name=names.get(rec.code, rec.code),
            )
    if mix.empty:
        say("mix_flat", [])

    for m in MILESTONES:
        hit = cmp_[(cmp_["metric"] == "ontime_share") & (cmp_["code"] == m)]
        if m != HEADLINE_MILESTONE or hit.empty or pd.isna(hit["this_week"].iloc[0]):
            continue
        figs = [cmp_fig("this", "ontime_share", m, "this_week", "pct")]
        if pd.notna(hit["last_week"].iloc[0]):
            figs += [
                cmp_fig("last", "ontime_share", m, "last_week", "pct"),
                cmp_fig("pp", "ontime_share", m, "change", "pp"),
            ]
            say("ontime", figs, milestone=names.get(m, m))
        else:
            say("ontime_only", figs, milestone=names.get(m, m))

    say(
        "closure",
        [
            cmp_fig("rate", "closure_rate", "", "this_week", "pct"),
            cmp_fig("backlog", "backlog_at_end", "", "this_week", "int"),
            cmp_fig("backlog_last", "backlog_at_end", "", "last_week", "int"),
        ],
    )

    reds = cmp_[(cmp_["section"] == "warnings") & (cmp_["metric"] == "red")]
    for rec in records(reds):
        if pd.isna(rec.this_week) or rec.this_week == 0:
            continue
        say(
            "red",
            [
                cmp_fig("this", "red", rec.code, "this_week", "int"),
                cmp_fig("last", "red", rec.code, "last_week", "int"),
            ],
            domain=names.get(rec.code, rec.code),
        )

    streets = tables["streets"]
    for mover in ("slipped", "improved"):
        for rec in records(streets[streets["mover"] == mover]):
            row = (("street_code", rec.street_code),)
            say(
                mover,
                [
                    Figure("last", "streets", row, "ontime_share_last_week", "pct"),
                    Figure("this", "streets", row, "ontime_share", "pct"),
                    Figure("judged", "streets", row, "judged", "int"),
                ],
                street=names.get(rec.street_code, rec.street_code),
            )
    red_streets = streets[streets["red_at_end"] > 0].nlargest(3, "red_at_end")
    for rec in records(red_streets):
        say(
            "red_street",
            [Figure("red", "streets", (("street_code", rec.street_code),), "red_at_end", "int")],
            street=names.get(rec.street_code, rec.street_code),
        )
    hot = tables["hotspots_new"]
    if len(hot):
        counts = hot.groupby("street_code").size().sort_values(ascending=False)
        top = ", ".join(names.get(c, c) for c in counts.index[:3])
        say("hotspots", [Figure("count", "hotspots_new", (), ROWS, "int")], streets=top)
    return out


__all__ = [
    "IsoWeek",
    "case_flow",
    "case_mix",
    "case_trend",
    "comparison",
    "crowd_peaks",
    "last_complete_week",
    "parse_week",
    "poisson_z",
    "review_tables",
    "started_week",
    "street_league",
    "summary",
    "week_of",
    "week_problem",
]
