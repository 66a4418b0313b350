"""Open cases and breaches on the throughput page: the open backlog by age
(:func:`backlog_ageing`) and the list of cases that breached a target or are
still open (:func:`attention_cases`), judged as in
:mod:`metrics.throughput_judging`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import pandas as pd
from sqlalchemy import Connection, case, func, literal, or_, select

import rollups
from data_access import sqlfn
from data_access.area import in_area
from data_access.config import SiteConfig
from data_access.filters import AreaFilter
from data_access.privacy import mask_personal
from data_access.schema import MILESTONES, OPEN_STATUSES, incident
from metrics.throughput import GROUPS
from metrics.throughput_judging import _judge
from rollups import clean_incidents

#: Age buckets of open cases: code -> upper bound in minutes (None = no bound).
AGE_BUCKETS = (
    ("lt_1h", 60.0),
    ("1h_24h", 1440.0),
    ("1d_3d", 3 * 1440.0),
    ("3d_7d", 7 * 1440.0),
    ("gt_7d", None),
)
AGEING_COLUMNS = ["key", "age_bucket", "cases"]


def backlog_ageing(
    conn: Connection, f: AreaFilter, now: datetime, by: Literal["street", "grid"] = "street"
) -> pd.DataFrame:
    """Open cases (status open/dispatched/on_site) by age at ``now``, per street or grid.

    Every open case of the area counts, whenever it was reported (a backlog
    is not limited to the date window); category/source filters apply.
    Age = ``now - reported_at``. Columns: ``key`` (street or grid code),
    ``age_bucket`` (``lt_1h`` < 1 h, ``1h_24h``, ``1d_3d``, ``3d_7d``,
    ``gt_7d`` > 7 days; lower bounds inclusive), ``cases``. Every bucket is
    listed for each key that has open cases.
    """
    if by not in ("street", "grid"):
        raise ValueError(f"unknown grouping {by!r}")
    d = conn.dialect.name
    # Only ids with an open copy can be open after deduplication: reading
    # those (by the status index) instead of every case of the area's whole
    # history took the city-scale query from 7.9 s to well under a second.
    open_ids = select(incident.c.id).where(
        incident.c.status.in_(OPEN_STATUSES), in_area(incident.c.street_code, f)
    )
    inc = clean_incidents(f, now, window=False, only_ids=open_ids)
    key = inc.c[GROUPS[by]]
    age = sqlfn.minutes_between(inc.c.reported_at, literal(now), d)
    whens = [(age < literal(upper), literal(code)) for code, upper in AGE_BUCKETS if upper]
    bucket = case(*whens, else_=literal(AGE_BUCKETS[-1][0]))
    q = (
        select(key.label("key"), bucket.label("age_bucket"), func.count().label("cases"))
        .select_from(inc)
        .where(inc.c.status.in_(OPEN_STATUSES))
        .group_by(key, bucket)
    )
    got = pd.DataFrame(conn.execute(q).all(), columns=AGEING_COLUMNS)
    keys = sorted(got["key"].dropna().unique().tolist()) + (
        [None] if got["key"].isna().any() else []
    )
    grid_index = pd.MultiIndex.from_product(
        [keys, [c for c, _ in AGE_BUCKETS]], names=["key", "age_bucket"]
    )
    full = pd.DataFrame(index=grid_index).reset_index()
    out = full.merge(got, on=["key", "age_bucket"], how="left")
    out["cases"] = pd.to_numeric(out["cases"]).fillna(0).astype("int64")
    return out[AGEING_COLUMNS]


CASE_LIST_COLUMNS = [
    "id",
    "street_code",
    "grid_code",
    "category",
    "source",
    "status",
    "reported_at",
    "accepted_at",
    "dispatched_at",
    "arrived_at",
    "closed_at",
    "late_milestones",
    "still_open",
    "address",
    "reporter_name",
    "reporter_phone",
]


def attention_cases(
    conn: Connection, f: AreaFilter, now: datetime, cfg: SiteConfig, limit: int | None = None
) -> pd.DataFrame:
    """Cases reported in the window that breached a target or are still open,
    newest first, at most ``limit`` (default ``cfg.row_cap``) rows.

    Columns: ``id``, ``street_code``, ``grid_code``, ``category``,
    ``source``, ``status``, the five milestone times (naive local time),
    ``late_milestones`` (comma-separated milestone codes judged late, as in
    :func:`ontime_by_milestone`; empty when none), ``still_open`` (bool),
    and ``address``/``reporter_name``/``reporter_phone`` masked.
    Cancelled cases are never listed as breaches.
    """
    cap = min(limit or cfg.row_cap, cfg.row_cap)
    d = conn.dialect.name
    inc = clean_incidents(f, now, rollup=rollups.state(conn, now))
    judged = {m: _judge(inc, cfg, m, now, d) for m in MILESTONES}
    late_cols = [case((j.late, 1), else_=0).label(f"late_{m}") for m, j in judged.items()]
    still_open = inc.c.status.in_(OPEN_STATUSES)
    base = [c for c in CASE_LIST_COLUMNS if c not in ("late_milestones", "still_open")]
    q = (
        select(*(inc.c[c] for c in base), *late_cols)
        .where(or_(still_open, *(j.late for j in judged.values())))
        .order_by(inc.c.reported_at.desc(), inc.c.id)
        .limit(cap)
    )
    rows = pd.DataFrame(conn.execute(q).mappings().all())
    if rows.empty:
        return pd.DataFrame(columns=CASE_LIST_COLUMNS)
    flags = rows[[f"late_{m}" for m in MILESTONES]].astype(int).to_numpy()
    rows["late_milestones"] = [
        ",".join(m for m, hit in zip(MILESTONES, row, strict=True) if hit) for row in flags
    ]
    rows["still_open"] = rows["status"].isin(OPEN_STATUSES)
    for c in ("reported_at", *(f"{m}_at" for m in MILESTONES)):
        rows[c] = pd.to_datetime(rows[c])
    return mask_personal(rows[CASE_LIST_COLUMNS])
