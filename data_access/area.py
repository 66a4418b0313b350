"""SQL building blocks shared by the query modules: area filters and clean rows.

A fact row belongs to the selected area when its ``street_code`` is a known
street (present in ``street``) of the selected district / streets. Rows with
an unknown street code therefore drop out of every area metric by
construction, and are counted by :mod:`data_access.quality` instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, literal, null, or_, select, union_all
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery

from data_access.config import Bounds, SiteConfig
from data_access.filters import AreaFilter
from data_access.schema import MILESTONES, incident, street


def area_streets(f: AreaFilter) -> Any:
    """``SELECT code, district_code FROM street`` restricted to the filter's area."""
    q = select(street.c.code, street.c.district_code)
    if f.district:
        q = q.where(street.c.district_code == f.district)
    if f.streets:
        q = q.where(street.c.code.in_(f.streets))
    return q


def in_area(street_col: Any, f: AreaFilter) -> ColumnElement[bool]:
    """``street_col IN (known streets of the area)``."""
    return street_col.in_(area_streets(f).with_only_columns(street.c.code).scalar_subquery())


def in_bounds(lat: Any, lon: Any, b: Bounds) -> ColumnElement[bool]:
    """Coordinates present and inside the site's box (degrees, site coordinate system)."""
    return and_(
        lat.is_not(None),
        lon.is_not(None),
        lat.between(literal(b.min_lat), literal(b.max_lat)),
        lon.between(literal(b.min_lon), literal(b.max_lon)),
    )


def incident_code_filters(f: AreaFilter) -> list[ColumnElement[bool]]:
    """The filter's category / source / status conditions on ``incident``."""
    conds: list[ColumnElement[bool]] = []
    if f.categories:
        conds.append(incident.c.category.in_(f.categories))
    if f.sources:
        conds.append(incident.c.source.in_(f.sources))
    if f.statuses:
        conds.append(incident.c.status.in_(f.statuses))
    return conds


def clean_incidents(f: AreaFilter, now: datetime, *, window: bool = True) -> Subquery:
    """Incidents of the area, one row per id, none reported after ``now``.

    With ``window`` the rows are limited to ``reported_at`` in the filter's
    date window; category/source/status filters always apply. Columns: every
    ``incident`` column plus ``district_code``. Where an id occurs more than
    once, the earliest-reported copy is kept (the others are data-quality
    findings, not cases).
    """
    conds = [incident.c.reported_at <= now, *incident_code_filters(f)]
    if window:
        conds += [incident.c.reported_at >= f.start_ts, incident.c.reported_at < f.end_ts]
    known = area_streets(f).subquery("known_street")
    base = (
        select(*incident.c, known.c.district_code)
        .join(known, known.c.code == incident.c.street_code)
        .where(*conds)
    )
    # Ids that occur more than once among these rows. Exact copies (a double
    # export) need a row-level tiebreak, which only a window function gives
    # portably; it is costly over every row, so only the few duplicated ids
    # go through it and the rest pass straight on.
    dup_ids = (
        select(incident.c.id)
        .join(known, known.c.code == incident.c.street_code)
        .where(*conds)
        .group_by(incident.c.id)
        .having(func.count() > 1)
        .scalar_subquery()
    )
    unique_rows = base.where(incident.c.id.not_in(dup_ids))
    rn = func.row_number().over(
        partition_by=incident.c.id, order_by=(incident.c.reported_at, incident.c.accepted_at)
    )
    ranked = (
        base.add_columns(rn.label("dup_rank")).where(incident.c.id.in_(dup_ids)).subquery("ranked")
    )
    first_copies = select(*(c for c in ranked.c if c.name != "dup_rank")).where(
        ranked.c.dup_rank == 1
    )
    return union_all(unique_rows, first_copies).subquery("inc")


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
    each row, as a SQL CASE over street and district codes; NULL = not judged."""
    street_rules = []
    district_rules = []
    for code, targets in cfg.target_overrides:
        value = targets.get(milestone)
        value_sql = literal(value) if value is not None else null()
        if len(code) == 9:
            street_rules.append((inc.c.street_code == code, value_sql))
        else:
            district_rules.append((inc.c.district_code == code, value_sql))
    default = cfg.default_targets.get(milestone)
    default_sql = literal(default) if default is not None else null()
    whens = street_rules + district_rules
    if not whens:
        return default_sql
    return case(*whens, else_=default_sql)
