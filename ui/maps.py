"""Offline maps: our own outlines and labels are the basemap.

No tile or style request leaves the server by default (a blank style served
from ``static/``);
district and street outlines come from the configured GeoJSON files,
converted to the coordinate system the data is drawn in. Street outlines are
approximate unless the site supplies official ones, and say so.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from typing import Any

import pydeck as pdk

from data_access.config import SiteConfig
from data_access.coords import convert_geojson

CJK_FONT = "Noto Sans CJK SC, Noto Sans SC, Microsoft YaHei, PingFang SC, sans-serif"


def draw_crs(cfg: SiteConfig) -> str:
    """The coordinate system maps are drawn in: the data's own (no tiles are used)."""
    return cfg.coord_system


@lru_cache(maxsize=8)
def _outlines(path: str, src: str, dst: str) -> tuple[dict[str, Any], ...]:
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    converted = convert_geojson(data, src, dst) if src != dst else data
    return tuple(converted.get("features", []))


def outlines(cfg: SiteConfig, kind: str) -> list[dict[str, Any]]:
    """GeoJSON features (``kind`` = ``districts`` or ``streets``) in the draw CRS.

    A missing or unreadable file yields no features (the map still shows data).
    """
    path = cfg.resolve_path(cfg.districts_file if kind == "districts" else cfg.streets_file)
    try:
        return list(_outlines(str(path), cfg.boundaries_crs, draw_crs(cfg)))
    except (OSError, ValueError):
        return []


def _rings(geometry: dict[str, Any]) -> list[list[list[float]]]:
    if geometry.get("type") == "Polygon":
        return [geometry["coordinates"][0]]
    if geometry.get("type") == "MultiPolygon":
        return [poly[0] for poly in geometry["coordinates"]]
    return []


def polygon_rows(
    features: list[dict[str, Any]], values: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """One row per outer ring, carrying ``values[code]`` (features without a value are kept blank)."""
    rows = []
    for feat in features:
        code = str(feat.get("properties", {}).get("code", ""))
        for ring in _rings(feat.get("geometry") or {}):
            rows.append(
                {
                    "code": code,
                    "polygon": [
                        [round(x, 5), round(y, 5)] for x, y in ring[:: max(1, len(ring) // 400)]
                    ],
                    **values.get(code, {}),
                }
            )
    return rows


def view_for(
    features: list[dict[str, Any]], fallback: tuple[float, float] = (120.17, 30.27)
) -> pdk.ViewState:
    """A view state that fits the features' bounding box."""
    xs: list[float] = []
    ys: list[float] = []
    for feat in features:
        for ring in _rings(feat.get("geometry") or {}):
            xs += [p[0] for p in ring]
            ys += [p[1] for p in ring]
    if not xs:
        return pdk.ViewState(longitude=fallback[0], latitude=fallback[1], zoom=10)
    span = max(max(xs) - min(xs), (max(ys) - min(ys)) * 1.3, 0.01)
    zoom = max(6.0, min(15.0, math.log2(360 / span) - 0.1))
    return pdk.ViewState(
        longitude=(min(xs) + max(xs)) / 2, latitude=(min(ys) + max(ys)) / 2, zoom=zoom
    )


def outline_layer(rows: list[dict[str, Any]], layer_id: str, fill: bool = True) -> pdk.Layer:
    return pdk.Layer(
        "PolygonLayer",
        data=rows,
        id=layer_id,
        get_polygon="polygon",
        get_fill_color="fill" if fill else [0, 0, 0, 0],
        get_line_color=[90, 110, 130, 220],
        line_width_min_pixels=1,
        filled=fill,
        stroked=True,
        pickable=fill,
        auto_highlight=fill,
    )


def label_layer(labels: list[dict[str, Any]], layer_id: str, size: int = 13) -> pdk.Layer:
    """Text labels (``text``, ``position``) in a CJK font.

    The glyph atlas is built from exactly the characters used (deck.gl's
    default is ASCII only). Both strings are quoted so pydeck passes them as
    literals instead of turning them into accessor expressions.
    """
    chars = "".join(sorted({ch for label in labels for ch in str(label["text"])} - {"'"}))
    return pdk.Layer(
        "TextLayer",
        data=labels,
        id=layer_id,
        get_position="position",
        get_text="text",
        get_size=size,
        get_color=[33, 33, 33, 255],
        character_set=f"'{chars}'",
        font_family=f"'{CJK_FONT}'",
        outline_width=2,
        outline_color=[255, 255, 255, 230],
        font_settings={"sdf": True},
        get_alignment_baseline="'center'",
    )


#: Blank MapLibre styles served by the app itself (``static/``, with
#: ``server.enableStaticServing``). Relative, so a ``server.baseUrlPath`` works.
#: Without a style, Streamlit's frontend falls back to an online Carto basemap.
OFFLINE_STYLES = {
    "light": "app/static/blank-style.json",
    "dark": "app/static/blank-style-dark.json",
}


def offline_deck(
    layers: list[pdk.Layer],
    view: pdk.ViewState,
    tooltip: dict[str, str] | None = None,
    theme: str = "light",
) -> pdk.Deck:
    """A deck on a blank style served by the app: nothing is fetched from outside."""
    return pdk.Deck(
        layers=layers,
        initial_view_state=view,
        map_provider="carto",
        map_style=OFFLINE_STYLES[theme],
        tooltip=tooltip,  # type: ignore[arg-type]
    )


def label_point(feature: dict[str, Any]) -> list[float]:
    """A point to hang the label on: the vertex mean of the largest ring."""
    rings = _rings(feature.get("geometry") or {})
    if not rings:
        return [0.0, 0.0]
    ring = max(rings, key=len)
    pts = ring[:-1] if len(ring) > 1 and ring[0] == ring[-1] else ring
    return [
        round(sum(p[0] for p in pts) / len(pts), 5),
        round(sum(p[1] for p in pts) / len(pts), 5),
    ]
