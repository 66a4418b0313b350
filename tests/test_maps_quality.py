"""The maps as a command room reads them (issue #24): every street of the
area drawn, a view fitted to the area for its panel, names with a halo and
collision handling, a legend with the scale's numbers, and the offline
reference layer (land, water, rivers) under the outlines.

Each map's deck is read back from AppTest (``proto.json``); the fit is
checked with this module's own Web Mercator arithmetic against the outlines
the deck draws, not with the code that computed it."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from data_access.config import load_site_config
from tests.conftest import FIXTURE_END
from ui import map_view, maps

ROOT = Path(__file__).resolve().parent.parent
CFG = load_site_config()
DISTRICT = CFG.default_district  # 拱墅区, the district
GEO = ROOT / "assets" / "geo"


@pytest.fixture
def pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_NOW", FIXTURE_END.isoformat())


def decks(at: Any) -> list[dict[str, Any]]:
    return [json.loads(d.proto.json) for d in at.get("deck_gl_json_chart")]


def layer(deck: dict[str, Any], layer_id: str) -> dict[str, Any]:
    hits = [x for x in deck["layers"] if x["id"] == layer_id]
    assert len(hits) == 1, (layer_id, [x["id"] for x in deck["layers"]])
    return hits[0]


def no_problems(at: Any) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def street_table(at_url_db: str) -> dict[str, set[str]]:
    """District -> street codes, from the fixture's ``street`` table."""
    from sqlalchemy import create_engine, text

    engine = create_engine(at_url_db)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT code, district_code FROM street")).all()
    finally:
        engine.dispose()
    out: dict[str, set[str]] = {}
    for code, district in rows:
        out.setdefault(str(district), set()).add(str(code))
    return out


def outline_codes() -> dict[str, set[str]]:
    """District -> street codes with an outline in the shipped GeoJSON."""
    data = json.loads((GEO / "streets_approx.geojson").read_text(encoding="utf-8"))
    out: dict[str, set[str]] = {}
    for f in data["features"]:
        out.setdefault(f["properties"]["district_code"], set()).add(f["properties"]["code"])
    return out


# ---------------------------------------------------------------------------
# Every street of every district, on both heat maps.


def test_every_street_of_every_district_is_on_both_heat_maps(app_test, sqlite_demo, pinned):
    """The crowd map once drew only the streets with readings (拱墅's
    拱宸桥, 康桥, 半山 and 石桥 were missing while the wall drew them): the
    basemap was built from the cells' street codes. Now each map draws the
    area's streets, all of them, for every district of the fixture; the
    fixture has streets without readings, so the old code fails here."""
    table = street_table(sqlite_demo.url)
    shipped = outline_codes()
    without_data = 0
    for page, cells_id in (("crowd-map", "crowd-cells"), ("incident-map", "incident-cells")):
        at = app_test(page, sqlite_demo.url)
        for district in sorted(table):
            at.selectbox(key="f_district").set_value(district).run()
            no_problems(at)
            (deck,) = decks(at)
            drawn = {row["code"] for row in layer(deck, "streets")["data"]}
            assert drawn == table[district] == shipped[district], (page, district)
            labelled = {row["text"] for row in layer(deck, "street-labels")["data"]}
            assert len(labelled) == len(table[district]), (page, district, labelled)
            with_cells = {c for c in drawn if _cells_in(deck, cells_id, c)}
            without_data += len(drawn - with_cells)
    assert without_data > 0  # streets with no data are drawn too (the bug's case)


def _cells_in(deck: dict[str, Any], cells_id: str, code: str) -> bool:
    """Whether any cell of ``cells_id`` lies in street ``code``'s drawn outline."""
    rings = [row["polygon"] for row in layer(deck, "streets")["data"] if row["code"] == code]
    return any(
        _inside(cell["position"], ring) for cell in layer(deck, cells_id)["data"] for ring in rings
    )


def _inside(p: list[float], ring: list[list[float]]) -> bool:
    x, y, hit = p[0], p[1], False
    for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True):
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            hit = not hit
    return hit


# ---------------------------------------------------------------------------
# Legend, fitted view, haloed labels, reference layer: on every coloured map.


def _merc(lat: float) -> float:
    return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def _px_box(deck: dict[str, Any], panel: map_view.Panel) -> tuple[float, float, float, float]:
    """The area's drawn outlines as a pixel box in ``panel``, centre at
    (0, 0): (left, top, right, bottom), y downwards."""
    view = deck["initialViewState"]
    world = 512 * 2 ** view["zoom"]
    pts = [p for row in layer(deck, "streets")["data"] for p in row["polygon"]]
    xs = [(p[0] - view["longitude"]) / 360 * world for p in pts]
    ys = [-(_merc(p[1]) - _merc(view["latitude"])) / (2 * math.pi) * world for p in pts]
    return min(xs), min(ys), max(xs), max(ys)


MAPS = [
    # (page, query, panel, label px, legend top label)
    ("Home.py", {}, map_view.OVERVIEW_PANEL, 14, None),
    ("crowd-map", {}, map_view.PAGE_PANEL, 14, "≥12,000"),
    ("incident-map", {}, map_view.PAGE_PANEL, 14, "≥10"),
    ("command-screen", {"view": "crowd-map"}, map_view.WALL_PANEL, 22, "≥12,000"),
    (
        "command-screen",
        {"view": "incident-map", "scale": "2"},
        map_view.WALL_PANEL.scaled(2),
        44,
        "≥10",
    ),
]


@pytest.mark.parametrize(
    ("page", "query", "panel", "label_px", "legend_top"),
    MAPS,
    ids=["overview", "crowd-map", "incident-map", "wall-crowd", "wall-incident-4k"],
)
def test_each_map_is_fitted_labelled_with_a_halo_has_a_legend_and_the_reference_layer(
    app_test, sqlite_demo, pinned, page, query, panel, label_px, legend_top
):
    at = app_test(page, sqlite_demo.url, query_params=query)
    no_problems(at)
    (deck,) = decks(at)

    # Fitted: the whole area inside the panel, filling it on the side that binds.
    left, top, right, bottom = _px_box(deck, panel)
    assert -panel.width / 2 <= left and right <= panel.width / 2, (left, right, panel)
    assert -panel.height / 2 <= top and bottom <= panel.height / 2, (top, bottom, panel)
    fill = max((right - left) / panel.width, (bottom - top) / panel.height)
    assert fill >= 0.85, fill  # not "a third of the panel"

    # Labels: a halo (SDF outline wide enough to show), sizes for the room,
    # collision handling by priority.
    labels = layer(deck, "street-labels")
    assert labels["fontSettings"]["sdf"] is True
    halo_px = 0.75 * labels["outlineWidth"] * labels["getSize"] / labels["fontSettings"]["fontSize"]
    assert halo_px >= 1.5, halo_px
    assert labels["outlineColor"][3] >= 200
    assert labels["getSize"] == pytest.approx(label_px)
    assert {"@@type": "CollisionFilterExtension"} in labels["extensions"]
    assert labels["getCollisionPriority"] == "@@=priority"
    # A label is hidden when its centre lies on a higher one drawn in the
    # collision pass: twice its size there covers every overlapping box.
    assert labels["collisionTestProps"]["sizeScale"] >= 2
    priorities = [row["priority"] for row in labels["data"]]
    assert all(-1000 <= p <= 1000 for p in priorities) and len(set(priorities)) > 1
    text, halo = labels["getColor"], labels["outlineColor"]
    assert abs(sum(text[:3]) - sum(halo[:3])) > 500  # light on dark or dark on light

    # Reference layer under the outlines: land and district boundaries, and
    # water (拱墅's view reaches the Qiantang estuary).
    ids = [x["id"] for x in deck["layers"]]
    for ref in ("ref-land", "ref-water", "ref-districts"):
        assert ref in ids and ids.index(ref) < ids.index("streets"), (ref, ids)
    assert ids[-1] in ("street-labels", "incident-cells")  # names (or the wall's dots) on top

    # A legend with the scale's numbers and the keys of what is drawn.
    html = "\n".join([m.value for m in at.markdown] + [h.proto.body for h in at.get("html")])
    legends = re.findall(r'<div class="map-legend" data-key="map-legend">.*?</div>', html, re.S)
    assert len(legends) == 1, legends
    chips = re.findall(r'class="chip"[^>]*>([^<]+)<', legends[0])
    assert chips[0] == "0" and len(chips) >= 3, chips
    if legend_top is None:  # the overview's scale tops at the busiest street
        cases = [row["cases"] for row in layer(deck, "streets")["data"]]
        legend_top = f"≥{max(cases):,}"
    assert chips[-1] == legend_top, chips
    assert 'data-key="ref-water"' in legends[0] and 'data-key="streets"' in legends[0]
    assert "水域" in legends[0]


def test_the_legend_and_notes_speak_english_too(app_test, sqlite_demo, pinned):
    at = app_test("crowd-map", sqlite_demo.url, query_params={"lang": "en"})
    no_problems(at)
    legend = next(m.value for m in at.markdown if "map-legend" in m.value)
    assert "people per cell" in legend and "Water" in legend and "Street outline" in legend
    notes = " ".join(c.value for c in at.caption)
    assert "Natural Earth" in notes and "GSHHG" in notes


# ---------------------------------------------------------------------------
# The shipped reference layer and the geometry that cuts it to a view.


def test_the_reference_layer_is_real_small_licensed_and_around_the_city():
    data = json.loads((GEO / "reference.geojson").read_text(encoding="utf-8"))
    kinds = [f["properties"]["kind"] for f in data["features"]]
    assert kinds.count("water") >= 2 and kinds.count("river") >= 5, kinds
    assert all("Natural Earth" in f["properties"]["source"] or "GSHHG" in f["properties"]["source"]
               for f in data["features"])  # fmt: skip
    b = CFG.bounds
    pts = [
        p
        for f in data["features"]
        for line in (
            f["geometry"]["coordinates"]
            if f["geometry"]["type"] in ("Polygon", "MultiLineString")
            else [f["geometry"]["coordinates"]]
        )
        for p in line
    ]
    assert all(b.min_lon - 0.26 <= x <= b.max_lon + 0.26 for x, _ in pts)
    assert all(b.min_lat - 0.26 <= y <= b.max_lat + 0.26 for _, y in pts)
    assert (GEO / "reference.geojson").stat().st_size < 60_000
    sources = (GEO / "SOURCES.md").read_text(encoding="utf-8")
    assert "reference.geojson" in sources and "LGPL-3.0" in sources
    assert (GEO / "licenses" / "LGPL-3.0.txt").is_file() and (
        GEO / "licenses" / "GPL-3.0.txt"
    ).is_file()
    # The Qiantang estuary reaches the city centre's south-east (上城/滨江).
    estuary = [
        f for f in data["features"]
        if f["properties"]["kind"] == "water"
        and any(120.1 < x < 120.3 and 30.15 < y < 30.3 for x, y in f["geometry"]["coordinates"][0])
    ]  # fmt: skip
    assert estuary


def test_a_whole_city_map_sends_the_reference_layer_cut_to_the_view():
    """On a one-street view the neighbours are cut to what the view
    reaches: far less than the whole outlines."""
    codes = {f["properties"]["code"] for f in maps.outlines(CFG, "streets")}
    city = maps.area_basemap(CFG, codes, {})
    one = maps.area_basemap(CFG, {f"{DISTRICT}013"}, {})
    size = {
        name: sum(len(json.dumps(x.data)) for x in b.under)
        for name, b in (("city", city), ("one", one))
    }
    assert size["one"] < size["city"] / 5, size
    assert size["city"] < 150_000, size
    shown = map_view.shown_bounds(
        one.view.longitude, one.view.latitude, one.view.zoom, map_view.PAGE_PANEL
    )
    reach = map_view.grown(shown, 0.25)
    for x in one.under:
        for row in x.data:
            for p in row.get("polygon") or row.get("path"):
                assert reach[0] - 0.05 <= p[0] <= reach[2] + 0.05, (x.id, p)


def test_clip_runs_and_thinning():
    square = [[0, 0], [2, 0], [2, 2], [0, 2]]
    assert map_view.clip_ring(square, (1, 1, 3, 3)) == [[1, 1], [2, 1], [2, 2], [1, 2]]
    assert map_view.clip_ring(square, (5, 5, 6, 6)) == []
    runs = map_view.runs_inside([[0, 0], [1.5, 1.5], [2, 2], [4, 4], [5, 5]], (1, 1, 3, 3))
    assert runs == [[[0, 0], [1.5, 1.5], [2, 2], [4, 4]]]  # one point beyond each end
    line = [[0, 0], [1, 0.001], [2, 0], [3, 1]]
    assert map_view.thinned(line, 0.01) == [[0, 0], [2, 0], [3, 1]]
    assert map_view.thinned(line, 0.0001) == line


def test_fit_is_the_largest_zoom_that_shows_the_box():
    box = (120.0, 30.0, 120.2, 30.1)
    panel = map_view.Panel(800, 400, margin=0.0)
    lon, lat, zoom = map_view.fit(box, panel)
    x0, y0, x1, y1 = map_view.shown_bounds(lon, lat, zoom, panel)
    assert (
        x0 <= box[0] + 1e-9 and x1 >= box[2] - 1e-9 and y0 <= box[1] + 1e-9 and y1 >= box[3] - 1e-9
    )
    # 0.1 deg of latitude at 30 N is 0.115 deg of Mercator width: the box is
    # 1.73 times as wide as high, the panel 2: the height binds.
    assert y1 - y0 == pytest.approx(0.1) and x1 - x0 > 0.2
    assert map_view.fit(box, panel.scaled(2))[2] == pytest.approx(zoom + 1)
