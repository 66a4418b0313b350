"""Heat maps of crowds and incidents: aggregation to cells in SQL.

Coordinates everywhere here are decimal degrees in the site's coordinate
system (``SiteConfig.coord_system``); the map converts them for drawing.
Rows with NULL or out-of-bounds coordinates (``area.in_bounds``) are left off
the maps and counted by :func:`unmapped`.

Cells: a point belongs to the square cell ``(gx, gy)`` with
``gx = floor(lon / step_lon)``, ``gy = floor(lat / step_lat)``, where the
steps are ``cell_m`` metres converted to degrees at the middle latitude of
the site's bounds (so a cell index means the same square in every query).
``cell_m`` is adaptive: the finest configured size, doubled until the
filter's extent holds at most ``map.max_cells`` cells, so a map's payload
stays small however many rows there are.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Float, and_, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

import rollups
from data_access.area import area_extreme, area_streets, in_area, in_bounds
from data_access.config import SiteConfig
from data_access.filters import AreaFilter
from data_access.privacy import mask_personal
from data_access.schema import MILESTONES, OPEN_STATUSES, crowd_reading, street, venue
from data_access.sqlfn import count_if, grid_index, minutes_between, week_bucket
from metrics.throughput import grouped_counts
from rollups import clean_incidents

#: Metres per degree of latitude, and of longitude at the equator (the
#: demo's venue rule uses the same equirectangular approximation).
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON = 111_320.0
#: Interval of one crowd reading.
READING_STEP = timedelta(minutes=15)


# ---------------------------------------------------------------------------
# Cell geometry (pure Python)


def ref_lat(cfg: SiteConfig) -> float:
    """Latitude at which cell sizes in metres are converted to degrees."""
    return (cfg.bounds.min_lat + cfg.bounds.max_lat) / 2


def cell_steps(cfg: SiteConfig, cell_m: float) -> tuple[float, float]:
    """``(step_lon, step_lat)`` in degrees of a ``cell_m`` metre cell."""
    kx = M_PER_DEG_LON * math.cos(math.radians(ref_lat(cfg)))
    return cell_m / kx, cell_m / M_PER_DEG_LAT


def adaptive_cell_m(
    extent: tuple[float, float, float, float] | None, base_m: float, max_cells: int
) -> float:
    """The finest ``base_m * 2**k`` at which the extent
    ``(min_lat, max_lat, min_lon, max_lon)`` holds at most ``max_cells`` cells."""
    if extent is None:
        return base_m
    min_lat, max_lat, min_lon, max_lon = extent
    h = (max_lat - min_lat) * M_PER_DEG_LAT
    w = (max_lon - min_lon) * M_PER_DEG_LON * math.cos(math.radians((min_lat + max_lat) / 2))
    size = base_m
    while (w / size + 2) * (h / size + 2) > max_cells and size < 1_000_000:
        size *= 2
    return size


def snap(lon: Any, lat: Any, cfg: SiteConfig, cell_m: float, dialect: str) -> tuple[Any, Any]:
    """``gx``, ``gy``: the cell of ``cell_m`` metres holding each point."""
    step_lon, step_lat = cell_steps(cfg, cell_m)
    return (
        grid_index(lon, literal(step_lon, Float), dialect).label("gx"),
        grid_index(lat, literal(step_lat, Float), dialect).label("gy"),
    )


def _extent(conn: Connection, q: Any) -> tuple[float, float, float, float] | None:
    sub = q.subquery("pts")
    row = conn.execute(
        select(func.min(sub.c.lat), func.max(sub.c.lat), func.min(sub.c.lon), func.max(sub.c.lon))
    ).one()
    if row[0] is None:
        return None
    return float(row[0]), float(row[1]), float(row[2]), float(row[3])


#: Degrees added around the streets' label points to cover their outlines.
STREET_PAD_DEG = 0.03


def _street_extent(
    conn: Connection, f: AreaFilter, cfg: SiteConfig
) -> tuple[float, float, float, float] | None:
    """The area's extent from its streets' label points, padded (a cheap
    stand-in for the extent of the cases; None when no street has a point)."""
    pts = area_streets(f).with_only_columns(street.c.lat, street.c.lon)
    found = _extent(conn, pts.where(in_bounds(street.c.lat, street.c.lon, cfg.bounds)))
    if found is None:
        return None
    p = STREET_PAD_DEG
    return found[0] - p, found[1] + p, found[2] - p, found[3] + p


# ---------------------------------------------------------------------------
# Crowds


def _known_street(col: Any) -> ColumnElement[bool]:
    return col.in_(select(street.c.code).scalar_subquery())


CROWD_SPAN_COLUMNS = ["first", "latest"]


def crowd_span(conn: Connection, f: AreaFilter, now: datetime) -> pd.DataFrame:
    """First and latest crowd reading time of the area at or before ``now``.

    Columns: ``first``, ``latest`` (start of a 15-minute reading interval,
    naive local time; NaT when the area has no readings). One row.
    """
    ts, code = crowd_reading.c.ts, crowd_reading.c.street_code
    d = conn.dialect.name
    first = conn.execute(area_extreme(func.min, ts, code, f, ts <= now, dialect=d)).scalar()
    latest = conn.execute(area_extreme(func.max, ts, code, f, ts <= now, dialect=d)).scalar()
    span = [pd.NaT if v is None else pd.Timestamp(v) for v in (first, latest)]
    return pd.DataFrame([span], columns=CROWD_SPAN_COLUMNS)


def crowd_steps(conn: Connection, f: AreaFilter, day: date, now: datetime) -> pd.DataFrame:
    """The reading times of one local day for the area, at or before ``now``.

    Columns: ``ts`` (start of each reading interval, ascending).
    """
    start = datetime.combine(day, datetime.min.time())
    q = (
        select(crowd_reading.c.ts)
        .where(
            in_area(crowd_reading.c.street_code, f),
            crowd_reading.c.ts >= start,
            crowd_reading.c.ts < start + timedelta(days=1),
            crowd_reading.c.ts <= now,
        )
        .distinct()
        .order_by(crowd_reading.c.ts)
    )
    return pd.DataFrame({"ts": pd.to_datetime([r[0] for r in conn.execute(q)])})


def _crowd_rows(f: AreaFilter, ts: datetime, cfg: SiteConfig) -> Any:
    c = crowd_reading.c
    return select(c.cell_id, c.lat, c.lon, c.street_code, c.people).where(
        c.ts == ts,
        in_area(c.street_code, f),
        in_bounds(c.lat, c.lon, cfg.bounds),
        c.people.is_not(None),
    )


CROWD_CELL_COLUMNS = ["key", "lat", "lon", "people", "cells", "street_code", "cell_m"]


def crowd_cells(conn: Connection, f: AreaFilter, ts: datetime, cfg: SiteConfig) -> pd.DataFrame:
    """Head counts of the area at reading time ``ts``, per map cell.

    Columns: ``key`` (the source ``cell_id``, or ``gx_gy`` when aggregated),
    ``lat``/``lon`` (mean of the source cells' centres, site coordinate
    system), ``people`` (sum of people, persons), ``cells`` (source cells
    summed), ``street_code`` (of one of them), ``cell_m`` (metres: the source
    cell size ``map.crowd_cell_m`` when not aggregated, else the square
    size). Divide ``people`` by ``cells`` for people per cell at any size.
    """
    rows = _crowd_rows(f, ts, cfg)
    cell_m = adaptive_cell_m(_extent(conn, rows), cfg.map.crowd_cell_m, cfg.map.max_cells)
    if cell_m <= cfg.map.crowd_cell_m:
        sub = rows.subquery("r")
        q = (
            select(
                sub.c.cell_id,
                func.avg(sub.c.lat),
                func.avg(sub.c.lon),
                func.sum(sub.c.people),
                func.count(),
                func.max(sub.c.street_code),
            )
            .group_by(sub.c.cell_id)
            .order_by(sub.c.cell_id)
        )
        frame = pd.DataFrame(conn.execute(q).all(), columns=CROWD_CELL_COLUMNS[:-1])
    else:
        src = rows.subquery("r")
        gx, gy = snap(src.c.lon, src.c.lat, cfg, cell_m, conn.dialect.name)
        snapped = select(gx, gy, src.c.lat, src.c.lon, src.c.people, src.c.street_code).subquery(
            "s"
        )
        q = (
            select(
                snapped.c.gx,
                snapped.c.gy,
                func.avg(snapped.c.lat),
                func.avg(snapped.c.lon),
                func.sum(snapped.c.people),
                func.count(),
                func.max(snapped.c.street_code),
            )
            .group_by(snapped.c.gx, snapped.c.gy)
            .order_by(snapped.c.gx, snapped.c.gy)
        )
        raw = pd.DataFrame(conn.execute(q).all(), columns=["gx", "gy", *CROWD_CELL_COLUMNS[1:-1]])
        raw.insert(0, "key", raw["gx"].astype(str) + "_" + raw["gy"].astype(str))
        frame = raw.drop(columns=["gx", "gy"])
    frame["cell_m"] = float(cell_m)
    return frame.astype({"lat": "float64", "lon": "float64", "people": "int64", "cells": "int64"})


UNMAPPED_COLUMNS = ["rows"]


def crowd_unmapped(conn: Connection, f: AreaFilter, ts: datetime, cfg: SiteConfig) -> pd.DataFrame:
    """Crowd readings of the area at ``ts`` left off the map for NULL or
    out-of-bounds coordinates. Columns: ``rows`` (count), one row."""
    c = crowd_reading.c
    q = select(func.count()).where(
        c.ts == ts, in_area(c.street_code, f), ~in_bounds(c.lat, c.lon, cfg.bounds)
    )
    return pd.DataFrame([[int(conn.execute(q).scalar() or 0)]], columns=UNMAPPED_COLUMNS)


HOT_CELL_COLUMNS = ["cell_id", "street_code", "lat", "lon", "people", "week_before", "change"]


def hot_cells(
    conn: Connection, f: AreaFilter, ts: datetime, cfg: SiteConfig, limit: int = 10
) -> pd.DataFrame:
    """The ``limit`` most crowded source cells of the area at ``ts``.

    Columns: ``cell_id``, ``street_code``, ``lat``/``lon`` (site coordinate
    system), ``people`` (persons), ``week_before`` (the same cell at
    ``ts - 7 days``; NULL when there was no reading then), ``change``
    (``people - week_before``; NULL likewise). Most people first.
    """
    c = crowd_reading.c
    prev = crowd_reading.alias("prev")
    q = (
        select(
            c.cell_id,
            c.street_code,
            c.lat,
            c.lon,
            c.people,
            prev.c.people,
            (c.people - prev.c.people),
        )
        .select_from(
            crowd_reading.outerjoin(
                prev,
                and_(prev.c.cell_id == c.cell_id, prev.c.ts == ts - timedelta(days=7)),
            )
        )
        .where(
            c.ts == ts,
            in_area(c.street_code, f),
            in_bounds(c.lat, c.lon, cfg.bounds),
            c.people.is_not(None),
        )
        .order_by(c.people.desc(), c.cell_id)
        .limit(min(limit, cfg.row_cap))
    )
    frame = pd.DataFrame(conn.execute(q).all(), columns=HOT_CELL_COLUMNS)
    return frame.astype({"people": "int64", "week_before": "Int64", "change": "Int64"})


VENUE_LOAD_COLUMNS = [
    "id",
    "name_zh",
    "name_en",
    "street_code",
    "lat",
    "lon",
    "radius_m",
    "capacity",
    "people",
    "load",
    "level",
]


def venue_load(conn: Connection, f: AreaFilter, ts: datetime, cfg: SiteConfig) -> pd.DataFrame:
    """Head count and load of the area's venues at reading time ``ts``.

    A venue's head count is the sum of ``people`` over the crowd cells (known
    street, coordinates in bounds) whose centre lies within ``radius_m``
    metres of the venue, distance by the equirectangular approximation
    ``dx = dlon * 111320 * cos(venue lat)``, ``dy = dlat * 110574``.

    Columns: ``id``, ``name_zh``, ``name_en``, ``street_code``, ``lat``/
    ``lon`` (site coordinate system), ``radius_m``, ``capacity`` (persons),
    ``people`` (persons), ``load`` (``people / capacity``; NaN without a
    capacity), ``level`` (``green`` below ``map.venue_warn_share``,
    ``yellow`` below ``map.venue_alert_share``, else ``red``; ``green``
    without a capacity). Highest load first.
    """
    v = venue.c
    venues = conn.execute(
        select(v.id, v.name_zh, v.name_en, v.street_code, v.lat, v.lon, v.radius_m, v.capacity)
        .where(in_area(v.street_code, f), in_bounds(v.lat, v.lon, cfg.bounds))
        .order_by(v.id)
    ).all()
    c = crowd_reading.c
    rows = []
    for vid, name_zh, name_en, code, lat, lon, radius, capacity in venues:
        kx = M_PER_DEG_LON * math.cos(math.radians(float(lat)))
        dx = (c.lon - literal(float(lon), Float)) * literal(kx, Float)
        dy = (c.lat - literal(float(lat), Float)) * literal(M_PER_DEG_LAT, Float)
        r = float(radius or 0.0)
        q = select(func.coalesce(func.sum(c.people), 0)).where(
            c.ts == ts,
            _known_street(c.street_code),
            in_bounds(c.lat, c.lon, cfg.bounds),
            dx * dx + dy * dy <= literal(r * r, Float),
        )
        people = int(conn.execute(q).scalar() or 0)
        load = people / capacity if capacity else math.nan
        level = (
            "red"
            if load >= cfg.map.venue_alert_share
            else "yellow"
            if load >= cfg.map.venue_warn_share
            else "green"
        )
        rows.append(
            (vid, name_zh, name_en, code, float(lat), float(lon), r, capacity, people, load, level)
        )
    frame = pd.DataFrame(rows, columns=VENUE_LOAD_COLUMNS)
    return frame.sort_values(["load", "id"], ascending=[False, True], na_position="last")


# ---------------------------------------------------------------------------
# Incidents


def map_cell_m(conn: Connection, f: AreaFilter, cfg: SiteConfig, rows: Any = None) -> float:
    """The incident map's cell size for ``f``'s area: from its streets'
    extent, else (streets without points) from the extent of ``rows``."""
    extent = _street_extent(conn, f, cfg) or (_extent(conn, rows) if rows is not None else None)
    return adaptive_cell_m(extent, cfg.map.incident_cell_m, cfg.map.max_cells)


def _stored_cells(
    conn: Connection, f: AreaFilter, now: datetime, cfg: SiteConfig, cell_m: float
) -> pd.DataFrame | None:
    """:func:`incident_cells` with the rolled-up cases of the ISO weeks
    inside the window read from ``rollup_cell_week`` (sums per street and
    cell), the rest of the window and the live part snapped from rows, and
    the stored weeks' rows of ids changed since the refresh taken out. None
    when the rollup does not hold this cell size, these weeks, this
    configuration's box, or a code filter applies."""
    state = rollups.state(conn, now)
    if state is None or not state.day_counts(f, cfg) or repr(cell_m) not in state.cell_levels:
        return None
    span = state.stored_weeks(f)
    if span is None:
        return None
    d = conn.dialect.name
    keys = ["street_code", "gx", "gy"]
    sums = ["cases", "open", "sum_lat", "sum_lon"]
    week = rollups.rollup_cell_week
    area = area_streets(f).subquery("cell_street")
    q = (
        select(
            week.c.street_code,
            week.c.gx,
            week.c.gy,
            func.sum(week.c.cases),
            literal(0),
            func.sum(week.c.sum_lat),
            func.sum(week.c.sum_lon),
        )
        .join(area, area.c.code == week.c.street_code)
        .where(
            week.c.cell_m == repr(cell_m),
            week.c.week >= span[0].date().isoformat(),
            week.c.week < span[1].date().isoformat(),
        )
        .group_by(week.c.street_code, week.c.gx, week.c.gy)
    )
    parts = [pd.DataFrame(conn.execute(q).all(), columns=keys + sums)]

    def snapped(part: str, spans: list[tuple[datetime, datetime]]) -> pd.DataFrame:
        inc = clean_incidents(f, now, rollup=state, part=part, rolled_spans=spans)
        gx, gy = snap(inc.c.lon, inc.c.lat, cfg, cell_m, d)
        rows = (
            select(inc.c.street_code, gx, gy, inc.c.lat, inc.c.lon, inc.c.status)
            .where(in_bounds(inc.c.lat, inc.c.lon, cfg.bounds))
            .subquery("rest")
        )
        q = select(
            rows.c.street_code,
            rows.c.gx,
            rows.c.gy,
            func.count(),
            count_if(rows.c.status.in_(OPEN_STATUSES)),
            func.sum(rows.c.lat),
            func.sum(rows.c.lon),
        ).group_by(rows.c.street_code, rows.c.gx, rows.c.gy)
        return pd.DataFrame(conn.execute(q).all(), columns=keys + sums)

    parts.append(snapped("all", [(f.start_ts, span[0]), (span[1], f.end_ts)]))
    changed = snapped("changed", [span]) if state.changed_ids else None
    per_street = rollups.net_sums(parts, changed, keys, sums)
    if per_street.empty:
        return pd.DataFrame(columns=INCIDENT_CELL_COLUMNS)
    cells = per_street.groupby(["gx", "gy"], as_index=False).agg(
        cases=("cases", "sum"),
        open=("open", "sum"),
        sum_lat=("sum_lat", "sum"),
        sum_lon=("sum_lon", "sum"),
        street_code=("street_code", "max"),
    )
    cells["lat"] = cells["sum_lat"] / cells["cases"]
    cells["lon"] = cells["sum_lon"] / cells["cases"]
    frame = cells.sort_values(["gx", "gy"], ignore_index=True)
    return _cell_frame(frame[INCIDENT_CELL_COLUMNS[:-1]], cell_m)


def _cell_frame(frame: pd.DataFrame, cell_m: float) -> pd.DataFrame:
    """:func:`incident_cells`' frame: ``cell_m`` added, the columns typed."""
    frame = frame.assign(cell_m=float(cell_m))
    types = {"gx": "int64", "gy": "int64", "lat": "float64", "lon": "float64"}
    return frame.astype({**types, "cases": "int64", "open": "int64"})


def _mapped_incidents(conn: Connection, f: AreaFilter, now: datetime, cfg: SiteConfig) -> Any:
    inc = clean_incidents(f, now, rollup=rollups.state(conn, now))
    return inc, select(inc).where(in_bounds(inc.c.lat, inc.c.lon, cfg.bounds))


INCIDENT_CELL_COLUMNS = ["gx", "gy", "lat", "lon", "cases", "open", "street_code", "cell_m"]


def incident_cells(conn: Connection, f: AreaFilter, now: datetime, cfg: SiteConfig) -> pd.DataFrame:
    """Cases reported in the window (area, category/source/status filters,
    deduplicated, none after ``now``) per map cell.

    Columns: ``gx``/``gy`` (cell index, see the module docstring), ``lat``/
    ``lon`` (mean position of the cell's cases, site coordinate system),
    ``cases`` (count), ``open`` (of those, still open/dispatched/on_site),
    ``street_code`` (of one of them), ``cell_m`` (cell size, metres).
    """
    _, rows = _mapped_incidents(conn, f, now, cfg)
    cell_m = map_cell_m(conn, f, cfg, rows)
    stored = _stored_cells(conn, f, now, cfg, cell_m)
    if stored is not None:
        return stored
    src = rows.subquery("m")
    gx, gy = snap(src.c.lon, src.c.lat, cfg, cell_m, conn.dialect.name)
    snapped = select(gx, gy, src.c.lat, src.c.lon, src.c.status, src.c.street_code).subquery("s")
    is_open = snapped.c.status.in_(OPEN_STATUSES)
    q = (
        select(
            snapped.c.gx,
            snapped.c.gy,
            func.avg(snapped.c.lat),
            func.avg(snapped.c.lon),
            func.count(),
            count_if(is_open),
            func.max(snapped.c.street_code),
        )
        .group_by(snapped.c.gx, snapped.c.gy)
        .order_by(snapped.c.gx, snapped.c.gy)
    )
    return _cell_frame(
        pd.DataFrame(conn.execute(q).all(), columns=INCIDENT_CELL_COLUMNS[:-1]), cell_m
    )


def incident_unmapped(
    conn: Connection, f: AreaFilter, now: datetime, cfg: SiteConfig
) -> pd.DataFrame:
    """Cases of the window left off the map for NULL or out-of-bounds
    coordinates. Columns: ``rows`` (count), one row."""

    def unmapped(inc: Any) -> list[Any]:
        return [
            func.count().label("cases"),
            count_if(~in_bounds(inc.c.lat, inc.c.lon, cfg.bounds)).label("unmapped"),
        ]

    # Through the rollup's per-day counts where they apply.
    found = grouped_counts(conn, f, now, None, unmapped, cfg)
    rows = int(found["unmapped"].sum()) if len(found) else 0
    return pd.DataFrame([[rows]], columns=UNMAPPED_COLUMNS)


CASE_COLUMNS = [
    "id",
    "reported_at",
    "category",
    "source",
    "status",
    "street_code",
    *(f"{m}_min" for m in MILESTONES),
    "address",
    "reporter_name",
    "reporter_phone",
]


def cell_cases(
    conn: Connection,
    f: AreaFilter,
    now: datetime,
    cfg: SiteConfig,
    gx: int,
    gy: int,
    cell_m: float,
) -> pd.DataFrame:
    """The window's cases in map cell ``(gx, gy)`` of size ``cell_m``, newest
    first, at most ``database.row_cap`` rows, personal data masked.

    Columns: ``id``, ``reported_at``, ``category``, ``source``, ``status``,
    ``street_code``, ``accepted_min``/``dispatched_min``/``arrived_min``/
    ``closed_min`` (minutes from ``reported_at``; NULL when not reached),
    ``address``, ``reporter_name``, ``reporter_phone`` (masked).
    """
    inc, _ = _mapped_incidents(conn, f, now, cfg)
    sgx, sgy = snap(inc.c.lon, inc.c.lat, cfg, cell_m, conn.dialect.name)
    d = conn.dialect.name
    snapped = select(
        inc.c.id,
        inc.c.reported_at,
        inc.c.category,
        inc.c.source,
        inc.c.status,
        inc.c.street_code,
        *(minutes_between(inc.c.reported_at, inc.c[f"{m}_at"], d) for m in MILESTONES),
        inc.c.address,
        inc.c.reporter_name,
        inc.c.reporter_phone,
        sgx,
        sgy,
    ).where(in_bounds(inc.c.lat, inc.c.lon, cfg.bounds))
    sub = snapped.subquery("c")
    q = (
        select(*(sub.c[i] for i in range(len(CASE_COLUMNS))))
        .where(sub.c.gx == int(gx), sub.c.gy == int(gy))
        .order_by(sub.c.reported_at.desc(), sub.c.id)
        .limit(cfg.row_cap)
    )
    frame = pd.DataFrame(conn.execute(q).all(), columns=CASE_COLUMNS)
    frame["reported_at"] = pd.to_datetime(frame["reported_at"])
    return mask_personal(frame)


HOTSPOT_COLUMNS = [
    "category",
    "street_code",
    "lat",
    "lon",
    "cases",
    "first_at",
    "last_at",
    "address",
]


def repeat_hotspots(
    conn: Connection, f: AreaFilter, now: datetime, cfg: SiteConfig
) -> pd.DataFrame:
    """Places with ``hotspots.min_cases`` or more cases of one category in the
    ``hotspots.within_days`` days up to the end of the window (or ``now``),
    a place being a ``hotspots.grid_m`` metre square.

    Area and category/source/status filters apply; the window's start does
    not (the look-back is ``within_days``). Columns: ``category``,
    ``street_code`` (of one of the cases), ``lat``/``lon`` (mean position,
    site coordinate system), ``cases`` (count), ``first_at``/``last_at``
    (first and last report), ``address`` (one case's, masked). Most cases
    first, at most ``database.row_cap`` rows.
    """
    end = min(f.end_ts, now)
    start = end - timedelta(days=cfg.hotspots.within_days)
    look_back = replace(f, start=start.date(), end=max(end.date(), start.date()))
    inc = clean_incidents(look_back, now, rollup=rollups.state(conn, now))
    gx, gy = snap(inc.c.lon, inc.c.lat, cfg, cfg.hotspots.grid_m, conn.dialect.name)
    sub = (
        select(
            inc.c.category,
            inc.c.street_code,
            inc.c.lat,
            inc.c.lon,
            inc.c.reported_at,
            inc.c.address,
            gx,
            gy,
        )
        .where(
            inc.c.reported_at >= start,
            inc.c.reported_at <= end,
            in_bounds(inc.c.lat, inc.c.lon, cfg.bounds),
            inc.c.category.is_not(None),
        )
        .subquery("h")
    )
    n = func.count()
    q = (
        select(
            sub.c.category,
            func.max(sub.c.street_code),
            func.avg(sub.c.lat),
            func.avg(sub.c.lon),
            n,
            func.min(sub.c.reported_at),
            func.max(sub.c.reported_at),
            func.max(sub.c.address),
        )
        .group_by(sub.c.category, sub.c.gx, sub.c.gy)
        .having(n >= cfg.hotspots.min_cases)
        .order_by(n.desc(), sub.c.category, func.min(sub.c.reported_at))
        .limit(cfg.row_cap)
    )
    frame = pd.DataFrame(conn.execute(q).all(), columns=HOTSPOT_COLUMNS)
    for col in ("first_at", "last_at"):
        frame[col] = pd.to_datetime(frame[col])
    return mask_personal(frame.astype({"cases": "int64"}))


__all__ = [
    "adaptive_cell_m",
    "cell_cases",
    "cell_steps",
    "crowd_cells",
    "crowd_span",
    "crowd_steps",
    "crowd_unmapped",
    "hot_cells",
    "incident_cells",
    "incident_unmapped",
    "repeat_hotspots",
    "venue_load",
]


def rollup_cell_select(cfg: SiteConfig, cell_m: float, until: datetime, dialect: str) -> Any:
    """The SELECT the refresh job materialises in ``rollup_cell_week`` for one
    cell size: the rolled-up cases reported before ``until`` inside the
    map's bounds, per ISO week, street and cell: cases and the sums of their
    coordinates (columns in ``rollup_cell_week``'s order)."""
    r = rollups.rollup_case.c
    week = week_bucket(r.reported_at, dialect)
    gx, gy = snap(r.lon, r.lat, cfg, cell_m, dialect)
    return (
        select(
            literal(repr(cell_m)),
            week,
            r.street_code,
            gx,
            gy,
            func.count(),
            func.sum(r.lat),
            func.sum(r.lon),
        )
        .where(in_bounds(r.lat, r.lon, cfg.bounds), r.reported_at < until)
        .group_by(week, r.street_code, gx, gy)
    )
