"""The weekly review's lists: repeat hot spots new in the week
(:func:`new_hotspots`, the ``hotspots_new`` table) and the red warning items
still open from earlier weeks (:func:`red_still_open`, the ``red_open`` table).
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from data_access.config import SiteConfig
from data_access.filters import AreaFilter
from metrics import heatmap, warnings
from metrics.warning_rules import WarningRules
from metrics.weekly_model import TABLE_COLUMNS, IsoWeek, records

#: Most red items listed as "still open from earlier weeks".
RED_OPEN_LIMIT = 200


def new_hotspots(
    conn: Connection, f: AreaFilter, now: datetime, cfg: SiteConfig, week: IsoWeek
) -> pd.DataFrame:
    """Repeat hot spots (:func:`metrics.heatmap.repeat_hotspots`) at the
    week's end that were not one at the end of the week before.

    Matching: the same category and a mean position within one hot-spot
    square (``hotspots.grid_m`` metres) of last week's; a hot spot also needs
    a case reported this week to be new. Columns: ``TABLE_COLUMNS["hotspots_new"]``.
    """
    cur = heatmap.repeat_hotspots(conn, week.area(f), week.as_of(now), cfg)
    prev_w = week.shift(-1)
    prev = heatmap.repeat_hotspots(conn, prev_w.area(f), prev_w.as_of(now), cfg)
    # Last week's positions per category as arrays: a pandas filter per hot
    # spot took 0.5 s for a district's 450 (2 s for the city's 2,400).
    before = {
        cat: (g["lat"].to_numpy(dtype=float), g["lon"].to_numpy(dtype=float))
        for cat, g in prev.groupby("category", sort=False)
    }
    nowhere = (np.empty(0), np.empty(0))
    started = pd.Timestamp(week.start_ts)
    keep = []
    for rec in records(cur):
        if pd.isna(rec.last_at) or rec.last_at < started:
            keep.append(False)
            continue
        lat, lon = before.get(rec.category, nowhere)
        dy = (lat - rec.lat) * heatmap.M_PER_DEG_LAT
        dx = (lon - rec.lon) * heatmap.M_PER_DEG_LON * math.cos(math.radians(rec.lat))
        keep.append(not bool(((dx * dx + dy * dy) <= cfg.hotspots.grid_m**2).any()))
    out = cur[pd.Series(keep, index=cur.index, dtype=bool)] if len(cur) else cur
    return out[TABLE_COLUMNS["hotspots_new"]].reset_index(drop=True)


def red_still_open(
    conn: Connection,
    f: AreaFilter,
    now: datetime,
    cfg: SiteConfig,
    week: IsoWeek,
    rules: WarningRules,
) -> pd.DataFrame:
    """Items red at the week's end that were raised / received (or last
    verified) before the week began, or never verified: every domain's
    :func:`metrics.warnings.red_list` as of the week's end, most
    overdue then oldest first, at most ``RED_OPEN_LIMIT`` rows.

    Columns: ``TABLE_COLUMNS["red_open"]`` (``age_days``/``overdue_days`` in
    whole days; ``reasons`` comma-separated codes). No personal data.
    """
    parts = []
    for domain in rules.domains:
        items = warnings.red_list(conn, f, week.as_of(now), rules, domain, cfg.row_cap)
        items = items[items["since"].isna() | (items["since"] < pd.Timestamp(week.start_ts))]
        parts.append(items.assign(domain=domain))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if frame.empty:
        return pd.DataFrame(columns=TABLE_COLUMNS["red_open"])
    frame = frame.sort_values(
        ["overdue_days", "age_days", "domain", "id"],
        ascending=[False, False, True, True],
        na_position="last",
        kind="stable",
    )
    return frame[TABLE_COLUMNS["red_open"]].head(RED_OPEN_LIMIT).reset_index(drop=True)
