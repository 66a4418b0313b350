"""Headline figures for the overview and the command screen."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, and_, case, func, or_, select, union_all
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery

import rollups
from data_access.area import area_extreme, area_streets, in_area, incident_code_filters
from data_access.config import FEEDS, SiteConfig
from data_access.filters import AreaFilter
from data_access.schema import (
    OPEN_STATUSES,
    crowd_reading,
    housing_record,
    incident,
    petition,
    street,
    warning,
)
from data_access.sqlfn import count_if
from metrics.throughput import grouped_counts, ontime_counts, ontime_rows
from rollups import live_parts

CASE_COUNT_COLUMNS = ["today", "this_week", "in_window", "closed_in_window", "open_backlog"]


def case_counts(conn: Connection, f: AreaFilter, now: datetime) -> pd.DataFrame:
    """Case counts for the area as of ``now`` (naive local time), one row.

    Columns: ``today`` (reported since local midnight), ``this_week``
    (since Monday 00:00), ``in_window`` (reported in the filter's dates),
    ``closed_in_window`` (of those, status ``closed``), ``open_backlog``
    (every case of the area still ``open``/``dispatched``/``on_site``,
    whenever reported). Category/source filters apply; dates only to
    ``in_window``.
    """
    state = rollups.state(conn, now)
    day_sums = state is not None and state.day_counts(f)
    source: Any = incident
    if day_sums:  # rolled-up cases come from rollup_case_day; the rest, by index
        assert state is not None
        # Only the columns the counts read: the (status, reported_at, id,
        # street_code) index then answers the open cases without reading
        # their rows (the city's 104,000: 0.8-1.0 -> 0.26 s).
        i = incident.c
        cols = [i.id, i.reported_at, i.status, i.street_code]
        cols += [i.category] if f.categories else []
        cols += [i.source] if f.sources else []
        parts = [select(*cols).where(c) for c in live_parts(state)]
        source = union_all(*parts).subquery("live_rows")
    counts = [int(v or 0) for v in conn.execute(_distinct_counts(source, f, now)).one()]
    if day_sums:
        assert state is not None
        rolled = _day_counts(conn, f, now)
        if state.changed_ids:  # rolled up, and read live as well: counted twice
            changed = rollups.rollup_case.c.id.in_(state.changed_ids)
            twice = conn.execute(_distinct_counts(rollups.rollup_case, f, now, changed)).one()
            rolled = [a - int(b or 0) for a, b in zip(rolled, twice, strict=True)]
        counts = [a + b for a, b in zip(counts, rolled, strict=True)]
    return pd.DataFrame([[int(v or 0) for v in counts]], columns=CASE_COUNT_COLUMNS)


def _today_monday(now: datetime) -> tuple[datetime, datetime]:
    midnight = datetime.combine(now.date(), time.min)
    return midnight, midnight - timedelta(days=now.weekday())


def _distinct_counts(table: Any, f: AreaFilter, now: datetime, *conds: Any) -> Any:
    """The SELECT of :func:`case_counts`' five figures over ``table``
    (``incident`` or ``rollup_case``) where ``conds`` hold."""
    midnight, monday = _today_monday(now)
    # Counts need no row-level deduplication: COUNT(DISTINCT id) counts a
    # duplicated id once, and skips the costly window function.
    in_window = and_(table.c.reported_at >= f.start_ts, table.c.reported_at < f.end_ts)

    def distinct_ids(cond: ColumnElement[bool]) -> ColumnElement[int]:
        return func.count(func.distinct(case((cond, table.c.id))))

    # Every count but the backlog needs only rows since the earlier of the
    # window's start and Monday; the backlog needs only open rows. Saying so
    # lets the database read two index ranges instead of the area's history.
    since = min(f.start_ts, monday)
    return select(
        distinct_ids(table.c.reported_at >= midnight),
        distinct_ids(table.c.reported_at >= monday),
        distinct_ids(in_window),
        distinct_ids(and_(in_window, table.c.status == "closed")),
        distinct_ids(table.c.status.in_(OPEN_STATUSES)),
    ).where(
        in_area(table.c.street_code, f),
        table.c.reported_at <= now,
        *incident_code_filters(f, table),
        or_(table.c.reported_at >= since, table.c.status.in_(OPEN_STATUSES)),
        *conds,
    )


def _day_counts(conn: Connection, f: AreaFilter, now: datetime) -> list[int]:
    """:func:`case_counts`' figures over the rolled-up cases, from their
    per-day sums (a settled case is never in the backlog)."""
    midnight, monday = _today_monday(now)
    day = rollups.rollup_case_day
    in_window = and_(day.c.day >= f.start.isoformat(), day.c.day <= f.end.isoformat())

    def summed(cond: ColumnElement[bool], col: str = "cases") -> ColumnElement[int]:
        return func.coalesce(func.sum(case((cond, day.c[col]), else_=0)), 0)

    q = select(
        summed(day.c.day >= midnight.date().isoformat()),
        summed(day.c.day >= monday.date().isoformat()),
        summed(in_window),
        summed(in_window, "closed"),
    ).where(
        in_area(day.c.street_code, f),
        day.c.day >= min(f.start, monday.date()).isoformat(),
    )
    return [int(v or 0) for v in conn.execute(q).one()] + [0]


def active_red_warnings(conn: Connection, f: AreaFilter, now: datetime) -> pd.DataFrame:
    """Red warnings assigned by other systems, raised by ``now`` and not cleared.

    Columns: ``domain``, ``red`` (count). Colours computed from rules
    (petitions, housing) come from the warnings module.
    """
    q = (
        select(warning.c.domain, func.count().label("red"))
        .where(
            warning.c.colour == "red",
            warning.c.raised_at <= now,
            (warning.c.cleared_at.is_(None)) | (warning.c.cleared_at > now),
            in_area(warning.c.street_code, f),
        )
        .group_by(warning.c.domain)
        .order_by(warning.c.domain)
    )
    return pd.DataFrame(conn.execute(q).all(), columns=["domain", "red"])


LARGEST_CROWD_COLUMNS = ["ts", "cell_id", "street_code", "name_zh", "name_en", "people"]


def largest_crowd(conn: Connection, f: AreaFilter, now: datetime) -> pd.DataFrame:
    """The most crowded cell at the latest reading time at or before ``now``.

    Columns: ``ts`` (start of the reading interval), ``cell_id``,
    ``street_code``, ``name_zh``/``name_en`` (street), ``people`` (head
    count in the cell). Empty when the area has no readings.
    """
    area = in_area(crowd_reading.c.street_code, f)
    latest = area_extreme(
        func.max,
        crowd_reading.c.ts,
        crowd_reading.c.street_code,
        f,
        crowd_reading.c.ts <= now,
        dialect=conn.dialect.name,
    )
    latest_ts = conn.execute(latest).scalar()
    if latest_ts is None:
        return pd.DataFrame(columns=LARGEST_CROWD_COLUMNS)
    q = (
        select(
            crowd_reading.c.ts,
            crowd_reading.c.cell_id,
            crowd_reading.c.street_code,
            street.c.name_zh,
            street.c.name_en,
            crowd_reading.c.people,
        )
        .join(street, street.c.code == crowd_reading.c.street_code)
        .where(area, crowd_reading.c.ts == latest_ts, crowd_reading.c.people.is_not(None))
        .order_by(crowd_reading.c.people.desc(), crowd_reading.c.cell_id)
        .limit(1)
    )
    return pd.DataFrame(conn.execute(q).all(), columns=LARGEST_CROWD_COLUMNS)


FRESHNESS_COLUMNS = ["table", "latest"]

#: Per feed (``data_access.config.FEEDS``): its table's time column and
#: street column, the row's "when" as the data contract defines it.
FEED_COLUMNS: dict[str, tuple[Any, Any]] = {
    "incident": (incident.c.reported_at, incident.c.street_code),
    "crowd_reading": (crowd_reading.c.ts, crowd_reading.c.street_code),
    "warning": (warning.c.raised_at, warning.c.street_code),
    "petition": (petition.c.received_at, petition.c.street_code),
    "housing_record": (housing_record.c.last_verified_at, housing_record.c.street_code),
}


def _newest(
    conn: Connection,
    now: datetime,
    feeds: Sequence[str],
    area: AreaFilter | None,
    scope: tuple[str, ...] | None,
) -> dict[str, Any]:
    """The newest time at or before ``now`` of each feed, in one statement
    (one scalar subquery per feed): ``NaT`` for a feed with no row.

    Within ``area`` (its streets, within its scope) when given, else within
    ``scope`` (``None``: every row). An area is read street by street
    (:func:`area_extreme`: one index probe per street of the area).
    """
    if area is not None and scope is not None:  # both: the streets in both
        own = scope if area.scope is None else tuple(s for s in area.scope if s in set(scope))
        area = replace(area, scope=own)
    parts = []
    for feed in feeds:
        col, street_col = FEED_COLUMNS[feed]
        if area is not None and (area.district or area.streets or area.scope is not None):
            q = area_extreme(func.max, col, street_col, area, col <= now, dialect=conn.dialect.name)
        else:
            q = select(func.max(col)).where(col <= now)
            if area is None and scope is not None:
                q = q.where(street_col.in_(scope))
        parts.append(q.scalar_subquery().label(feed))
    row = conn.execute(select(*parts)).one()
    return {
        feed: pd.to_datetime(value) if value is not None else pd.NaT
        for feed, value in zip(feeds, row, strict=True)
    }


def data_freshness(
    conn: Connection, now: datetime, scope: tuple[str, ...] | None = None
) -> pd.DataFrame:
    """Latest timestamp per fact table at or before ``now`` ("data as of").

    Columns: ``table``, ``latest`` (naive local time; NaT when empty).
    Future-dated rows are ignored (they are a data-quality finding).
    ``scope``: a user's street codes (row-level security): only their rows.
    """
    feeds = ("incident", "crowd_reading", "petition", "warning")
    newest = _newest(conn, now, feeds, None, scope)
    return pd.DataFrame([(f, newest[f]) for f in feeds], columns=FRESHNESS_COLUMNS)


FEED_STATUS_COLUMNS = ["feed", "latest", "age_s", "expected_s", "stale"]


def feed_status(
    conn: Connection,
    now: datetime,
    cfg: SiteConfig,
    area: AreaFilter | None = None,
    scope: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """How fresh each feed is at ``now``: one row per feed of
    ``data_access.config.FEEDS``, in that order.

    Columns: ``feed``; ``latest`` (its newest time at or before ``now``,
    naive local; NaT when the feed has no row); ``age_s`` (seconds from
    ``latest`` to ``now``; NaN when empty); ``expected_s`` (the feed's
    ``[freshness]`` interval, seconds); ``stale`` (``age_s`` over
    ``expected_s``: exactly at it is not; an empty feed is not stale, it
    has nothing to be old). Future-dated rows are ignored (a data-quality
    finding). ``scope``: the user's street codes (row-level security);
    ``area``: only that area's streets (within the scope), e.g. a wall's.
    """
    newest = _newest(conn, now, FEEDS, area, scope)
    rows = []
    for feed in FEEDS:
        latest = newest[feed]
        expected = cfg.freshness.expected_s(feed)
        if pd.isna(latest):
            rows.append((feed, pd.NaT, math.nan, expected, False))
            continue
        age = (pd.Timestamp(now) - latest).total_seconds()
        rows.append((feed, latest, age, expected, cfg.freshness.stale(feed, age)))
    frame = pd.DataFrame(rows, columns=FEED_STATUS_COLUMNS)
    frame["latest"] = pd.to_datetime(frame["latest"])
    frame["stale"] = frame["stale"].astype(bool)
    return frame


STREET_SUMMARY_COLUMNS = ["street_code", "cases", "closed", "cancelled", "open_backlog"]


def street_summary(conn: Connection, f: AreaFilter, now: datetime) -> pd.DataFrame:
    """Cases per street of the area for the window, every street listed.

    Columns: ``street_code``; ``cases`` (reported in the window),
    ``closed``, ``cancelled``, ``open_backlog`` (of those, still
    open/dispatched/on_site). Streets with no cases have zeros.
    """
    # Per street through the rollup's day sums where they apply.
    per_street = grouped_counts(
        conn, f, now, "street", lambda inc: [func.count().label("cases"), *_status_counts(inc)]
    )
    return _every_street(conn, f, per_street)


def street_figures(
    conn: Connection, f: AreaFilter, now: datetime, cfg: SiteConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`street_summary` and ``throughput.ontime_by_milestone(...,
    by="street")`` from one read of the cases (the overview shows both).

    Both count the same clean cases per street; read apart, each read the
    area's live cases again (a year of the city: 0.3-1.2 s a read on the
    slower benchmark machine). Tested equal to the two on all backends.
    """
    d = conn.dialect.name

    def counts(inc: Subquery) -> list[Any]:
        return [*ontime_counts(inc, cfg, now, d), *_status_counts(inc)]

    wide = grouped_counts(conn, f, now, "street", counts, cfg)
    return _every_street(conn, f, wide), ontime_rows(wide, cfg, "street")


def _status_counts(inc: Subquery) -> list[Any]:
    return [
        count_if(inc.c.status == "closed").label("closed"),
        count_if(inc.c.status == "cancelled").label("cancelled"),
        count_if(inc.c.status.in_(OPEN_STATUSES)).label("open_backlog"),
    ]


def _every_street(conn: Connection, f: AreaFilter, per_street: pd.DataFrame) -> pd.DataFrame:
    """:func:`street_summary`'s frame: every street of the area, zeros where
    ``per_street`` (keyed by ``key``) has none."""
    codes = conn.execute(area_streets(f).order_by(street.c.code)).scalars().all()
    frame = pd.DataFrame({"street_code": pd.Series(codes, dtype=object)}).merge(
        per_street.rename(columns={"key": "street_code"})[STREET_SUMMARY_COLUMNS],
        on="street_code",
        how="left",
    )
    for c in STREET_SUMMARY_COLUMNS[1:]:
        frame[c] = pd.to_numeric(frame[c]).fillna(0).astype("int64")
    return frame[STREET_SUMMARY_COLUMNS]
