"""Queries only the alert service needs (the three strip checks are in
:mod:`metrics.screen`): a street's recent on-time share, the open
backlog per street, and a crowd forecast per venue.

Times are naive local time (the contract's rule); durations in minutes
unless named otherwise. No function returns personal data.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Connection, func, select

import rollups
from data_access.config import SiteConfig
from data_access.filters import AreaFilter
from data_access.schema import OPEN_STATUSES, incident
from metrics import heatmap
from metrics.throughput import ontime_counts, ontime_rows
from metrics.throughput_judging import _prepared
from rollups import clean_incidents

RECENT_ONTIME_COLUMNS = ["street_code", "milestone", "judged", "on_time", "late", "on_time_share"]


def recent_ontime(
    conn: Connection,
    f: AreaFilter,
    now: datetime,
    cfg: SiteConfig,
    hours: float,
    milestone: str = "arrived",
) -> pd.DataFrame:
    """Per street of the area, the on-time share of ``milestone`` for cases
    reported in the last ``hours`` hours before ``now`` (judged exactly as
    :func:`metrics.throughput.ontime_by_milestone`: a case still open
    past its target counts late, one within it is pending and not judged).
    The filter's dates are ignored; category/source/status filters apply.

    Columns: ``street_code``, ``milestone``, ``judged`` = ``on_time`` +
    ``late`` (cases), ``on_time_share`` (0-1, NaN when nothing judged).
    Streets with no case in the window are left out.
    """
    d = conn.dialect.name
    since = now - timedelta(hours=hours)
    window = replace(f, start=since.date(), end=now.date())
    inc = clean_incidents(window, now, rollup=rollups.state(conn, now), stages=d)
    inc = _prepared(inc, cfg, now, d)
    cols = ontime_counts(inc, cfg, now, d)
    q = (
        select(inc.c.street_code.label("key"), *cols)
        .where(inc.c.reported_at >= since)
        .group_by(inc.c.street_code)
        .order_by(inc.c.street_code)
    )
    wide = pd.DataFrame(conn.execute(q).mappings().all(), columns=["key", *(c.name for c in cols)])
    rows = ontime_rows(wide, cfg, "street")
    rows = rows.loc[rows["milestone"] == milestone]
    return rows[RECENT_ONTIME_COLUMNS].reset_index(drop=True)


BACKLOG_COLUMNS = ["street_code", "open_backlog"]


def backlog_by_street(conn: Connection, f: AreaFilter, now: datetime) -> pd.DataFrame:
    """Open backlog per street: clean cases of the area still
    ``open``/``dispatched``/``on_site`` at ``now``, whenever reported (the
    overview's ``open_backlog``, per street). Category/source filters
    apply; dates do not.

    Columns: ``street_code``, ``open_backlog`` (cases). Streets without an
    open case are left out; most first.
    """
    i = incident.c
    open_ids = select(i.id).where(i.status.in_(OPEN_STATUSES), i.reported_at <= now)
    inc = clean_incidents(f, now, window=False, only_ids=open_ids)
    n = func.count().label("open_backlog")
    q = (
        select(inc.c.street_code, n)
        .where(inc.c.status.in_(OPEN_STATUSES))
        .group_by(inc.c.street_code)
        .order_by(n.desc(), inc.c.street_code)
    )
    frame = pd.DataFrame(conn.execute(q).all(), columns=BACKLOG_COLUMNS)
    frame["open_backlog"] = frame["open_backlog"].astype("int64")
    return frame


FORECAST_COLUMNS = [
    "id",
    "name_zh",
    "name_en",
    "street_code",
    "capacity",
    "at",
    "people",
    "people_before",
    "forecast_at",
    "forecast_people",
    "forecast_load",
]


def venue_forecast(
    conn: Connection,
    f: AreaFilter,
    now: datetime,
    cfg: SiteConfig,
    horizon_min: float = 60.0,
    lookback_min: float = 60.0,
) -> pd.DataFrame:
    """Each venue's head count ``horizon_min`` minutes after the latest
    crowd reading at or before ``now``, extrapolated on a straight line
    through the head counts (:func:`metrics.heatmap.venue_load`) at
    that reading and ``lookback_min`` minutes earlier (the latest reading
    alone: no change). Never below zero.

    Columns: ``id``, ``name_zh``, ``name_en``, ``street_code``,
    ``capacity`` (persons), ``at`` (latest reading, start of its 15-minute
    interval), ``people`` / ``people_before`` (persons then and
    ``lookback_min`` earlier), ``forecast_at``, ``forecast_people``
    (persons), ``forecast_load`` (forecast / capacity; NaN without a
    capacity). Highest forecast load first; empty when the area has no
    readings.
    """
    latest = heatmap.crowd_span(conn, f, now)["latest"].iloc[0]
    if pd.isna(latest):
        return pd.DataFrame(columns=FORECAST_COLUMNS)
    at = latest.to_pydatetime()
    before_at = at - timedelta(minutes=lookback_min)
    current = heatmap.venue_load(conn, f, at, cfg)
    earlier = heatmap.venue_load(conn, f, before_at, cfg).set_index("id")["people"]
    rows = []
    for v in current.itertuples():
        people = float(v.people)  # type: ignore[arg-type]
        before = float(earlier.get(v.id, people))
        slope = (people - before) / lookback_min if lookback_min > 0 else 0.0
        forecast = max(0.0, people + slope * horizon_min)
        capacity = v.capacity
        load = forecast / float(capacity) if capacity else math.nan  # type: ignore[arg-type]
        rows.append(
            (v.id, v.name_zh, v.name_en, v.street_code, capacity, at, people, before,
             at + timedelta(minutes=horizon_min), forecast, load)
        )  # fmt: skip
    frame = pd.DataFrame(rows, columns=FORECAST_COLUMNS)
    return frame.sort_values(
        ["forecast_load", "id"], ascending=[False, True], na_position="last"
    ).reset_index(drop=True)
