"""Independent pandas computations of the dashboard metrics, from raw rows.

Written from the rules in the docstrings and the data contract, not from the
SQL: the tests compare the two. Everything here reads whole tables, which is
fine for the small fixture databases and exactly what the dashboards never do.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from data_access.config import SiteConfig
from data_access.filters import AreaFilter
from data_access.schema import MILESTONES

TS_COLS = ["reported_at", "accepted_at", "dispatched_at", "arrived_at", "closed_at"]


def read(engine: Engine, table: str) -> pd.DataFrame:
    frame = pd.read_sql_table(table, engine)
    for col in frame.columns:
        if col.endswith("_at") or col == "ts":
            frame[col] = pd.to_datetime(frame[col])
    return frame


def area_codes(streets: pd.DataFrame, f: AreaFilter) -> set[str]:
    s = streets
    if f.district:
        s = s[s["district_code"] == f.district]
    if f.streets:
        s = s[s["code"].isin(f.streets)]
    return set(s["code"])


def clean_incidents(
    incidents: pd.DataFrame,
    streets: pd.DataFrame,
    f: AreaFilter,
    now: datetime,
    window: bool = True,
) -> pd.DataFrame:
    df = incidents[incidents["street_code"].isin(area_codes(streets, f))]
    df = df[df["reported_at"] <= now]
    for column, wanted in (
        ("category", f.categories),
        ("source", f.sources),
        ("status", f.statuses),
    ):
        if wanted:
            df = df[df[column].isin(wanted)]
    if window:
        df = df[(df["reported_at"] >= f.start_ts) & (df["reported_at"] < f.end_ts)]
    df = df.sort_values(["id", "reported_at", "accepted_at"], na_position="first", kind="stable")
    df = df.drop_duplicates("id", keep="first")
    district = dict(zip(streets["code"], streets["district_code"], strict=True))
    return df.assign(district_code=df["street_code"].map(district))


def case_counts(
    incidents: pd.DataFrame, streets: pd.DataFrame, f: AreaFilter, now: datetime
) -> dict[str, int]:
    df = clean_incidents(incidents, streets, f, now, window=False)
    midnight = datetime.combine(now.date(), time.min)
    monday = midnight - timedelta(days=now.weekday())
    win = df[(df["reported_at"] >= f.start_ts) & (df["reported_at"] < f.end_ts)]
    return {
        "today": int((df["reported_at"] >= midnight).sum()),
        "this_week": int((df["reported_at"] >= monday).sum()),
        "in_window": len(win),
        "closed_in_window": int((win["status"] == "closed").sum()),
        "open_backlog": int(df["status"].isin(["open", "dispatched", "on_site"]).sum()),
    }


def _minutes(a: pd.Series, b: pd.Series) -> pd.Series:
    return (b - a).dt.total_seconds() / 60.0


def ontime(
    incidents: pd.DataFrame,
    streets: pd.DataFrame,
    f: AreaFilter,
    now: datetime,
    cfg: SiteConfig,
    by_street: bool = False,
) -> pd.DataFrame:
    df = clean_incidents(incidents, streets, f, now)
    df = df[df["status"] != "cancelled"]
    closed = df["closed_at"].notna() | (df["status"] == "closed")
    rows = []
    groups = df.groupby("street_code") if by_street else [(None, df)]
    for code, g in groups:
        gclosed = closed.loc[g.index]
        for m in MILESTONES:
            targets = np.array(
                [
                    cfg.targets_for(s, d).get(m)
                    for s, d in zip(g["street_code"], g["district_code"], strict=True)
                ],
                dtype=float,
            )
            if all(
                t.get(m) is None
                for t in [cfg.default_targets, *(t for _, t in cfg.target_overrides)]
            ):
                continue
            has_t = ~np.isnan(targets)
            ts = g[f"{m}_at"]
            ordered = ts.isna() | (ts >= g["reported_at"])
            for prev in MILESTONES[: MILESTONES.index(m)]:
                p = g[f"{prev}_at"]
                ordered &= ts.isna() | p.isna() | (ts >= p)
            elapsed = _minutes(g["reported_at"], ts)
            waited = (now - g["reported_at"]).dt.total_seconds() / 60.0
            recorded = has_t & ts.notna() & ordered
            on_time = recorded & (elapsed <= targets)
            late = (recorded & (elapsed > targets)) | (
                has_t & ts.isna() & ~gclosed & (waited > targets)
            )
            pending = has_t & ts.isna() & ~gclosed & (waited <= targets)
            excluded = has_t & ((ts.isna() & gclosed) | ~ordered)
            judged = int(on_time.sum() + late.sum())
            row = {
                "milestone": m,
                "judged": judged,
                "on_time": int(on_time.sum()),
                "late": int(late.sum()),
                "pending": int(pending.sum()),
                "excluded": int(excluded.sum()),
                "on_time_share": on_time.sum() / judged if judged else np.nan,
            }
            if by_street:
                row = {"street_code": code, **row}
            rows.append(row)
    return pd.DataFrame(rows)
