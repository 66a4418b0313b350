"""Row-level security in the data layer, on SQLite, PostgreSQL and MariaDB.

For a user whose scope is one street, every query function gives exactly
what it gives for that street alone (a filter naming the street), whatever
district (none, or the street's) the user picks; and reads outside the
scope (one case's personal data, a street's grids, the whole database's
unknown-street rows, the stored weekly reviews) give nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import text

from data_access.area import listed_streets
from data_access.config import load_site_config
from data_access.filters import AreaFilter
from data_access.privacy import RevealRefused, reveal_case
from metrics import (
    heatmap,
    overview,
    quality,
    screen,
    throughput,
    throughput_backlog,
    warnings,
    weekly,
    weekly_model,
)
from metrics.warning_rules import load_warning_rules
from tests.conftest import FIXTURE_END

NOW = FIXTURE_END
CFG = load_site_config()
RULES = load_warning_rules()
DISTRICT = "330105"


@pytest.fixture(scope="module")
def street(backend) -> str:
    """The district's street with the most cases in the fixture."""
    q = text(
        "SELECT street_code, COUNT(*) AS n FROM incident WHERE street_code LIKE :d "
        "GROUP BY street_code ORDER BY n DESC, street_code"
    )
    with backend.raw_engine.connect() as conn:
        return str(conn.execute(q, {"d": DISTRICT + "%"}).first()[0])


def window(days: int) -> tuple:
    end = NOW.date()
    return end - timedelta(days=days - 1), end


def filters(street: str, days: int = 7) -> tuple[AreaFilter, list[AreaFilter]]:
    """The street alone, and the same street as a scope (no district; its
    district; the whole city named by known streets)."""
    start, end = window(days)
    alone = AreaFilter(start=start, end=end, district=DISTRICT, streets=(street,))
    scoped = [
        AreaFilter(start=start, end=end, scope=(street,)),
        AreaFilter(start=start, end=end, district=DISTRICT, scope=(street,)),
    ]
    return alone, scoped


def same(a, b, label: str) -> None:
    if isinstance(a, tuple):
        for x, y in zip(a, b, strict=True):
            same(x, y, label)
        return
    if isinstance(a, dict):
        assert set(a) == set(b), label
        for k in a:
            same(a[k], b[k], f"{label}[{k}]")
        return
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(
            a.reset_index(drop=True), b.reset_index(drop=True), check_dtype=False, obj=label
        )
        return
    assert a == b, label


def run(backend, fn, f: AreaFilter, *args, **kwargs):
    """As the dashboards run it (ui.data.run_query): the area's streets
    resolved to a literal list on the servers."""
    with backend.engine.connect() as conn:
        return fn(conn, listed_streets(conn, f), *args, **kwargs)


def latest_crowd(backend, street: str):
    """The district's latest crowd reading (the street may have none)."""
    start, end = window(7)
    f = AreaFilter(start=start, end=end, district=DISTRICT)
    return run(backend, heatmap.crowd_span, f, NOW)["latest"].iloc[0].to_pydatetime()


def cases_of(backend, f):
    return run(backend, overview.case_counts, f, NOW)


QUERIES = {
    "case_counts": lambda b, f, s: run(b, overview.case_counts, f, NOW),
    "street_summary": lambda b, f, s: run(b, overview.street_summary, f, NOW),
    "street_figures": lambda b, f, s: run(b, overview.street_figures, f, NOW, CFG),
    "active_red_warnings": lambda b, f, s: run(b, overview.active_red_warnings, f, NOW),
    "largest_crowd": lambda b, f, s: run(b, overview.largest_crowd, f, NOW),
    "case_throughput": lambda b, f, s: run(b, throughput.case_throughput, f, NOW, CFG),
    "case_throughput_grid": lambda b, f, s: run(
        b, throughput.case_throughput, f, NOW, CFG, by="grid"
    ),
    "ontime_by_milestone": lambda b, f, s: run(b, throughput.ontime_by_milestone, f, NOW, CFG),
    "ontime_trend": lambda b, f, s: run(b, throughput.ontime_trend, f, NOW, CFG),
    "backlog_ageing": lambda b, f, s: run(b, throughput_backlog.backlog_ageing, f, NOW),
    "attention_cases": lambda b, f, s: run(b, throughput_backlog.attention_cases, f, NOW, CFG),
    "crowd_span": lambda b, f, s: run(b, heatmap.crowd_span, f, NOW),
    "crowd_cells": lambda b, f, s: run(b, heatmap.crowd_cells, f, latest_crowd(b, s), CFG),
    "hot_cells": lambda b, f, s: run(b, heatmap.hot_cells, f, latest_crowd(b, s), CFG),
    "venue_load": lambda b, f, s: run(b, heatmap.venue_load, f, latest_crowd(b, s), CFG),
    "incident_cells": lambda b, f, s: run(b, heatmap.incident_cells, f, NOW, CFG),
    "incident_unmapped": lambda b, f, s: run(b, heatmap.incident_unmapped, f, NOW, CFG),
    "repeat_hotspots": lambda b, f, s: run(b, heatmap.repeat_hotspots, f, NOW, CFG),
    "distribution": lambda b, f, s: run(b, warnings.distribution, f, NOW, RULES, "petition"),
    "red_list": lambda b, f, s: run(b, warnings.red_list, f, NOW, RULES, "housing", 5000),
    "trend": lambda b, f, s: run(b, warnings.trend, f, NOW, RULES, "petition"),
    "red_counts": lambda b, f, s: run(b, warnings.red_counts, f, NOW, RULES),
    "petition_closures": lambda b, f, s: run(b, warnings.petition_closures, f, NOW),
    "review_tables": lambda b, f, s: run(
        b, weekly.review_tables, f, NOW, CFG, weekly_model.last_complete_week(NOW).label, RULES
    ),
    "alerts": lambda b, f, s: run(b, screen.alerts, f, NOW, CFG, 24.0, 24.0 * 7),
    "street_ranking": lambda b, f, s: run(b, screen.street_ranking, f, NOW, CFG),
}


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_a_street_scoped_user_sees_exactly_that_street(backend, street, name):
    alone, scoped = filters(street)
    expected = QUERIES[name](backend, alone, street)
    for f in scoped:
        same(QUERIES[name](backend, f, street), expected, f"{name} {f.district} {f.scope}")


def test_the_scope_narrows_the_figures(backend, street):
    """The comparison above can fail: the district's figures are not the street's."""
    alone, scoped = filters(street, days=28)
    district = replace(alone, streets=())
    street_cases = int(cases_of(backend, scoped[0])["in_window"].iloc[0])
    district_cases = int(cases_of(backend, district)["in_window"].iloc[0])
    assert 0 < street_cases < district_cases
    assert list(run(backend, overview.street_summary, scoped[1], NOW)["street_code"]) == [street]


def test_a_scope_outside_the_chosen_area_sees_nothing(backend, street):
    start, end = window(28)
    other = AreaFilter(start=start, end=end, district="330102", scope=(street,))
    assert int(cases_of(backend, other)["in_window"].iloc[0]) == 0
    assert run(backend, overview.street_summary, other, NOW).empty
    empty = AreaFilter(start=start, end=end, scope=())
    assert int(cases_of(backend, empty)["in_window"].iloc[0]) == 0


def test_data_quality_withholds_the_whole_database_counts(backend, street):
    alone, scoped = filters(street, days=28)
    expected = run(backend, quality.data_quality, alone, NOW, CFG)
    for f in scoped:
        got = run(backend, quality.data_quality, f, NOW, CFG)
        area = got["scope"] == "area"
        same(got[area], expected[expected["scope"] == "area"], "area checks")
        withheld = got.loc[~area]
        assert set(withheld["scope"]) == {"withheld"} and (withheld["rows"] == 0).all()
    unscoped = expected.loc[expected["scope"] == "database", "rows"]
    assert int(unscoped.sum()) > 0  # there was something to withhold


def test_data_freshness_of_a_scope_is_its_streets_newest_rows(backend, street):
    with backend.engine.connect() as conn:
        got = overview.data_freshness(conn, NOW, scope=(street,)).set_index("table")["latest"]
        city = overview.data_freshness(conn, NOW).set_index("table")["latest"]
    checks = {"incident": "reported_at", "crowd_reading": "ts", "petition": "received_at"}
    raw = {}
    for table, col in checks.items():
        frame = pd.read_sql(
            text(f"SELECT {col} AS ts, street_code FROM {table}"), backend.raw_engine
        )
        frame["ts"] = pd.to_datetime(frame["ts"])
        own = frame.loc[(frame["street_code"] == street) & (frame["ts"] <= NOW), "ts"]
        raw[table] = own.max()
        if pd.isna(raw[table]):
            assert pd.isna(got[table]), table
        else:
            assert got[table] == raw[table], table
            assert got[table] <= city[table], table
    assert pd.notna(got["incident"])


def test_reading_one_case_outside_the_scope_is_refused(backend, street):
    q = text(
        "SELECT id, street_code FROM incident WHERE street_code LIKE :d AND reporter_name "
        "IS NOT NULL ORDER BY id"
    )
    with backend.raw_engine.connect() as conn:
        rows = pd.DataFrame(conn.execute(q, {"d": DISTRICT + "%"}).all(), columns=["id", "s"])
    inside = rows.loc[rows["s"] == street, "id"].iloc[0]
    outside = rows.loc[rows["s"] != street, "id"].iloc[0]
    with backend.engine.connect() as conn:
        row = reveal_case(conn, inside, scope=(street,))
        assert list(row["id"]) == [inside] and row["street_code"].iloc[0] == street
        assert row["reporter_name"].iloc[0] and "*" not in str(row["reporter_phone"].iloc[0])
        with pytest.raises(RevealRefused):
            reveal_case(conn, outside, scope=(street,))
        with pytest.raises(RevealRefused):
            reveal_case(conn, "no-such-case", scope=None)
        assert not throughput.grid_names(conn, street, scope=(street,)).empty
        other = rows.loc[rows["s"] != street, "s"].iloc[0]
        assert throughput.grid_names(conn, other, scope=(street,)).empty


def test_a_grid_drill_down_of_a_street_outside_the_scope_is_empty(backend, street):
    start, end = window(28)
    q = text(
        "SELECT street_code FROM petition WHERE street_code LIKE :d AND street_code <> :s "
        "GROUP BY street_code ORDER BY COUNT(*) DESC"
    )
    with backend.raw_engine.connect() as conn:
        other = str(conn.execute(q, {"d": DISTRICT + "%", "s": street}).first()[0])
    city = AreaFilter(start=start, end=end)
    scoped = AreaFilter(start=start, end=end, scope=(street,))
    assert not run(backend, warnings.distribution, city, NOW, RULES, "petition", other).empty
    assert run(backend, warnings.distribution, scoped, NOW, RULES, "petition", other).empty
