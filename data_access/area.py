"""SQL building blocks shared by the query modules: area filters and clean rows.

A fact row belongs to the selected area when its ``street_code`` is a known
street (present in ``street``) of the selected district / streets. Rows with
an unknown street code therefore drop out of every area metric by
construction, and are counted by :mod:`metrics.quality` instead.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from itertools import pairwise
from typing import Any

from sqlalchemy import (
    Float,
    and_,
    case,
    func,
    literal,
    null,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery

from data_access.config import Bounds, SiteConfig
from data_access.filters import AreaFilter
from data_access.schema import MILESTONES, OPEN_STATUSES, incident, street
from data_access.sqlfn import minutes_between


def area_streets(f: AreaFilter) -> Any:
    """``SELECT code, district_code FROM street`` restricted to the filter's
    area and to its ``scope`` (the user's streets: row-level security, so
    every query built on it sees only those)."""
    q = select(street.c.code, street.c.district_code)
    if f.scope is not None:
        q = q.where(street.c.code.in_(f.scope))
    if f.district:
        q = q.where(street.c.district_code == f.district)
    if f.streets:
        q = q.where(street.c.code.in_(f.streets))
    if f.known_streets is not None:
        q = q.where(street.c.code.in_(f.known_streets))
    return q


def in_area(street_col: Any, f: AreaFilter) -> ColumnElement[bool]:
    """``street_col IN (known streets of the area)``: a subquery on
    ``street``, or the literal list of ``f.known_streets``."""
    if f.known_streets is not None:
        return street_col.in_(f.known_streets)
    return street_col.in_(area_streets(f).with_only_columns(street.c.code).scalar_subquery())


def resolve_streets(conn: Any, f: AreaFilter) -> AreaFilter:
    """``f`` with ``known_streets`` read from ``street`` (one small query).

    The dashboards do this on PostgreSQL and MariaDB/MySQL
    (:func:`ui.data.run_query`): given the district's streets as a
    subquery, MariaDB 10.11 read a whole city's rows and kept the
    district's, and PostgreSQL read the city's open cases from the table;
    given them as a list, both read index ranges (one district's case
    counts on the city: MariaDB 3.6 -> 0.4 s, PostgreSQL 0.66 -> 0.10 s)."""
    if f.known_streets is not None:
        return f
    codes = conn.execute(area_streets(f).with_only_columns(street.c.code)).scalars().all()
    return replace(f, known_streets=tuple(codes))


def listed_streets(conn: Any, f: AreaFilter) -> AreaFilter:
    """``f`` as the dashboards query it (:func:`ui.data.run_query`): on
    PostgreSQL and MariaDB/MySQL with the area's streets as a literal list
    (:func:`resolve_streets`), on SQLite as it is."""
    return resolve_streets(conn, f) if conn.dialect.name in ("postgresql", "mysql") else f


def area_extreme(
    agg: Any, ts: Any, street_col: Any, f: AreaFilter, *conds: Any, dialect: str = ""
) -> Any:
    """``SELECT agg(ts) FROM <ts's table> WHERE street_col in the area AND conds``,
    spelt as one correlated subquery per street of the area.

    ``agg`` is ``func.min`` or ``func.max``. The plain form scans every row
    of the area (1-1.5 s on the city's 10 M crowd readings); per street, each
    subquery is one probe of the (street_code, time) index. MariaDB/MySQL
    (``dialect="mysql"``) ran the correlated form as a scan per street
    (1.1 s for one district); it gets ``agg`` grouped by street instead,
    which it reads as a loose index scan ("using index for group-by", 10 ms).
    """
    if dialect == "mysql":
        per = (
            select(agg(ts).label("extreme"))
            .where(in_area(street_col, f), *conds)
            .group_by(street_col)
            .subquery("per_street")
        )
        return select(agg(per.c.extreme))
    area = area_streets(f).subquery("extreme_street")
    per_street = (
        select(agg(ts)).where(street_col == area.c.code, *conds).correlate(area).scalar_subquery()
    )
    return select(agg(per_street)).select_from(area)


def in_bounds(lat: Any, lon: Any, b: Bounds) -> ColumnElement[bool]:
    """Coordinates present and inside the site's box (degrees, site coordinate system)."""
    return and_(
        lat.is_not(None),
        lon.is_not(None),
        lat.between(literal(b.min_lat), literal(b.max_lat)),
        lon.between(literal(b.min_lon), literal(b.max_lon)),
    )


def incident_code_filters(f: AreaFilter, table: Any = incident) -> list[ColumnElement[bool]]:
    """The filter's category / source / status conditions on ``incident``
    (or a table with its columns, such as the rollup)."""
    conds: list[ColumnElement[bool]] = []
    if f.categories:
        conds.append(table.c.category.in_(f.categories))
    if f.sources:
        conds.append(table.c.source.in_(f.sources))
    if f.statuses:
        conds.append(table.c.status.in_(f.statuses))
    return conds


def street_ranges(street_col: Any, f: AreaFilter) -> list[ColumnElement[bool]]:
    """A district's or streets' literal list, to say again beside a join to
    the area's streets, so that the database reads their index ranges; none
    for the whole city or an unresolved area. The whole city's list narrows
    nothing, and MariaDB then chose the ``(status, street_code)`` index,
    reading every open case of all history instead of the window's by
    ``(status, reported_at)`` (a year of the city's live part: 7.8 -> 3.4 s
    without it; the data-quality checks' live rows 6.0 -> 2.8 s)."""
    if f.known_streets is not None and (f.district or f.streets or f.scope is not None):
        return [in_area(street_col, f)]
    return []


def case_conds(f: AreaFilter, now: datetime, window: bool, table: Any) -> list[Any]:
    conds = [
        table.c.reported_at <= now,
        *incident_code_filters(f, table),
        *street_ranges(table.c.street_code, f),
    ]
    if window:
        conds += [table.c.reported_at >= f.start_ts, table.c.reported_at < f.end_ts]
    return conds


def unsettled_ranges(status: Any) -> list[ColumnElement[bool]]:
    """Conditions whose union is :func:`unsettled`, each of which an index
    on ``status`` can find (``NOT IN`` cannot): NULL, the ranges before and
    between the settled values ``cancelled`` < ``closed``, each open status
    by equality, and the ranges between and after those.

    By equality, an open status is one range of the ``(status,
    reported_at, …)`` index, so a window's open cases are found without the
    rest of history's: for a year of the city MariaDB read all 104,000
    open cases' rows where the window has 58,000 (its live part 7.8 ->
    3.4 s; PostgreSQL unchanged). The ranges are a chain, so whatever the
    collation's order every other value is in one of them; rows read twice
    where a collation orders them otherwise are read once after
    :func:`clean_incidents`' deduplication."""
    return [
        status.is_(None),
        status < "cancelled",
        and_(status > "cancelled", status < "closed"),
        *(status == s for s in OPEN_STATUSES),
        *(and_(status > a, status < b) for a, b in pairwise(_AFTER_CLOSED)),
        status > _AFTER_CLOSED[-1],
    ]


#: ``closed`` and the open statuses after it, in sorted order: the bounds of
#: the ranges between them.
_AFTER_CLOSED = ("closed", *sorted(OPEN_STATUSES))


def unsettled(status: Any) -> ColumnElement[bool]:
    """``status`` is neither ``closed`` nor ``cancelled`` (or is NULL): the
    case may still change."""
    return or_(*unsettled_ranges(status))


def clean_columns(table: Any, known: Any, stages: str | None) -> list[Any]:
    """The columns :func:`clean_incidents` gives, from a table with the
    incident columns and the area's streets."""
    cols = [*table.c, known.c.district_code]
    if stages:
        cols += stage_columns(table, stages)
    return cols


def copy_rank(table: Any) -> Any:
    """1 for the copy of an id that :func:`clean_incidents` keeps (the
    earliest reported, then accepted)."""
    order = (table.c.reported_at, table.c.accepted_at)
    return func.row_number().over(partition_by=table.c.id, order_by=order).label("dup_rank")


def first_copies(ranked: Any) -> Any:
    return select(*(c for c in ranked.c if c.name != "dup_rank")).where(ranked.c.dup_rank == 1)


def deduplicated(
    f: AreaFilter,
    now: datetime,
    window: bool,
    only_ids: Any,
    stages: str | None = None,
) -> list[Any]:
    """The source rows of :func:`clean_incidents`, deduplicated: the SELECTs
    of the rows whose id is unique and of the first copies of the others."""
    conds = case_conds(f, now, window, incident)
    known = area_streets(f).subquery("known_street")
    rows = incident.join(known, known.c.code == incident.c.street_code)
    if only_ids is not None:
        # A join on the distinct wanted ids (not ``id IN (...)``): planners
        # then fetch the few wanted ids' rows by the id index instead of
        # scanning every row for the semi-join.
        wanted = only_ids.distinct().subquery("wanted_ids")
        rows = rows.join(wanted, wanted.c.id == incident.c.id)
    # Ids that occur more than once among these rows. Exact copies (a double
    # export) need a row-level tiebreak, which only a window function gives
    # portably; it is costly over every row, so only the few duplicated ids
    # go through it and the rest pass straight on. The duplicated ids are a
    # CTE joined in (an anti-join for the unique rows), not ``NOT IN (...)``:
    # PostgreSQL cannot hash a NOT IN list it expects to be large, and then
    # probed it once per row (a year of the city's cases: over 20 s).
    dup_ids = (
        select(incident.c.id.label("dup_id"))
        .select_from(rows)
        .where(*conds)
        .group_by(incident.c.id)
        .having(func.count() > 1)
        .cte()
    )
    cols = clean_columns(incident, known, stages)
    unique_rows = (
        select(*cols)
        .select_from(rows.outerjoin(dup_ids, dup_ids.c.dup_id == incident.c.id))
        .where(*conds, dup_ids.c.dup_id.is_(None))
    )
    ranked = (
        select(*cols, copy_rank(incident))
        .select_from(rows.join(dup_ids, dup_ids.c.dup_id == incident.c.id))
        .where(*conds)
        .subquery("ranked")
    )
    return [unique_rows, first_copies(ranked)]


def stage_names() -> list[str]:
    """Names of the columns :func:`stage_columns` adds, in order."""
    return [f"ela_{m}" for m in MILESTONES] + [f"ord_{m}" for m in MILESTONES]


def stage_columns(table: Any, dialect: str) -> list[Any]:
    """Per milestone, minutes from ``reported_at`` (``ela_<m>``, NULL when
    the milestone is) and whether it is in order (``ord_<m>``), computed
    from a table or subquery with the incident columns."""
    ela = [
        minutes_between(table.c.reported_at, milestone_column(table, m), dialect).label(f"ela_{m}")
        for m in MILESTONES
    ]
    return ela + [milestone_in_order(table, m).label(f"ord_{m}") for m in MILESTONES]


def milestone_column(inc: Subquery, milestone: str) -> Any:
    return inc.c[f"{milestone}_at"]


def milestone_in_order(inc: Subquery, milestone: str) -> ColumnElement[bool]:
    """True when the milestone's time is not before ``reported_at`` nor before
    the previous recorded milestone (a NULL milestone counts as in order)."""
    ts = milestone_column(inc, milestone)
    conds = [or_(ts.is_(None), ts >= inc.c.reported_at)]
    for earlier in MILESTONES[: MILESTONES.index(milestone)]:
        prev = milestone_column(inc, earlier)
        conds.append(or_(ts.is_(None), prev.is_(None), ts >= prev))
    return and_(*conds)


def target_minutes(cfg: SiteConfig, milestone: str, inc: Subquery) -> ColumnElement[Any]:
    """The target (minutes from ``reported_at``) that judges ``milestone`` for
    each row, as a SQL CASE over street and district codes; NULL = not judged.

    A missing target is a typed NULL: ``elapsed > target`` then compiles (to
    NULL, false) on a site with no target for the milestone at all, where a
    bare ``null()`` stopped the query with SQLAlchemy's ArgumentError."""
    street_rules = []
    district_rules = []
    no_target = type_coerce(null(), Float)
    for code, targets in cfg.target_overrides:
        value = targets.get(milestone)
        value_sql = literal(value) if value is not None else no_target
        if len(code) == 9:
            street_rules.append((inc.c.street_code == code, value_sql))
        else:
            district_rules.append((inc.c.district_code == code, value_sql))
    default = cfg.default_targets.get(milestone)
    default_sql = literal(default) if default is not None else no_target
    whens = street_rules + district_rules
    if not whens:
        return default_sql
    return case(*whens, else_=default_sql)
