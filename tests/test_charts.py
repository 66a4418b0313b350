"""Charts equal their tables (issue #20), on every page.

Each chart a page sends is read back from AppTest (the plotly figure's JSON
in ``proto.spec``, the deck's in ``proto.json``) and its plotted values
(x/y arrays of every trace, every layer's data) are compared with the frame
behind it: an independent pandas computation on the fixture's raw rows
(``tests/reference*.py``) where one exists, else the data_access function the
page calls. A chart that disagrees with its frame on a page this module does
not own is marked ``xfail(strict=True)`` with the reason.

Charts covered (page: chart -> frame):

- overview: street map (``streets`` polygons / ``street-points``) -> cases per street
- throughput: ``ranking``, ``trend``, ``ageing``, ``breakdown_category``,
  ``breakdown_source``, ``grid_ranking`` and the grid ``ageing`` of a drilled street
- warnings: street stacked bars, grid stacked bars (drill), colour trend
- weekly-review: cases per week, cases per category this/last week
- crowd-map: ``crowd-cells``, ``venues``
- incident-map: ``incident-cells``
- command-screen: the crowd-map and incident-map views' cells
- data-quality: no chart (asserted, so a new one needs a test here)
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from data_access.config import load_site_config
from data_access.filters import AreaFilter
from metrics import heatmap, throughput_backlog, warnings, weekly_model, weekly_summary
from metrics.warning_rules import load_warning_rules
from tests import reference
from tests import reference_throughput as ref
from tests.conftest import FIXTURE_END
from ui.i18n import translate

NOW = FIXTURE_END
CFG = load_site_config()
RULES = load_warning_rules()
END = NOW.date()
#: The pages' default area: the site's default district, its default window ending today.
PAGE_AREA = AreaFilter(
    start=END - timedelta(days=CFG.default_window_days - 1),
    end=END,
    district=CFG.default_district or None,
)
#: SQLite always; PostgreSQL too for the pages whose frames are cheap to compare.
SQLITE_AND_PG = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.backend),
]


# ---------------------------------------------------------------------------
# Reading charts back


def plotted(value: Any) -> list[Any]:
    """A plotly array as a list: plain JSON lists as they are, numpy arrays
    (sent as ``{"dtype", "bdata"[, "shape"]}``) decoded."""
    if isinstance(value, dict) and "bdata" in value:
        arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        if "shape" in value:
            arr = arr.reshape([int(s) for s in str(value["shape"]).split(",")])
        return list(arr.tolist())
    return list(value)


def figures(at: Any) -> list[dict[str, Any]]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def figure(at: Any, meta: str) -> dict[str, Any]:
    hits = [f for f in figures(at) if f["layout"].get("meta") == meta]
    assert len(hits) == 1, (meta, [f["layout"].get("meta") for f in figures(at)])
    return hits[0]


def decks(at: Any) -> list[dict[str, Any]]:
    return [json.loads(d.proto.json) for d in at.get("deck_gl_json_chart")]


def layer(deck: dict[str, Any], layer_id: str) -> list[dict[str, Any]]:
    hits = [x for x in deck["layers"] if x["id"] == layer_id]
    assert len(hits) == 1, (layer_id, [x["id"] for x in deck["layers"]])
    return list(hits[0]["data"])


def same(got: list[Any], want: list[Any]) -> None:
    """Equal numbers (NaN/None as missing on both sides)."""
    a = np.array([np.nan if v is None else v for v in got], dtype=float)
    b = np.array([np.nan if v is None else v for v in want], dtype=float)
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9, equal_nan=True)


def no_problems(at: Any) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.fixture
def pinned(monkeypatch):
    monkeypatch.setenv("OPS_NOW", NOW.isoformat())


_RAW: dict[str, dict[str, pd.DataFrame]] = {}


def raw_tables(db: Any) -> dict[str, pd.DataFrame]:
    """The fixture's raw rows (read once per backend)."""
    if db.name not in _RAW:
        _RAW[db.name] = {
            t: reference.read(db.raw_engine, t)
            for t in ("street", "grid", "incident", "petition", "housing_record", "warning")
        }
    return _RAW[db.name]


@pytest.fixture
def raw(sqlite_demo):
    return raw_tables(sqlite_demo)


# ---------------------------------------------------------------------------
# Overview (Home.py's default page)


@pytest.mark.parametrize("backend", SQLITE_AND_PG, indirect=True)
def test_overview_street_map_is_cases_per_street(app_test, backend, pinned):
    at = app_test("Home.py", backend.url)
    no_problems(at)
    data = raw_tables(backend)
    cases = reference.clean_incidents(data["incident"], data["street"], PAGE_AREA, NOW)
    want = cases.groupby("street_code").size()
    (deck,) = decks(at)
    drawn: dict[str, int] = {}
    for layer_id in ("streets", "street-points"):
        if any(x["id"] == layer_id for x in deck["layers"]):
            for row in layer(deck, layer_id):
                drawn[row["code"]] = row["cases"]
    area = reference.area_codes(data["street"], PAGE_AREA)
    assert set(drawn) <= area and drawn
    for code, n in drawn.items():
        assert n == int(want.get(code, 0)), code
    assert sum(drawn.values()) == int(want[want.index.isin(list(drawn))].sum())
    # And the table beside it.
    names = data["street"].set_index("code")["name_zh"]
    table = at.dataframe[0].value.set_index("name")["cases"]
    for code, n in drawn.items():
        assert table[names[code]] == n, code


# ---------------------------------------------------------------------------
# Throughput


def _ranked_shares(table: pd.DataFrame, key: str, m: str = "arrived") -> pd.DataFrame:
    judged = table[table[f"{m}_judged"] > 0]
    return judged.sort_values(
        [f"{m}_on_time_share", f"{m}_judged", key], ascending=[False, False, True]
    )


@pytest.mark.parametrize("backend", SQLITE_AND_PG, indirect=True)
def test_throughput_ranking_is_each_streets_ontime_share(app_test, backend, pinned):
    at = app_test("pages/throughput.py", backend.url)
    no_problems(at)
    data = raw_tables(backend)
    want = ref.case_throughput(data["incident"], data["street"], PAGE_AREA, NOW, CFG)
    want = want[want["arrived_judged"] > 0].set_index("street_code")
    bar = figure(at, "ranking")["data"][0]
    codes = [c[0] for c in bar["customdata"]]
    assert sorted(codes) == sorted(want.index)
    same(plotted(bar["x"]), list(want.loc[codes, "arrived_on_time_share"]))
    assert [c[2] for c in bar["customdata"]] == list(want.loc[codes, "arrived_judged"])
    # Best at the top: plotly draws the first row at the bottom.
    assert plotted(bar["x"]) == sorted(plotted(bar["x"]))


def _open_tab(at: Any, key: str) -> None:
    at.session_state["tp_tab"] = translate(f"throughput.tab_{key}", "zh")
    at.run()
    no_problems(at)


def test_throughput_trend_lines_are_the_chosen_streets_shares(app_test, sqlite_demo, raw, pinned):
    at = app_test("pages/throughput.py", sqlite_demo.url)
    _open_tab(at, "trend")
    want = ref.ontime_trend(raw["incident"], raw["street"], PAGE_AREA, NOW, CFG, "arrived", "day")
    fig = figure(at, "trend")
    assert fig["data"], "no street chosen"
    names = {translate("throughput.drill_none", "zh")}
    for trace in fig["data"]:
        assert trace["name"] not in names
        names.add(trace["name"])
        code = raw["street"].set_index("name_zh").loc[trace["name"], "code"]
        part = want[want["street_code"] == code].set_index("period")
        x = plotted(trace["x"])
        assert x == sorted(part.index), trace["name"]
        same(plotted(trace["y"]), list(part.loc[x, "on_time_share"]))
        assert plotted(trace["customdata"]) == list(part.loc[x, "judged"])


def _ageing_bars(fig: dict[str, Any]) -> dict[tuple[str, str], float]:
    """(bar label, bucket label) -> cases, from the ageing chart's traces."""
    out = {}
    for trace in fig["data"]:
        for x, y in zip(plotted(trace["x"]), plotted(trace["y"]), strict=True):
            out[(y, trace["name"])] = x
    return out


def test_throughput_ageing_is_the_open_cases_by_age(app_test, sqlite_demo, raw, pinned):
    at = app_test("pages/throughput.py", sqlite_demo.url)
    _open_tab(at, "ageing")
    want = ref.backlog_ageing(raw["incident"], raw["street"], PAGE_AREA, NOW)
    names = raw["street"].set_index("code")["name_zh"]
    expected = {
        (names[k], translate(f"throughput.age_{b}", "zh")): float(n)
        for k, b, n in zip(want["key"], want["age_bucket"], want["cases"], strict=True)
        if n
    }
    got = {k: v for k, v in _ageing_bars(figure(at, "ageing")).items() if v}
    assert got == expected and expected


@pytest.mark.parametrize("kind", ["category", "source"])
def test_throughput_breakdown_is_each_kinds_ontime_share(app_test, sqlite_demo, raw, pinned, kind):
    at = app_test("pages/throughput.py", sqlite_demo.url)
    _open_tab(at, kind)
    want = ref.case_throughput(raw["incident"], raw["street"], PAGE_AREA, NOW, CFG, by=kind)
    want = want[want["arrived_judged"] > 0]
    labels = {c: CFG.display_name(kind, c, "zh") for c in want[kind]}
    want = want.assign(label=want[kind].map(labels)).set_index("label")
    bar = figure(at, f"breakdown_{kind}")["data"][0]
    y = plotted(bar["y"])
    assert sorted(y) == sorted(want.index)
    same(plotted(bar["x"]), list(want.loc[y, "arrived_on_time_share"]))


def test_throughput_drill_down_charts_are_the_streets_grids(app_test, sqlite_demo, raw, pinned):
    at = app_test("pages/throughput.py", sqlite_demo.url)
    no_problems(at)
    data = ref.case_throughput(raw["incident"], raw["street"], PAGE_AREA, NOW, CFG)
    worst = _ranked_shares(data, "street_code")["street_code"].iloc[-1]
    at.selectbox(key="tp_drill").set_value(worst).run()
    no_problems(at)
    district = raw["street"].set_index("code").loc[worst, "district_code"]
    sub = AreaFilter(start=PAGE_AREA.start, end=PAGE_AREA.end, district=district, streets=(worst,))
    grids = ref.case_throughput(raw["incident"], raw["street"], sub, NOW, CFG, by="grid")
    grids = grids[grids["arrived_judged"] > 0].set_index("grid_code")
    bar = figure(at, "grid_ranking")["data"][0]
    codes = [c[0] for c in bar["customdata"]]
    assert sorted(codes) == sorted(grids.index)
    same(plotted(bar["x"]), list(grids.loc[codes, "arrived_on_time_share"]))

    # The grid ageing: open cases of the street by grid and age (pandas).
    cases = reference.clean_incidents(raw["incident"], raw["street"], sub, NOW, window=False)
    cases = cases[cases["status"].isin(ref.OPEN)]
    hours = (NOW - cases["reported_at"]).dt.total_seconds() / 3600.0
    bucket = pd.cut(
        hours,
        [-np.inf, 1, 24, 72, 168, np.inf],
        right=False,
        labels=[b for b, _ in throughput_backlog.AGE_BUCKETS],
    )
    grid_names = {
        str(c): str(n) if isinstance(n, str) and n else str(c)
        for c, n in zip(raw["grid"]["code"], raw["grid"]["name_zh"], strict=True)
    }
    unknown = translate("throughput.unknown_grid", "zh")
    expected: dict[tuple[str, str], float] = {}
    for grid, b in zip(cases["grid_code"], bucket.astype(str), strict=True):
        label = unknown if pd.isna(grid) else grid_names.get(str(grid), str(grid))
        key = (label, translate(f"throughput.age_{b}", "zh"))
        expected[key] = expected.get(key, 0.0) + 1.0
    ageing = [f for f in figures(at) if f["layout"].get("meta") == "ageing"]
    assert len(ageing) == 1
    got = {k: v for k, v in _ageing_bars(ageing[0]).items() if v}
    assert got == expected and expected


# ---------------------------------------------------------------------------
# Warnings


def _stacked(fig: dict[str, Any]) -> dict[str, dict[str, float]]:
    """bar name -> {level trace name -> value} of a stacked-bars chart."""
    out: dict[str, dict[str, float]] = {}
    for trace in fig["data"]:
        for x, y in zip(plotted(trace["x"]), plotted(trace["y"]), strict=True):
            out.setdefault(y.rsplit(" · ", 1)[0], {})[trace["name"]] = x
    return out


LEVEL_NAMES = {"red": "▲ 红", "yellow": "◆ 黄", "green": "● 绿"}


def test_warnings_street_bars_are_the_distribution(app_test, sqlite_demo, pinned):
    at = app_test("pages/warnings.py", sqlite_demo.url)
    no_problems(at)
    with sqlite_demo.engine.connect() as conn:
        dist = warnings.distribution(conn, PAGE_AREA, NOW, RULES, RULES.domains[0])
    streets = reference.read(sqlite_demo.raw_engine, "street")
    names = dict(zip(streets["code"], streets["name_zh"], strict=True))
    shown = dist[dist["total"] > 0]
    want = {
        names[r.street_code]: {LEVEL_NAMES[c]: float(getattr(r, c)) for c in LEVEL_NAMES}
        for r in shown.itertuples()
    }
    assert _stacked(figures(at)[0]) == want and want


def test_warnings_grid_bars_are_the_streets_distribution(app_test, sqlite_demo, pinned):
    at = app_test("pages/warnings.py", sqlite_demo.url)
    no_problems(at)
    domain = RULES.domains[0]
    with sqlite_demo.engine.connect() as conn:
        dist = warnings.distribution(conn, PAGE_AREA, NOW, RULES, domain)
        street = dist.sort_values("red", ascending=False)["street_code"].iloc[0]
        grids = warnings.distribution(conn, PAGE_AREA, NOW, RULES, domain, street)
    at.selectbox(key="w_street").set_value(street).run()
    no_problems(at)
    want = {
        (r.grid_name if isinstance(r.grid_name, str) else r.grid_code): {
            LEVEL_NAMES[c]: float(getattr(r, c)) for c in LEVEL_NAMES
        }
        for r in grids.itertuples()
    }
    assert _stacked(figures(at)[1]) == want and want


def test_warnings_trend_is_the_colours_per_day(app_test, sqlite_demo, pinned):
    at = app_test("pages/warnings.py", sqlite_demo.url)
    no_problems(at)
    with sqlite_demo.engine.connect() as conn:
        history = warnings.trend(conn, PAGE_AREA, NOW, RULES, RULES.domains[0], "day")
    fig = figures(at)[-1]
    assert [t["name"] for t in fig["data"]] == list(LEVEL_NAMES.values())
    for trace, colour in zip(fig["data"], LEVEL_NAMES, strict=True):
        assert plotted(trace["x"]) == list(history["bucket"])
        same(plotted(trace["y"]), list(history[colour]))


# ---------------------------------------------------------------------------
# Weekly review

WEEK = weekly_model.last_complete_week(NOW)


def _weekly_cases(raw: dict[str, pd.DataFrame], w: weekly_model.IsoWeek) -> pd.DataFrame:
    """Cases of the page's area reported in week ``w`` (pandas)."""
    f = w.area(PAGE_AREA)
    cases = reference.clean_incidents(raw["incident"], raw["street"], f, NOW, window=False)
    return cases[(cases["reported_at"] >= w.start_ts) & (cases["reported_at"] < w.as_of(NOW))]


@pytest.mark.parametrize("backend", SQLITE_AND_PG, indirect=True)
def test_weekly_trend_is_each_weeks_cases_once(app_test, backend, pinned):
    """Five bars, one per week, each the week's cases (last week's was
    drawn twice, stacked to twice its height)."""
    at = app_test("weekly-review", backend.url)
    no_problems(at)
    data = raw_tables(backend)
    first = reference.clean_incidents(data["incident"], data["street"], PAGE_AREA, NOW, False)[
        "reported_at"
    ].min()
    bar = figures(at)[0]["data"]
    assert len(bar) == 1
    weeks = [WEEK.shift(k) for k in (-4, -3, -2, -1, 0)]
    assert plotted(bar[0]["x"]) == [w.label for w in weeks]
    want = [len(_weekly_cases(data, w)) if w.as_of(NOW) > first else None for w in weeks]
    same(plotted(bar[0]["y"]), want)
    assert bar[0]["text"] == [weekly_summary.format_figure(v, "int") for v in want]


def test_weekly_category_bars_are_this_and_last_weeks_cases(app_test, sqlite_demo, raw, pinned):
    at = app_test("weekly-review", sqlite_demo.url)
    no_problems(at)
    fig = figures(at)[1]
    last, this = fig["data"]
    assert plotted(last["y"]) == plotted(this["y"])
    labels = {CFG.display_name("category", c, "zh"): c for c, _, _ in CFG.categories}
    for trace, w in ((this, WEEK), (last, WEEK.shift(-1))):
        per = _weekly_cases(raw, w).groupby("category").size()
        got = dict(zip(plotted(trace["y"]), plotted(trace["x"]), strict=True))
        for label, n in got.items():
            assert n == int(per.get(labels.get(label, label), 0)), (w.label, label)
        assert sum(got.values()) == per.sum(), w.label


# ---------------------------------------------------------------------------
# Maps


@pytest.mark.parametrize("district", [PAGE_AREA.district, ""], ids=["district", "city"])
def test_crowd_map_cells_and_venues_are_the_reading(app_test, sqlite_demo, pinned, district):
    """The district's cells at the source size, the city's aggregated."""
    at = app_test("pages/crowd-map.py", sqlite_demo.url, query_params={"district": district})
    no_problems(at)
    ts = at.session_state["crowd_ts"]
    area = AreaFilter(start=PAGE_AREA.start, end=PAGE_AREA.end, district=district or None)
    with sqlite_demo.engine.connect() as conn:
        cells = heatmap.crowd_cells(conn, area, ts, CFG)
        venues = heatmap.venue_load(conn, area, ts, CFG)
    # Independent: the reading's people of the area (known street, in bounds).
    crowd = reference.read(sqlite_demo.raw_engine, "crowd_reading")
    streets = reference.read(sqlite_demo.raw_engine, "street")
    b = CFG.bounds
    mine = crowd[
        (crowd["ts"] == pd.Timestamp(ts))
        & crowd["street_code"].isin(reference.area_codes(streets, area))
        & crowd["lat"].between(b.min_lat, b.max_lat)
        & crowd["lon"].between(b.min_lon, b.max_lon)
    ]
    assert int(cells["people"].sum()) == int(mine["people"].sum())
    (deck,) = decks(at)
    drawn = layer(deck, "crowd-cells")
    assert len(drawn) == len(cells) > 0
    top = CFG.map.crowd_max_people_per_cell
    from ui import maps

    assert [c["fill"] for c in drawn] == [
        maps.heat_fill(v, top) for v in cells["people"] / cells["cells"]
    ]
    total = sum(int(c["tip"].split(" ", 1)[1].split(" ")[0].replace(",", "")) for c in drawn)
    assert total == int(cells["people"].sum())
    rings = layer(deck, "venues")
    assert [r["radius"] for r in rings] == list(venues["radius_m"].astype(float))
    assert [r["tip"].split(": ")[1].split(" ")[0] for r in rings] == [
        f"{int(p):,}" for p in venues["people"]
    ]


@pytest.mark.parametrize("backend", SQLITE_AND_PG, indirect=True)
@pytest.mark.parametrize("district", [PAGE_AREA.district, ""], ids=["district", "city"])
def test_incident_map_cells_are_the_windows_cases(app_test, backend, pinned, district):
    at = app_test("pages/incident-map.py", backend.url, query_params={"district": district})
    no_problems(at)
    area = AreaFilter(start=PAGE_AREA.start, end=PAGE_AREA.end, district=district or None)
    with backend.engine.connect() as conn:
        cells = heatmap.incident_cells(conn, area, NOW, CFG)
        unmapped = int(heatmap.incident_unmapped(conn, area, NOW, CFG)["rows"].iloc[0])
    data = raw_tables(backend)
    cases = reference.clean_incidents(data["incident"], data["street"], area, NOW)
    drawn = layer(decks(at)[0], "incident-cells")
    assert sum(c["cases"] for c in drawn) + unmapped == len(cases)
    key = ["gx", "gy"]
    got = pd.DataFrame(drawn)[[*key, "cases", "open"]].sort_values(key).reset_index(drop=True)
    want = cells[[*key, "cases", "open"]].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert sum(c["open"] for c in drawn) == int(
        cases["status"].isin(ref.OPEN).sum() - _unmapped_open(cases)
    )


def _unmapped_open(cases: pd.DataFrame) -> int:
    """Open cases the map cannot place (no coordinates or outside the site's box)."""
    b = CFG.bounds
    placed = cases["lat"].between(b.min_lat, b.max_lat) & cases["lon"].between(b.min_lon, b.max_lon)
    return int((cases["status"].isin(ref.OPEN) & ~placed).sum())


# ---------------------------------------------------------------------------
# Command screen


def test_command_screen_map_views_are_their_frames(app_test, sqlite_demo, pinned):
    from ui.screen import loading as ui_loading

    today = AreaFilter(start=END, end=END, district=CFG.default_district or None)
    ui_loading.clear_cache()
    try:
        at = app_test(
            "pages/command-screen.py", sqlite_demo.url, query_params={"view": "crowd-map"}
        )
        no_problems(at)
        with sqlite_demo.engine.connect() as conn:
            latest = heatmap.crowd_span(conn, today, NOW)["latest"].iloc[0]
            cells = heatmap.crowd_cells(conn, today, latest.to_pydatetime(), CFG)
            incidents = heatmap.incident_cells(conn, today, NOW, CFG)
        drawn = layer(decks(at)[0], "crowd-cells")
        assert len(drawn) == len(cells) > 0
        from ui import maps

        top = CFG.map.crowd_max_people_per_cell
        assert [c["fill"] for c in drawn] == [
            maps.heat_fill(v, top) for v in cells["people"] / cells["cells"]
        ]

        at.query_params["view"] = "incident-map"
        ui_loading.clear_cache()
        at.run()
        no_problems(at)
        drawn = layer(decks(at)[0], "incident-cells")
        assert len(drawn) == len(incidents) > 0
        top = CFG.map.incident_max_cases_per_cell
        scale = (CFG.map.incident_cell_m / float(incidents["cell_m"].iloc[0])) ** 2
        assert sorted(c["fill"] for c in drawn) == sorted(
            maps.heat_fill(v, top) for v in incidents["cases"] * scale
        )
    finally:
        ui_loading.clear_cache()


# ---------------------------------------------------------------------------
# Data quality


def test_data_quality_page_has_no_chart(app_test, sqlite_demo, pinned):
    """The page is tables only; a chart added there needs its test above."""
    at = app_test("pages/data-quality.py", sqlite_demo.url)
    no_problems(at)
    assert not at.get("plotly_chart") and not at.get("deck_gl_json_chart")


def test_command_screen_stages_are_the_streets_shares(app_test, sqlite_demo, raw, pinned):
    """The throughput view (HTML, not a chart library): for every street
    of the area and the total, each judged stage's on-time share over the
    site's default window as pandas has it (no judged case: said so), a
    ▲/▼ exactly where the share moved beyond chance since the window
    before (two-proportion z, |z| > 2), and no stage without a target."""
    import re

    from metrics.weekly_compare import proportion_z, significant
    from ui.screen import loading as ui_loading

    ui_loading.clear_cache()
    try:
        at = app_test(
            "pages/command-screen.py", sqlite_demo.url, query_params={"view": "throughput"}
        )
        no_problems(at)
        (panel,) = [h.proto.body for h in at.get("html") if 'data-key="throughput"' in h.proto.body]
    finally:
        ui_loading.clear_cache()
    days = CFG.default_window_days
    before = AreaFilter(
        start=PAGE_AREA.start - timedelta(days=days),
        end=PAGE_AREA.start - timedelta(days=1),
        district=PAGE_AREA.district,
    )
    now = ref.case_throughput(raw["incident"], raw["street"], PAGE_AREA, NOW, CFG)
    prev = ref.case_throughput(raw["incident"], raw["street"], before, NOW, CFG)
    now, prev = now.set_index("street_code"), prev.set_index("street_code")
    rows = re.findall(r'data-row="([^"]*)"[^>]*>[^<]*</div>((?:<div class="scr-num[^"]*" '
                      r'data-m="[a-z]+">.*?</div>)+)', panel)  # fmt: skip
    assert [r[0] for r in rows] == [*sorted(now.index[now["cases"] > 0]), ""]
    judged_ms = [m for m in ("accepted", "dispatched", "arrived", "closed") if CFG.judges(m)]
    area = raw["street"].set_index("code")
    shown_ms = [m for m in judged_ms if any(
        CFG.targets_for(c, area.at[c, "district_code"]).get(m) is not None for c in now.index
    )]  # fmt: skip
    for code, cells in rows:
        got = dict(re.findall(r'data-m="([a-z]+)">(.*?)</div>', cells))
        assert list(got) == shown_ms, (code, list(got))
        for m, text in got.items():
            pick = now if code else now.sum(numeric_only=True).to_frame("").T
            back = prev if code else prev.sum(numeric_only=True).to_frame("").T
            on, n = int(pick.at[code, f"{m}_on_time"]), int(pick.at[code, f"{m}_judged"])
            shown = re.sub(r"<[^>]+>", "", text)
            if not n:
                assert shown == translate("screen.none_judged", "zh"), (code, m, text)
                continue
            assert shown.startswith(f"{on / n:.0%}"), (code, m, text, on, n)
            b_on = int(back.at[code, f"{m}_on_time"]) if code in back.index else 0
            b_n = int(back.at[code, f"{m}_judged"]) if code in back.index else 0
            moved = bool(b_n) and significant(proportion_z(on, n, b_on, b_n))
            assert ("▲" in text or "▼" in text) == moved, (code, m, text, on, n, b_on, b_n)


# ---------------------------------------------------------------------------
# Charts that do not mislead (issue #24): every bar from 0, titled axes,
# whole-number count ticks, bars coloured against their own goal with their
# n, the minimum sample, and a selection that leaves the other bars readable.


def _bar_axes(fig: dict[str, Any]) -> list[tuple[str, dict[str, Any], float]]:
    """(axis name, axis, largest stacked value) of every bar trace's numeric axis."""
    out = []
    layout = fig["layout"]
    for trace in fig["data"]:
        if trace.get("type") != "bar":
            continue
        axis = "xaxis" if trace.get("orientation") == "h" else "yaxis"
        values = [v for v in plotted(trace["x" if axis == "xaxis" else "y"]) if v is not None]
        if not values:  # a legend entry
            continue
        top = max(values)
        if layout.get("barmode") == "stack":
            other = "y" if axis == "xaxis" else "x"
            totals: dict[Any, float] = {}
            for tr in fig["data"]:
                for v, k in zip(plotted(tr[axis[0]]), plotted(tr[other]), strict=True):
                    totals[k] = totals.get(k, 0.0) + (v or 0.0)
            top = max(totals.values())
        out.append((axis, layout.get(axis, {}), top))
    return out


def _axis_problems(fig: dict[str, Any]) -> list[str]:
    name = fig["layout"].get("meta") or (fig["layout"].get("title") or {}).get("text", "?")
    problems = []
    for axis in ("xaxis", "yaxis"):
        title = (fig["layout"].get(axis) or {}).get("title") or {}
        if not str(title.get("text") or "").strip():
            problems.append(f"{name}: {axis} has no title")
    for axis, spec, top in _bar_axes(fig):
        starts = (spec.get("range") or [None])[0] == 0 or spec.get("rangemode") == "tozero"
        if not starts:
            problems.append(f"{name}: {axis} of a bar chart does not start at 0: {spec}")
        fmt = spec.get("tickformat")
        if fmt not in (",d", ".0%"):
            problems.append(f"{name}: {axis} ticks neither whole counts nor per cent: {fmt}")
        if fmt == ",d" and top <= 10 and spec.get("dtick") != 1:
            problems.append(f"{name}: {axis} counts up to {top} without whole-number ticks")
    return problems


def test_every_bar_chart_starts_at_zero_with_titled_axes(app_test, sqlite_demo, raw, pinned):
    """Throughput (ranking, each tab, a drilled street's grids), warnings
    (counts, shares, a street's grids, trend) and the weekly review: every
    bar's numeric axis from 0, every axis titled, counts in whole numbers
    (the backlog ageing had ticks at 0.5 cases)."""
    seen: dict[str, list[str]] = {}

    def collect(at: Any, where: str) -> None:
        no_problems(at)
        for fig in figures(at):
            seen.setdefault(f"{where}:{fig['layout'].get('meta')}", _axis_problems(fig))

    at = app_test("pages/throughput.py", sqlite_demo.url)
    collect(at, "throughput")
    for key in ("trend", "ageing", "category", "source"):
        _open_tab(at, key)
        collect(at, f"throughput/{key}")
    data = ref.case_throughput(raw["incident"], raw["street"], PAGE_AREA, NOW, CFG)
    worst = _ranked_shares(data, "street_code")["street_code"].iloc[-1]
    _open_tab(at, "table")
    at.selectbox(key="tp_drill").set_value(worst).run()
    collect(at, "throughput/drill")
    grid_ageing = [f for f in figures(at) if f["layout"].get("meta") == "ageing"]
    assert grid_ageing and grid_ageing[0]["layout"]["xaxis"]["tickformat"] == ",d"

    at = app_test("pages/warnings.py", sqlite_demo.url)
    collect(at, "warnings")
    at.segmented_control(key="w_mode").set_value("share").run()
    collect(at, "warnings/share")
    at.selectbox(key="w_street").select_index(1).run()
    collect(at, "warnings/grids")
    collect(app_test("weekly-review", sqlite_demo.url), "weekly")

    assert len(seen) >= 10, sorted(seen)
    problems = [p for ps in seen.values() for p in ps]
    assert not problems, "\n".join(problems)


def _ranking_parts(fig: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The ranking's bars, goal ticks and label column."""
    bars = fig["data"][0]
    goal = next(t for t in fig["data"] if t.get("mode") == "markers" and t.get("x") != [None])
    labels = next(t for t in fig["data"] if t.get("mode") == "text")
    return bars, goal, labels


def test_throughput_ranking_is_coloured_against_each_streets_goal_with_n(
    app_test, sqlite_demo, raw, pinned
):
    """0-100 %, green where a street meets its own on-time goal and red where
    it is below (the goal drawn on each bar), every bar labelled with its n;
    a street with fewer judged cases than ``ranking.min_judged`` is hatched,
    not placed and not named in the top or bottom three; ties say so."""
    from metrics import throughput as tp
    from ui.palette import LEVELS

    at = app_test("pages/throughput.py", sqlite_demo.url)
    no_problems(at)
    fig = figure(at, "ranking")
    bars, goal, labels = _ranking_parts(fig)
    xaxis = fig["layout"]["xaxis"]
    assert xaxis["range"][0] == 0 and xaxis["range"][1] > 1.0
    assert max(xaxis["tickvals"]) == 1.0  # no tick beyond 100 %

    want = ref.case_throughput(raw["incident"], raw["street"], PAGE_AREA, NOW, CFG)
    want = want.set_index("street_code")
    district = raw["street"].set_index("code")["district_code"]
    codes = [c[0] for c in bars["customdata"]]
    shares = plotted(bars["x"])
    goals = [CFG.targets_for(c, district[c]).on_time_goal for c in codes]
    assert plotted(goal["x"]) == goals and plotted(goal["y"]) == plotted(bars["y"])
    colours = bars["marker"]["color"]
    for code, share, g, colour in zip(codes, shares, goals, colours, strict=True):
        assert colour == (LEVELS["green"].hex if share >= g else LEVELS["red"].hex), code
    assert {LEVELS["green"].hex, LEVELS["red"].hex} <= set(colours)  # the fixture has both

    n = CFG.ranking_min_judged
    small = [int(want.loc[c, "arrived_judged"]) < n for c in codes]
    assert any(small) and not all(small)  # the fixture's week has both
    assert bars["marker"]["pattern"]["shape"] == ["/" if s else "" for s in small]
    callout = {
        translate("throughput.callout_top", "zh"),
        translate("throughput.callout_bottom", "zh"),
    }
    for code, text, is_small in zip(codes, labels["text"], small, strict=True):
        judged = int(want.loc[code, "arrived_judged"])
        assert translate("throughput.bar_n", "zh", n=f"{judged:,}") in text, text
        if is_small:
            assert translate("throughput.small_sample", "zh", n=n) in text, text
            assert not any(c in text for c in callout), text
    # The caption names exactly the called-out streets, ties marked.
    ranked = tp.rank_by_ontime(want.reset_index(), "arrived", min_judged=n)
    names = raw["street"].set_index("code")["name_zh"]
    head = translate("throughput.callouts", "zh", top="", bottom="").split("：")[0]
    (caption,) = [c.value for c in at.caption if c.value.startswith(head)]
    for code, kind, tied in zip(
        ranked["street_code"], ranked["callout"], ranked["tied"], strict=True
    ):
        mark = names[code] + (translate("throughput.tied_mark", "zh") if tied else "")
        assert (mark in caption) == bool(kind), (code, kind)
    # Selecting a bar leaves the others readable.
    assert bars["unselected"]["marker"]["opacity"] >= 0.5
    assert labels["unselected"]["textfont"]["color"] != "rgba(0,0,0,0)"


def test_throughput_drill_highlights_one_bar_and_undoing_it_restores_all(
    app_test, sqlite_demo, pinned
):
    """The street drilled into is the one selected bar (the others at 55 %);
    choosing no drill-down draws every bar full again, on a fresh chart (a
    new key, so no stale selection from a click stays)."""
    at = app_test("pages/throughput.py", sqlite_demo.url)
    no_problems(at)
    bars = figure(at, "ranking")["data"][0]
    assert bars.get("selectedpoints") is None
    codes = [c[0] for c in bars["customdata"]]
    gen = at.session_state["tp_rank_gen"]
    at.selectbox(key="tp_drill").set_value(codes[0]).run()
    no_problems(at)
    bars = figure(at, "ranking")["data"][0]
    assert plotted(bars["selectedpoints"]) == [0]
    assert at.session_state["tp_rank_gen"] == gen + 1
    at.selectbox(key="tp_drill").set_value("").run()
    no_problems(at)
    bars = figure(at, "ranking")["data"][0]
    assert bars.get("selectedpoints") is None
    assert at.session_state["tp_rank_gen"] == gen + 2
