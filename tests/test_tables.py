"""Tables people read (issue #24): on every page with a table, each shown
column has a header in the page's language and numbers in one of the
shared formats (ui/tables.py: thousands separators, one percentage format,
right-aligned), warning colours filled in, grid names instead of codes, the
overview's streets linking on to the street, a milestone without a target
saying so, and no source-file path in any string of the UI.

Tables are read back from AppTest: ``proto.columns`` (the column settings
as JSON), ``proto.column_order`` and ``value`` (the frame)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from tests import reference
from tests.test_alerts_page import stored_alerts  # noqa: F401  (fixture)
from tests.test_charts import CFG, NOW, PAGE_AREA, decks, layer
from tests.test_import_page import GBK, stores  # noqa: F401  (fixture)
from tests.test_wording import _audit_rows
from ui import tables
from ui import throughput_tables as ui_throughput_tables
from ui.i18n import catalogue, translate

CJK = re.compile(r"[\u3400-\u9fff]")
#: A column id left as a header (``on_time_share``, ``grid_code``).
IDENTIFIER = re.compile(r"^[a-z]+(_[a-z0-9]+)+$")


@pytest.fixture
def pinned(monkeypatch):
    monkeypatch.setenv("OPS_NOW", NOW.isoformat())


def no_problems(at: Any) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def shown_columns(df: Any) -> dict[str, dict[str, Any]]:
    """Column -> its settings, for the columns a table shows."""
    config = json.loads(df.proto.columns or "{}")
    frame = df.value
    order = list(df.proto.column_order) or list(frame.columns)
    return {
        str(c): config.get(str(c), {})
        for c in order
        if not config.get(str(c), {}).get("hidden") and str(c) != "_index"
    }


def table_problems(df: Any, lang: str) -> list[str]:
    """Why a table is not as the house wants it (empty when it is)."""
    frame = df.value
    problems = []
    for col, spec in shown_columns(df).items():
        label = str(spec.get("label") or "")
        where = f"{col!r}"
        if not label.strip():
            problems.append(f"{where}: no header")
            continue
        if IDENTIFIER.match(label) or label == col and IDENTIFIER.match(col):
            problems.append(f"{where}: header is the column id {label!r}")
        if lang == "zh" and not CJK.search(label):
            problems.append(f"{where}: header {label!r} is not Chinese")
        if lang == "en" and CJK.search(label):
            problems.append(f"{where}: header {label!r} is not English")
        kind = (spec.get("type_config") or {}).get("type")
        fmt = (spec.get("type_config") or {}).get("format")
        numeric = col in frame.columns and pd.api.types.is_numeric_dtype(frame[col])
        if numeric and not pd.api.types.is_bool_dtype(frame[col]):
            if kind not in ("number", "progress") or fmt not in tables.FORMATS:
                problems.append(f"{where}: a number column shown as {kind} {fmt!r}")
            if kind == "progress" and (spec["type_config"].get("max_value") != 100.0):
                problems.append(f"{where}: a per-cent bar not from 0 to 100")
        if kind == "text" and col in frame.columns and frame[col].dtype == object:
            cells = frame[col].dropna().astype(str)
            figures = cells.str.fullmatch(r"[+-]?[\d,]+(\.\d+)?%?")
            if len(cells) and figures.mean() > 0.5 and spec.get("alignment") != "right":
                problems.append(f"{where}: figures as text, not right-aligned")
    return problems


def check_tables(at: Any, lang: str = "zh", at_least: int = 1) -> list[Any]:
    no_problems(at)
    assert len(at.dataframe) >= at_least, len(at.dataframe)
    problems = {i: table_problems(df, lang) for i, df in enumerate(at.dataframe)}
    bad = {i: p for i, p in problems.items() if p}
    assert not bad, bad
    return list(at.dataframe)


def test_every_table_in_chinese_has_headers_formats_colours_names_and_links(
    app_test, sqlite_demo, pinned
):
    """One run per page: the overview, throughput, warnings, weekly review
    and data quality. Besides the headers and formats of every table: the
    default street table fits (at most 10 columns: it was 22, the last cut
    off at 1920 px) with shares in per cent; 拱墅 has no 流转 target, so its
    KPI says 无考核目标 and names the standards that have one, and the table
    has no 流转 column but a footnote why; the red list's colour cells are
    filled; grids are named, never a code; the overview's streets link on."""
    grids = reference.read(sqlite_demo.raw_engine, "grid")
    grid_names = set(grids["name_zh"].dropna())
    assert grids["name_zh"].notna().all()  # the fixture names every grid

    home = app_test("Home.py", sqlite_demo.url)
    (overview,) = check_tables(home)
    link_street = overview_links(overview)

    at = app_test("pages/throughput.py", sqlite_demo.url)
    (table,) = check_tables(at)
    shown = shown_columns(table)
    assert len(shown) <= 10, list(shown)
    for col, spec in shown.items():
        if spec["type_config"].get("format") == tables.PERCENT:
            values = table.value[col].dropna()
            assert values.between(0, 100).all() and values.max() > 1, col
    assert "dispatched_on_time_share" not in shown
    dispatched = translate("milestone.dispatched", "zh")
    note = translate("throughput.no_target_note", "zh", milestone=dispatched)
    assert note in " ".join(c.value for c in at.caption)
    label = translate("throughput.ontime_metric", "zh", milestone=dispatched)
    (metric,) = [m for m in at.metric if m.label == label]
    assert metric.value == translate("throughput.no_target_kpi", "zh")
    assert dict(CFG.target_overrides)["330102014"].label_zh in metric.help

    at = app_test("pages/warnings.py", sqlite_demo.url)
    red = check_tables(at)[0]
    assert "background-color: #C62828" in red.proto.arrow_data.styler.styles
    grid_col = translate("warnings.col.grid", "zh")
    assert len(red.value) and set(red.value[grid_col].dropna()) <= grid_names

    frames = [d.value for d in check_tables(app_test("weekly-review", sqlite_demo.url), at_least=3)]
    red_open = next(f for f in frames if translate("weekly.col.overdue_days", "zh") in f.columns)
    assert set(red_open[translate("weekly.col.grid", "zh")].dropna()) <= grid_names
    check_tables(app_test("pages/data-quality.py", sqlite_demo.url), at_least=2)

    # The busiest street's link opens that street alone, with its cases.
    name, params, cases = link_street
    street = app_test("pages/throughput.py", sqlite_demo.url, query_params=params)
    no_problems(street)
    (shown_street,) = street.dataframe
    assert list(shown_street.value["name"]) == [name]
    assert int(shown_street.value["cases"].iloc[0]) == cases


def overview_links(table: Any) -> tuple[str, dict[str, str], int]:
    """Check the overview's link column: each street's link is its throughput
    page for the same dates. Returns the busiest street's name, link
    parameters and cases."""
    spec = shown_columns(table)["link"]
    assert spec["type_config"]["type"] == "link"
    assert spec["type_config"]["display_text"] == translate("overview.open_throughput", "zh")
    frame = table.value
    assert len(frame) > 5
    for link in frame["link"]:
        url = urlsplit(link)
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        assert url.path == "throughput" and not url.netloc
        assert params["streets"].startswith(params["district"]) and len(params["streets"]) == 9
        assert (params["start"], params["end"]) == (
            PAGE_AREA.start.isoformat(),
            PAGE_AREA.end.isoformat(),
        )
    assert frame["link"].nunique() == len(frame)
    busiest = frame.sort_values("cases").iloc[-1]
    params = {k: v[0] for k, v in parse_qs(urlsplit(busiest["link"]).query).items()}
    return str(busiest["name"]), params, int(busiest["cases"])


def test_tables_in_english_have_english_headers(app_test, sqlite_demo, pinned):
    q = {"lang": "en"}
    check_tables(app_test("pages/throughput.py", sqlite_demo.url, query_params=q), "en")
    check_tables(app_test("weekly-review", sqlite_demo.url, query_params=q), "en", at_least=3)


def test_throughput_tables_in_every_view_keep_the_formats(app_test, sqlite_demo, pinned):
    """The category and source tabs, every column group switched on, and a
    drilled street's grid table and case list (grids named)."""
    at = app_test("pages/throughput.py", sqlite_demo.url)
    for key in ("category", "source"):
        at.session_state["tp_tab"] = translate(f"throughput.tab_{key}", "zh")
        at.run()
        check_tables(at)
    at.session_state["tp_tab"] = translate("throughput.tab_table", "zh")
    at.session_state["tp_cols"] = list(ui_throughput_tables.TABLE_GROUPS)
    at.run()
    (table,) = check_tables(at)
    assert len(shown_columns(table)) > 20
    streets = reference.read(sqlite_demo.raw_engine, "street")
    drill = sorted(reference.area_codes(streets, PAGE_AREA))[0]
    at.selectbox(key="tp_drill").set_value(drill).run()
    frames = [d.value for d in check_tables(at, at_least=3)]  # streets, grids, cases
    cases = next(f for f in frames if "late_milestones" in f.columns)
    grids = reference.read(sqlite_demo.raw_engine, "grid")
    known = set(grids["name_zh"]) | {translate("throughput.unknown_grid", "zh")}
    assert len(cases) and set(cases["grid_code"]) <= known


def test_a_street_with_a_dispatch_target_shows_its_share(app_test, sqlite_demo, pinned):
    """四季青 has a 流转 target (3 min): its KPI is a share and its column is there."""
    label = translate(
        "throughput.ontime_metric", "zh", milestone=translate("milestone.dispatched", "zh")
    )
    at = app_test(
        "pages/throughput.py",
        sqlite_demo.url,
        query_params={"district": "330102", "streets": "330102014"},
    )
    (table,) = check_tables(at)
    (metric,) = [m for m in at.metric if m.label == label]
    assert metric.value.endswith("%"), metric.value
    assert "dispatched_on_time_share" in shown_columns(table)


def test_no_source_file_path_in_any_ui_string():
    """ "见 metrics/throughput.py 的 throughput_columns" was on the throughput
    page: a user has no use for the code's file names."""
    path = re.compile(r"[\w/]+\.py\b")
    hits = {
        f"{key}.{lang}": text
        for key, entry in catalogue().items()
        for lang, text in entry.items()
        if path.search(str(text))
    }
    assert not hits, hits


def test_map_tables_keep_the_formats_with_names_and_colours(app_test, sqlite_demo, pinned):
    """The crowd map's venue and busiest-cell tables (the load in per cent,
    the level cell filled with its colour, streets named), the incident
    map's repeat hot spots and a picked cell's cases (streets named, never
    a code), in zh and the crowd map in en."""
    streets = reference.read(sqlite_demo.raw_engine, "street")
    names = set(streets["name_zh"])
    at = app_test("pages/crowd-map.py", sqlite_demo.url)
    venues, hot = check_tables(at, at_least=2)[:2]
    load = translate("crowd_map.col_load", "zh")
    assert shown_columns(venues)["load"]["label"] == load
    assert venues.value["load"].max() > 1  # in per cent, not a 0-1 share
    assert "background-color" in venues.proto.arrow_data.styler.styles
    assert len(hot.value) and set(hot.value["street"]) <= names
    check_tables(app_test("pages/crowd-map.py", sqlite_demo.url, query_params={"lang": "en"}), "en")

    at = app_test("pages/incident-map.py", sqlite_demo.url)
    no_problems(at)
    cells = layer(decks(at)[0], "incident-cells")
    top = max(cells, key=lambda c: c["cases"])
    at.session_state["im_cell"] = (int(top["gx"]), int(top["gy"]))
    at.run(timeout=60)
    frames = check_tables(at, at_least=1)
    cases = next(d.value for d in frames if "reported_at" in d.value.columns)
    assert len(cases) and set(cases["street_code"]) <= names


def test_alert_tables_keep_the_formats(app_test, sqlite_demo, stored_alerts):  # noqa: F811
    """The firing alerts and the rules' last evaluation (its outcome in
    words, not ``ok``)."""
    at = app_test("pages/alerts.py", sqlite_demo.url)
    frames = check_tables(at, at_least=2)
    rules = next(d.value for d in frames if "evaluated_at" in d.value.columns)
    assert not set(rules["outcome"]) & {"ok", "unknown", "disabled", "not_judged"}


def test_audit_table_keeps_the_formats(app_test, sqlite_demo, tmp_path, monkeypatch):
    state = tmp_path / "state.sqlite"
    monkeypatch.setenv("OPS_APPSTATE_PATH", str(state))
    _audit_rows(state)
    check_tables(app_test("pages/audit.py", sqlite_demo.url))


def test_import_tables_keep_the_formats(app_test, sqlite_demo, stores):  # noqa: F811
    """A check's bad-row report and the cases it would load (the contract's
    columns with headers, coordinates to 5 decimals), then a load's batch
    history (counts with separators)."""
    at = app_test("pages/import.py", sqlite_demo.url)
    at.selectbox(key="imp_mapping").set_value("hangzhou_12345").run()
    at.file_uploader[0].set_value((GBK.name, GBK.read_bytes(), "text/csv")).run()
    at.button[0].click().run()  # check
    frames = check_tables(at, at_least=2)
    preview = next(d for d in frames if "reported_at" in d.value.columns)
    assert shown_columns(preview)["lat"]["type_config"]["format"] == tables.COORDINATE
    at.button[1].click().run()  # load
    frames = check_tables(at, at_least=2)  # the bad-row report and the history
    history = next(d for d in frames if "rows_read" in d.value.columns)
    assert shown_columns(history)["rows_read"]["type_config"]["format"] == tables.COUNT
