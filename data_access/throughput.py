"""Case handling against targets (接报 / 流转 / 到场 / 办结).

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
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import pandas as pd
from sqlalchemy import Connection, and_, literal, or_, select

from data_access import sqlfn
from data_access.area import clean_incidents, milestone_column, milestone_in_order, target_minutes
from data_access.config import SiteConfig
from data_access.filters import AreaFilter
from data_access.schema import MILESTONES

ONTIME_COLUMNS = ["milestone", "judged", "on_time", "late", "pending", "excluded", "on_time_share"]


def ontime_by_milestone(
    conn: Connection,
    f: AreaFilter,
    now: datetime,
    cfg: SiteConfig,
    by: Literal["area", "street"] = "area",
) -> pd.DataFrame:
    """On-time figures per milestone for cases reported in the window.

    Returns one row per milestone that has a target anywhere (and per street
    when ``by="street"``, with a leading ``street_code`` column). Columns:
    ``milestone``; ``judged`` = ``on_time`` + ``late`` (cases);
    ``pending`` (open, target not yet reached); ``excluded`` (missing or
    out-of-order milestone); ``on_time_share`` = on_time / judged (0-1, NaN
    when nothing was judged).
    """
    d = conn.dialect.name
    inc = clean_incidents(f, now)
    live = inc.c.status != "cancelled"
    closed = or_(inc.c.closed_at.is_not(None), inc.c.status == "closed")
    cols = []
    judged_milestones = []
    for m in MILESTONES:
        if not _has_any_target(cfg, m):
            continue
        target = target_minutes(cfg, m, inc)
        ts = milestone_column(inc, m)
        ordered = milestone_in_order(inc, m)
        elapsed = sqlfn.minutes_between(inc.c.reported_at, ts, d)
        waited = sqlfn.minutes_between(inc.c.reported_at, literal(now), d)
        has_target = target.is_not(None)
        recorded = and_(live, has_target, ts.is_not(None), ordered)
        on_time = and_(recorded, elapsed <= target)
        late_recorded = and_(recorded, elapsed > target)
        open_missing = and_(live, has_target, ts.is_(None), ~closed)
        late_open = and_(open_missing, waited > target)
        pending = and_(open_missing, waited <= target)
        excluded = and_(live, has_target, or_(and_(ts.is_(None), closed), ~ordered))

        cols += [
            sqlfn.count_if(on_time).label(f"{m}__on_time"),
            sqlfn.count_if(or_(late_recorded, late_open)).label(f"{m}__late"),
            sqlfn.count_if(pending).label(f"{m}__pending"),
            sqlfn.count_if(excluded).label(f"{m}__excluded"),
        ]
        judged_milestones.append(m)

    group = [inc.c.street_code] if by == "street" else []
    q = select(*group, *cols).select_from(inc).group_by(*group)
    wide = pd.DataFrame(conn.execute(q).mappings().all())
    rows = []
    for rec in wide.to_dict("records") if not wide.empty else []:
        for m in judged_milestones:
            on_time_n = int(rec[f"{m}__on_time"] or 0)
            late_n = int(rec[f"{m}__late"] or 0)
            judged = on_time_n + late_n
            row = {
                "milestone": m,
                "judged": judged,
                "on_time": on_time_n,
                "late": late_n,
                "pending": int(rec[f"{m}__pending"] or 0),
                "excluded": int(rec[f"{m}__excluded"] or 0),
                "on_time_share": on_time_n / judged if judged else float("nan"),
            }
            if by == "street":
                row = {"street_code": rec["street_code"], **row}
            rows.append(row)
    columns = (["street_code"] if by == "street" else []) + ONTIME_COLUMNS
    return pd.DataFrame(rows, columns=columns)


def _has_any_target(cfg: SiteConfig, milestone: str) -> bool:
    return cfg.default_targets.get(milestone) is not None or any(
        t.get(milestone) is not None for _, t in cfg.target_overrides
    )
