"""Every page under AppTest: no exception, and the numbers match the SQL."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from data_access.filters import AreaFilter
from metrics import overview
from tests.conftest import FIXTURE_END
from ui.i18n import translate

ROOT = Path(__file__).resolve().parent.parent

#: Home plus every page file: a new page is tested without being listed here.
PAGES = ["Home.py", *sorted(f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py"))]
NOW = FIXTURE_END


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch):
    monkeypatch.setenv("OPS_NOW", NOW.isoformat())


def metric(at, key: str, lang: str = "zh") -> str:
    label = translate(key, lang)
    hits = [m for m in at.metric if m.label == label]
    assert hits, f"no metric {label!r} among {[m.label for m in at.metric]}"
    return hits[0].value


def no_errors(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_without_exception(app_test, sqlite_demo, page):
    at = app_test(page, sqlite_demo.url)
    no_errors(at)
    assert at.title, "page has no title"


def test_overview_numbers_match_sql(app_test, backend):
    """On every backend (on the servers the page names the area's streets as a
    literal list, see data_access.area.resolve_streets; the test's own SQL
    does not)."""
    at = app_test("Home.py", backend.url)
    no_errors(at)
    f = AreaFilter(start=NOW.date() - timedelta(days=6), end=NOW.date(), district="330105")
    with backend.engine.connect() as conn:
        counts = overview.case_counts(conn, f, NOW).iloc[0]
        per_street = overview.street_summary(conn, f, NOW)
    assert metric(at, "overview.today") == f"{counts['today']:,}"
    assert metric(at, "overview.this_week") == f"{counts['this_week']:,}"
    assert metric(at, "overview.backlog") == f"{counts['open_backlog']:,}"
    assert counts["today"] > 0
    # The map colours exactly the district's streets by their case counts.
    spec = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    polygons = next(layer for layer in spec["layers"] if layer["@@type"] == "PolygonLayer")
    by_code = {row["code"]: row["cases"] for row in polygons["data"]}
    assert by_code == dict(zip(per_street["street_code"], per_street["cases"], strict=True))
    assert spec["mapStyle"].startswith("app/static/")  # offline: served by the app itself


def test_overview_red_warnings_are_the_rule_based_reds(app_test, sqlite_demo):
    from metrics import warnings
    from metrics.warning_rules import load_warning_rules

    at = app_test("Home.py", sqlite_demo.url)
    f = AreaFilter(start=NOW.date() - timedelta(days=6), end=NOW.date(), district="330105")
    rules = load_warning_rules()
    with sqlite_demo.engine.connect() as conn:
        total = sum(
            int(warnings.distribution(conn, f, NOW, rules, d)["red"].sum()) for d in rules.domains
        )
    assert total > 0
    assert metric(at, "overview.red_warnings") == f"{total:,}"


def test_changing_the_district_changes_the_numbers(app_test, sqlite_demo):
    at = app_test("Home.py", sqlite_demo.url)
    at.selectbox(key="f_district").set_value("330114").run()
    no_errors(at)
    f = AreaFilter(start=NOW.date() - timedelta(days=6), end=NOW.date(), district="330114")
    with sqlite_demo.engine.connect() as conn:
        counts = overview.case_counts(conn, f, NOW).iloc[0]
    assert metric(at, "overview.this_week") == f"{counts['this_week']:,}"
    assert at.query_params["district"] == ["330114"] or at.query_params["district"] == "330114"


def test_url_parameters_seed_the_view_and_bad_ones_are_reported(app_test, sqlite_demo):
    at = app_test(
        "Home.py",
        sqlite_demo.url,
        query_params={
            "district": "330102",
            "streets": "330102014,999",
            "lang": "en",
            "start": "2026-11-10",
            "end": "2026-11-16",
        },
    )
    assert not at.exception
    assert at.selectbox(key="f_district").value == "330102"
    assert at.multiselect(key="f_streets").value == ["330102014"]
    warnings = " ".join(w.value for w in at.warning)
    assert "streets=999" in warnings
    assert at.title[0].value.endswith("overview")  # English
    f = AreaFilter(
        start=NOW.date().replace(day=10),
        end=NOW.date().replace(day=16),
        district="330102",
        streets=("330102014",),
    )
    with sqlite_demo.engine.connect() as conn:
        counts = overview.case_counts(conn, f, NOW).iloc[0]
    assert metric(at, "overview.backlog", "en") == f"{counts['open_backlog']:,}"


def test_unreachable_database_gives_a_message_not_a_traceback(app_test):
    at = app_test("Home.py", "postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    assert not at.exception
    text = " ".join(e.value for e in at.error)
    assert "127.0.0.1:1" in text and ("无法连接" in text or "Cannot reach" in text)


def test_missing_contract_table_is_named(app_test, tmp_path):
    from sqlalchemy import create_engine, text

    path = tmp_path / "empty.sqlite"
    with create_engine(f"sqlite:///{path}").begin() as conn:
        conn.execute(text("CREATE TABLE unrelated (x INT)"))
    at = app_test("Home.py", f"sqlite:///{path}")
    assert not at.exception
    assert any("district" in e.value or "street" in e.value for e in at.error)


def test_switching_language_keeps_the_view_and_translates(app_test, sqlite_demo):
    at = app_test("pages/data-quality.py", sqlite_demo.url, query_params={"district": "330114"})
    assert at.title[0].value == translate("quality.heading", "zh")
    at.radio(key="lang").set_value("en").run()
    no_errors(at)
    assert at.title[0].value == translate("quality.heading", "en")
    assert at.selectbox(key="f_district").value == "330114"
    at.selectbox(key="f_district").set_value("330102").run()
    no_errors(at)
    assert at.title[0].value == translate("quality.heading", "en")
    assert at.query_params["lang"] in (["en"], "en")


def test_a_failure_outside_a_pages_own_guards_gives_a_reference_not_a_traceback(
    app_test, sqlite_demo, monkeypatch
):
    from ui import screen

    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug in the page's top-level code")

    monkeypatch.setattr(screen, "views_from_params", broken)
    at = app_test("pages/command-screen.py", sqlite_demo.url)
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(e.value for e in at.error)
    assert "编号" in text and "bug" not in text
