"""Data-quality findings: the bad rows that the metrics leave out.

Every check is one SQL count. Each finding names the metric it would have
corrupted, so a page can say what was excluded and why.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, and_, case, func, not_, or_, select, union_all
from sqlalchemy.sql.elements import ColumnElement

from data_access import rollups
from data_access.area import area_streets, in_area, in_bounds, live_parts
from data_access.config import SiteConfig
from data_access.filters import AreaFilter
from data_access.schema import MILESTONES, crowd_reading, incident, street
from data_access.sqlfn import count_if

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

    # The per-row incident checks in one pass over the window.
    has_coords = and_(incident.c.lat.is_not(None), incident.c.lon.is_not(None))
    row_checks = select(
        count_if(or_(incident.c.street_code.is_(None), not_(known))),
        count_if(and_(area, not_(has_coords))),
        count_if(
            and_(area, has_coords, not_(in_bounds(incident.c.lat, incident.c.lon, cfg.bounds)))
        ),
        count_if(and_(area, _out_of_order())),
    ).where(window)
    unknown, missing, outside, disorder = conn.execute(row_checks).one()
    results[("incident", "unknown_street")] = (int(unknown or 0), "database")
    results[("incident", "missing_coordinates")] = (int(missing or 0), "area")
    results[("incident", "out_of_area")] = (int(outside or 0), "area")
    results[("incident", "out_of_order")] = (int(disorder or 0), "area")
    one(("incident", "future_time"), select(count).where(area, incident.c.reported_at > now))
    state = rollups.state(conn, now)
    dup_rows = select(incident.c.id, (count - 1).label("extra")).where(window, area)
    if state is not None:
        # Only an id duplicated at the refresh, or with a row the rollup
        # does not hold, can have two rows now: count those ids' rows (by
        # the id index) instead of grouping the window's every row.
        maybe = [select(incident.c.id).where(window, c) for c in live_parts(state)]
        if state.dup_ids:
            maybe.append(select(incident.c.id).where(incident.c.id.in_(state.dup_ids)))
        ids = union_all(*maybe).subquery("maybe_dup")
        wanted = select(ids.c.id).distinct().subquery("wanted_dup")
        dup_rows = dup_rows.join_from(incident, wanted, wanted.c.id == incident.c.id)
    dup = dup_rows.group_by(incident.c.id).having(count > 1).subquery()
    one(("incident", "duplicate_id"), select(func.coalesce(func.sum(dup.c.extra), 0)))

    # The crowd checks in one pass (readings are the largest table).
    cwindow = and_(crowd_reading.c.ts >= f.start_ts, crowd_reading.c.ts < f.end_ts)
    c_area = crowd_reading.c.street_code.in_(
        area_streets(f).with_only_columns(street.c.code).scalar_subquery()
    )
    c_known = crowd_reading.c.street_code.in_(select(street.c.code).scalar_subquery())
    crowd_checks = select(
        count_if(or_(crowd_reading.c.street_code.is_(None), not_(c_known))),
        count_if(and_(c_area, or_(crowd_reading.c.lat.is_(None), crowd_reading.c.lon.is_(None)))),
        count_if(and_(c_area, crowd_reading.c.people < 0)),
    ).where(cwindow)
    if state is not None:  # readings before the seal: their per-day counts
        crowd_checks = crowd_checks.where(crowd_reading.c.ts >= state.sealed_until)
    found = [int(v or 0) for v in conn.execute(crowd_checks).one()]
    if state is not None:
        rolled = _crowd_quality_days(conn, f)
        found = [a + b for a, b in zip(found, rolled, strict=True)]
    c_unknown, c_missing, c_negative = found
    results[("crowd_reading", "unknown_street")] = (int(c_unknown or 0), "database")
    results[("crowd_reading", "missing_coordinates")] = (int(c_missing or 0), "area")
    results[("crowd_reading", "negative_count")] = (int(c_negative or 0), "area")
    rows = [(t, c, *results[(t, c)]) for t, c in CHECKS]
    return pd.DataFrame(rows, columns=QUALITY_COLUMNS)


def _crowd_quality_days(conn: Connection, f: AreaFilter) -> list[int]:
    """The crowd checks over the readings the rollup counted per street
    and day (:data:`data_access.rollups.rollup_crowd_quality_day`), for
    the window's days: unknown street (every street), missing coordinates
    and negative counts (the area's streets)."""
    day = rollups.rollup_crowd_quality_day
    in_window = and_(day.c.day >= f.start.isoformat(), day.c.day <= f.end.isoformat())
    known = day.c.street_code.in_(select(street.c.code).scalar_subquery())
    in_area_ = day.c.street_code.in_(
        area_streets(f).with_only_columns(street.c.code).scalar_subquery()
    )

    def summed(cond: ColumnElement[bool], col: str) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((cond, day.c[col]), else_=0)), 0)

    q = select(
        summed(not_(known), "readings"),
        summed(in_area_, "missing_coordinates"),
        summed(in_area_, "negative_count"),
    ).where(in_window)
    return [int(v or 0) for v in conn.execute(q).one()]
