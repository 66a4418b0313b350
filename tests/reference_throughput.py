"""Independent pandas computations of the throughput page's figures, from raw rows.

Written from the rules in ``metrics/throughput*.py``'s docstrings, not
from its SQL; ``tests/test_throughput.py`` compares the two on every backend.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from data_access.config import SiteConfig
from data_access.filters import AreaFilter
from data_access.schema import MILESTONES
from tests import reference

OPEN = ["open", "dispatched", "on_site"]
KEYS = {"street": "street_code", "grid": "grid_code", "category": "category", "source": "source"}


def judge(df: pd.DataFrame, cfg: SiteConfig, now: datetime, m: str) -> pd.DataFrame:
    """Per-row booleans for milestone ``m``: on_time, late, pending, excluded, timed; elapsed."""
    pairs = df[["street_code", "district_code"]].drop_duplicates()
    lookup = {
        (s, d): cfg.targets_for(s, d).get(m)
        for s, d in zip(pairs["street_code"], pairs["district_code"], strict=True)
    }
    keys = pd.MultiIndex.from_frame(df[["street_code", "district_code"]])
    target = np.array([lookup[k] for k in keys], dtype=float)
    has_t = ~np.isnan(target)
    live = df["status"] != "cancelled"
    closed = df["closed_at"].notna() | (df["status"] == "closed")
    ts = df[f"{m}_at"]
    ordered = ts.isna() | (ts >= df["reported_at"])
    for prev in MILESTONES[: MILESTONES.index(m)]:
        p = df[f"{prev}_at"]
        ordered &= ts.isna() | p.isna() | (ts >= p)
    elapsed = (ts - df["reported_at"]).dt.total_seconds() / 60.0
    waited = (now - df["reported_at"]).dt.total_seconds() / 60.0
    recorded = live & has_t & ts.notna() & ordered
    missing_open = live & has_t & ts.isna() & ~closed
    return pd.DataFrame(
        {
            "on_time": recorded & (elapsed <= target),
            "late": (recorded & (elapsed > target)) | (missing_open & (waited > target)),
            "pending": missing_open & (waited <= target),
            "excluded": live & has_t & ((ts.isna() & closed) | ~ordered),
            "timed": live & ts.notna() & ordered,
            "elapsed": elapsed,
            "target": target,
        },
        index=df.index,
    )


def case_throughput(
    incidents: pd.DataFrame,
    streets: pd.DataFrame,
    f: AreaFilter,
    now: datetime,
    cfg: SiteConfig,
    by: str = "street",
) -> pd.DataFrame:
    df = reference.clean_incidents(incidents, streets, f, now)
    key = KEYS[by]
    k = df[key].astype(object).where(df[key].notna(), "<null>").rename("_key")
    cols: dict[str, pd.Series] = {
        "cases": pd.Series(1, index=df.index),
        "closed": df["status"] == "closed",
        "cancelled": df["status"] == "cancelled",
        "open_backlog": df["status"].isin(OPEN),
    }
    cam = df["source"] == "camera_ai"
    cols["camera_ai_cases"] = cam
    cols["camera_ai_cancelled"] = cam & (df["status"] == "cancelled")
    any_excluded = pd.Series(False, index=df.index)
    stats = []
    targets = {}
    for m in MILESTONES:
        j = judge(df, cfg, now, m)
        for kind in ("on_time", "late", "pending", "excluded"):
            cols[f"{m}_{kind}"] = j[kind]
        cols[f"{m}_timed"] = j["timed"]
        any_excluded |= j["excluded"]
        times = j["elapsed"].where(j["timed"]).groupby(k)
        stats += [times.quantile(0.5).rename(f"{m}_median_min")]
        stats += [times.quantile(0.9).rename(f"{m}_p90_min")]
        tgt = j["target"].groupby(k)
        one = (tgt.nunique() == 1) & (tgt.count() == tgt.size())
        targets[f"target_{m}_min"] = tgt.first().where(one)
    cols["excluded_cases"] = any_excluded
    frame = pd.DataFrame({c: v.astype(int) for c, v in cols.items()}).groupby(k).sum()
    frame = frame.join(pd.concat(stats, axis=1)).join(pd.DataFrame(targets))
    frame["closure_rate"] = frame["closed"] / frame["cases"]
    cams = frame["camera_ai_cases"]
    frame["camera_ai_false_share"] = frame["camera_ai_cancelled"] / cams.where(cams > 0)
    for m in MILESTONES:
        judged = frame[f"{m}_on_time"] + frame[f"{m}_late"]
        frame[f"{m}_judged"] = judged
        frame[f"{m}_on_time_share"] = frame[f"{m}_on_time"] / judged.where(judged > 0)
    frame = frame.reset_index()
    frame[key] = frame["_key"].where(frame["_key"] != "<null>", None)
    return frame.drop(columns="_key")


def ontime_trend(
    incidents: pd.DataFrame,
    streets: pd.DataFrame,
    f: AreaFilter,
    now: datetime,
    cfg: SiteConfig,
    milestone: str,
    grain: str,
) -> pd.DataFrame:
    df = reference.clean_incidents(incidents, streets, f, now)
    j = judge(df, cfg, now, milestone)
    day = df["reported_at"].dt.normalize()
    if grain == "week":
        day = day - pd.to_timedelta(day.dt.day_of_week, unit="D")
    frame = pd.DataFrame(
        {
            "street_code": df["street_code"],
            "period": day.dt.strftime("%Y-%m-%d"),
            "on_time": j["on_time"].astype(int),
            "late": j["late"].astype(int),
        }
    )
    out = frame.groupby(["street_code", "period"], as_index=False)[["on_time", "late"]].sum()
    out["judged"] = out["on_time"] + out["late"]
    out["on_time_share"] = out["on_time"] / out["judged"].where(out["judged"] > 0)
    return out


def backlog_ageing(
    incidents: pd.DataFrame, streets: pd.DataFrame, f: AreaFilter, now: datetime
) -> pd.DataFrame:
    df = reference.clean_incidents(incidents, streets, f, now, window=False)
    df = df[df["status"].isin(OPEN)]
    hours = (now - df["reported_at"]).dt.total_seconds() / 3600.0
    bucket = pd.cut(
        hours,
        [-np.inf, 1, 24, 72, 168, np.inf],
        right=False,
        labels=["lt_1h", "1h_24h", "1d_3d", "3d_7d", "gt_7d"],
    )
    return (
        pd.DataFrame({"key": df["street_code"], "age_bucket": bucket.astype(str)})
        .groupby(["key", "age_bucket"])
        .size()
        .rename("cases")
        .reset_index()
    )


def attention_ids(
    incidents: pd.DataFrame, streets: pd.DataFrame, f: AreaFilter, now: datetime, cfg: SiteConfig
) -> dict[str, str]:
    """id -> comma-separated late milestones, for cases late anywhere or still open."""
    df = reference.clean_incidents(incidents, streets, f, now)
    late = {m: judge(df, cfg, now, m)["late"] for m in MILESTONES}
    out = {}
    for idx, row in df.iterrows():
        hits = [m for m in MILESTONES if late[m].loc[idx]]
        if hits or row["status"] in OPEN:
            out[row["id"]] = ",".join(hits)
    return out
