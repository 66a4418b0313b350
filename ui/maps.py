"""Offline maps: our own outlines and labels are the basemap.

No tile or style request leaves the server by default (a blank style served
from ``static/``);
district and street outlines come from the configured GeoJSON files,
converted to the coordinate system the data is drawn in. Street outlines are
approximate unless the site supplies official ones, and say so.
"""

from __future__ import annotations

import base64
import html
import json
import math
from functools import lru_cache
from typing import Any

import pandas as pd
import pydeck as pdk
from pydeck.bindings.json_tools import default_serialize

from data_access.config import Bounds, SiteConfig
from data_access.coords import convert, convert_geojson
from ui.i18n import current_lang
from ui.palette import LEVELS, heat_rgba

CJK_FONT = "Noto Sans CJK SC, Noto Sans SC, Microsoft YaHei, PingFang SC, sans-serif"


def draw_crs(cfg: SiteConfig) -> str:
    """The coordinate system maps are drawn in: the configured tiles' own when
    a tile source is set (``map.tiles_crs``), else the data's."""
    return cfg.map.tiles_crs if cfg.map.tiles_url else cfg.coord_system


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


#: Drawn (thinned, rounded) rings by ``id`` of the source ring, which is
#: kept with it so that the id cannot be reused: the outlines are loaded
#: once (``_outlines``), and drawing the city's 416 street rings took
#: 0.15 s on every rerun of a page.
_DRAWN: dict[int, tuple[list[Any], list[list[float]]]] = {}


def _drawn(ring: list[Any]) -> list[list[float]]:
    hit = _DRAWN.get(id(ring))
    if hit is not None and hit[0] is ring:
        return hit[1]
    drawn = [[round(x, 5), round(y, 5)] for x, y in ring[:: max(1, len(ring) // 400)]]
    if len(_DRAWN) > 20_000:  # outlines from elsewhere (tests, other files)
        _DRAWN.clear()
    _DRAWN[id(ring)] = (ring, drawn)
    return drawn


def polygon_rows(
    features: list[dict[str, Any]], values: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """One row per outer ring, carrying ``values[code]`` (features without a value are kept blank)."""
    rows = []
    for feat in features:
        code = str(feat.get("properties", {}).get("code", ""))
        for ring in _rings(feat.get("geometry") or {}):
            rows.append({"code": code, "polygon": _drawn(ring), **values.get(code, {})})
    return rows


def view_for(
    features: list[dict[str, Any]],
    fallback: tuple[float, float] = (120.17, 30.27),
    bounds: Bounds | None = None,
) -> pdk.ViewState:
    """A view state that fits the features' bounding box; without features,
    the site's box (``bounds``, e.g. a site without outlines), else ``fallback``."""
    xs: list[float] = []
    ys: list[float] = []
    for feat in features:
        for ring in _rings(feat.get("geometry") or {}):
            xs += [p[0] for p in ring]
            ys += [p[1] for p in ring]
    if not xs and bounds is not None:
        xs, ys = [bounds.min_lon, bounds.max_lon], [bounds.min_lat, bounds.max_lat]
    if not xs:
        return pdk.ViewState(longitude=fallback[0], latitude=fallback[1], zoom=10)
    span = max(max(xs) - min(xs), (max(ys) - min(ys)) * 1.3, 0.01)
    zoom = max(6.0, min(15.0, math.log2(360 / span) - 0.1))
    return pdk.ViewState(
        longitude=(min(xs) + max(xs)) / 2, latitude=(min(ys) + max(ys)) / 2, zoom=zoom
    )


def street_point_rows(
    cfg: SiteConfig,
    streets: pd.DataFrame,
    values: dict[str, dict[str, Any]],
    drawn: set[str],
) -> list[dict[str, Any]]:
    """One row per street of ``values`` that has no outline (``drawn``: the
    codes that have one) but a label point (``street.lat``/``lon``, site
    coordinate system): its ``position`` in the draw CRS, with its values.
    A site without outline files still sees its streets on the map."""
    rows = []
    for code, lat, lon in zip(streets["code"], streets["lat"], streets["lon"], strict=True):
        if code in drawn or code not in values or pd.isna(lat) or pd.isna(lon):
            continue
        x, y = to_draw(cfg, float(lon), float(lat))
        rows.append({"code": code, "position": [round(x, 5), round(y, 5)], **values[code]})
    return rows


def street_point_layer(rows: list[dict[str, Any]], layer_id: str) -> pdk.Layer:
    """Streets without outlines as filled circles at their label points."""
    return pdk.Layer(
        "ScatterplotLayer",
        data=rows,
        id=layer_id,
        get_position="position",
        get_radius=350,
        radius_min_pixels=6,
        get_fill_color="fill",
        get_line_color=[60, 60, 60, 200],
        line_width_min_pixels=1,
        stroked=True,
        pickable=True,
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


def basemap_style(cfg: SiteConfig | None, theme: str = "light") -> str:
    """The map style URL: the blank offline style, or, when the site sets
    ``map.tiles_url``, a raster style of those tiles as a ``data:`` URL (a
    style object would trip Streamlit's frontend, which expects a string)."""
    if cfg is None or not cfg.map.tiles_url:
        return OFFLINE_STYLES[theme]
    style = {
        "version": 8,
        "name": "site-tiles",
        "sources": {
            "tiles": {
                "type": "raster",
                "tiles": [cfg.map.tiles_url],
                "tileSize": 256,
                "attribution": cfg.map.tiles_attribution,
            }
        },
        "layers": [{"id": "tiles", "type": "raster", "source": "tiles"}],
    }
    encoded = base64.b64encode(json.dumps(style).encode("utf-8")).decode("ascii")
    return "data:application/json;base64," + encoded


class CompactDeck(pdk.Deck):  # type: ignore[misc]
    """A ``pdk.Deck`` whose JSON has no indentation: pydeck pretty-prints with
    ``indent=2``, which triples the bytes a map with thousands of cells sends
    (Streamlit sends ``to_json()`` as is)."""

    def to_json(self) -> str:
        return json.dumps(
            self,
            sort_keys=True,
            default=default_serialize,
            separators=(",", ":"),
            ensure_ascii=False,  # street names as UTF-8, not 6-byte \u escapes
        )


def offline_deck(
    layers: list[pdk.Layer],
    view: pdk.ViewState,
    tooltip: dict[str, str] | None = None,
    theme: str = "light",
    cfg: SiteConfig | None = None,
) -> pdk.Deck:
    """A deck on a blank style served by the app: nothing is fetched from
    outside, unless ``cfg`` configures a tile source (``map.tiles_url``)."""
    return CompactDeck(
        layers=layers,
        initial_view_state=view,
        map_provider="carto",
        map_style=basemap_style(cfg, theme),
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


# ---------------------------------------------------------------------------
# Heat maps: cells coloured in Python against a FIXED domain (deck.gl's own
# HeatmapLayer rescales its colours to whatever is in view).


def to_draw(cfg: SiteConfig, lon: Any, lat: Any) -> tuple[Any, Any]:
    """Convert data coordinates (site system) to the draw CRS."""
    dst = draw_crs(cfg)
    if dst == cfg.coord_system:
        return lon, lat
    return convert(lon, lat, cfg.coord_system, dst)


def heat_fill(value: float, top: float, alpha: int = 190) -> list[int]:
    """Colour of ``value`` on the fixed domain ``[0, top]`` (clipped at ``top``)."""
    return heat_rgba(value / top if top > 0 else 0.0, alpha)


def cell_rows(
    cfg: SiteConfig, frame: pd.DataFrame, density: pd.Series, top: float, keep: list[str]
) -> list[dict[str, Any]]:
    """One dict per cell: ``position`` (draw CRS), ``fill`` from ``density``
    on the fixed domain ``[0, top]``, and the ``keep`` columns."""
    if frame.empty:
        return []
    lon, lat = to_draw(cfg, frame["lon"].to_numpy(), frame["lat"].to_numpy())
    rows: list[dict[str, Any]] = []
    for i, raw in enumerate(frame[keep].to_dict("records")):
        rec = {str(k): (v.item() if hasattr(v, "item") else v) for k, v in raw.items()}
        rec["position"] = [round(float(lon[i]), 5), round(float(lat[i]), 5)]
        rec["fill"] = heat_fill(float(density.iloc[i]), top)
        rows.append(rec)
    return rows


def cell_layer(rows: list[dict[str, Any]], layer_id: str, radius_m: float) -> pdk.Layer:
    """Flat hexagonal cells (``ColumnLayer``, 6 sides) of ``radius_m`` metres."""
    return pdk.Layer(
        "ColumnLayer",
        data=rows,
        id=layer_id,
        get_position="position",
        get_fill_color="fill",
        radius=radius_m,
        disk_resolution=6,
        extruded=False,
        stroked=True,
        get_line_color=[166, 54, 3, 110],
        line_width_min_pixels=1,
        pickable=True,
        auto_highlight=True,
    )


def venue_layer(cfg: SiteConfig, venues: pd.DataFrame) -> pdk.Layer:
    """Venues as rings of their radius, coloured by load level (shared palette)."""
    rows = []
    if not venues.empty:
        lon, lat = to_draw(cfg, venues["lon"].to_numpy(), venues["lat"].to_numpy())
        for i, v in enumerate(venues.to_dict("records")):
            level = LEVELS[str(v["level"])]
            name = v["name_en"] if current_lang() == "en" and v["name_en"] else v["name_zh"]
            rows.append(
                {
                    "position": [round(float(lon[i]), 5), round(float(lat[i]), 5)],
                    "radius": float(v["radius_m"]),
                    "line": level.rgba(255),
                    "fill": level.rgba(40),
                    "tip": f"{name}: {int(v['people']):,} ("
                    + ("—" if pd.isna(v["load"]) else f"{v['load']:.0%}")
                    + ")",
                }
            )
    return pdk.Layer(
        "ScatterplotLayer",
        data=rows,
        id="venues",
        get_position="position",
        get_radius="radius",
        get_fill_color="fill",
        get_line_color="line",
        line_width_min_pixels=3,
        stroked=True,
        filled=True,
        pickable=True,
    )


def area_basemap(
    cfg: SiteConfig, codes: set[str], names: dict[str, str]
) -> tuple[list[pdk.Layer], pdk.ViewState]:
    """Street outlines of ``codes`` with their names (the offline basemap)
    and a view that fits them."""
    features = [f for f in outlines(cfg, "streets") if f["properties"].get("code") in codes]
    rows = polygon_rows(features, {})
    labels = [
        {"text": names.get(f["properties"]["code"], ""), "position": label_point(f)}
        for f in features
    ]
    layers = [outline_layer(rows, "streets", fill=False), label_layer(labels, "street-labels", 12)]
    return layers, view_for(features, bounds=cfg.bounds)


def legend_html(top: float, unit: str, steps: int = 5) -> str:
    """A horizontal legend of the fixed heat scale from 0 to ``top`` ``unit``."""
    chips = []
    for i in range(steps + 1):
        value = top * i / steps
        r, g, b, _ = heat_fill(value, top)
        label = f"≥{value:,.0f}" if i == steps else f"{value:,.0f}"
        chips.append(
            f'<span style="display:inline-block;min-width:3.2em;padding:0 .3em;'
            f"background:rgb({r},{g},{b});color:{'#fff' if i >= steps - 1 else '#222'};"
            f'text-align:center;font-size:.8em">{label}</span>'
        )
    return f'<div style="margin:.2em 0">{"".join(chips)} <small>{html.escape(unit)}</small></div>'


def picked_object(event: Any, layer_id: str) -> dict[str, Any] | None:
    """The object picked on ``layer_id`` in a ``st.pydeck_chart`` selection, if any."""
    try:
        objects = event.selection["objects"].get(layer_id) or []
    except (AttributeError, KeyError, TypeError):
        return None
    return dict(objects[0]) if objects else None


def deck_bytes(deck: pdk.Deck) -> int:
    """Size of the deck JSON sent to the browser, in bytes (UTF-8)."""
    return len(deck.to_json().encode("utf-8"))


def next_step(options: list[Any], current: Any) -> tuple[Any, bool]:
    """One tick of play: the step after ``current`` and whether to keep
    playing (stops on the last step; from the last step, restarts at the first)."""
    if not options:
        return current, False
    if current not in options or current == options[-1]:
        return options[0], len(options) > 1
    i = options.index(current) + 1
    return options[i], i < len(options) - 1
