"""Geography of the demo: the ``district`` and ``street`` rows read from
``assets/geo`` (street lat/lon = label point, converted to GCJ-02), the
``grid`` rows (15-40 per street, the calibrated layouts of 四季青 and 河庄),
and the street outlines as numpy edge arrays, with the point-in-polygon
tests and the uniform sampler every other module uses to place its rows
inside a street and off the West Lake. Each street's grid centres, roads
and estates come back as ``StreetExtras`` for the tables that need an
address or a grid code.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from data_access.config import PROJECT_ROOT
from data_access.coords import wgs84_to_gcj02
from demo.common import Rows, _rng

GEO_DIR = PROJECT_ROOT / "assets" / "geo"

#: 四季青 and 河庄: grid layouts (and case figures) calibrated on the brief.
SIJIQING = "330102014"
HEZHUANG = "330114003"

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


# ---------------------------------------------------------------------------
# Table rows


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
