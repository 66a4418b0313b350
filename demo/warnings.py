"""The casework tables beside the incidents: ``petition`` (信访, with due
dates, repeats and escalations), ``housing_record`` (出租房屋 checks, 5 %
never verified, 2 % without coordinates) and ``warning`` (``enforcement``
三色赋码 of shops and ``risk`` points, with the colour and the day it
cleared).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from data_access import schema
from data_access.coords import wgs84_to_gcj02
from demo.common import SURNAMES, Rows, _floats, _rng, _ts_strings
from demo.geography import StreetExtras, StreetGeo, _nearest_grid, sample_in_street

PETITION_CATEGORIES = (
    "property_management",
    "demolition_compensation",
    "wage_arrears",
    "environment",
    "neighbour_dispute",
    "social_security",
    "other",
)
ENFORCEMENT_NOTES = {
    "red": ("出店经营屡教不改", "油烟扰民被投诉3次", "占道经营累计4次", "门前三包未落实且拒不整改"),
    "yellow": ("出店经营被劝导2次", "店招不规范", "垃圾分类不到位", "夜间经营噪声被投诉"),
    "green": ("门前三包落实良好", "规范经营", "垃圾分类达标", "自治公约签约商户"),
}
RISK_NOTES = (
    "群租房安全隐患",
    "电动自行车违规充电",
    "高空抛物隐患",
    "燃气使用不规范",
    "老旧小区外墙脱落",
    "防汛风险点",
    "消防通道堵塞",
)
SHOP_KINDS = ("面馆", "便利店", "水果店", "餐馆", "理发店", "五金店", "小吃店", "奶茶店", "烟酒店")


def _pick(rng: np.random.Generator, pool: Sequence[str], n: int) -> list[str]:
    return [pool[i] for i in rng.integers(0, len(pool), n)]


def _on_day(rng: np.random.Generator, t0: datetime, horizon: float, hour: np.ndarray) -> np.ndarray:
    """Times at the given local hours on random days, as seconds after ``t0``; only
    those inside ``(0, horizon]`` are kept (so the result may be shorter)."""
    midnight = t0.replace(hour=0, minute=0, second=0, microsecond=0)
    lead = (t0 - midnight).total_seconds()
    n_days = math.ceil((horizon + lead) / 86400.0)
    day = rng.integers(0, max(n_days, 1), hour.size)
    secs = day * 86400.0 + hour * 3600.0 - lead
    return np.asarray(secs[(secs > 0) & (secs <= horizon)])


def petition_closes(
    rng: np.random.Generator, received: np.ndarray, limit: np.ndarray, horizon: float
) -> np.ndarray:
    """When each petition (received at ``received``, allowed ``limit`` days)
    is closed: 45 % of the allowed time at the median; NaN when not by
    ``horizon`` (same seconds), and for the 3 % never closed."""
    n = received.size
    handling = limit * 0.45 * np.exp(0.5 * rng.standard_normal(n)) * 86400.0
    closed = received + handling
    never = rng.random(n) < 0.03
    return np.asarray(np.where(never | (closed > horizon), np.nan, np.round(closed)))


def warning_clears(
    rng: np.random.Generator, raised: np.ndarray, colour: np.ndarray, horizon: float
) -> np.ndarray:
    """When each warning (raised at ``raised``, colour index into
    ``WARNING_COLOURS``) is cleared, 2-20 days later for 35 % of reds, half
    the yellows and 10 % of greens; NaN when not by ``horizon``."""
    n = raised.size
    p_clear = np.array([0.35, 0.5, 0.1])[colour]
    clear = raised + np.round(rng.uniform(2, 20, n) * 86400)
    return np.asarray(np.where((rng.random(n) < p_clear) & (clear <= horizon), clear, np.nan))


def build_petitions(
    seed: int,
    streets: Sequence[StreetGeo],
    extras: dict[str, StreetExtras],
    t0: datetime,
    end: datetime,
    scale: float,
    until: datetime | None = None,
) -> Rows:
    """Petitions received in ``(t0, end]``, each closed by ``until``
    (default ``end``) or not."""
    horizon = (end - t0).total_seconds()
    life = horizon if until is None else (until - t0).total_seconds()
    span_days = horizon / 86400.0
    recs: list[tuple[float, str, str, str, float, float, int, bool]] = []
    for s in streets:
        rng = _rng(seed, "petition", s.code)
        rate = 0.45 * math.sqrt(s.population / 80_000) * scale  # per day
        n = int(rng.poisson(rate * span_days))
        hour = np.where(rng.random(n) < 0.8, rng.uniform(8.5, 17.5, n), rng.uniform(0, 24, n))
        received = _on_day(rng, t0, horizon, hour)
        n = received.size
        limit = np.where(rng.random(n) < 0.8, 60, np.where(rng.random(n) < 0.6, 30, 15))
        due = received + limit * 86400.0
        closed = petition_closes(rng, received, limit, life)
        repeat = rng.choice(6, size=n, p=[0.62, 0.2, 0.09, 0.05, 0.025, 0.015])
        escalated = rng.random(n) < (0.03 + 0.03 * repeat)
        cats = _pick(rng, PETITION_CATEGORIES, n)
        grids = _pick(rng, extras[s.code].grid_codes, n)
        for i in range(n):
            recs.append(
                (
                    float(np.round(received[i])),
                    s.code,
                    grids[i],
                    cats[i],
                    float(due[i]),
                    float(closed[i]),
                    int(repeat[i]),
                    bool(escalated[i]),
                )
            )
    recs.sort(key=lambda r: (r[0], r[1]))
    if not recs:
        return []
    rec = np.array([r[0] for r in recs])
    due = np.array([r[4] for r in recs])
    clo = np.array([r[5] for r in recs])
    rec_t, due_t, clo_t = _ts_strings(t0, rec), _ts_strings(t0, np.round(due)), _ts_strings(t0, clo)
    return [
        (f"P{i + 1:07d}", r[1], r[2], r[3], rec_t[i], due_t[i], clo_t[i], r[6], r[7])
        for i, r in enumerate(recs)
    ]


def build_housing(
    seed: int,
    streets: Sequence[StreetGeo],
    extras: dict[str, StreetExtras],
    end: datetime,
    scale: float,
) -> tuple[Rows, dict[str, int]]:
    rows: Rows = []
    never_total = 0
    nocoord_total = 0
    for s in streets:
        rng = _rng(seed, "housing", s.code)
        n = max(1, round(float(np.clip(s.population / 400, 100, 400)) * scale))
        lon_w, lat_w = sample_in_street(rng, s, n)
        grids = _nearest_grid(extras[s.code], lon_w, lat_w)
        lon, lat = wgs84_to_gcj02(lon_w, lat_w)
        no_coord = rng.random(n) < 0.02
        lon = np.where(no_coord, np.nan, lon)
        lat = np.where(no_coord, np.nan, lat)
        fresh_share = 0.85 if s.code == "330102010" else float(rng.uniform(0.45, 0.8))  # 望江 best
        fresh = rng.random(n) < fresh_share
        age_days = np.where(fresh, rng.uniform(0, 180, n), rng.uniform(181, 545, n))
        age = age_days * 86400 + rng.uniform(0, 8, n) * 3600
        never = rng.random(n) < 0.05
        verified = np.where(never, np.nan, np.round(-age))
        grade = rng.choice(4, size=n, p=[0.55, 0.30, 0.12, 0.03])
        ver_t = _ts_strings(end, verified)
        lat_f, lon_f = _floats(lat), _floats(lon)
        for i in range(n):
            rows.append(
                (
                    f"H{s.code}{i + 1:04d}",
                    s.code,
                    grids[i],
                    lat_f[i],
                    lon_f[i],
                    ver_t[i],
                    "ABCD"[grade[i]],
                )
            )
        never_total += int(never.sum())
        nocoord_total += int(no_coord.sum())
    return rows, {"housing_never_verified": never_total, "housing_null_coords": nocoord_total}


def build_warnings(
    seed: int,
    streets: Sequence[StreetGeo],
    extras: dict[str, StreetExtras],
    t0: datetime,
    end: datetime,
    scale: float,
    until: datetime | None = None,
) -> Rows:
    """Warnings raised in ``(t0, end]``, each cleared by ``until`` (default
    ``end``) or not."""
    horizon = (end - t0).total_seconds()
    life = horizon if until is None else (until - t0).total_seconds()
    recs = []
    for s in streets:
        rng = _rng(seed, "warning", s.code)
        for domain, mean, p in (
            ("enforcement", 25.0, (0.07, 0.18, 0.75)),
            ("risk", 6.0, (0.2, 0.45, 0.35)),
        ):
            n = int(rng.poisson(mean * scale * math.sqrt(s.population / 80_000)))
            raised = np.round(_on_day(rng, t0, horizon, rng.uniform(8.5, 18, n)))
            n = raised.size
            colour = rng.choice(3, size=n, p=p)
            cleared = warning_clears(rng, raised, colour, life)
            grids = _pick(rng, extras[s.code].grid_codes, n)
            for i in range(n):
                cname = schema.WARNING_COLOURS[colour[i]]
                if domain == "enforcement":
                    shop = (
                        SURNAMES[int(rng.integers(0, len(SURNAMES)))]
                        + "记"
                        + SHOP_KINDS[int(rng.integers(0, len(SHOP_KINDS)))]
                    )
                    notes = ENFORCEMENT_NOTES[cname]
                    note = f"{shop}：{notes[int(rng.integers(0, len(notes)))]}"
                else:
                    note = RISK_NOTES[int(rng.integers(0, len(RISK_NOTES)))]
                recs.append(
                    (float(raised[i]), s.code, domain, grids[i], cname, float(cleared[i]), note)
                )
    recs.sort(key=lambda r: (r[0], r[1], r[2]))
    if not recs:
        return []
    raised_t = _ts_strings(t0, np.array([r[0] for r in recs]))
    cleared_t = _ts_strings(t0, np.array([r[5] for r in recs]))
    return [
        (f"W{i + 1:06d}", r[2], r[1], r[3], r[4], raised_t[i], cleared_t[i], r[6])
        for i, r in enumerate(recs)
    ]
