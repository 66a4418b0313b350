"""Independent pandas computations of the throughput page's figures, from raw rows.

Written from the rules in ``data_access/throughput.py``'s docstrings, not
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
    target = np.array(
        [
            cfg.targets_for(s, d).get(m)
            for s, d in zip(df["street_code"], df["district_code"], strict=True)
        ],
        dtype=float,
    )
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
    df = df.assign(_key=df[key].astype(object).where(df[key].notna(), "<null>"))
    rows = []
    for code, g in df.groupby("_key", sort=True):
        n = len(g)
        row: dict[str, object] = {key: None if code == "<null>" else code, "cases": n}
        row["closed"] = int((g["status"] == "closed").sum())
        row["cancelled"] = int((g["status"] == "cancelled").sum())
        row["open_backlog"] = int(g["status"].isin(OPEN).sum())
        row["closure_rate"] = row["closed"] / n
        any_excluded = np.zeros(n, dtype=bool)
        for m in MILESTONES:
            j = judge(g, cfg, now, m)
            targets = j["target"]
            if by == "street":
                row[f"target_{m}_min"] = targets.iloc[0]
            else:
                row[f"target_{m}_min"] = (
                    targets.iloc[0] if targets.notna().all() and targets.nunique() == 1 else np.nan
                )
            for k in ("on_time", "late", "pending", "excluded"):
                row[f"{m}_{k}"] = int(j[k].sum())
            row[f"{m}_judged"] = row[f"{m}_on_time"] + row[f"{m}_late"]  # type: ignore[operator]
            judged = row[f"{m}_judged"]
            row[f"{m}_on_time_share"] = row[f"{m}_on_time"] / judged if judged else np.nan  # type: ignore[operator]
            times = j.loc[j["timed"], "elapsed"]
            row[f"{m}_timed"] = len(times)
            row[f"{m}_median_min"] = times.quantile(0.5) if len(times) else np.nan
            row[f"{m}_p90_min"] = times.quantile(0.9) if len(times) else np.nan
            any_excluded |= j["excluded"].to_numpy()
        row["excluded_cases"] = int(any_excluded.sum())
        cam = g["source"] == "camera_ai"
        row["camera_ai_cases"] = int(cam.sum())
        row["camera_ai_cancelled"] = int((cam & (g["status"] == "cancelled")).sum())
        row["camera_ai_false_share"] = (
            row["camera_ai_cancelled"] / row["camera_ai_cases"] if cam.any() else np.nan  # type: ignore[operator]
        )
        rows.append(row)
    return pd.DataFrame(rows)


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
