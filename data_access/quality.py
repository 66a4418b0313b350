"""Data-quality findings: the bad rows that the metrics leave out.

Every check is one SQL count. Each finding names the metric it would have
corrupted, so a page can say what was excluded and why.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, and_, func, not_, or_, select
from sqlalchemy.sql.elements import ColumnElement

from data_access.area import area_streets, in_area, in_bounds
from data_access.config import SiteConfig
from data_access.filters import AreaFilter
from data_access.schema import MILESTONES, crowd_reading, incident, street

QUALITY_COLUMNS = ["table", "check", "rows", "scope"]

#: Checks, in display order. ``scope`` says which rows were examined:
#: ``area`` = the selected area and window; ``database`` = the whole window
#: regardless of area (a row with an unknown street belongs to no area).
CHECKS = (
    ("incident", "unknown_street"),
    ("incident", "missing_coordinates"),
    ("incident", "out_of_area"),
    ("incident", "out_of_order"),
    ("incident", "future_time"),
    ("incident", "duplicate_id"),
    ("crowd_reading", "unknown_street"),
    ("crowd_reading", "missing_coordinates"),
    ("crowd_reading", "negative_count"),
)


def _out_of_order() -> ColumnElement[bool]:
    conds = []
    cols = [incident.c[f"{m}_at"] for m in MILESTONES]
    for i, ts in enumerate(cols):
        conds.append(and_(ts.is_not(None), ts < incident.c.reported_at))
        for prev in cols[:i]:
            conds.append(and_(ts.is_not(None), prev.is_not(None), ts < prev))
    return or_(*conds)


def data_quality(conn: Connection, f: AreaFilter, now: datetime, cfg: SiteConfig) -> pd.DataFrame:
    """Counts of bad rows for the filter's area and window.

    Columns: ``table``, ``check`` (see ``CHECKS``), ``rows`` (count),
    ``scope`` (``area`` or ``database``). Unknown street codes are counted
    over the whole database within the window, since they belong to no area.
    Future times are counted for the area regardless of the window.
    """
    window = and_(incident.c.reported_at >= f.start_ts, incident.c.reported_at < f.end_ts)
    area = in_area(incident.c.street_code, f)
    known = incident.c.street_code.in_(select(street.c.code).scalar_subquery())
    count = func.count()
    results: dict[tuple[str, str], tuple[int, str]] = {}

    def one(key: tuple[str, str], q: object, scope: str = "area") -> None:
        results[key] = (int(conn.execute(q).scalar() or 0), scope)  # type: ignore[call-overload]

    one(
        ("incident", "unknown_street"),
        select(count).where(window, or_(incident.c.street_code.is_(None), not_(known))),
        "database",
    )
    one(
        ("incident", "missing_coordinates"),
        select(count).where(window, area, or_(incident.c.lat.is_(None), incident.c.lon.is_(None))),
    )
    one(
        ("incident", "out_of_area"),
        select(count).where(
            window,
            area,
            incident.c.lat.is_not(None),
            incident.c.lon.is_not(None),
            not_(in_bounds(incident.c.lat, incident.c.lon, cfg.bounds)),
        ),
    )
    one(("incident", "out_of_order"), select(count).where(window, area, _out_of_order()))
    one(("incident", "future_time"), select(count).where(area, incident.c.reported_at > now))
    dup = (
        select(incident.c.id, (count - 1).label("extra"))
        .where(window, area)
        .group_by(incident.c.id)
        .having(count > 1)
        .subquery()
    )
    one(("incident", "duplicate_id"), select(func.coalesce(func.sum(dup.c.extra), 0)))

    cwindow = and_(crowd_reading.c.ts >= f.start_ts, crowd_reading.c.ts < f.end_ts)
    cknown = crowd_reading.c.street_code.in_(
        area_streets(f).with_only_columns(street.c.code).scalar_subquery()
    )
    call_known = crowd_reading.c.street_code.in_(select(street.c.code).scalar_subquery())
    one(
        ("crowd_reading", "unknown_street"),
        select(count).where(cwindow, or_(crowd_reading.c.street_code.is_(None), not_(call_known))),
        "database",
    )
    one(
        ("crowd_reading", "missing_coordinates"),
        select(count).where(
            cwindow, cknown, or_(crowd_reading.c.lat.is_(None), crowd_reading.c.lon.is_(None))
        ),
    )
    one(
        ("crowd_reading", "negative_count"),
        select(count).where(cwindow, cknown, crowd_reading.c.people < 0),
    )
    rows = [(t, c, *results[(t, c)]) for t, c in CHECKS]
    return pd.DataFrame(rows, columns=QUALITY_COLUMNS)
