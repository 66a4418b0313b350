"""Offline maps: our own outlines and labels are the basemap.

No tile or style request leaves the server by default (a blank style served
from ``static/``);
district and street outlines come from the configured GeoJSON files,
converted to the coordinate system the data is drawn in. Street outlines are
approximate unless the site supplies official ones, and say so. Under them
lies the reference layer (``geo.reference_file``: water and rivers, shipped
in ``assets/geo``) on the city's land (the district outlines), so an area
does not float on grey; every view is fitted to its area for its panel's
size (:mod:`ui.map_view`).
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pandas as pd
import pydeck as pdk
from pydeck.bindings.json_tools import default_serialize

from data_access.config import Bounds, SiteConfig
from data_access.coords import convert, convert_geojson
from data_access.filters import AreaFilter
from ui import map_view
from ui.i18n import current_lang
from ui.map_view import PAGE_PANEL, Panel
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
    """GeoJSON features in the draw CRS: ``kind`` = ``districts`` or
    ``streets`` (``geo.boundaries_crs``), or ``reference`` (the water and
    rivers of ``geo.reference_file``, in ``geo.reference_crs``).

    A missing or unreadable file yields no features (the map still shows data).
    """
    name, crs = {
        "districts": (cfg.districts_file, cfg.boundaries_crs),
        "streets": (cfg.streets_file, cfg.boundaries_crs),
        "reference": (cfg.reference_file, cfg.reference_crs),
    }[kind]
    if not name:
        return []
    try:
        return list(_outlines(str(cfg.resolve_path(name)), crs, draw_crs(cfg)))
    except (OSError, ValueError):
        return []


def area_codes(streets: pd.DataFrame, f: AreaFilter) -> set[str]:
    """The codes of the area's streets (``streets``: the ``street`` table's
    ``code`` and ``district_code``): the filter's streets, else its
    district's, else all, within the user's scope. A map draws every one of
    them, whether or not it has data (a street without readings is a
    street with none, not one that is not there)."""
    codes = set()
    for code, district in zip(streets["code"], streets["district_code"], strict=True):
        if f.district and district != f.district:
            continue
        if f.streets and code not in f.streets:
            continue
        if f.scope is not None and code not in f.scope:
            continue
        codes.add(str(code))
    return codes


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


def features_bounds(features: list[dict[str, Any]]) -> map_view.Bounds | None:
    """The lon/lat box of the features' outer rings (draw CRS), or None."""
    return map_view.bounds_of(
        p for f in features for r in _rings(f.get("geometry") or {}) for p in r
    )


def view_for(
    features: list[dict[str, Any]],
    fallback: tuple[float, float] = (120.17, 30.27),
    bounds: Bounds | None = None,
    panel: Panel = PAGE_PANEL,
) -> pdk.ViewState:
    """The view that fits the features' box into ``panel``; without
    features, the site's box (``bounds``, e.g. a site without outlines),
    else ``fallback`` at zoom 10."""
    box = features_bounds(features)
    if box is None and bounds is not None:
        box = (bounds.min_lon, bounds.min_lat, bounds.max_lon, bounds.max_lat)
    if box is None:
        return pdk.ViewState(longitude=fallback[0], latitude=fallback[1], zoom=10)
    lon, lat, zoom = map_view.fit(box, panel)
    return pdk.ViewState(longitude=round(lon, 5), latitude=round(lat, 5), zoom=round(zoom, 3))


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


#: Colours of the basemap per theme: the city's land (district outlines),
#: district boundaries, water areas, rivers, street outlines, and the
#: labels' text and halo (dark on light, light on the wall's navy: a halo
#: keeps a name readable on any fill).
THEMES: dict[str, dict[str, list[int]]] = {
    "light": {
        "land": [250, 249, 245, 255],
        "district": [176, 168, 155, 255],
        "water": [170, 205, 228, 255],
        "river": [104, 158, 204, 255],
        "outline": [90, 110, 130, 220],
        "text": [25, 28, 32, 255],
        "halo": [255, 255, 255, 240],
    },
    "dark": {
        "land": [21, 34, 56, 255],
        "district": [50, 74, 108, 255],
        "water": [30, 74, 116, 255],
        "river": [52, 112, 166, 255],
        "outline": [120, 150, 185, 230],
        "text": [240, 245, 250, 255],
        "halo": [6, 12, 24, 235],
    },
}


def outline_layer(
    rows: list[dict[str, Any]], layer_id: str, fill: bool = True, theme: str = "light"
) -> pdk.Layer:
    return pdk.Layer(
        "PolygonLayer",
        data=rows,
        id=layer_id,
        get_polygon="polygon",
        get_fill_color="fill" if fill else [0, 0, 0, 0],
        get_line_color=THEMES[theme]["outline"],
        line_width_min_pixels=1,
        filled=fill,
        stroked=True,
        pickable=fill,
        auto_highlight=fill,
    )


def _ring_area(ring: list[list[float]]) -> float:
    """Shoelace area of a ring in square degrees (only compared)."""
    return abs(
        sum(x0 * y1 - x1 * y0 for (x0, y0, *_), (x1, y1, *_) in zip(ring, ring[1:], strict=False))
        / 2
    )


def label_rows(features: list[dict[str, Any]], names: dict[str, str]) -> list[dict[str, Any]]:
    """One label per feature: its name at :func:`label_point`, with a
    collision ``priority`` (-1000..1000) by outline area: where two names
    would overlap, the larger street's stays (the smaller one's shows on
    zooming in, or in its tooltip)."""
    named = [(f, names.get(str(f.get("properties", {}).get("code", "")), "")) for f in features]
    named = [(f, name) for f, name in named if name]
    areas = [
        max((_ring_area(r) for r in _rings(f.get("geometry") or {})), default=0.0) for f, _ in named
    ]
    top = max(areas, default=0.0) or 1.0
    return [
        {"text": name, "position": label_point(f), "priority": round(1000 * math.sqrt(a / top))}
        for (f, name), a in zip(named, areas, strict=True)
    ]


#: The labels' SDF atlas: glyphs drawn at 64 px with a 24 px distance
#: field, so a halo of ``HALO`` atlas px (0.75 x outline_width) reaches
#: about 2 px at 14 px text. deck.gl's defaults (radius 12) left a 2 px
#: outline_width at under half a pixel: no visible halo.
FONT_SETTINGS = {"sdf": True, "fontSize": 64, "buffer": 10, "radius": 24}
HALO = 12


def label_layer(
    labels: list[dict[str, Any]], layer_id: str, size: float = 14, theme: str = "light"
) -> pdk.Layer:
    """Text labels (``text``, ``position``, ``priority``) in a CJK font,
    with a halo, and deck.gl's collision filter: where labels overlap at the
    current zoom, only the one of highest ``priority`` is drawn (zooming in
    brings the others back).

    The glyph atlas is built from exactly the characters used (deck.gl's
    default is ASCII only). Both strings are quoted so pydeck passes them as
    literals instead of turning them into accessor expressions.
    """
    chars = "".join(sorted({ch for label in labels for ch in str(label["text"])} - {"'"}))
    colours = THEMES[theme]
    return pdk.Layer(
        "TextLayer",
        data=labels,
        id=layer_id,
        get_position="position",
        get_text="text",
        get_size=size,
        get_color=colours["text"],
        character_set=f"'{chars}'",
        font_family=f"'{CJK_FONT}'",
        font_weight=600,
        outline_width=HALO,
        outline_color=colours["halo"],
        font_settings=FONT_SETTINGS,
        get_alignment_baseline="'center'",
        extensions=[{"@@type": "CollisionFilterExtension"}],
        collision_enabled=True,
        collision_group=f"'{layer_id}'",
        get_collision_priority="priority",
        # deck.gl hides a label whose anchor (its centre) falls on a label of
        # higher priority as drawn in the collision pass: drawn twice as
        # large there, that covers every centre whose box would overlap.
        collision_test_props={"sizeScale": 2.0},
    )


# ---------------------------------------------------------------------------
# The reference layer: the city's land, district boundaries, water, rivers.


def _lines(geometry: dict[str, Any]) -> list[list[Any]]:
    if geometry.get("type") == "LineString":
        return [geometry["coordinates"]]
    if geometry.get("type") == "MultiLineString":
        return list(geometry["coordinates"])
    return []


@lru_cache(maxsize=32)
def _reference_rows(
    sources: tuple[tuple[str, str, str], ...], dst: str, box: map_view.Bounds, tol: float
) -> dict[str, list[dict[str, Any]]]:
    """Rows of the reference layers within ``box`` at ``tol`` degrees of
    detail, from ``sources`` (``(kind, path, crs)``; kind ``districts``
    or ``reference``): land polygons and district boundaries from the
    districts, water polygons and river lines from the reference file."""
    rows: dict[str, list[dict[str, Any]]] = {"land": [], "district": [], "water": [], "river": []}
    digits = 5 if tol < 2e-4 else 4  # ~1 m where a pixel is a few metres, else ~10 m

    def thin(points: list[list[float]], coarse: bool = False) -> list[list[float]]:
        return map_view.thinned(points, tol * (2 if coarse else 1), digits)

    for kind, path, src in sources:
        try:
            features = _outlines(path, src, dst)
        except (OSError, ValueError):
            continue
        for f in features:
            geometry = f.get("geometry") or {}
            what = "land" if kind == "districts" else f.get("properties", {}).get("kind")
            if what in ("land", "water"):
                for ring in _rings(geometry):
                    # A land fill meets other land of its colour: coarser.
                    cut = thin(map_view.clip_ring(ring, box), coarse=what == "land")
                    if len(cut) >= 3:
                        rows[what].append({"polygon": cut})
                    if what == "land":
                        rows["district"] += [
                            {"path": thin(run)} for run in map_view.runs_inside(ring, box)
                        ]
            elif what == "river":
                rows["river"] += [
                    {"path": thin(run)}
                    for line in _lines(geometry)
                    for run in map_view.runs_inside(line, box)
                ]
    return rows


def reference_layers(
    cfg: SiteConfig, shown: map_view.Bounds, panel: Panel, theme: str = "light"
) -> list[pdk.Layer]:
    """What lies under the area's outlines: the land of every district
    (``geo.districts_file``) with its boundary, the water areas and the
    rivers of ``geo.reference_file``, bottom to top. Only what lies within
    a quarter view around what the view ``shown`` shows is sent, at the detail its
    zoom draws (lines within 1 px, the land's fill 2 px). Empty for a site
    without those files."""
    sources = []
    if cfg.districts_file:
        sources.append(("districts", str(cfg.resolve_path(cfg.districts_file)), cfg.boundaries_crs))
    if cfg.reference_file:
        sources.append(("reference", str(cfg.resolve_path(cfg.reference_file)), cfg.reference_crs))
    box = tuple(round(v, 4) for v in map_view.grown(shown, 0.25))
    tol = float(f"{map_view.degrees_per_pixel(shown, panel):.2g}")
    rows = _reference_rows(tuple(sources), draw_crs(cfg), box, tol)  # type: ignore[arg-type]
    colours = THEMES[theme]
    layers = []
    for layer_id, key in (("ref-land", "land"), ("ref-water", "water")):
        if rows[key]:
            layers.append(
                pdk.Layer(
                    "SolidPolygonLayer",
                    data=rows[key],
                    id=layer_id,
                    get_polygon="polygon",
                    get_fill_color=colours[key],
                )
            )
    for layer_id, key, metres, px in (
        ("ref-rivers", "river", 150, 2.5),
        ("ref-districts", "district", 1, 1.5),
    ):
        if rows[key]:
            layers.append(
                pdk.Layer(
                    "PathLayer",
                    data=rows[key],
                    id=layer_id,
                    get_path="path",
                    get_color=colours[key],
                    get_width=metres,
                    width_min_pixels=px,
                    cap_rounded=True,
                    joint_rounded=True,
                )
            )
    return layers


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


def cell_layer(
    rows: list[dict[str, Any]], layer_id: str, radius_m: float, min_px: float | None = None
) -> pdk.Layer:
    """Flat hexagonal cells (``ColumnLayer``, 6 sides) of ``radius_m``
    metres; with ``min_px``, round dots of that radius at least (the wall,
    where a 300 m cell of a whole district would be a speck), ringed so
    they stand out from the navy."""
    if min_px is not None:
        return pdk.Layer(
            "ScatterplotLayer",
            data=rows,
            id=layer_id,
            get_position="position",
            get_fill_color="fill",
            get_radius=radius_m,
            radius_min_pixels=min_px,
            stroked=True,
            get_line_color=[255, 255, 255, 200],
            line_width_min_pixels=max(1.0, min_px / 6),
            pickable=True,
        )
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


@dataclass
class Basemap:
    """An area's basemap: the reference layers under everything, the street
    outlines, their labels on top, and the view fitted to the area."""

    under: list[pdk.Layer]
    outlines: pdk.Layer
    labels: pdk.Layer
    view: pdk.ViewState

    def stack(self, *data: pdk.Layer) -> list[pdk.Layer]:
        """Reference, outlines, the data layers, labels: bottom to top."""
        return [*self.under, self.outlines, *data, self.labels]

    def drawn(self) -> set[str]:
        """Ids of the basemap's layers that have something to draw."""
        return {layer.id for layer in [*self.under, self.outlines] if layer.data}


def fitted(
    cfg: SiteConfig, features: list[dict[str, Any]], panel: Panel
) -> tuple[pdk.ViewState, map_view.Bounds]:
    """The view that fits ``features`` (else the site's box) into
    ``panel``, and the box that view shows (what the reference layers are
    cut to)."""
    view = view_for(features, bounds=cfg.bounds, panel=panel)
    shown = map_view.shown_bounds(view.longitude, view.latitude, view.zoom, panel)
    return view, shown


def area_basemap(
    cfg: SiteConfig,
    codes: set[str],
    names: dict[str, str],
    panel: Panel = PAGE_PANEL,
    theme: str = "light",
    label_size: float = 14,
    values: dict[str, dict[str, Any]] | None = None,
) -> Basemap:
    """The outlines of the streets ``codes`` (all of the area's, with data
    or not: :func:`area_codes`) with their names over the reference layers,
    and a view that fits them into ``panel``. With ``values`` (per code, a
    ``fill`` and what the tooltip shows) the outlines are filled and
    pickable: a map of a figure per street."""
    features = [f for f in outlines(cfg, "streets") if f["properties"].get("code") in codes]
    view, shown = fitted(cfg, features, panel)
    rows = polygon_rows(features, values or {})
    return Basemap(
        under=reference_layers(cfg, shown, panel, theme),
        outlines=outline_layer(rows, "streets", fill=values is not None, theme=theme),
        labels=label_layer(label_rows(features, names), "street-labels", label_size, theme),
        view=view,
    )


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
