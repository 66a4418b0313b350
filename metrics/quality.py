"""Data-quality findings: the bad rows that the metrics leave out.

Every check is one SQL count. Each finding names the metric it would have
corrupted, so a page can say what was excluded and why.

Here: the checks on the window's rows (:func:`data_quality`), the per-row
conditions the importer judges its rows by, and the SELECTs the rollup job
materialises for them. The data contract's other constraints and the
timestamp storage forms: :mod:`metrics.quality_contract`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, and_, case, func, literal, not_, or_, select, union_all
from sqlalchemy.sql.elements import ColumnElement

import rollups
from data_access.area import area_streets, in_area, in_bounds, street_ranges
from data_access.config import SiteConfig
from data_access.connection import side_by_side
from data_access.filters import AreaFilter
from data_access.schema import MILESTONES, crowd_reading, incident, street
from data_access.sqlfn import count_if, day_bucket
from rollups import live_parts, rollup_case

QUALITY_COLUMNS = ["table", "check", "rows", "scope"]

#: Findings by (table, check): (rows, scope).
Found = dict[tuple[str, str], tuple[int, str]]

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


def _out_of_order(table: Any) -> ColumnElement[bool]:
    conds = []
    cols = [table.c[f"{m}_at"] for m in MILESTONES]
    for i, ts in enumerate(cols):
        conds.append(and_(ts.is_not(None), ts < table.c.reported_at))
        for prev in cols[:i]:
            conds.append(and_(ts.is_not(None), prev.is_not(None), ts < prev))
    return or_(*conds)


def row_checks(table: Any, cfg: SiteConfig) -> dict[str, ColumnElement[bool]]:
    """The per-row incident checks as conditions on ``table`` (``incident``,
    or a table or subquery with its columns), by check name: missing
    coordinates, outside the map's bounds, milestones out of order. The
    importer judges each imported row by these same conditions."""
    has_coords = and_(table.c.lat.is_not(None), table.c.lon.is_not(None))
    return {
        "missing_coordinates": not_(has_coords),
        "out_of_area": and_(has_coords, not_(in_bounds(table.c.lat, table.c.lon, cfg.bounds))),
        "out_of_order": _out_of_order(table),
    }


def future_time(table: Any, now: datetime) -> ColumnElement[bool]:
    """The case is reported after ``now`` (naive site-local time)."""
    return table.c.reported_at > now


def row_check_counts(
    table: Any, cfg: SiteConfig, within: ColumnElement[bool] | None = None
) -> list[ColumnElement[int]]:
    """The per-row checks (:func:`row_checks`) as counts over ``table``,
    of the rows where ``within`` holds: missing coordinates, outside the
    map's bounds, milestones out of order."""
    checks = row_checks(table, cfg).values()
    return [count_if(c if within is None else and_(within, c)) for c in checks]


def data_quality(conn: Connection, f: AreaFilter, now: datetime, cfg: SiteConfig) -> pd.DataFrame:
    """Counts of bad rows for the filter's area and window.

    Columns: ``table``, ``check`` (see ``CHECKS``), ``rows`` (count),
    ``scope`` (``area`` or ``database``). Unknown street codes are counted
    over the whole database within the window, since they belong to no area.
    Future times are counted for the area regardless of the window.
    With a user's ``scope`` the whole-database counts are 0 and ``scope``
    is ``withheld``: they belong to no street of it.

    With the rollup (same map bounds), the rows before the seal are counted
    per day by the refresh (``rollup_incident_quality_day``): the checks
    of the rolled-up cases, less those of ids changed since, plus the live
    part's rows; and the rows with no known street. Same counts
    (tests/test_rollups.py); a year of the city was a 1.6-1.8 s pass over
    its 2.5 M rows.
    """
    window = and_(incident.c.reported_at >= f.start_ts, incident.c.reported_at < f.end_ts)
    area = in_area(incident.c.street_code, f)
    state = rollups.state(conn, now)
    by_day = (
        state is not None
        and state.incident_quality
        and state.day_counts(replace(f, categories=(), sources=(), statuses=()), cfg)
    )

    def row_checks(c: Connection) -> Found:
        """The per-row incident checks: one pass over the window's rows, or
        the rollup's per-day counts and the rows it does not hold."""
        if by_day:
            assert state is not None
            unknown, missing, outside, disorder = _row_checks_by_day(c, f, cfg, state, window)
        else:
            q = select(
                count_if(unknown_street(incident)), *row_check_counts(incident, cfg, area)
            ).where(window)
            unknown, missing, outside, disorder = tuple(c.execute(q).one())
        return {
            ("incident", "unknown_street"): (int(unknown or 0), "database"),
            ("incident", "missing_coordinates"): (int(missing or 0), "area"),
            ("incident", "out_of_area"): (int(outside or 0), "area"),
            ("incident", "out_of_order"): (int(disorder or 0), "area"),
        }

    # The checks over the window's rows (without the rollup, a year of the
    # city is a pass over 2.5 M rows, 0.9-1.8 s) run beside the others.
    by_rows, by_index = side_by_side(
        conn, row_checks, lambda c: _indexed_checks(c, f, now, window, area)
    )
    results = by_rows | by_index
    if f.scope is not None:
        # Rows of no known street belong to no scope: a scoped user is not
        # told how many the whole database has (row-level security).
        results = {
            k: (0, "withheld") if s == "database" else (n, s) for k, (n, s) in results.items()
        }
    rows = [(t, c, *results[(t, c)]) for t, c in CHECKS]
    return pd.DataFrame(rows, columns=QUALITY_COLUMNS)


def unknown_street(table: Any) -> ColumnElement[bool]:
    """The row's ``street_code`` is NULL or no street's code (``table``:
    ``incident``, ``crowd_reading`` or a table with their ``street_code``)."""
    known = table.c.street_code.in_(select(street.c.code).scalar_subquery())
    return or_(table.c.street_code.is_(None), not_(known))


def _day_sum(cond: ColumnElement[bool], column: Any) -> ColumnElement[int]:
    """The sum of a per-day rollup's ``column`` over the rows where ``cond`` holds."""
    return func.coalesce(func.sum(case((cond, column), else_=0)), 0)


def _row_checks_by_day(
    conn: Connection,
    f: AreaFilter,
    cfg: SiteConfig,
    state: rollups.RollupState,
    window: ColumnElement[bool],
) -> list[int]:
    """unknown street, missing coordinates, out of area, out of order:
    the rollup's per-day counts for the window's days before the seal; less
    the rolled-up rows of ids changed since (the day counts hold them, the
    live part reads their rows); plus the live part's rows (every copy)
    and, for unknown streets, the rows since the seal."""
    day = rollups.rollup_incident_quality_day
    in_days = and_(day.c.day >= f.start.isoformat(), day.c.day <= f.end.isoformat())
    area_days = in_area(day.c.street_code, f)
    stored = conn.execute(
        select(
            func.coalesce(func.sum(day.c.unknown_street), 0),
            *(
                _day_sum(area_days, day.c[n])
                for n in ("missing_coordinates", "out_of_area", "out_of_order")
            ),
        ).where(in_days)
    ).one()
    totals = [int(v or 0) for v in stored]
    since = conn.execute(
        select(count_if(unknown_street(incident))).where(
            window, incident.c.reported_at >= state.sealed_until
        )
    ).scalar()
    totals[0] += int(since or 0)
    # Each part finds its rows by its own index range, then joins the
    # area's streets (see area.street_ranges); every copy counts.
    ranges = street_ranges(incident.c.street_code, f)
    live = union_all(
        *(select(*incident.c).where(window, *ranges, c) for c in live_parts(state))
    ).subquery("live_rows")
    known = area_streets(f).subquery("known_street")
    added = conn.execute(
        select(*row_check_counts(live, cfg)).select_from(
            live.join(known, known.c.code == live.c.street_code)
        )
    ).one()
    removed: Any = (0, 0, 0)
    if state.changed_ids:
        rolled = rollups.rollup_case
        removed = conn.execute(
            select(*row_check_counts(rolled, cfg)).where(
                rolled.c.id.in_(state.changed_ids),
                rolled.c.reported_at >= f.start_ts,
                rolled.c.reported_at < f.end_ts,
                in_area(rolled.c.street_code, f),
            )
        ).one()
    for i, (a, r) in enumerate(zip(added, removed, strict=True), start=1):
        totals[i] += int(a or 0) - int(r or 0)
    return totals


def _indexed_checks(
    conn: Connection,
    f: AreaFilter,
    now: datetime,
    window: ColumnElement[bool],
    area: ColumnElement[bool],
) -> Found:
    """The checks of :func:`data_quality` that indexes or the rollup
    answer: future times, duplicate ids, the crowd readings."""
    count = func.count()
    results: Found = {}

    def one(key: tuple[str, str], q: object, scope: str = "area") -> None:
        results[key] = (int(conn.execute(q).scalar() or 0), scope)  # type: ignore[call-overload]

    one(("incident", "future_time"), select(count).where(area, future_time(incident, now)))
    state = rollups.state(conn, now)
    dup_rows = select(incident.c.id, (count - 1).label("extra")).where(window, area)
    if state is not None:
        # Only an id with several rows at the refresh (any status), with
        # a row reported since the seal, or changed since, can have several now (a row
        # changed in place keeps its id): count those ids' rows by the id
        # index instead of grouping the window's every row. (Every live
        # row, the open cases included, was 1.0 s for a year of the city.)
        since = incident.c.reported_at >= state.sealed_until
        maybe = [select(incident.c.id).where(window, since)]
        # ... or a changed id (a copy entered late, before the seal).
        listed = state.dup_ids + state.changed_ids
        if listed:
            maybe.append(select(incident.c.id).where(incident.c.id.in_(listed)))
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
    crowd_checks = select(
        count_if(unknown_street(crowd_reading)),
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
    return results


def _crowd_quality_days(conn: Connection, f: AreaFilter) -> list[int]:
    """The crowd checks over the readings the rollup counted per street
    and day (:data:`rollups.rollup_crowd_quality_day`), for
    the window's days: unknown street (every street), missing coordinates
    and negative counts (the area's streets)."""
    day = rollups.rollup_crowd_quality_day
    in_window = and_(day.c.day >= f.start.isoformat(), day.c.day <= f.end.isoformat())
    in_area_ = in_area(day.c.street_code, f)
    q = select(
        _day_sum(unknown_street(day), day.c.readings),
        _day_sum(in_area_, day.c.missing_coordinates),
        _day_sum(in_area_, day.c.negative_count),
    ).where(in_window)
    return [int(v or 0) for v in conn.execute(q).one()]


def rollup_incident_selects(cfg: Any, sealed: datetime, dialect: str) -> list[Any]:
    """The SELECTs the refresh job materialises in ``rollup_incident_quality_day``: the
    rolled-up cases' per-row checks per street and day, and the rows before
    the seal with no known street per recorded code and day."""
    r = rollup_case.c
    day = day_bucket(r.reported_at, dialect)
    missing, outside, disorder = row_check_counts(rollup_case, cfg)
    rolled = select(r.street_code, day, literal(0), missing, outside, disorder).group_by(
        r.street_code, day
    )
    i = incident.c
    code = func.coalesce(i.street_code, "")
    i_day = day_bucket(i.reported_at, dialect)
    unknown = (
        select(code, i_day, func.count(), literal(0), literal(0), literal(0))
        .where(i.reported_at < sealed, unknown_street(incident))
        .group_by(code, i_day)
    )
    return [rolled, unknown]


def rollup_crowd_select(sealed: datetime, dialect: str) -> Any:
    """The SELECT the refresh job materialises in ``rollup_crowd_quality_day``:
    every reading before the seal, per recorded street code and day."""
    r = crowd_reading.c
    code = func.coalesce(r.street_code, "")
    day = day_bucket(r.ts, dialect)
    return (
        select(
            code,
            day,
            func.count(),
            count_if(or_(r.lat.is_(None), r.lon.is_(None))),
            count_if(r.people < 0),
        )
        .where(r.ts < sealed)
        .group_by(code, day)
    )
