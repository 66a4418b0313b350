"""Build the demo operational database: every contract table, filled with
plausible, deterministic data calibrated on the domain brief.

    python -m demo [--url URL] [--days 90] [--seed N] [--scale 1.0]
                               [--end 2026-11-22T09:00] [--all-hangzhou] [--no-bad-rows]

``build_demo`` drops and recreates the contract tables (``schema.metadata``)
at ``url`` (SQLite, PostgreSQL or MySQL/MariaDB) and bulk-loads them.
The same ``(seed, days, scale, end, districts, bad_rows)`` always give the same
rows. Timestamps are naive Asia/Shanghai local time; the data covers
``(end - days, end]``. Coordinates are GCJ-02 (the site default), converted
from the WGS-84 boundary assets with ``data_access.coords``.

What is in it (scale 1, default four districts 拱墅, 上城, 钱塘, 西湖):

- ``district``/``street`` from ``assets/geo`` (street lat/lon = label point);
  ``grid``: 15-40 per street (四季青 has 9 building grids; 河庄 10 community
  + 17 village + 5 dedicated).
- ``incident``: about 10-40 cases per street per day in proportion to
  population (四季青 about 35 a day), with diurnal and weekly rhythm, the
  source and category mix of the brief, milestone times with a right tail
  (about 5-12 % miss the arrival target: 5 min in 四季青, 8 elsewhere),
  about 98 % of cases older than 3 days closed, camera-AI false detections
  cancelled, and repeat hot spots (云上澜苑 in 河庄: renovation-noise calls at
  one building, ``rows["hotspot_yunshang_lanyuan"]`` of them).
- ``crowd_reading``: 15-minute head counts on a fixed ~500 m grid (cell
  ``g<ix>_<iy>``, lat/lon = cell centre) over the dense urban core and the
  venues' surroundings, for the LAST 14 DAYS ONLY (``CROWD_DAYS``): with 28
  days the default demo file grew to 275 MB of crowd rows, so two weeks it
  is (this week vs last week, and the fireworks). Residents and workers by
  street, the daily 武林 business circle, the 杭州东站 hub, and a 300,000+
  fireworks evening at 城市阳台 on the most recent Saturday whose show
  (ending 22:30) is before ``end``. Below scale 1 the crowd window (at least
  8 days) and the cells shrink too (fast test fixtures), keeping every
  venue's cells.
- ``venue``: the watched places with ``radius_m`` and ``capacity`` (a
  venue's head count is the sum over cells whose centre is within
  ``radius_m``; capacities are set from the readings so that only the
  fireworks evening exceeds 城市阳台's, and only the busiest rush hours
  (top 0.5 %) exceed 杭州东站's).
- ``petition``, ``housing_record`` (5 % never verified, 2 % without
  coordinates), ``warning`` (``enforcement`` 三色赋码 and ``risk``).
- With ``bad_rows`` (default), a few deliberately wrong rows: incidents with
  an unknown street, NULL coordinates, a point in the sea, milestones out of
  order, a time after ``end``, duplicate ids; crowd readings with NULL
  coordinates or an unknown street. Their exact counts come back in
  ``DemoSummary.rows`` under ``bad_*`` keys.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Engine, Table, create_engine
from sqlalchemy.schema import CreateIndex, CreateTable

from data_access import schema
from data_access.config import PROJECT_ROOT
from data_access.connection import DatabaseUrlError, demo_path, parse_url, sqlite_url
from data_access.coords import gcj02_to_wgs84, wgs84_to_gcj02

DEFAULT_DISTRICTS = ("330105", "330102", "330114", "330106")  # 拱墅, 上城, 钱塘, 西湖
GEO_DIR = PROJECT_ROOT / "assets" / "geo"
TIMEZONE = "Asia/Shanghai"
#: Days of crowd readings at scale 1 (the most recent ones).
CROWD_DAYS = 14
#: Crowd coverage: every cell in streets at least this dense (residents per km²),
#: plus the cells around each venue and the fireworks riverside.
DENSE_PER_KM2 = 8000
FIREWORKS_ZONE_M = 2000
#: Crowd grid: origin and step in degrees (GCJ-02), about 500 m x 500 m.
CELL_LON0, CELL_LAT0, CELL_DLON, CELL_DLAT = 118.0, 29.0, 0.0052, 0.0045
CELL_KM2 = 0.25
STEP_S = 900  # crowd interval, seconds
UNKNOWN_STREET = "330199999"
SEA_POINT = (122.5, 30.0)  # GCJ-02, East China Sea

SOURCES = ("110", "patrol", "camera_ai", "hotline", "walk_in")
SOURCE_P = np.array([0.30, 0.25, 0.25, 0.15, 0.05])
CATEGORIES = (
    "neighbour_dispute",
    "family_dispute",
    "property_dispute",
    "renovation_noise",
    "market_dispute",
    "illegal_parking",
    "street_vending",
    "shop_spillover",
    "construction_waste",
    "other",
)
#: P(category | source), rows in SOURCES order, columns in CATEGORIES order.
CATEGORY_GIVEN_SOURCE = np.array(
    [
        [0.26, 0.16, 0.08, 0.14, 0.05, 0.12, 0.02, 0.02, 0.03, 0.12],  # 110
        [0.06, 0.02, 0.05, 0.04, 0.06, 0.20, 0.18, 0.22, 0.09, 0.08],  # patrol
        [0.00, 0.00, 0.00, 0.00, 0.00, 0.42, 0.24, 0.24, 0.10, 0.00],  # camera_ai
        [0.12, 0.03, 0.25, 0.22, 0.04, 0.12, 0.03, 0.04, 0.05, 0.10],  # hotline
        [0.30, 0.20, 0.20, 0.05, 0.10, 0.00, 0.00, 0.00, 0.00, 0.15],  # walk_in
    ]
)
#: Weekend multiplier per category (renovation noise and disputes up, works down).
WEEKEND_FACTOR = np.array([1.15, 1.2, 1.0, 1.3, 1.1, 0.9, 1.1, 1.0, 0.7, 1.0])
#: Day-of-week factor, Monday first.
WEEKDAY_FACTOR = np.array([1.03, 0.99, 0.97, 0.99, 1.04, 1.0, 0.96])
DISPUTES = {"neighbour_dispute", "family_dispute", "property_dispute", "market_dispute"}
#: Hour-of-day weights: daytime (peaks late morning and afternoon) and evening.
HOURS_DAY = np.array(
    [0.5, 0.3, 0.2, 0.2, 0.2, 0.4, 1.0, 2.0, 3.5, 5.0, 6.2, 6.5]
    + [5.0, 4.5, 5.5, 6.0, 6.0, 5.2, 4.5, 4.0, 3.5, 2.8, 1.8, 1.0]
)
HOURS_EVENING = np.array(
    [0.8, 0.4, 0.2, 0.2, 0.2, 0.3, 0.8, 1.8, 3.0, 3.8, 4.2, 4.0]
    + [3.5, 3.2, 3.5, 3.8, 4.0, 4.2, 4.8, 5.8, 6.2, 5.2, 3.2, 1.6]
)
EVENING_CATEGORIES = {"neighbour_dispute", "family_dispute", "renovation_noise"}

SIJIQING = "330102014"
HEZHUANG = "330114003"
#: Incidents per resident per day in the urban core (四季青: 120,000 -> 35 a day).
INCIDENT_RATE = 35 / 120_000
#: Rate multiplier for the newer, sparser 钱塘区 (700+ cases in 河庄 in six months).
DISTRICT_RATE = {"330114": 0.45}
KIND_RATE = {"street": 1.0, "town": 0.6, "township": 0.5, "other": 0.6}

#: Share of workers/visitors (vs residents) in a street's crowd, 0-1.
BUSINESS_WEIGHT = {
    "330102014": 1.0,  # 四季青 (钱江新城 office towers)
    "330105013": 1.0,  # 武林
    "330105012": 0.9,  # 天水
    "330102003": 0.9,  # 湖滨
    "330105014": 0.5,  # 长庆
    "330102004": 0.4,  # 小营
    "330102015": 0.5,  # 彭埠
    "330114001": 0.4,  # 下沙
    "330106004": 0.5,  # 西溪
}
#: Approximate West Lake water (WGS-84 ellipse): no residents, no incidents.
LAKE = (120.1455, 30.2465, 0.0095, 0.0125)


@dataclass(frozen=True)
class VenueSpec:
    id: str
    name_zh: str
    name_en: str
    lon: float  # WGS-84
    lat: float
    radius_m: float
    #: Fallback alert threshold; the build sets it from the readings (see ``_capacity``).
    capacity: int
    #: Extra people at the venue at peak, weekday and weekend.
    peak_weekday: float
    peak_weekend: float
    #: Hour-of-day profile (24 weights, 1 = peak).
    profile: tuple[float, ...]


_RETAIL = (0.05, 0.03, 0.02, 0.02, 0.02, 0.05, 0.2, 0.45, 0.6, 0.7, 0.8, 0.85) + (
    0.85,
    0.85,
    0.9,
    0.95,
    0.95,
    0.95,
    1.0,
    1.0,
    0.9,
    0.6,
    0.3,
    0.1,
)
_HUB = (0.15, 0.05, 0.03, 0.03, 0.05, 0.25, 0.6, 0.9, 1.0, 0.85, 0.75, 0.75) + (
    0.8,
    0.8,
    0.8,
    0.85,
    0.9,
    1.0,
    1.0,
    0.9,
    0.8,
    0.7,
    0.55,
    0.3,
)
_RIVERSIDE = (0.05, 0.02, 0.01, 0.01, 0.01, 0.03, 0.1, 0.15, 0.2, 0.25, 0.3, 0.3) + (
    0.3,
    0.3,
    0.3,
    0.3,
    0.35,
    0.45,
    0.7,
    1.0,
    1.0,
    0.7,
    0.35,
    0.12,
)
_SCENIC = (0.02, 0.01, 0.01, 0.01, 0.02, 0.1, 0.3, 0.5, 0.7, 0.85, 0.95, 1.0) + (
    1.0,
    1.0,
    1.0,
    0.95,
    0.9,
    0.8,
    0.75,
    0.7,
    0.55,
    0.35,
    0.15,
    0.05,
)

VENUES = (
    VenueSpec(
        "V01",
        "武林商圈",
        "Wulin business circle",
        120.1625,
        30.2725,
        700,
        45_000,
        6_000,
        9_000,
        _RETAIL,
    ),
    VenueSpec(
        "V02",
        "杭州东站",
        "Hangzhou East railway hub",
        120.2130,
        30.2910,
        700,
        60_000,
        32_000,
        40_000,
        _HUB,
    ),
    VenueSpec(
        "V03",
        "城市阳台",
        "City Balcony (Qianjiang riverside)",
        120.2110,
        30.2430,
        1200,
        120_000,
        6_000,
        18_000,
        _RIVERSIDE,
    ),
    VenueSpec(
        "V04",
        "湖滨步行街",
        "Hubin pedestrian street",
        120.1620,
        30.2560,
        500,
        40_000,
        9_000,
        16_000,
        _RETAIL,
    ),
    VenueSpec(
        "V05", "嘉里中心", "Kerry Centre", 120.1665, 30.2665, 400, 25_000, 5_000, 8_000, _RETAIL
    ),
    VenueSpec(
        "V06",
        "西湖断桥",
        "Broken Bridge, West Lake",
        120.1510,
        30.2595,
        500,
        30_000,
        6_000,
        15_000,
        _SCENIC,
    ),
    VenueSpec(
        "V07", "西溪湿地", "Xixi Wetland", 120.0650, 30.2700, 1000, 40_000, 4_000, 14_000, _SCENIC
    ),
    VenueSpec(
        "V08", "金沙湖", "Jinsha Lake", 120.3220, 30.3050, 800, 30_000, 3_000, 9_000, _RIVERSIDE
    ),
)
FIREWORKS_VENUE = "V03"
FIREWORKS_PEAK = 380_000
#: Fireworks evening, (hour, share of the peak) on the Saturday; linear in between.
FIREWORKS_CURVE = (
    (17.5, 0.0),
    (18.0, 0.05),
    (19.0, 0.35),
    (19.75, 0.8),
    (20.0, 1.0),
    (21.0, 1.0),
    (21.5, 0.6),
    (22.0, 0.2),
    (22.5, 0.0),
)


@dataclass(frozen=True)
class HotSpot:
    street: str
    name_zh: str
    lon: float  # WGS-84
    lat: float
    category: str
    sources: tuple[str, ...]
    per_day: float
    minimum: int
    maximum: int
    address: str
    evening: bool = True


HOT_SPOTS = (
    # 20+ renovation-noise calls at one resettlement estate (domain brief).
    HotSpot(
        HEZHUANG,
        "云上澜苑",
        120.4745,
        30.3035,
        "renovation_noise",
        ("110", "hotline"),
        0.30,
        12,
        60,
        "杭州市钱塘区河庄街道云上澜苑{b}幢{u}单元",
    ),
    HotSpot(
        "330105009",
        "祥符农贸市场",
        120.1150,
        30.3180,
        "market_dispute",
        ("110", "walk_in", "patrol"),
        0.10,
        4,
        30,
        "杭州市拱墅区祥符街道祥符农贸市场{b}号摊位",
        evening=False,
    ),
    HotSpot(
        SIJIQING,
        "来福士广场东侧",
        120.2115,
        30.2525,
        "illegal_parking",
        ("camera_ai", "patrol"),
        0.12,
        4,
        30,
        "杭州市上城区四季青街道新业路{b}号来福士广场东侧",
        evening=False,
    ),
    HotSpot(
        "330106013",
        "文新某小区",
        120.1000,
        30.2950,
        "neighbour_dispute",
        ("110", "hotline"),
        0.07,
        3,
        20,
        "杭州市西湖区文新街道文新花园{b}幢{u}单元",
    ),
)
HOTSPOT_KEY = "hotspot_yunshang_lanyuan"

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢金汪"
)
GIVEN = list(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国文辉力斌宇浩凯佳欣怡晨雪琳婷波鹏飞燕俊峰亮成林海东琴云"
)
_ROAD_TEXT = (
    "文晖 朝晖 新塘 秋涛 凤起 体育场 环城北 延安 中河 东新 德胜 石桥 香积寺 湖墅 莫干山 丽水 登云 "
    "和睦 大关 上塘 沈半 半山 康桥 庆春 解放 平海 学士 钱江 富春 之江 钱潮 民心 新业 江锦 望江 "
    "婺江 近江 清泰 江城 海潮 景芳 三里亭 机场 天城 九环 采荷 凯旋 艮山 白杨 文泽 学林 学正 海达 "
    "河庄 义蓬 青六 江东 文三 文二 古墩 教工 天目山 西溪 紫金港 余杭塘 留和 灵溪 曙光 保俶 北山"
)
ROAD_STEMS = _ROAD_TEXT.split()
ROAD_SUFFIX = ("路", "路", "路", "街", "巷")
ESTATE_A = list("景芳金华锦绿翠青云星朝晖昌盛泰兴福祥瑞宁江潮新和平安康乐明月湖嘉德春秋丰")
ESTATE_SUFFIX = ("小区", "花园", "苑", "新村", "公寓", "家园", "府")
COMMUNITY_A = list(
    "景芳三里亭新塘常青红梅采荷观音塘凯旋南肖埠东园杨柳郡茶花湖墅德胜朝晖文晖潮鸣长庆"
)
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


@dataclass(frozen=True)
class DemoSummary:
    """What a build wrote: the target URL (password hidden), rows per table
    plus ``bad_*`` and ``hotspot_*`` counts, seconds taken, and ``end``."""

    url: str
    rows: dict[str, int]
    seconds: float
    end: datetime


Progress = Callable[[str, float], None]


# ---------------------------------------------------------------------------
# Geometry (pure numpy: the app has no shapely)


@dataclass
class StreetGeo:
    code: str
    district_code: str
    name_zh: str
    name_en: str
    kind: str
    population: int
    area_km2: float
    label_lon: float  # WGS-84
    label_lat: float
    #: Polygon edges, WGS-84: x1, y1, x2, y2 arrays over every ring (even-odd rule).
    edges: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] = field(repr=False)
    bbox: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


def _edges(multipolygon: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    xs1, ys1, xs2, ys2 = [], [], [], []
    for polygon in multipolygon:
        for ring in polygon:
            a = np.asarray(ring, dtype=np.float64)[:, :2]
            xs1.append(a[:-1, 0])
            ys1.append(a[:-1, 1])
            xs2.append(a[1:, 0])
            ys2.append(a[1:, 1])
    return (np.concatenate(xs1), np.concatenate(ys1), np.concatenate(xs2), np.concatenate(ys2))


def points_in_polygon(
    lon: np.ndarray, lat: np.ndarray, edges: tuple[np.ndarray, ...]
) -> np.ndarray:
    """Even-odd ray casting of many points against a polygon's edges (vectorised)."""
    x1, y1, x2, y2 = edges
    inside = np.zeros(lon.shape[0], dtype=bool)
    chunk = max(1, 2_000_000 // max(1, x1.size))
    for s in range(0, lon.shape[0], chunk):
        px = lon[s : s + chunk, None]
        py = lat[s : s + chunk, None]
        crosses = (y1 > py) != (y2 > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            xint = (x2 - x1) * (py - y1) / (y2 - y1) + x1
        hits = crosses & (px < xint)
        inside[s : s + chunk] = (hits.sum(axis=1) % 2) == 1
    return inside


def _in_lake(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    cx, cy, ax, ay = LAKE
    return ((lon - cx) / ax) ** 2 + ((lat - cy) / ay) ** 2 < 1.0


def sample_in_street(
    rng: np.random.Generator, street: StreetGeo, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uniform random points (WGS-84) inside a street outline, off the lake."""
    if n <= 0:
        return np.zeros(0), np.zeros(0)
    minx, miny, maxx, maxy = street.bbox
    ratio = max(street.area_km2, 0.05) / max((maxx - minx) * 96.2 * (maxy - miny) * 110.6, 0.05)
    got_x: list[np.ndarray] = []
    got_y: list[np.ndarray] = []
    have = 0
    for _ in range(200):
        m = int((n - have) / max(ratio, 0.05) * 1.3) + 16
        x = rng.uniform(minx, maxx, m)
        y = rng.uniform(miny, maxy, m)
        ok = points_in_polygon(x, y, street.edges) & ~_in_lake(x, y)
        got_x.append(x[ok])
        got_y.append(y[ok])
        have += int(ok.sum())
        if have >= n:
            break
    if have < n:  # a sliver of a street: fall back to its label point
        pad = n - have
        got_x.append(np.full(pad, street.label_lon))
        got_y.append(np.full(pad, street.label_lat))
    return np.concatenate(got_x)[:n], np.concatenate(got_y)[:n]


def load_geography(
    districts: Sequence[str] | None,
) -> tuple[list[tuple[str, str, str]], list[StreetGeo]]:
    """District rows and street geometry for the chosen districts (None = all)."""
    dist_fc = json.loads((GEO_DIR / "districts.geojson").read_text(encoding="utf-8"))
    street_fc = json.loads((GEO_DIR / "streets_approx.geojson").read_text(encoding="utf-8"))
    wanted = set(districts) if districts is not None else None
    district_rows = [
        (f["properties"]["code"], f["properties"]["name_zh"], f["properties"]["name_en"])
        for f in dist_fc["features"]
        if wanted is None or f["properties"]["code"] in wanted
    ]
    if wanted is not None:
        unknown = wanted - {d[0] for d in district_rows}
        if unknown:
            raise ValueError(f"unknown district code(s): {', '.join(sorted(unknown))}")
    shapes = {f["properties"]["code"]: f["geometry"]["coordinates"] for f in street_fc["features"]}
    streets = []
    with (GEO_DIR / "streets.csv").open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if wanted is not None and r["district_code"] not in wanted:
                continue
            edges = _edges(shapes[r["code"]])
            xs = np.concatenate([edges[0], edges[2]])
            ys = np.concatenate([edges[1], edges[3]])
            streets.append(
                StreetGeo(
                    code=r["code"],
                    district_code=r["district_code"],
                    name_zh=r["name_zh"],
                    name_en=r["name_en"],
                    kind=r["kind"],
                    population=int(r["population"]),
                    area_km2=float(r["area_km2"]),
                    label_lon=float(r["label_lon"]),
                    label_lat=float(r["label_lat"]),
                    edges=edges,
                    bbox=(float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())),
                )
            )
    streets.sort(key=lambda s: s.code)
    return district_rows, streets


def street_of_points(lon: np.ndarray, lat: np.ndarray, streets: Sequence[StreetGeo]) -> np.ndarray:
    """Index into ``streets`` of the outline holding each WGS-84 point, -1 if none."""
    out = np.full(lon.shape[0], -1, dtype=np.int64)
    for i, s in enumerate(streets):
        minx, miny, maxx, maxy = s.bbox
        cand = np.flatnonzero(
            (out < 0) & (lon >= minx) & (lon <= maxx) & (lat >= miny) & (lat <= maxy)
        )
        if cand.size:
            hit = points_in_polygon(lon[cand], lat[cand], s.edges)
            out[cand[hit]] = i
    return out


# ---------------------------------------------------------------------------
# Small helpers


def _rng(seed: int, *keys: str) -> np.random.Generator:
    return np.random.default_rng([seed, *(zlib.crc32(k.encode()) for k in keys)])


def _lognormal(rng: np.random.Generator, median: float, sigma: float, n: int) -> np.ndarray:
    return np.asarray(median * np.exp(sigma * rng.standard_normal(n)))


def _ts_strings(base: datetime, secs: np.ndarray) -> list[str | None]:
    """Seconds after ``base`` (NaN = NULL) as SQLAlchemy's SQLite datetime text.

    ``YYYY-MM-DD HH:MM:SS.000000`` is what SQLAlchemy binds on SQLite, so text
    comparisons there agree; PostgreSQL and MariaDB parse it as well.
    """
    secs = np.asarray(secs, dtype=np.float64)
    out = np.full(secs.shape, None, dtype=object)
    ok = ~np.isnan(secs)
    if ok.any():
        dt = np.datetime64(base, "s") + secs[ok].astype(np.int64).astype("timedelta64[s]")
        text = np.char.add(
            np.char.replace(np.datetime_as_string(dt, unit="s"), "T", " "), ".000000"
        )
        out[ok] = text
    return list(out.tolist())


def _floats(values: np.ndarray, digits: int = 6) -> list[float | None]:
    arr = np.round(np.asarray(values, dtype=np.float64), digits)
    return [None if math.isnan(v) else v for v in arr.tolist()]


def _fmt_dt(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S.000000")


def _pick(rng: np.random.Generator, pool: Sequence[str], n: int) -> list[str]:
    return [pool[i] for i in rng.integers(0, len(pool), n)]


def _names(rng: np.random.Generator, n: int) -> list[str]:
    sur = rng.integers(0, len(SURNAMES), n)
    g1 = rng.integers(0, len(GIVEN), n)
    g2 = rng.integers(0, len(GIVEN), n)
    two = rng.random(n) < 0.7
    return [
        SURNAMES[a] + GIVEN[b] + (GIVEN[c] if t else "")
        for a, b, c, t in zip(sur.tolist(), g1.tolist(), g2.tolist(), two.tolist(), strict=True)
    ]


def _phones(rng: np.random.Generator, n: int) -> list[str]:
    second = np.array([3, 5, 7, 8, 9])[rng.integers(0, 5, n)]
    rest = rng.integers(0, 10**9, n)
    return [f"1{a}{b:09d}" for a, b in zip(second.tolist(), rest.tolist(), strict=True)]


def _piecewise(hours: np.ndarray, curve: Sequence[tuple[float, float]]) -> np.ndarray:
    xs = np.array([c[0] for c in curve])
    ys = np.array([c[1] for c in curve])
    return np.asarray(np.interp(hours, xs, ys, left=0.0, right=0.0))


@dataclass
class StreetExtras:
    """Per-street generated things other tables reuse."""

    grid_codes: list[str]
    grid_lon: np.ndarray  # grid centres, WGS-84
    grid_lat: np.ndarray
    roads: list[str]
    estates: list[str]


def _nearest_grid(extras: StreetExtras, lon: np.ndarray, lat: np.ndarray) -> list[str]:
    if lon.size == 0:
        return []
    d = (lon[:, None] - extras.grid_lon[None, :]) ** 2 * 0.75 + (
        lat[:, None] - extras.grid_lat[None, :]
    ) ** 2
    idx = d.argmin(axis=1)
    return [extras.grid_codes[i] for i in idx.tolist()]


def _addresses(
    rng: np.random.Generator, street: StreetGeo, district_zh: str, extras: StreetExtras, n: int
) -> list[str]:
    prefix = f"杭州市{district_zh}{street.name_zh}"
    home = rng.random(n) < 0.55
    road = rng.integers(0, len(extras.roads), n)
    est = rng.integers(0, len(extras.estates), n)
    num = rng.integers(1, 400, n)
    b = rng.integers(1, 30, n)
    u = rng.integers(1, 5, n)
    fl = rng.integers(1, 19, n)
    rm = rng.integers(1, 5, n)
    out = []
    for i in range(n):
        if home[i]:
            out.append(f"{prefix}{extras.estates[est[i]]}{b[i]}幢{u[i]}单元{fl[i]}0{rm[i]}室")
        else:
            out.append(f"{prefix}{extras.roads[road[i]]}{num[i]}号")
    return out


# ---------------------------------------------------------------------------
# Table builders. Each returns (columns, rows) with Python values only.

Rows = list[tuple[Any, ...]]


def _street_rate(street: StreetGeo) -> float:
    """Expected incidents per day at scale 1."""
    return (
        street.population
        * INCIDENT_RATE
        * DISTRICT_RATE.get(street.district_code, 1.0)
        * KIND_RATE.get(street.kind, 1.0)
    )


def build_grids(seed: int, streets: Sequence[StreetGeo]) -> tuple[Rows, dict[str, StreetExtras]]:
    rows: Rows = []
    extras: dict[str, StreetExtras] = {}
    for s in streets:
        rng = _rng(seed, "grid", s.code)
        if s.code == SIJIQING:
            kinds = ["building"] * 9 + ["community"] * 17 + ["market", "dedicated"]
        elif s.code == HEZHUANG:
            kinds = ["community"] * 10 + ["village"] * 17 + ["dedicated"] * 5
        else:
            n = int(np.clip(round(s.population / 3500 + rng.normal(0, 3)), 15, 40))
            if s.kind == "street":
                kinds = ["market"] * int(rng.integers(1, 3))
                kinds += ["building"] * (
                    int(rng.integers(0, 4)) if s.code in BUSINESS_WEIGHT else 0
                )
                kinds += ["dedicated"] * int(rng.integers(0, 3))
                kinds = ["community"] * max(1, n - len(kinds)) + kinds
            else:
                n_village = int(n * rng.uniform(0.5, 0.7))
                kinds = ["community"] * (n - n_village - 2) + ["village"] * n_village
                kinds += ["market", "dedicated"]
        stems = rng.permutation(len(COMMUNITY_A) ** 2)
        names = []
        comm_count = max(1, len(kinds) // 4)
        communities = [
            COMMUNITY_A[k // len(COMMUNITY_A)] + COMMUNITY_A[k % len(COMMUNITY_A)]
            for k in stems[:comm_count]
        ]
        villages = [
            COMMUNITY_A[k // len(COMMUNITY_A)] + COMMUNITY_A[k % len(COMMUNITY_A)]
            for k in stems[comm_count : comm_count + len(kinds)]
        ]
        counters: dict[str, int] = {}
        for i, kind in enumerate(kinds):
            counters[kind] = counters.get(kind, 0) + 1
            k = counters[kind]
            if kind == "community":
                names.append(
                    f"{communities[(k - 1) % comm_count]}社区第{(k - 1) // comm_count + 1}网格"
                )
            elif kind == "village":
                names.append(f"{villages[i % len(villages)]}村网格")
            elif kind == "building":
                names.append(f"楼宇专属第{k}网格")
            elif kind == "market":
                names.append(
                    f"{s.name_zh.removesuffix('街道').removesuffix('镇')}农贸市场网格"
                    + ("" if k == 1 else f"{k}")
                )
            else:
                names.append(f"专属网格{k}（学校/园区）")
        codes = [f"{s.code}{i + 1:03d}" for i in range(len(kinds))]
        rows.extend(zip(codes, [s.code] * len(codes), names, kinds, strict=True))
        glon, glat = sample_in_street(rng, s, len(codes))
        road_idx = rng.choice(len(ROAD_STEMS), 8, replace=False)
        roads = [
            ROAD_STEMS[i] + ROAD_SUFFIX[int(rng.integers(0, len(ROAD_SUFFIX)))] for i in road_idx
        ]
        estates = [
            ESTATE_A[int(a)] + ESTATE_A[int(b)] + ESTATE_SUFFIX[int(c)]
            for a, b, c in zip(
                rng.integers(0, len(ESTATE_A), 10),
                rng.integers(0, len(ESTATE_A), 10),
                rng.integers(0, len(ESTATE_SUFFIX), 10),
                strict=True,
            )
        ]
        extras[s.code] = StreetExtras(codes, glon, glat, roads, estates)
    return rows, extras


INCIDENT_COLUMNS = [c.name for c in schema.incident.columns]


@dataclass
class _IncidentFrame:
    """Incident columns as arrays; times in seconds after the window start (NaN = NULL)."""

    street: list[str]
    grid: list[str | None]
    source: list[str]
    category: list[str]
    lon: np.ndarray  # GCJ-02
    lat: np.ndarray
    reported: np.ndarray
    accepted: np.ndarray
    dispatched: np.ndarray
    arrived: np.ndarray
    closed: np.ndarray
    status: list[str]
    outcome: list[str | None]
    address: list[str]
    reporter_name: list[str | None]
    reporter_phone: list[str | None]

    def __len__(self) -> int:
        return len(self.street)


def _concat(frames: Sequence[_IncidentFrame]) -> _IncidentFrame:
    def cat_list(name: str) -> list[Any]:
        out: list[Any] = []
        for f in frames:
            out.extend(getattr(f, name))
        return out

    def cat_arr(name: str) -> np.ndarray:
        return np.concatenate([getattr(f, name) for f in frames]) if frames else np.zeros(0)

    arrays = {"lon", "lat", "reported", "accepted", "dispatched", "arrived", "closed"}
    fields: dict[str, Any] = {
        name: (cat_arr(name) if name in arrays else cat_list(name))
        for name in _IncidentFrame.__dataclass_fields__
    }
    return _IncidentFrame(**fields)


def _milestones(
    rng: np.random.Generator,
    street: StreetGeo,
    reported: np.ndarray,
    source: np.ndarray,
    category: Sequence[str],
    horizon: float,
) -> dict[str, Any]:
    """Handling times (seconds after the window start, NaN = not yet) and status/outcome.

    ``horizon`` is ``end`` in the same seconds: anything later has not happened.
    """
    n = reported.size
    camera = source == SOURCES.index("camera_ai")
    acc_min = np.where(camera, _lognormal(rng, 0.3, 0.5, n), _lognormal(rng, 0.5, 0.5, n))
    disp_min = acc_min + _lognormal(rng, 1.4, 0.45, n)
    if street.code == SIJIQING:
        target, body_a, body_b, p_breach = 5.0, 9.0, 1.2, 0.07
    else:
        target, body_a, body_b = 8.0, 5.0, 1.8
        p_breach = float(_rng(0, "breach", street.code).uniform(0.05, 0.10))
    hour = (reported % 86400) // 3600
    p = np.where((hour >= 17) & (hour <= 19), p_breach * 1.5, p_breach)
    p = np.where(hour < 6, p_breach * 1.3, p)
    breach = rng.random(n) < p
    arr_min = np.where(
        breach,
        target + _lognormal(rng, 2.5, 0.9, n),
        target * rng.beta(body_a, body_b, n),
    )
    arr_min = np.maximum(arr_min, disp_min + 0.3 + 0.5 * rng.random(n))
    cats = np.array(category)
    close_median_h = np.where(
        cats == "property_dispute",
        8.0,
        np.where(np.isin(cats, list(DISPUTES)), 2.5, np.where(camera, 0.7, 1.5)),
    )
    close_h = close_median_h * np.exp(1.15 * rng.standard_normal(n))
    close_min = arr_min + np.maximum(close_h * 60.0, 5.0)

    acc = np.round(reported + acc_min * 60)
    disp = np.round(reported + disp_min * 60)
    arr = np.round(reported + arr_min * 60)
    clo = np.round(reported + close_min * 60)

    # Cases that stall (never closed yet), and cancelled ones.
    u = rng.random(n)
    stuck_on_site = u < 0.015
    stuck_dispatched = (u >= 0.015) & (u < 0.018)
    false_alarm = camera & (rng.random(n) < 0.08)
    withdrawn = (source == SOURCES.index("110")) & (rng.random(n) < 0.01)
    cancelled = false_alarm | withdrawn
    cancel_at = np.where(rng.random(n) < 0.5, disp, acc) + np.round(60 + 600 * rng.random(n))
    cancel_closed = rng.random(n) < 0.6

    clo = np.where(stuck_on_site | stuck_dispatched, np.nan, clo)
    arr = np.where(stuck_dispatched, np.nan, arr)
    disp_c = np.where(rng.random(n) < 0.5, disp, np.nan)  # cancelled: sometimes dispatched
    disp = np.where(cancelled, np.where(cancel_at > disp, disp_c, np.nan), disp)
    arr = np.where(cancelled, np.nan, arr)
    clo = np.where(cancelled, np.where(cancel_closed, cancel_at, np.nan), clo)

    cancelled_now = cancelled & (cancel_at <= horizon)
    # Nothing after ``end`` has happened yet.
    acc = np.where(acc <= horizon, acc, np.nan)
    disp = np.where(disp <= horizon, disp, np.nan)
    arr = np.where(arr <= horizon, arr, np.nan)
    clo = np.where(clo <= horizon, clo, np.nan)
    clo = np.where(cancelled & ~cancelled_now, np.nan, clo)

    status = np.full(n, "open", dtype=object)
    status[~np.isnan(disp)] = "dispatched"
    status[~np.isnan(arr)] = "on_site"
    status[~np.isnan(clo)] = "closed"
    status[cancelled_now] = "cancelled"

    dispute = np.isin(cats, list(DISPUTES | {"renovation_noise"}))
    v = rng.random(n)
    outcome = np.where(
        dispute,
        np.where(
            v < 0.60,
            "mediated",
            np.where(v < 0.97, "resolved", np.where(v < 0.985, "unresolved", "referred")),
        ),
        np.where(v < 0.975, "resolved", np.where(v < 0.985, "unresolved", "referred")),
    ).astype(object)
    outcome[status != "closed"] = None
    return {
        "accepted": acc,
        "dispatched": disp,
        "arrived": arr,
        "closed": clo,
        "status": status.tolist(),
        "outcome": outcome.tolist(),
    }


def _incidents_for_street(
    seed: int,
    street: StreetGeo,
    district_zh: str,
    extras: StreetExtras,
    dates: list[datetime],
    t0: datetime,
    horizon: float,
    scale: float,
) -> _IncidentFrame:
    rng = _rng(seed, "incident", street.code)
    lam = _street_rate(street) * scale
    joint = SOURCE_P[:, None] * CATEGORY_GIVEN_SOURCE  # (source, category)
    day_off = np.array([(d - t0).total_seconds() for d in dates])
    dow = np.array([d.weekday() for d in dates])
    weekend = dow >= 5
    cat_factor = np.where(weekend[:, None], WEEKEND_FACTOR[None, :], 1.0)  # (day, category)
    mean = lam * WEEKDAY_FACTOR[dow][:, None, None] * joint[None, :, :] * cat_factor[:, None, :]
    counts = rng.poisson(mean)  # (day, source, category)
    flat = counts.ravel()
    idx = np.repeat(np.arange(flat.size), flat)
    d_i, s_i, c_i = np.unravel_index(idx, counts.shape)
    n = idx.size
    evening = np.array([c in EVENING_CATEGORIES for c in CATEGORIES])[c_i]
    cdf_day = np.cumsum(HOURS_DAY) / HOURS_DAY.sum()
    cdf_eve = np.cumsum(HOURS_EVENING) / HOURS_EVENING.sum()
    u = rng.random(n)
    hour = np.where(evening, np.searchsorted(cdf_eve, u), np.searchsorted(cdf_day, u))
    reported = day_off[d_i] + hour * 3600 + rng.integers(0, 3600, n)
    keep = (reported > 0) & (reported <= horizon)
    d_i, s_i, c_i, reported = d_i[keep], s_i[keep], c_i[keep], reported[keep].astype(np.float64)
    n = reported.size
    category = [CATEGORIES[i] for i in c_i.tolist()]
    source = [SOURCES[i] for i in s_i.tolist()]
    ms = _milestones(rng, street, reported, s_i, category, horizon)
    lon_w, lat_w = sample_in_street(rng, street, n)
    grid = _nearest_grid(extras, lon_w, lat_w)
    lon, lat = wgs84_to_gcj02(lon_w, lat_w)
    names = _names(rng, n)
    phones = _phones(rng, n)
    camera = s_i == SOURCES.index("camera_ai")
    return _IncidentFrame(
        street=[street.code] * n,
        grid=list(grid),
        source=source,
        category=category,
        lon=np.asarray(lon),
        lat=np.asarray(lat),
        reported=reported,
        accepted=ms["accepted"],
        dispatched=ms["dispatched"],
        arrived=ms["arrived"],
        closed=ms["closed"],
        status=ms["status"],
        outcome=ms["outcome"],
        address=_addresses(rng, street, district_zh, extras, n),
        reporter_name=[None if c else x for c, x in zip(camera.tolist(), names, strict=True)],
        reporter_phone=[None if c else x for c, x in zip(camera.tolist(), phones, strict=True)],
    )


def _hotspot_incidents(
    seed: int,
    spot: HotSpot,
    street: StreetGeo,
    extras: StreetExtras,
    days: int,
    t0: datetime,
    horizon: float,
) -> _IncidentFrame:
    rng = _rng(seed, "hotspot", spot.name_zh)
    n = int(np.clip(round(days * spot.per_day), spot.minimum, spot.maximum))
    # Spread over the window, evenings and weekend mornings for noise.
    day = np.sort(rng.choice(max(days, 1), size=n, replace=n > max(days, 1)))
    hours = (
        np.array([8, 9, 10, 18, 19, 20, 21])
        if spot.evening
        else np.array([8, 9, 10, 11, 14, 15, 16])
    )
    hour = hours[rng.integers(0, hours.size, n)]
    start_day = (t0 + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    base = (start_day - t0).total_seconds()
    reported = base + day * 86400.0 + hour * 3600 + rng.integers(0, 3600, n)
    reported = np.where(reported > horizon, horizon - rng.integers(600, 7200, n), reported)
    reported = np.maximum(reported, 1.0)
    src_idx = np.array([SOURCES.index(s) for s in spot.sources])[
        rng.integers(0, len(spot.sources), n)
    ]
    category = [spot.category] * n
    ms = _milestones(rng, street, reported, src_idx, category, horizon)
    jitter_lon = spot.lon + rng.normal(0, 0.00008, n)
    jitter_lat = spot.lat + rng.normal(0, 0.00008, n)
    grid = _nearest_grid(extras, jitter_lon, jitter_lat)
    lon, lat = wgs84_to_gcj02(jitter_lon, jitter_lat)
    # A handful of repeat callers from the same building.
    callers = _names(rng, 5)
    caller_phones = _phones(rng, 5)
    who = rng.integers(0, 5, n)
    camera = src_idx == SOURCES.index("camera_ai")
    b = rng.integers(1, 4, n) if spot.evening else rng.integers(1, 60, n)
    units = rng.integers(1, 3, n)
    address = [
        spot.address.format(b=3 if spot.evening else bb, u=uu)
        for bb, uu in zip(b.tolist(), units.tolist(), strict=True)
    ]
    return _IncidentFrame(
        street=[street.code] * n,
        grid=list(grid),
        source=[SOURCES[i] for i in src_idx.tolist()],
        category=category,
        lon=np.asarray(lon),
        lat=np.asarray(lat),
        reported=reported.astype(np.float64),
        accepted=ms["accepted"],
        dispatched=ms["dispatched"],
        arrived=ms["arrived"],
        closed=ms["closed"],
        status=ms["status"],
        outcome=ms["outcome"],
        address=address,
        reporter_name=[
            None if c else callers[w] for c, w in zip(camera.tolist(), who.tolist(), strict=True)
        ],
        reporter_phone=[
            None if c else caller_phones[w]
            for c, w in zip(camera.tolist(), who.tolist(), strict=True)
        ],
    )


def _incident_rows(frame: _IncidentFrame, t0: datetime, ids: Sequence[str]) -> Rows:
    cols = [
        list(ids),
        frame.source,
        frame.category,
        frame.street,
        frame.grid,
        _floats(frame.lat),
        _floats(frame.lon),
        _ts_strings(t0, frame.reported),
        _ts_strings(t0, frame.accepted),
        _ts_strings(t0, frame.dispatched),
        _ts_strings(t0, frame.arrived),
        _ts_strings(t0, frame.closed),
        frame.status,
        frame.outcome,
        frame.address,
        frame.reporter_name,
        frame.reporter_phone,
    ]
    return list(zip(*cols, strict=True))


# Column order of ``_incident_rows``: must match INCIDENT_COLUMNS.
_INCIDENT_ORDER = [
    "id",
    "source",
    "category",
    "street_code",
    "grid_code",
    "lat",
    "lon",
    "reported_at",
    "accepted_at",
    "dispatched_at",
    "arrived_at",
    "closed_at",
    "status",
    "outcome",
    "address",
    "reporter_name",
    "reporter_phone",
]


def build_incidents(
    seed: int,
    streets: Sequence[StreetGeo],
    district_names: dict[str, str],
    extras: dict[str, StreetExtras],
    days: int,
    t0: datetime,
    end: datetime,
    scale: float,
    bad_rows: bool,
    progress: Callable[[float], None],
) -> tuple[Rows, dict[str, int]]:
    horizon = (end - t0).total_seconds()
    first = t0.replace(hour=0, minute=0, second=0, microsecond=0)
    dates = [first + timedelta(days=i) for i in range((end.date() - first.date()).days + 1)]
    frames = []
    counts: dict[str, int] = {}
    for i, s in enumerate(streets):
        frames.append(
            _incidents_for_street(
                seed, s, district_names[s.district_code], extras[s.code], dates, t0, horizon, scale
            )
        )
        progress((i + 1) / len(streets))
    by_code = {s.code: s for s in streets}
    for spot in HOT_SPOTS:
        if spot.street in by_code:
            f = _hotspot_incidents(
                seed, spot, by_code[spot.street], extras[spot.street], days, t0, horizon
            )
            frames.append(f)
            if spot.street == HEZHUANG:
                counts[HOTSPOT_KEY] = len(f)
    counts.setdefault(HOTSPOT_KEY, 0)
    frame = _concat(frames)
    order = np.lexsort((np.arange(len(frame)), frame.reported))
    frame = _take(frame, order)
    day_text = [t[:10].replace("-", "") for t in _ts_strings(t0, frame.reported) if t]
    ids = [f"E{d}{i + 1:07d}" for i, d in enumerate(day_text)]
    rows = _incident_rows(frame, t0, ids)
    if bad_rows:
        bad, bad_counts = _bad_incidents(seed, rows, len(ids), t0, end, horizon)
        rows.extend(bad)
        counts.update(bad_counts)
    return rows, counts


def _take(frame: _IncidentFrame, order: np.ndarray) -> _IncidentFrame:
    idx = order.tolist()
    out: dict[str, Any] = {}
    for name in _IncidentFrame.__dataclass_fields__:
        v = getattr(frame, name)
        out[name] = v[order] if isinstance(v, np.ndarray) else [v[i] for i in idx]
    return _IncidentFrame(**out)


def _bad_incidents(
    seed: int, rows: Rows, n_ids: int, t0: datetime, end: datetime, horizon: float
) -> tuple[Rows, dict[str, int]]:
    """Deliberately wrong rows, each with exactly one defect, and their counts."""
    rng = _rng(seed, "bad-incidents")
    col = {name: i for i, name in enumerate(_INCIDENT_ORDER)}
    per_kind = max(2, round(len(rows) * 0.0007))
    old_cut = _fmt_dt(end - timedelta(days=3))
    closed_old = [
        i
        for i, r in enumerate(rows)
        if r[col["status"]] == "closed" and r[col["reported_at"]] < old_cut
    ]
    if not closed_old:
        closed_old = [i for i, r in enumerate(rows) if r[col["status"]] == "closed"] or list(
            range(len(rows))
        )
    if not rows:
        return [], {}
    next_id = n_ids

    def fresh(i: int) -> list[Any]:
        nonlocal next_id
        next_id += 1
        r = list(rows[i])
        r[col["id"]] = f"E{str(r[col['reported_at']])[:10].replace('-', '')}{next_id:07d}"
        return r

    def shift(text: str, minutes: float) -> str:
        dt = datetime.strptime(text[:19], "%Y-%m-%d %H:%M:%S") + timedelta(minutes=minutes)
        return _fmt_dt(dt)

    def pick(k: int) -> list[int]:
        return [closed_old[j] for j in rng.integers(0, len(closed_old), k).tolist()]

    out: Rows = []
    for i in pick(per_kind):
        r = fresh(i)
        r[col["street_code"]] = UNKNOWN_STREET
        r[col["grid_code"]] = None
        out.append(tuple(r))
    for i in pick(per_kind):
        r = fresh(i)
        r[col["lat"]] = None
        r[col["lon"]] = None
        out.append(tuple(r))
    for i in pick(per_kind):
        r = fresh(i)
        r[col["lon"]] = round(SEA_POINT[0] + float(rng.normal(0, 0.05)), 6)
        r[col["lat"]] = round(SEA_POINT[1] + float(rng.normal(0, 0.05)), 6)
        out.append(tuple(r))
    n_acc = (per_kind + 1) // 2
    for i in pick(n_acc):  # accepted before reported
        r = fresh(i)
        r[col["accepted_at"]] = shift(r[col["reported_at"]], -float(rng.uniform(2, 30)))
        out.append(tuple(r))
    for i in pick(per_kind - n_acc):  # arrived before dispatched (still after reported)
        r = fresh(i)
        rep = datetime.strptime(r[col["reported_at"]][:19], "%Y-%m-%d %H:%M:%S")
        disp = datetime.strptime(r[col["dispatched_at"]][:19], "%Y-%m-%d %H:%M:%S")
        back = min(float(rng.uniform(1, 5)), (disp - rep).total_seconds() / 60 - 0.2)
        r[col["arrived_at"]] = shift(r[col["dispatched_at"]], -max(back, 0.1))
        out.append(tuple(r))
    for i in pick(per_kind):  # reported after ``end``
        r = fresh(i)
        r[col["reported_at"]] = _fmt_dt(end + timedelta(minutes=float(rng.uniform(15, 2880))))
        r[col["id"]] = f"E{r[col['reported_at']][:10].replace('-', '')}{next_id:07d}"
        for m in ("accepted_at", "dispatched_at", "arrived_at", "closed_at", "outcome"):
            r[col[m]] = None
        r[col["status"]] = "open"
        out.append(tuple(r))
    dup_src = rng.choice(len(rows), size=min(per_kind, len(rows)), replace=False)
    for i in sorted(dup_src.tolist()):
        out.append(rows[i])
    counts = {
        "bad_incident_unknown_street": per_kind,
        "bad_incident_null_coords": per_kind,
        "bad_incident_out_of_area": per_kind,
        "bad_incident_accepted_before_reported": n_acc,
        "bad_incident_arrived_before_dispatched": per_kind - n_acc,
        "bad_incident_out_of_order": per_kind,
        "bad_incident_future": per_kind,
        "bad_incident_duplicate_id": int(dup_src.size),
    }
    counts["bad_incident_total"] = len(out)
    return out, counts


# ---------------------------------------------------------------------------
# Crowds

#: Residents' share present by hour (1 = everyone home), weekday and weekend.
_RES_WEEKDAY = (1.0, 1.0, 1.0, 1.0, 1.0, 0.98, 0.95, 0.85, 0.75, 0.7, 0.7, 0.72) + (
    0.75,
    0.72,
    0.7,
    0.7,
    0.72,
    0.8,
    0.88,
    0.93,
    0.96,
    0.98,
    1.0,
    1.0,
)
_RES_WEEKEND = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.98, 0.95, 0.9, 0.85, 0.82, 0.82) + (
    0.84,
    0.84,
    0.82,
    0.82,
    0.84,
    0.88,
    0.92,
    0.95,
    0.97,
    0.98,
    1.0,
    1.0,
)
#: Workers and visitors in business streets, relative to residents.
_BIZ_WEEKDAY = (0.3, 0.25, 0.25, 0.25, 0.25, 0.3, 0.5, 0.9, 1.5, 1.9, 2.0, 2.0) + (
    1.9,
    2.0,
    2.0,
    2.0,
    1.9,
    1.7,
    1.3,
    1.0,
    0.8,
    0.6,
    0.45,
    0.35,
)
_BIZ_WEEKEND = (0.35, 0.3, 0.25, 0.25, 0.25, 0.3, 0.4, 0.6, 0.8, 1.0, 1.15, 1.2) + (
    1.2,
    1.25,
    1.25,
    1.25,
    1.2,
    1.15,
    1.1,
    1.0,
    0.85,
    0.65,
    0.5,
    0.4,
)


def _hourly(profile: Sequence[float], hours: np.ndarray) -> np.ndarray:
    """Linear interpolation of a 24-value profile at fractional hours (wrapping)."""
    xs = np.arange(25, dtype=np.float64)
    ys = np.array([*profile, profile[0]], dtype=np.float64)
    return np.asarray(np.interp(hours % 24.0, xs, ys))


def _metres(lon1: np.ndarray, lat1: np.ndarray, lon2: float, lat2: float) -> np.ndarray:
    kx = 111_320.0 * math.cos(math.radians(lat2))
    return np.asarray(np.hypot((lon1 - lon2) * kx, (lat1 - lat2) * 110_574.0))


def crowd_window(days: int, scale: float) -> int:
    """Days of crowd readings: ``CROWD_DAYS`` at scale 1, shorter below (at least 8)."""
    if scale >= 1.0:
        return min(days, CROWD_DAYS)
    return min(days, max(8, math.ceil(CROWD_DAYS * scale)))


def fireworks_day(end: datetime) -> datetime:
    """Midnight of the most recent Saturday whose show (to 22:30) ended by ``end``."""
    day = end.replace(hour=0, minute=0, second=0, microsecond=0)
    while day.weekday() != 5 or day + timedelta(hours=22, minutes=30) > end:
        day -= timedelta(days=1)
    return day


@dataclass
class _Cells:
    ids: list[str]
    lon: np.ndarray  # GCJ-02 cell centres
    lat: np.ndarray
    lon_w: np.ndarray  # the same in WGS-84
    lat_w: np.ndarray
    street: list[str]
    base: np.ndarray  # residents in the cell
    business: np.ndarray  # 0-1


def _crowd_cells(
    seed: int, streets: Sequence[StreetGeo], venues: Sequence[VenueSpec], scale: float
) -> _Cells:
    lo = np.array([s.bbox[0] for s in streets] + [s.bbox[2] for s in streets])
    la = np.array([s.bbox[1] for s in streets] + [s.bbox[3] for s in streets])
    glo, gla = wgs84_to_gcj02(lo, la)
    ix = np.arange(
        math.floor((glo.min() - CELL_LON0) / CELL_DLON),
        math.floor((glo.max() - CELL_LON0) / CELL_DLON) + 1,
    )
    iy = np.arange(
        math.floor((gla.min() - CELL_LAT0) / CELL_DLAT),
        math.floor((gla.max() - CELL_LAT0) / CELL_DLAT) + 1,
    )
    mesh_x, mesh_y = np.meshgrid(ix, iy, indexing="ij")
    gx, gy = mesh_x.ravel(), mesh_y.ravel()
    clon = CELL_LON0 + (gx + 0.5) * CELL_DLON
    clat = CELL_LAT0 + (gy + 0.5) * CELL_DLAT
    wlon, wlat = gcj02_to_wgs84(clon, clat)
    owner = street_of_points(wlon, wlat, streets)
    ok = (owner >= 0) & ~_in_lake(wlon, wlat)
    gx, gy, clon, clat, wlon, wlat, owner = (a[ok] for a in (gx, gy, clon, clat, wlon, wlat, owner))
    density = np.array([s.population / max(s.area_km2, 0.1) for s in streets])[owner]
    venue_core = np.zeros(owner.size, dtype=bool)
    venue_ring = np.zeros(owner.size, dtype=bool)
    for v in venues:
        d = _metres(wlon, wlat, v.lon, v.lat)
        zone = FIREWORKS_ZONE_M if v.id == FIREWORKS_VENUE and scale >= 1.0 else v.radius_m
        venue_core |= d <= zone
        venue_ring |= d <= v.radius_m + 600
    dense = density >= DENSE_PER_KM2
    if scale >= 1.0:
        covered = venue_core | venue_ring | dense
    else:  # fast fixtures: the venues and the densest cells only
        others = np.flatnonzero(dense & ~venue_core)
        ranked = others[np.argsort(-density[others], kind="stable")][
            : math.ceil(others.size * scale / 2)
        ]
        covered = venue_core.copy()
        covered[ranked] = True
    sel = np.flatnonzero(covered)
    factors = np.array(
        [
            np.exp(0.35 * np.random.default_rng([seed, 7, int(a), int(b)]).standard_normal())
            for a, b in zip(gx[sel], gy[sel], strict=True)
        ]
    )
    base = np.minimum(density[sel], 25_000) * CELL_KM2 * factors
    biz = np.array([BUSINESS_WEIGHT.get(streets[o].code, 0.0) for o in owner[sel]])
    return _Cells(
        ids=[f"g{a}_{b}" for a, b in zip(gx[sel].tolist(), gy[sel].tolist(), strict=True)],
        lon=np.round(clon[sel], 6),
        lat=np.round(clat[sel], 6),
        lon_w=wlon[sel],
        lat_w=wlat[sel],
        street=[streets[o].code for o in owner[sel].tolist()],
        base=base,
        business=biz,
    )


def venue_cells(
    lon: np.ndarray, lat: np.ndarray, venue_lon: float, venue_lat: float, radius_m: float
) -> np.ndarray:
    """Cells counted in a venue's head count: centre within ``radius_m`` (same coordinate system)."""
    return _metres(lon, lat, venue_lon, venue_lat) <= radius_m


def _capacity(
    spec: VenueSpec, row: tuple[Any, ...], cells: _Cells, people: np.ndarray, fireworks: np.ndarray
) -> int:
    """The alert threshold: above every ordinary reading of the venue's head count.

    Only the fireworks evening exceeds 城市阳台's; the railway hub's is set so
    that its busiest rush hours (top 0.5 % of readings) go over it.
    """
    mask = venue_cells(cells.lon, cells.lat, row[5], row[4], spec.radius_m)
    if not mask.any():
        return spec.capacity
    head = people[:, mask].sum(axis=1)
    show = fireworks if spec.id == FIREWORKS_VENUE else np.zeros_like(fireworks)
    ordinary = head[~show] if (~show).any() else head
    if spec.id == "V02":
        return int(round(float(np.quantile(ordinary, 0.995)), -3))
    return int(math.ceil(float(ordinary.max()) * 1.1 / 1000.0) * 1000)


def build_crowd(
    seed: int,
    streets: Sequence[StreetGeo],
    end: datetime,
    days: int,
    scale: float,
    bad_rows: bool,
) -> tuple[Rows, Rows, dict[str, int]]:
    """Crowd readings and venues. Returns (crowd rows, venue rows, counts)."""
    codes = [s.code for s in streets]
    venues: list[tuple[VenueSpec, str, float, float]] = []  # spec, street, GCJ lon, lat
    for v in VENUES:
        owner = street_of_points(np.array([v.lon]), np.array([v.lat]), streets)[0]
        if owner >= 0:
            glon, glat = wgs84_to_gcj02(v.lon, v.lat)
            venues.append((v, codes[owner], round(glon, 6), round(glat, 6)))
    venue_rows: Rows = [
        (v.id, street, v.name_zh, v.name_en, glat, glon, float(v.radius_m), v.capacity)
        for v, street, glon, glat in venues
    ]
    counts = {"crowd_days": crowd_window(days, scale)}
    if not streets:
        return [], venue_rows, counts
    cells = _crowd_cells(seed, streets, [v for v, *_ in venues], scale)
    rng = _rng(seed, "crowd")
    last = end.replace(minute=end.minute - end.minute % 15, second=0, microsecond=0) - timedelta(
        minutes=15
    )
    n_steps = counts["crowd_days"] * 96
    first = last - timedelta(seconds=STEP_S * (n_steps - 1))
    secs = np.arange(n_steps, dtype=np.float64) * STEP_S
    hours = first.hour + first.minute / 60.0 + secs / 3600.0  # hours since first midnight
    day_idx = (hours // 24).astype(np.int64)
    hod = hours % 24.0 + 7.5 / 60.0  # middle of the interval
    start_dow = first.weekday()
    dow = (start_dow + day_idx) % 7
    weekend = dow >= 5
    res = np.where(weekend, _hourly(_RES_WEEKEND, hod), _hourly(_RES_WEEKDAY, hod))
    biz = np.where(weekend, _hourly(_BIZ_WEEKEND, hod), _hourly(_BIZ_WEEKDAY, hod))
    presence = (1.0 - cells.business)[None, :] * res[:, None] + cells.business[None, :] * biz[
        :, None
    ]
    people = cells.base[None, :] * presence
    people *= np.exp(0.05 * rng.standard_normal(people.shape))
    for v, *_ in venues:
        d = _metres(cells.lon_w, cells.lat_w, v.lon, v.lat)
        w = np.where(d <= v.radius_m * 1.5, np.exp(-0.5 * (d / (v.radius_m / 1.5)) ** 2), 0.0)
        if w.sum() == 0:
            continue
        w /= w.sum()
        peak = np.where(weekend, v.peak_weekend, v.peak_weekday)
        if v.id == "V02":  # the hub: Friday evening and Sunday afternoon rushes
            peak = np.where(dow == 4, peak * 1.25, np.where(dow == 6, peak * 1.15, peak))
        total = peak * _hourly(v.profile, hod) * np.exp(0.06 * rng.standard_normal(n_steps))
        people += total[:, None] * w[None, :]
    fw_day = fireworks_day(end)
    fw_hours = (secs + (first - fw_day).total_seconds()) / 3600.0 + 7.5 / 60.0
    fw = FIREWORKS_PEAK * _piecewise(fw_hours, FIREWORKS_CURVE)
    fv = next((v for v, *_ in venues if v.id == FIREWORKS_VENUE), None)
    counts["fireworks_in_window"] = 0
    if fv is not None and fw.max() > 0:
        # Spread along the river bank (running about 40 degrees north of east).
        kx = 111_320.0 * math.cos(math.radians(fv.lat))
        dx = (cells.lon_w - fv.lon) * kx
        dy = (cells.lat_w - fv.lat) * 110_574.0
        ang = math.radians(40)
        along = dx * math.cos(ang) + dy * math.sin(ang)
        across = -dx * math.sin(ang) + dy * math.cos(ang)
        w = np.exp(-0.5 * ((along / 1200.0) ** 2 + (across / 550.0) ** 2))
        w[np.hypot(dx, dy) > 3000] = 0.0
        if w.sum() > 0:
            w /= w.sum()
            people += fw[:, None] * w[None, :] * np.exp(0.03 * rng.standard_normal((n_steps, 1)))
            counts["fireworks_in_window"] = 1
    counts["fireworks_day"] = int(fw_day.strftime("%Y%m%d"))
    ints = np.rint(people).astype(np.int64)
    venue_rows = [
        (*row[:7], _capacity(spec, row, cells, ints, fw > 0))
        for row, (spec, *_rest) in zip(venue_rows, venues, strict=True)
    ]
    ts_text = _ts_strings(first, secs)
    n_cells = len(cells.ids)
    ts_col = [t for t in ts_text for _ in range(n_cells)]
    rows: Rows = list(
        zip(
            ts_col,
            cells.ids * n_steps,
            cells.lat.tolist() * n_steps,
            cells.lon.tolist() * n_steps,
            cells.street * n_steps,
            ints.ravel().tolist(),
            strict=True,
        )
    )
    counts["crowd_cells"] = n_cells
    if bad_rows:
        k = min(8, n_steps)
        for t in ts_text[-k:]:
            rows.append((t, "g9999_0", None, None, cells.street[0], int(rng.integers(50, 500))))
            rows.append(
                (
                    t,
                    "g9999_1",
                    float(cells.lat[0]),
                    float(cells.lon[0]),
                    UNKNOWN_STREET,
                    int(rng.integers(50, 500)),
                )
            )
        counts["bad_crowd_null_coords"] = k
        counts["bad_crowd_unknown_street"] = k
    return rows, venue_rows, counts


# ---------------------------------------------------------------------------
# Petitions, housing records, warnings


def _on_day(rng: np.random.Generator, t0: datetime, horizon: float, hour: np.ndarray) -> np.ndarray:
    """Times at the given local hours on random days, as seconds after ``t0``; only
    those inside ``(0, horizon]`` are kept (so the result may be shorter)."""
    midnight = t0.replace(hour=0, minute=0, second=0, microsecond=0)
    lead = (t0 - midnight).total_seconds()
    n_days = math.ceil((horizon + lead) / 86400.0)
    day = rng.integers(0, max(n_days, 1), hour.size)
    secs = day * 86400.0 + hour * 3600.0 - lead
    return np.asarray(secs[(secs > 0) & (secs <= horizon)])


def build_petitions(
    seed: int,
    streets: Sequence[StreetGeo],
    extras: dict[str, StreetExtras],
    t0: datetime,
    end: datetime,
    scale: float,
) -> Rows:
    horizon = (end - t0).total_seconds()
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
        handling = limit * 0.45 * np.exp(0.5 * rng.standard_normal(n)) * 86400.0
        closed = received + handling
        never = rng.random(n) < 0.03
        closed = np.where(never | (closed > horizon), np.nan, np.round(closed))
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
) -> Rows:
    horizon = (end - t0).total_seconds()
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
            p_clear = np.array([0.35, 0.5, 0.1])[colour]
            clear = raised + np.round(rng.uniform(2, 20, n) * 86400)
            cleared = np.where((rng.random(n) < p_clear) & (clear <= horizon), clear, np.nan)
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


# ---------------------------------------------------------------------------
# Loading

_BATCH = 20_000


def _placeholders(table: Table, style: str) -> str:
    cols = ", ".join(c.name for c in table.columns)
    marks = ", ".join([style] * len(table.columns))
    return f"INSERT INTO {table.name} ({cols}) VALUES ({marks})"


def _batches(rows: Rows) -> Iterable[Rows]:
    for i in range(0, len(rows), _BATCH):
        yield rows[i : i + _BATCH]


class _Tracker:
    """Maps rows loaded so far onto a progress fraction between ``lo`` and ``hi``."""

    def __init__(self, progress: Progress | None, total: int, lo: float, hi: float) -> None:
        self.progress, self.total, self.lo, self.hi, self.done = progress, max(total, 1), lo, hi, 0

    def add(self, table: str, n: int) -> None:
        self.done += n
        if self.progress:
            self.progress(
                f"loading {table}", self.lo + (self.hi - self.lo) * self.done / self.total
            )


def _load_sqlite(path: Path, loads: Sequence[tuple[Table, Rows]], track: _Tracker) -> None:
    """Build into a temporary file beside ``path``, then rename it over ``path``."""
    import sqlite3

    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.building-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    dialect = create_engine("sqlite://").dialect
    try:
        con = sqlite3.connect(tmp, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=OFF")
            con.execute("PRAGMA synchronous=OFF")
            con.execute("BEGIN")
            for table, rows in loads:
                con.execute(str(CreateTable(table).compile(dialect=dialect)))
                sql = _placeholders(table, "?")
                for batch in _batches(rows):
                    con.executemany(sql, batch)
                    track.add(table.name, len(batch))
            for table, _rows in loads:
                for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
                    con.execute(str(CreateIndex(index).compile(dialect=dialect)))
            con.execute("COMMIT")
            con.execute("PRAGMA journal_mode=DELETE")
        finally:
            con.close()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _load_postgresql(engine: Engine, loads: Sequence[tuple[Table, Rows]], track: _Tracker) -> None:
    with engine.begin() as conn:
        schema.metadata.drop_all(conn)
        for table, _rows in loads:
            conn.execute(CreateTable(table))
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cur:
            for table, rows in loads:
                cols = ", ".join(c.name for c in table.columns)
                with cur.copy(f"COPY {table.name} ({cols}) FROM STDIN") as copy:
                    for batch in _batches(rows):
                        for row in batch:
                            copy.write_row(row)
                        track.add(table.name, len(batch))
        for table, _rows in loads:
            for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
                conn.execute(CreateIndex(index))
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            "ANALYZE " + ", ".join(t.name for t, _ in loads)
        )


def _tsv_value(v: Any) -> str:
    if v is None:
        return "\\N"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, str):
        return v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return str(v)


def load_data_local(cur: Any, table: Table, rows: Rows, tmp: Path) -> bool:
    """Bulk-load ``rows`` into ``table`` with ``LOAD DATA LOCAL INFILE``
    through a TSV file in ``tmp``; False when the server or the client
    refuses LOCAL INFILE (the caller then inserts)."""
    path = tmp / f"{table.name}.tsv"
    cols = ", ".join(c.name for c in table.columns)
    try:
        with path.open("w", encoding="utf-8", newline="\n") as fh:
            for row in rows:
                fh.write("\t".join(_tsv_value(v) for v in row))
                fh.write("\n")
        cur.execute(
            f"LOAD DATA LOCAL INFILE %s INTO TABLE {table.name} CHARACTER SET utf8mb4 "
            f"FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({cols})",
            (str(path),),
        )
    except Exception:  # LOCAL INFILE refused by the server or the client
        return False
    finally:
        path.unlink(missing_ok=True)
    return True


def _load_mysql(engine: Engine, loads: Sequence[tuple[Table, Rows]], track: _Tracker) -> None:
    """LOAD DATA LOCAL INFILE when the server allows it (fast), else batched INSERTs."""
    import tempfile

    with engine.begin() as conn:
        schema.metadata.drop_all(conn)
        for table, _rows in loads:
            conn.execute(CreateTable(table))
        raw: Any = conn.connection.driver_connection
        use_infile = True
        with raw.cursor() as cur, tempfile.TemporaryDirectory(prefix="demo-load-") as tmp:
            cur.execute("SET SESSION unique_checks = 0")
            for table, rows in loads:
                if use_infile and rows:
                    if load_data_local(cur, table, rows, Path(tmp)):
                        track.add(table.name, len(rows))
                        continue
                    use_infile = False  # refused: plain INSERTs from now on
                sql = _placeholders(table, "%s")
                for batch in _batches(rows):
                    cur.executemany(sql, batch)
                    track.add(table.name, len(batch))
            cur.execute("SET SESSION unique_checks = 1")
    with engine.begin() as conn:
        for table, _rows in loads:
            for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
                conn.execute(CreateIndex(index))


# ---------------------------------------------------------------------------
# The build


def default_end(now: datetime | None = None) -> datetime:
    """Now in Asia/Shanghai (naive), floored to 15 minutes."""
    now = now or datetime.now(ZoneInfo(TIMEZONE)).replace(tzinfo=None)
    return now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)


def _street_rows(streets: Sequence[StreetGeo]) -> Rows:
    lon, lat = wgs84_to_gcj02(
        np.array([s.label_lon for s in streets]), np.array([s.label_lat for s in streets])
    )
    return [
        (
            s.code,
            s.district_code,
            s.name_zh,
            s.name_en,
            s.population,
            s.area_km2,
            round(float(la), 6),
            round(float(lo), 6),
        )
        for s, lo, la in zip(streets, np.atleast_1d(lon), np.atleast_1d(lat), strict=True)
    ]


def build_demo(
    url: str,
    *,
    days: int = 90,
    seed: int = 20261122,
    scale: float = 1.0,
    end: datetime | None = None,
    districts: Sequence[str] | None = DEFAULT_DISTRICTS,
    bad_rows: bool = True,
    progress: Callable[[str, float], None] | None = None,
) -> DemoSummary:
    """Drop, recreate and fill the contract tables at ``url``; see the module docstring.

    ``end``: last instant of data (naive Asia/Shanghai time), default now
    floored to 15 minutes; data covers ``(end - days, end]``. ``districts``:
    6-digit codes, ``None`` for all of Hangzhou. ``scale`` multiplies the
    volumes (incidents, petitions, housing records, warnings; below 1 it
    also thins the crowd readings). ``progress(stage, fraction)`` is called
    as the build goes. A SQLite target file is written atomically (built
    beside it, then renamed over it). Deterministic for the same arguments.
    """
    from data_access.connection import describe_url

    started = time.perf_counter()
    if days < 1:
        raise ValueError("days must be at least 1")
    if not scale > 0:
        raise ValueError("scale must be > 0")
    end = default_end() if end is None else end.replace(tzinfo=None, microsecond=0)
    t0 = end - timedelta(days=days)

    def report(stage: str, fraction: float) -> None:
        if progress:
            progress(stage, min(max(fraction, 0.0), 1.0))

    parsed = parse_url(url, "demo database URL")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql", "mysql", "mariadb"):
        raise ValueError(f"unsupported database {backend!r} (sqlite, postgresql, mysql/mariadb)")
    if backend == "sqlite" and not parsed.database or parsed.database == ":memory:":
        raise ValueError("the SQLite demo needs a file path (sqlite:///path/to/demo.sqlite)")

    report("reading geography", 0.0)
    district_rows, streets = load_geography(districts)
    district_names = {d[0]: d[1] for d in district_rows}
    report("grids", 0.03)
    grid_rows, extras = build_grids(seed, streets)
    report("incidents", 0.06)
    incident_rows, counts = build_incidents(
        seed,
        streets,
        district_names,
        extras,
        days,
        t0,
        end,
        scale,
        bad_rows,
        lambda f: report("incidents", 0.06 + 0.24 * f),
    )
    report("crowd readings", 0.30)
    crowd_rows, venue_rows, crowd_counts = build_crowd(seed, streets, end, days, scale, bad_rows)
    counts.update(crowd_counts)
    report("petitions, housing records, warnings", 0.42)
    petition_rows = build_petitions(seed, streets, extras, t0, end, scale)
    housing_rows, housing_counts = build_housing(seed, streets, extras, end, scale)
    counts.update(housing_counts)
    warning_rows = build_warnings(seed, streets, extras, t0, end, scale)

    loads: list[tuple[Table, Rows]] = [
        (schema.district, list(district_rows)),
        (schema.street, _street_rows(streets)),
        (schema.grid, grid_rows),
        (schema.venue, venue_rows),
        (schema.incident, incident_rows),
        (schema.crowd_reading, crowd_rows),
        (schema.petition, petition_rows),
        (schema.housing_record, housing_rows),
        (schema.warning, warning_rows),
    ]
    track = _Tracker(progress, sum(len(r) for _, r in loads), 0.45, 0.99)
    report("loading", 0.45)
    if backend == "sqlite":
        _load_sqlite(Path(str(parsed.database)), loads, track)
    else:
        connect_args = {"local_infile": True} if backend in ("mysql", "mariadb") else {}
        engine = create_engine(url, connect_args=connect_args)
        try:
            if backend == "postgresql":
                _load_postgresql(engine, loads, track)
            else:
                _load_mysql(engine, loads, track)
        finally:
            engine.dispose()
    rows = {table.name: len(r) for table, r in loads}
    rows.update(counts)
    report("done", 1.0)
    return DemoSummary(
        url=describe_url(url), rows=rows, seconds=time.perf_counter() - started, end=end
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m demo",
        description="Build the demo operational database (drops and recreates the contract tables).",
    )
    ap.add_argument("--url", help=f"database URL (default: SQLite at {demo_path()})")
    ap.add_argument(
        "--days", type=int, default=90, help="days of data ending at --end (default 90)"
    )
    ap.add_argument("--seed", type=int, default=20261122, help="random seed (default 20261122)")
    ap.add_argument("--scale", type=float, default=1.0, help="volume multiplier (default 1.0)")
    ap.add_argument(
        "--end", help="last instant of data, ISO local time (default: now, floored to 15 min)"
    )
    ap.add_argument(
        "--all-hangzhou", action="store_true", help="all 13 districts instead of the default four"
    )
    ap.add_argument(
        "--no-bad-rows", action="store_true", help="leave out the deliberately wrong rows"
    )
    args = ap.parse_args(argv)
    url = args.url or sqlite_url(demo_path())
    try:
        parse_url(url, "--url")
        end = datetime.fromisoformat(args.end) if args.end else None
    except DatabaseUrlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError:
        print(f"error: --end: not an ISO date-time: {args.end!r}", file=sys.stderr)
        return 2

    def show(stage: str, fraction: float) -> None:
        print(f"\r{fraction * 100:5.1f}%  {stage:<40}", end="", file=sys.stderr, flush=True)

    summary = build_demo(
        url,
        days=args.days,
        seed=args.seed,
        scale=args.scale,
        end=end,
        districts=None if args.all_hangzhou else DEFAULT_DISTRICTS,
        bad_rows=not args.no_bad_rows,
        progress=show if sys.stderr.isatty() else None,
    )
    if sys.stderr.isatty():
        print(file=sys.stderr)
    out = io.StringIO()
    print(f"demo database: {summary.url}", file=out)
    print(
        f"data window:   {summary.end - timedelta(days=args.days):%Y-%m-%d %H:%M} .. {summary.end:%Y-%m-%d %H:%M}",
        file=out,
    )
    for name in schema.CONTRACT_TABLES:
        print(f"  {name:<16} {summary.rows.get(name, 0):>10,d}", file=out)
    for key in sorted(k for k in summary.rows if k not in schema.CONTRACT_TABLES):
        print(f"  {key:<40} {summary.rows[key]:>8}", file=out)
    print(f"built in {summary.seconds:.1f} s", file=out)
    print(out.getvalue(), end="")
    return 0


assert _INCIDENT_ORDER == INCIDENT_COLUMNS, "incident column order drifted from the schema"

if __name__ == "__main__":
    raise SystemExit(main())
