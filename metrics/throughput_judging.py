"""How a case is judged against its handling targets (the 1-3-5 targets:
接报 / 流转 / 到场 / 办结): the conditions every throughput figure counts.

How a case is judged for a milestone ``m`` with target ``T`` minutes
(the target of its street, else its district, else the default):

- cancelled cases are never judged (a cancellation is not a breach);
- ``m_at`` recorded and in order: judged, on time when
  ``m_at - reported_at <= T`` minutes;
- ``m_at`` NULL and the case still open: late as soon as ``now`` is past the
  target (it has already breached), otherwise not judged yet (``pending``);
- ``m_at`` NULL on a closed case (the stage was skipped or not recorded), or
  ``m_at`` before ``reported_at`` / before the previous milestone: excluded
  from this stage only, and counted in ``excluded``.

Stage times (median, P90) are minutes from ``reported_at`` to the
milestone, the same clock the targets use, over live (not cancelled) cases
whose milestone is recorded and in order. Times are naive local time, as the
contract says, so no time-zone or DST arithmetic is involved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, literal, or_, select
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery

from data_access import sqlfn
from data_access.area import milestone_column, milestone_in_order, target_minutes
from data_access.config import SiteConfig
from data_access.schema import MILESTONES, street
from rollups import rollup_case


@dataclass(frozen=True)
class _Judgement:
    """The per-row conditions that judge one milestone (see the module docstring)."""

    on_time: ColumnElement[bool]
    late: ColumnElement[bool]
    pending: ColumnElement[bool]
    excluded: ColumnElement[bool]
    timed: ColumnElement[bool]  # live, recorded and in order: its time counts
    elapsed: ColumnElement[float]  # minutes from reported_at to the milestone


def _prepared(inc: Subquery, cfg: SiteConfig, now: datetime, d: str) -> Subquery:
    """``inc`` with each milestone's target, elapsed minutes and in-order flag,
    and the minutes waited until ``now``, computed once per row.

    :func:`_judge` builds some twenty conditions from these per milestone;
    written out inline, each repeated the time arithmetic and the target
    CASE (PostgreSQL does not share common subexpressions): 16 s for a year
    of the city's cases. On PostgreSQL the subquery is fenced (``OFFSET 0``)
    so that the planner does not inline it again.
    """
    cols: list[Any] = [*inc.c]
    for m in MILESTONES:
        cols.append(target_minutes(cfg, m, inc).label(f"tgt_{m}"))
        if f"ela_{m}" not in inc.c:  # clean_incidents(stages=...) has them
            ts = milestone_column(inc, m)
            cols += [
                sqlfn.minutes_between(inc.c.reported_at, ts, d).label(f"ela_{m}"),
                milestone_in_order(inc, m).label(f"ord_{m}"),
            ]
    cols.append(sqlfn.minutes_between(inc.c.reported_at, literal(now), d).label("waited"))
    return sqlfn.fenced(select(*cols), d).subquery("judged_inc")


def _judge(inc: Subquery, cfg: SiteConfig, m: str, now: datetime, d: str) -> _Judgement:
    target: ColumnElement[Any]
    elapsed: ColumnElement[Any]
    waited: ColumnElement[Any]
    ordered: ColumnElement[Any]
    if f"ela_{m}" in inc.c:  # prepared by _prepared
        target, elapsed, waited = inc.c[f"tgt_{m}"], inc.c[f"ela_{m}"], inc.c.waited
        ordered = inc.c[f"ord_{m}"]
    else:
        target = target_minutes(cfg, m, inc)
        ordered = milestone_in_order(inc, m)
        elapsed = sqlfn.minutes_between(inc.c.reported_at, milestone_column(inc, m), d)
        waited = sqlfn.minutes_between(inc.c.reported_at, literal(now), d)
    ts = milestone_column(inc, m)
    live = inc.c.status != "cancelled"
    closed = or_(inc.c.closed_at.is_not(None), inc.c.status == "closed")
    has_target = target.is_not(None)
    recorded = and_(live, has_target, ts.is_not(None), ordered)
    open_missing = and_(live, has_target, ts.is_(None), ~closed)
    return _Judgement(
        on_time=and_(recorded, elapsed <= target),
        late=or_(and_(recorded, elapsed > target), and_(open_missing, waited > target)),
        pending=and_(open_missing, waited <= target),
        excluded=and_(live, has_target, or_(and_(ts.is_(None), closed), ~ordered)),
        timed=and_(live, ts.is_not(None), ordered),
        elapsed=elapsed,
    )


def _rolled_prepared(cfg: SiteConfig, sealed: datetime, dialect: str, *conds: Any) -> Subquery:
    """``rollup_case`` rows (where ``conds``) with their district, prepared
    for :func:`_judge` (the refresh job's input to its per-day and per-week
    tables; ``sealed`` stands for ``now``)."""
    rows = (
        select(*rollup_case.c, street.c.district_code)
        .join(street, street.c.code == rollup_case.c.street_code)
        .where(*conds)
        .subquery("rolled")
    )
    return _prepared(rows, cfg, sealed, dialect)
