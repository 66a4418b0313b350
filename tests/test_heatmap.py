"""Heat maps: the aggregation queries against pandas on the raw rows (all three
backends), the fixed colour domain in the deck spec, masking in the rendered
case table, venue load, the repeat hot spot, the config keys, and both pages."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Float, func, literal, select

from data_access.config import (
    COORD_SYSTEMS,
    HotspotConfig,
    MapConfig,
    load_site_config,
    parse_site_config,
)
from data_access.coords import convert
from data_access.filters import AreaFilter
from data_access.schema import crowd_reading
from data_access.sqlfn import grid_index
from demo.crowds import fireworks_day
from metrics import heatmap
from tests import reference
from tests.conftest import FIXTURE_DAYS, FIXTURE_END
from ui import maps

NOW = FIXTURE_END
CFG = load_site_config()
HEZHUANG = "330114003"
OPEN = ("open", "dispatched", "on_site")


@pytest.fixture(scope="module")
def raw(backend):
    return {t: reference.read(backend.raw_engine, t) for t in ("street", "incident", "venue")}


@pytest.fixture(scope="module")
def crowd(backend):
    """Crowd rows of the latest reading time and of one week before it."""
    c = crowd_reading.c
    with backend.raw_engine.connect() as conn:
        ts = conn.execute(select(func.max(c.ts)).where(c.ts <= NOW)).scalar()
        rows = conn.execute(select(crowd_reading).where(c.ts.in_([ts, ts - timedelta(days=7)])))
        frame = pd.DataFrame(rows.all(), columns=[col.name for col in crowd_reading.c])
    frame["ts"] = pd.to_datetime(frame["ts"])
    return ts, frame


def filters() -> list[AreaFilter]:
    end = NOW.date()
    start = end - timedelta(days=FIXTURE_DAYS - 1)
    return [
        AreaFilter(start=start, end=end),
        AreaFilter(start=end - timedelta(days=6), end=end, district="330102"),
        AreaFilter(start=start, end=end, district="330114", categories=("renovation_noise",)),
    ]


def clean(raw, f: AreaFilter) -> pd.DataFrame:
    """The window's cases, with the category/source/status filters (applied before dedup)."""
    inc = raw["incident"]
    for col, codes in (("category", f.categories), ("source", f.sources), ("status", f.statuses)):
        if codes:
            inc = inc[inc[col].isin(codes)]
    return reference.clean_incidents(inc, raw["street"], f, NOW)


def in_bounds(frame: pd.DataFrame) -> pd.Series:
    b = CFG.bounds
    return frame["lat"].between(b.min_lat, b.max_lat) & frame["lon"].between(b.min_lon, b.max_lon)


def snap(frame: pd.DataFrame, cell_m: float) -> tuple[np.ndarray, np.ndarray]:
    step_lon, step_lat = heatmap.cell_steps(CFG, cell_m)
    return (
        np.floor(frame["lon"].to_numpy() / step_lon).astype(int),
        np.floor(frame["lat"].to_numpy() / step_lat).astype(int),
    )


def area_crowd(rows: pd.DataFrame, raw, f: AreaFilter, ts) -> pd.DataFrame:
    codes = reference.area_codes(raw["street"], f)
    sel = rows[(rows["ts"] == ts) & rows["street_code"].isin(codes)]
    return sel[in_bounds(sel) & sel["people"].notna()]


# ---------------------------------------------------------------------------
# Queries vs pandas, on every backend


def test_grid_index_floors_on_every_dialect(backend):
    cases = [(-1.5, 1.0, -2), (-2.0, 1.0, -2), (1.5, 1.0, 1), (120.17, 0.005, 24034), (0.0, 0.3, 0)]
    with backend.engine.connect() as conn:
        d = conn.dialect.name
        got = [
            conn.execute(select(grid_index(literal(v, Float), literal(s, Float), d))).scalar()
            for v, s, _ in cases
        ]
    assert got == [math.floor(v / s) for v, s, _ in cases] == [w for *_, w in cases]


def test_crowd_cells_match_pandas(backend, raw, crowd):
    ts, rows = crowd
    for f in filters()[:2]:
        want = area_crowd(rows, raw, f, ts).groupby("cell_id")["people"].agg(["sum", "size"])
        with backend.engine.connect() as conn:
            got = heatmap.crowd_cells(conn, f, ts, CFG).set_index("key")
        assert (got["cell_m"] == CFG.map.crowd_cell_m).all()
        assert got["people"].to_dict() == want["sum"].astype("int64").to_dict(), f
        assert (got["cells"] == 1).all()
    # Coarser cells (few allowed): the same people, summed per snapped square.
    small = replace(CFG, map=replace(CFG.map, max_cells=40))
    f = filters()[0]
    with backend.engine.connect() as conn:
        got = heatmap.crowd_cells(conn, f, ts, small).set_index("key")
    cell_m = float(got["cell_m"].iloc[0])
    assert cell_m > CFG.map.crowd_cell_m and len(got) <= 40
    sel = area_crowd(rows, raw, f, ts)
    gx, gy = snap(sel, cell_m)
    keys = pd.Series(gx).astype(str).values + "_" + pd.Series(gy).astype(str).values
    want = sel.assign(key=keys).groupby("key")["people"].agg(["sum", "size"])
    assert got["people"].to_dict() == want["sum"].astype("int64").to_dict()
    assert got["cells"].to_dict() == want["size"].astype("int64").to_dict()


def test_crowd_unmapped_counts_bad_coordinates(backend, raw, crowd):
    ts, rows = crowd
    f = filters()[0]
    codes = reference.area_codes(raw["street"], f)
    sel = rows[(rows["ts"] == ts) & rows["street_code"].isin(codes)]
    with backend.engine.connect() as conn:
        got = int(heatmap.crowd_unmapped(conn, f, ts, CFG)["rows"].iloc[0])
    assert got == int((~in_bounds(sel)).sum())
    assert got >= 1  # the demo's NULL-coordinate reading


def test_hot_cells_match_pandas(backend, raw, crowd):
    ts, rows = crowd
    f = filters()[0]
    with backend.engine.connect() as conn:
        got = heatmap.hot_cells(conn, f, ts, CFG)
    now = area_crowd(rows, raw, f, ts).sort_values(["people", "cell_id"], ascending=[False, True])
    before = rows[rows["ts"] == ts - timedelta(days=7)].set_index("cell_id")["people"]
    want = now.head(10)
    assert list(got["cell_id"]) == list(want["cell_id"])
    assert list(got["people"]) == list(want["people"].astype(int))
    for cell, wk, ch, p in zip(
        got["cell_id"], got["week_before"], got["change"], got["people"], strict=True
    ):
        if cell in before.index:
            assert wk == before[cell] and ch == p - before[cell]
        else:
            assert pd.isna(wk) and pd.isna(ch)


def test_venue_load_matches_pandas(backend, raw, crowd):
    ts, rows = crowd
    f = filters()[0]
    with backend.engine.connect() as conn:
        got = heatmap.venue_load(conn, f, ts, CFG).set_index("id")
    known = set(raw["street"]["code"])
    cells = rows[(rows["ts"] == ts) & rows["street_code"].isin(known)]
    cells = cells[in_bounds(cells) & cells["people"].notna()]
    assert set(got.index) == set(raw["venue"]["id"])
    for v in raw["venue"].itertuples():
        kx = 111_320.0 * math.cos(math.radians(v.lat))
        d2 = ((cells["lon"] - v.lon) * kx) ** 2 + ((cells["lat"] - v.lat) * 110_574.0) ** 2
        people = int(cells.loc[d2 <= v.radius_m**2, "people"].sum())
        assert got.loc[v.id, "people"] == people, v.id
        load = people / v.capacity
        assert got.loc[v.id, "load"] == pytest.approx(load)
        level = "red" if load >= 1.0 else "yellow" if load >= 0.8 else "green"
        assert got.loc[v.id, "level"] == level


def test_incident_cells_and_cases_match_pandas(backend, raw):
    for f in filters():
        with backend.engine.connect() as conn:
            got = heatmap.incident_cells(conn, f, NOW, CFG)
            unmapped = int(heatmap.incident_unmapped(conn, f, NOW, CFG)["rows"].iloc[0])
        inc = clean(raw, f)
        ok = in_bounds(inc)
        assert unmapped == int((~ok).sum())
        cell_m = float(got["cell_m"].iloc[0])
        mapped = inc[ok]
        gx, gy = snap(mapped, cell_m)
        want = (
            mapped.assign(gx=gx, gy=gy, is_open=mapped["status"].isin(OPEN))
            .groupby(["gx", "gy"])
            .agg(cases=("id", "size"), open=("is_open", "sum"))
        )
        got = got.set_index(["gx", "gy"])
        assert got["cases"].to_dict() == want["cases"].to_dict(), f
        assert got["open"].to_dict() == want["open"].astype("int64").to_dict()
        assert len(got) <= CFG.map.max_cells
    # The cases of the busiest cell of the last filter, masked.
    (bx, by), n = got["cases"].idxmax(), int(got["cases"].max())
    with backend.engine.connect() as conn:
        cases = heatmap.cell_cases(conn, f, NOW, CFG, bx, by, cell_m)
    sel = mapped[(gx == bx) & (gy == by)]
    assert len(cases) == n and set(cases["id"]) == set(sel["id"])
    assert list(cases["reported_at"]) == sorted(cases["reported_at"], reverse=True)
    assert not cases["reporter_phone"].dropna().str.fullmatch(r"\d{11}").any()
    assert cases["reporter_phone"].dropna().str.contains(r"\*\*\*\*").all()


def test_repeat_hotspot_of_the_demo_is_found(backend, raw):
    f = filters()[0]
    with backend.engine.connect() as conn:
        spots = heatmap.repeat_hotspots(conn, f, NOW, CFG)
    hit = spots[(spots["category"] == "renovation_noise") & (spots["street_code"] == HEZHUANG)]
    assert not hit.empty
    top = hit.iloc[0]
    wide = AreaFilter(start=NOW.date() - timedelta(days=60), end=NOW.date())
    inc = clean(raw, wide)
    start = NOW - timedelta(days=CFG.hotspots.within_days)
    noise = inc[
        (inc["category"] == "renovation_noise")
        & (inc["street_code"] == HEZHUANG)
        & (inc["reported_at"] >= start)
    ]
    gx, gy = snap(noise, CFG.hotspots.grid_m)
    groups = noise.assign(gx=gx, gy=gy).groupby(["gx", "gy"])["reported_at"]
    biggest = groups.size().idxmax()
    want = groups.get_group(biggest)
    assert top["cases"] == len(want) >= CFG.hotspots.min_cases
    assert top["first_at"] == want.min() and top["last_at"] == want.max()
    assert (spots["cases"] >= CFG.hotspots.min_cases).all()
    assert spots["address"].dropna().str.endswith("***").all()


# ---------------------------------------------------------------------------
# Pure helpers


def test_adaptive_cell_size_bounds_the_number_of_cells():
    extent = (29.9, 30.6, 119.7, 120.7)
    for max_cells in (100, 1000, 3000):
        size = heatmap.adaptive_cell_m(extent, 300, max_cells)
        step_lon, step_lat = heatmap.cell_steps(CFG, size)
        n = (0.7 / step_lat + 2) * (1.0 / step_lon + 2)
        assert n <= max_cells * 1.05 and size >= 300
    assert heatmap.adaptive_cell_m(None, 300, 10) == 300
    assert heatmap.adaptive_cell_m((30.0, 30.001, 120.0, 120.001), 300, 3000) == 300


def test_fixed_colour_domain():
    top = CFG.map.crowd_max_people_per_cell
    assert maps.heat_fill(top / 2, top) == maps.heat_fill(top / 2, top)
    assert maps.heat_fill(top * 5, top) == maps.heat_fill(top, top)
    a = pd.DataFrame({"lat": [30.2, 30.3], "lon": [120.1, 120.2], "v": [100.0, 100.0]})
    b = pd.DataFrame({"lat": [30.2, 30.3], "lon": [120.1, 120.2], "v": [100.0, 90_000.0]})
    ra = maps.cell_rows(CFG, a, a["v"], top, ["v"])
    rb = maps.cell_rows(CFG, b, b["v"], top, ["v"])
    assert ra[0]["fill"] == rb[0]["fill"]  # same count, same colour, whatever else is in view


def test_play_steps_forward_and_stops_at_the_end():
    steps = [1, 2, 3]
    assert maps.next_step(steps, 1) == (2, True)
    assert maps.next_step(steps, 2) == (3, False)
    assert maps.next_step(steps, 3) == (1, True)  # replay from the start
    assert maps.next_step(steps, 99) == (1, True)
    assert maps.next_step([], 5) == (5, False)


def test_tiles_switch_the_draw_crs_and_style():
    assert maps.draw_crs(CFG) == CFG.coord_system
    assert maps.basemap_style(CFG) == maps.OFFLINE_STYLES["light"]
    tiled = replace(
        CFG, map=replace(CFG.map, tiles_url="http://tiles.local/{z}/{x}/{y}.png", tiles_crs="bd09")
    )
    assert maps.draw_crs(tiled) == "bd09"
    style = maps.basemap_style(tiled)
    assert style.startswith("data:application/json;base64,")
    lon, lat = maps.to_draw(tiled, np.array([120.17]), np.array([30.27]))
    want = convert(120.17, 30.27, CFG.coord_system, "bd09")
    assert (lon[0], lat[0]) == pytest.approx(want)


def test_map_and_hotspot_config_keys_are_validated():
    cfg = parse_site_config(
        {
            "map": {
                "tiles_url": "https://t.example/{z}/{x}/{y}.png",
                "tiles_crs": "WGS84",
                "crowd_max_people_per_cell": 8000,
                "max_cells": 500,
                "venue_alert_share": 1.2,
            },
            "hotspots": {"min_cases": 8, "within_days": 14, "grid_m": 100},
        }
    )
    assert cfg.problems == ()
    assert cfg.map.tiles_crs == "wgs84" and cfg.map.crowd_max_people_per_cell == 8000.0
    assert cfg.map.max_cells == 500 and cfg.map.venue_alert_share == 1.2
    assert (cfg.hotspots.min_cases, cfg.hotspots.within_days, cfg.hotspots.grid_m) == (8, 14, 100)

    bad = parse_site_config(
        {
            "map": {
                "tiles_url": "ftp://nope",
                "tiles_crs": "mercator",
                "crowd_max_people_per_cell": -1,
                "max_cells": "many",
                "venue_warn_share": 1.5,
            },
            "hotspots": {"min_cases": 0, "within_days": 2.5, "grid_m": "x"},
        }
    )
    d = MapConfig()
    assert bad.map.tiles_url == "" and bad.map.tiles_crs == d.tiles_crs
    assert bad.map.crowd_max_people_per_cell == d.crowd_max_people_per_cell
    assert bad.map.max_cells == d.max_cells and bad.map.venue_warn_share == d.venue_warn_share
    assert bad.hotspots == HotspotConfig()
    text = " ".join(bad.problems)
    for key in (
        "map.tiles_url",
        "map.tiles_crs",
        "map.crowd_max_people_per_cell",
        "map.max_cells",
        "map.venue_warn_share",
        "hotspots.min_cases",
        "hotspots.within_days",
        "hotspots.grid_m",
    ):
        assert key in text, key
    assert set(COORD_SYSTEMS) >= {cfg.map.tiles_crs}


# ---------------------------------------------------------------------------
# Pages


def deck_spec(at, i: int = 0) -> dict:
    return json.loads(at.get("deck_gl_json_chart")[i].proto.json)


def layer(spec: dict, layer_id: str) -> dict:
    return next(x for x in spec["layers"] if x["id"] == layer_id)


def test_crowd_page_colours_against_the_fixed_domain(app_test, sqlite_demo, monkeypatch):
    monkeypatch.setenv("OPS_NOW", NOW.isoformat())
    at = app_test("pages/crowd-map.py", sqlite_demo.url, query_params={"district": ""})
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    raw = at.get("deck_gl_json_chart")[0].proto.json
    assert len(raw.encode()) < 1_000_000
    spec = json.loads(raw)
    assert spec["mapStyle"] == maps.OFFLINE_STYLES["light"]
    cells = layer(spec, "crowd-cells")["data"]
    ts = at.session_state["crowd_ts"]
    f = AreaFilter(start=NOW.date() - timedelta(days=6), end=NOW.date())
    with sqlite_demo.engine.connect() as conn:
        want = heatmap.crowd_cells(conn, f, ts, CFG)
        venues = heatmap.venue_load(conn, f, ts, CFG)
    assert len(cells) == len(want)
    top = CFG.map.crowd_max_people_per_cell
    density = want["people"] / want["cells"]
    assert [c["fill"] for c in cells] == [maps.heat_fill(v, top) for v in density]
    total = next(m for m in at.metric if m.label == "区域总人数").value
    assert total == f"{int(want['people'].sum()):,}"
    assert len(layer(spec, "venues")["data"]) == len(venues)

    # Another step: the same people-per-cell value keeps its colour.
    steps = at.get("select_slider")[0].options
    at.session_state["crowd_ts"] = at.session_state["crowd_ts"] - timedelta(hours=3)
    at.run()
    assert len(steps) > 12
    assert not at.exception
    for c in layer(deck_spec(at), "crowd-cells")["data"]:
        assert c["fill"][:3] in [maps.heat_fill(v, top)[:3] for v in _people(c)]


def _people(cell: dict) -> list[float]:
    m = re.search(r"([\d,]+) 人（(\d+) 个网格）", cell["tip"])
    assert m, cell["tip"]
    return [int(m.group(1).replace(",", "")) / int(m.group(2))]


def test_incident_page_lists_masked_cases_of_a_picked_cell(app_test, sqlite_demo, monkeypatch):
    monkeypatch.setenv("OPS_NOW", NOW.isoformat())
    at = app_test("pages/incident-map.py", sqlite_demo.url, query_params={"district": "330114"})
    assert not at.exception, [e.value for e in at.exception]
    raw = at.get("deck_gl_json_chart")[0].proto.json
    assert len(raw.encode()) < 1_000_000
    cells = layer(json.loads(raw), "incident-cells")["data"]
    f = AreaFilter(start=NOW.date() - timedelta(days=6), end=NOW.date(), district="330114")
    with sqlite_demo.engine.connect() as conn:
        want = heatmap.incident_cells(conn, f, NOW, CFG)
    assert sum(c["cases"] for c in cells) == int(want["cases"].sum())
    top = CFG.map.incident_max_cases_per_cell
    scale = (CFG.map.incident_cell_m / float(want["cell_m"].iloc[0])) ** 2
    for c in cells:
        assert c["fill"] == maps.heat_fill(c["cases"] * scale, top)

    busiest = max(cells, key=lambda c: c["cases"])
    at.session_state["im_cell"] = (busiest["gx"], busiest["gy"])
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    assert len(table) == busiest["cases"]
    phones = table["reporter_phone"].dropna()
    assert phones.str.contains(r"\*\*\*\*").all() and not phones.str.fullmatch(r"\d{11}").any()
    names = table["reporter_name"].dropna()
    assert names.str.contains(r"\*").all()
    assert table["address"].dropna().str.endswith("***").all()
    spots = at.dataframe[1].value
    assert "装修噪音" in set(spots["category"])


def test_fireworks_evening_replays_with_a_venue_alert(app_test, sqlite_demo, monkeypatch):
    monkeypatch.setenv("OPS_NOW", NOW.isoformat())
    at = app_test("pages/crowd-map.py", sqlite_demo.url, query_params={"district": ""})
    day = fireworks_day(NOW)
    at.date_input(key="crowd_day").set_value(day.date())
    at.run()
    assert at.session_state["crowd_ts"] == day.replace(hour=23, minute=45)  # the day's last step
    at.select_slider(key="crowd_ts").set_value(day.replace(hour=20))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    alerts = [e.value for e in at.error]
    assert any(a.startswith("城市阳台（") and "负荷" in a for a in alerts), alerts
    f = AreaFilter(start=NOW.date() - timedelta(days=6), end=NOW.date())
    with sqlite_demo.engine.connect() as conn:
        venues = heatmap.venue_load(conn, f, day.replace(hour=20), CFG)
    assert len(alerts) == int((venues["level"] == "red").sum())


def test_a_full_map_stays_under_one_megabyte():
    """The most cells any map sends (map.max_cells), with long labels, and every
    street outline: the deck JSON is still under 1 MB."""
    n = CFG.map.max_cells
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "lat": 30.0 + rng.random(n) * 0.6,
            "lon": 119.8 + rng.random(n) * 0.8,
            "gx": rng.integers(10_000, 99_999, n),
            "gy": rng.integers(10_000, 99_999, n),
            "cases": rng.integers(1, 9_999, n),
            "open": rng.integers(0, 999, n),
            "street": ["某某某某街道办事处"] * n,
        }
    )
    rows = maps.cell_rows(CFG, frame, frame["cases"], 10, ["gx", "gy", "cases", "open", "street"])
    codes = {f["properties"]["code"] for f in maps.outlines(CFG, "streets")}
    base = maps.area_basemap(CFG, codes, {c: "某某某某街道" for c in codes})
    deck = maps.offline_deck(base.stack(maps.cell_layer(rows, "cells", 150)), base.view)
    assert maps.deck_bytes(deck) < 1_000_000, maps.deck_bytes(deck)
