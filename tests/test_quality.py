"""The contract checks and the timestamp storage-form figure of the
data-quality page (metrics.quality_contract.contract_checks / timestamp_forms;
docs/data-contract.md, "Checks on the data-quality page").

The geography is a small demo's (it breaks nothing); the rows below each
break one constraint exactly, beside rows exactly on the allowed edge,
which must not be counted. On every backend, from the query functions and
on the page (AppTest).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, create_engine, text

from data_access.config import load_site_config
from data_access.connection import make_engine
from data_access.filters import AreaFilter
from data_access.schema import CONTRACT_TABLES, metadata
from metrics import quality, quality_contract
from tests.conftest import BACKEND_PARAMS, scratch_database
from ui.i18n import catalogue, translate

NOW = datetime(2026, 11, 20, 18, 0)
SECOND = timedelta(seconds=1)
CITY = AreaFilter(start=date(2026, 11, 14), end=date(2026, 11, 20))
CFG = load_site_config()
B = CFG.bounds

#: (table, check) -> rows each backend must count (the other checks: 0).
EXPECTED = {
    ("district", "bad_code"): 1,
    ("street", "bad_code"): 1,
    ("street", "unknown_district"): 1,
    ("street", "negative_population"): 1,
    ("street", "negative_area"): 1,
    ("street", "out_of_area"): 1,
    ("grid", "unknown_street"): 1,
    ("grid", "bad_kind"): 2,
    ("venue", "unknown_street"): 1,
    ("venue", "out_of_area"): 1,
    ("venue", "negative_capacity"): 1,
    ("venue", "negative_radius"): 1,
    ("incident", "bad_status"): 2,
    ("incident", "bad_outcome"): 1,
    ("incident", "unknown_grid"): 1,
    ("incident", "milestone_after_now"): 1,
    ("crowd_reading", "future_time"): 1,
    ("crowd_reading", "out_of_area"): 1,
    ("petition", "unknown_street"): 1,
    ("petition", "unknown_grid"): 1,
    ("petition", "due_before_received"): 1,
    ("petition", "closed_before_received"): 1,
    ("petition", "future_time"): 2,
    ("petition", "negative_repeat_count"): 1,
    ("housing_record", "unknown_street"): 1,
    ("housing_record", "unknown_grid"): 1,
    ("housing_record", "out_of_area"): 1,
    ("housing_record", "future_time"): 1,
    ("warning", "unknown_street"): 1,
    ("warning", "unknown_grid"): 1,
    ("warning", "bad_colour"): 2,
    ("warning", "missing_raised_at"): 1,
    ("warning", "cleared_before_raised"): 1,
    ("warning", "future_time"): 2,
}

#: The ids each check lists (the examples), where a test names them.
EXAMPLES = {
    ("incident", "bad_status"): "I-NULL-STATUS, I-WEIRD-STATUS",
    ("incident", "bad_outcome"): "I-WEIRD-OUTCOME",
    ("incident", "unknown_grid"): "I-NO-GRID",
    ("incident", "milestone_after_now"): "I-ARRIVED-LATER",
    ("petition", "future_time"): "P-CLOSED-LATER, P-RECEIVED-LATER",
    ("warning", "bad_colour"): "W-BLUE, W-NO-COLOUR",
    ("street", "bad_code"): "33011",
}


def _maker(**template: Any) -> Callable[..., dict[str, Any]]:
    """A row of ``template`` with its ``id`` and the columns given changed."""
    return lambda id_, **kw: {"id": id_, **template, **kw}


def _rows(geo: dict[str, pd.DataFrame]) -> dict[str, list[Any]]:
    first = geo["street"].iloc[0]
    code, dist = str(first["code"]), str(first["district_code"])
    grid_code = str(geo["grid"].iloc[0]["code"])
    hour = NOW - timedelta(hours=1)
    streets = [
        # bad code (5 digits), unknown district, negative population and
        # area, label point in the sea
        dict(code="33011", district_code="999999", name_zh="坏", name_en=None,
             population=-1, area_km2=-0.5, lat=0.0, lon=0.0),
        # on every edge: population 0, area 0, the bounds' corner
        dict(code=code[:6] + "998", district_code=dist, name_zh="边", name_en=None,
             population=0, area_km2=0.0, lat=B.min_lat, lon=B.max_lon),
    ]  # fmt: skip
    grids = [
        dict(code="G-NO-STREET", street_code="999999999", name_zh="x", kind="community"),
        dict(code="G-SHOP", street_code=code, name_zh="x", kind="shop"),
        dict(code="G-NO-KIND", street_code=code, name_zh="x", kind=None),
    ]
    venues = [
        dict(id="V-BAD", street_code=code, name_zh="x", name_en=None, lat=0.0, lon=0.0,
             radius_m=-1.0, capacity=-1),
        dict(id="V-EDGE", street_code=code, name_zh="x", name_en=None, lat=B.max_lat,
             lon=B.min_lon, radius_m=0.0, capacity=0),
        dict(id="V-NO-STREET", street_code="nope", name_zh="x", name_en=None, lat=None,
             lon=None, radius_m=None, capacity=None),
    ]  # fmt: skip

    def case(id_: str, status: str | None) -> dict[str, Any]:
        row: dict[str, Any] = {c.name: None for c in CONTRACT_TABLES["incident"].c}
        return row | dict(id=id_, street_code=code, reported_at=hour, status=status)

    cases = [case("I-WEIRD-STATUS", "weird"), case("I-NULL-STATUS", None)]
    cases += [case(f"I-{s}", s) for s in ("open", "dispatched", "on_site", "closed", "cancelled")]
    # An outcome outside the contract; a grid that does not exist (and a
    # known one); a milestone a second after now (and one exactly at now).
    cases += [
        case("I-WEIRD-OUTCOME", "closed") | dict(outcome="lost", closed_at=hour),
        case("I-OUTCOME", "closed") | dict(outcome="resolved", closed_at=hour),
        case("I-NO-GRID", "open") | dict(grid_code="nope"),
        case("I-GRID", "open") | dict(grid_code=grid_code),
        case("I-ARRIVED-LATER", "on_site") | dict(arrived_at=NOW + SECOND),
        case("I-CLOSED-NOW", "closed") | dict(closed_at=NOW),
    ]
    crowd = [
        dict(ts=NOW, cell_id="C-NOW", lat=None, lon=None, street_code=code, people=1),
        dict(ts=NOW + SECOND, cell_id="C-LATER", lat=None, lon=None, street_code=code, people=1),
        # in the sea, and exactly on the bounds' corner (inside)
        dict(ts=hour, cell_id="C-SEA", lat=0.0, lon=0.0, street_code=code, people=1),
        dict(ts=hour, cell_id="C-EDGE", lat=B.min_lat, lon=B.min_lon, street_code=code, people=1),
    ]
    base = NOW - timedelta(days=3)

    pet = _maker(street_code=code, grid_code=None, category="x", received_at=base,
                 due_at=None, closed_at=None, repeat_count=0, escalated=False)  # fmt: skip

    petitions = [
        pet("P-NO-STREET", street_code="nope"),
        pet("P-NO-GRID", grid_code="nope"),
        pet("P-GRID", grid_code=grid_code),  # a known grid
        pet("P-DUE-BEFORE", due_at=base - SECOND),
        pet("P-DUE-AT-RECEIPT", due_at=base),  # edge: not counted
        pet("P-CLOSED-BEFORE", closed_at=base - SECOND),
        pet("P-CLOSED-AT-RECEIPT", closed_at=base),  # edge
        pet("P-RECEIVED-LATER", received_at=NOW + SECOND),
        pet("P-RECEIVED-NOW", received_at=NOW),  # edge
        pet("P-CLOSED-LATER", closed_at=NOW + SECOND),
        pet("P-CLOSED-NOW", closed_at=NOW),  # edge
        pet("P-NEGATIVE", repeat_count=-1),
    ]

    house = _maker(street_code=code, grid_code=None, lat=None, lon=None,
                   last_verified_at=base, risk_grade="B")  # fmt: skip

    housing = [
        house("H-NO-STREET", street_code="nope"),
        house("H-NO-GRID", grid_code="nope"),
        house("H-SEA", lat=0.0, lon=0.0),
        house("H-CORNER", lat=B.min_lat, lon=B.min_lon),  # edge
        house("H-LATER", last_verified_at=NOW + SECOND),
        house("H-NOW", last_verified_at=NOW),  # edge
        house("H-NEVER", last_verified_at=None),  # allowed: never verified
    ]

    warn = _maker(domain="risk", street_code=code, grid_code=None, colour="red",
                  raised_at=base, cleared_at=None, note=None)  # fmt: skip

    warns = [
        warn("W-NO-STREET", street_code="nope"),
        warn("W-NO-GRID", grid_code="nope"),
        warn("W-BLUE", colour="blue"),
        warn("W-NO-COLOUR", colour=None),
        warn("W-YELLOW", colour="yellow"),
        warn("W-GREEN", colour="green"),
        warn("W-NOT-RAISED", raised_at=None),
        warn("W-BACKWARDS", cleared_at=base - SECOND),
        warn("W-CLEARED-AT-RAISE", cleared_at=base),  # edge
        warn("W-RAISED-LATER", raised_at=NOW + SECOND),
        warn("W-RAISED-NOW", raised_at=NOW),  # edge
        warn("W-CLEARED-LATER", cleared_at=NOW + SECOND),
        warn("W-CLEARED-NOW", cleared_at=NOW),  # edge
    ]
    return {
        "district": [dict(code="33X", name_zh="坏", name_en=None)],
        "street": streets,
        "grid": grids,
        "venue": venues,
        "incident": cases,
        "crowd_reading": crowd,
        "petition": petitions,
        "housing_record": housing,
        "warning": warns,
    }


@pytest.fixture(scope="module")
def geography(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    from demo.build import build_demo

    path = tmp_path_factory.mktemp("quality_geo") / "geo.sqlite"
    build_demo(f"sqlite:///{path}", days=1, seed=3, scale=0.01, end=NOW)
    with sqlite3.connect(path) as conn:
        return {
            n: pd.read_sql_query(f'SELECT * FROM "{n}"', conn)
            for n in ("district", "street", "grid", "venue")
        }


def _write(url: str, geo: dict[str, pd.DataFrame]) -> None:
    engine = create_engine(url)
    metadata.create_all(engine)
    bad = _rows(geo)
    with engine.begin() as conn:
        for name, table in CONTRACT_TABLES.items():
            rows: list[Any] = geo[name].to_dict("records") if name in geo else []
            rows = [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in rows]
            if rows or bad[name]:
                conn.execute(table.insert(), rows + bad[name])
    engine.dispose()


@pytest.fixture(scope="module", params=BACKEND_PARAMS)
def broken(
    request: pytest.FixtureRequest,
    geography: dict[str, pd.DataFrame],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Engine]]:
    """A database of the demo's geography and the rows above: (url, engine)."""
    url, drop = scratch_database(request.param, tmp_path_factory)
    _write(url, geography)
    engine = make_engine(url, timezone=CFG.timezone)
    yield url, engine
    engine.dispose()
    if drop:
        drop()


def test_every_check_has_its_labels():
    cat = catalogue()
    for table, check in quality_contract.CONTRACT_CHECKS:
        assert f"quality.check.{table}.{check}" in cat
        assert f"quality.effect.{table}.{check}" in cat
    assert len(set(quality_contract.CONTRACT_CHECKS)) == len(quality_contract.CONTRACT_CHECKS)
    assert not set(quality_contract.CONTRACT_CHECKS) & set(quality.CHECKS)


def test_each_broken_row_is_counted_and_no_edge_row(broken):
    _url, engine = broken
    with engine.connect() as conn:
        got = quality_contract.contract_checks(conn, CITY, NOW, CFG).set_index(["table", "check"])
    want = {k: EXPECTED.get(k, 0) for k in quality_contract.CONTRACT_CHECKS}
    assert got["rows"].to_dict() == want
    for key, ids in EXAMPLES.items():
        assert got.loc[key, "examples"] == ids, key
    assert (got.loc[got["rows"] == 0, "examples"] == "").all()


def test_a_scope_is_not_told_the_whole_databases_counts(broken):
    _url, engine = broken
    with engine.connect() as conn:
        street = conn.execute(text("SELECT MIN(code) FROM street WHERE code LIKE '33%'")).scalar()
        from data_access.area import resolve_streets

        f = resolve_streets(conn, AreaFilter(start=CITY.start, end=CITY.end, scope=(street,)))
        got = quality_contract.contract_checks(conn, f, NOW, CFG).set_index(["table", "check"])
    withheld = got[got["scope"] == "withheld"]
    assert len(withheld) and (withheld["rows"] == 0).all() and (withheld["examples"] == "").all()
    assert ("petition", "unknown_street") in withheld.index


def _district(geo: dict[str, pd.DataFrame]) -> str:
    return str(geo["street"].iloc[0]["district_code"])


def test_the_page_shows_the_counts(broken, geography, app_test, monkeypatch):
    url, _engine = broken
    monkeypatch.setenv("OPS_NOW", NOW.isoformat())
    at = app_test("pages/data-quality.py", url, query_params={"district": _district(geography)})
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    shown = at.dataframe[0].value.set_index("check_label")
    for (table, check), n in EXPECTED.items():
        label = translate(f"quality.check.{table}.{check}", "zh")
        if check in ("bad_status", "bad_outcome", "unknown_grid", "milestone_after_now") or (
            (table, check) == ("crowd_reading", "out_of_area")
        ):
            continue  # the page's window is its own: counted above
        assert int(shown.loc[label, "rows"]) == n, label
    label = translate("quality.check.warning.bad_colour", "zh")
    assert shown.loc[label, "examples"] == "W-BLUE, W-NO-COLOUR"
    forms = at.dataframe[1].value
    assert len(forms) == len(quality_contract.timestamp_columns())
    assert (forms["rows"] == 0).all()  # every value written as a time


# --- timestamp storage forms --------------------------------------------------

ACCEPTED_TEXT = [
    "2026-11-20",
    "2026-11-20 18:00",
    "2026-11-20T18:00",
    "2026-11-20 18:00:00",
    "2026-11-20T18:00:00",
    "2026-11-20 18:00:00.5",
    "2026-11-20T18:00:00.123456789",
    "2024-02-29 00:00:00",
]
REFUSED = [
    "2026-11-20T18:00:00Z",
    "2026-11-20 18:00:00+08:00",
    1763632800,  # Unix seconds
    2461000.25,  # a Julian day
    "garbage",
    "2026/11/20 18:00",
    "20.11.2026",
    "2026-02-30 00:00:00",  # no such day
    "2026-11-20 18:00:00.1234567890",  # ten fraction digits
    "2026-11-20_18:00:00",
]


@pytest.fixture(scope="module")
def forms_sqlite(
    geography: dict[str, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Engine]]:
    path = tmp_path_factory.mktemp("forms") / "forms.sqlite"
    url = f"sqlite:///{path}"
    _write(url, geography)
    code = str(geography["street"].iloc[0]["code"])
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM warning")
        for i, v in enumerate(ACCEPTED_TEXT + REFUSED):
            conn.execute(
                "INSERT INTO warning (id, domain, street_code, colour, raised_at) "
                "VALUES (?, 'risk', ?, 'red', ?)",
                (f"W{i:02d}", code, v),
            )
        # Cases: one with a zone suffix inside the window, one a number (no
        # date prefix), one accepted, one refused outside the window (not read).
        for id_, v in (
            ("I-Z", "2026-11-19T08:00:00Z"),
            ("I-NUM", 1763632800),
            ("I-OK", "2026-11-19 08:00:00"),
            ("I-OLD", "2025-01-01T08:00:00Z"),
        ):
            conn.execute(
                "INSERT INTO incident (id, street_code, reported_at, accepted_at, status) "
                "VALUES (?, ?, ?, ?, 'open')",
                (id_, code, v, "2026-11-19 08:01:00+08:00" if id_ == "I-OK" else None),
            )
    engine = make_engine(url, timezone=CFG.timezone)
    yield url, engine
    engine.dispose()


def test_sqlite_counts_each_value_not_in_an_accepted_form(forms_sqlite):
    _url, engine = forms_sqlite
    with engine.connect() as conn:
        got: Any = quality_contract.timestamp_forms(conn, CITY).set_index(["table", "column"])
    assert int(got.loc[("warning", "raised_at"), "rows"]) == len(REFUSED)
    examples = got.loc[("warning", "raised_at"), "examples"].split(", ")
    n = len(ACCEPTED_TEXT)
    assert examples == [f"W{n + i:02d}={REFUSED[i]}" for i in range(5)]
    # The window's case with a zone, the number; not the accepted one, not
    # the old one; the accepted case's acceptance time has a zone.
    assert int(got.loc[("incident", "reported_at"), "rows"]) == 2
    assert got.loc[("incident", "reported_at"), "examples"] == (
        "I-NUM=1763632800, I-Z=2026-11-19T08:00:00Z"
    )
    assert int(got.loc[("incident", "accepted_at"), "rows"]) == 1
    others = got.drop([("warning", "raised_at"), ("incident", "reported_at"),
                       ("incident", "accepted_at")])  # fmt: skip
    assert (others["rows"] == 0).all() and set(got["stored_as"]) == {"text"}


def test_the_page_shows_the_storage_forms(forms_sqlite, geography, app_test, monkeypatch):
    url, _engine = forms_sqlite
    monkeypatch.setenv("OPS_NOW", NOW.isoformat())
    at = app_test("pages/data-quality.py", url, query_params={"district": _district(geography)})
    assert not at.exception, [e.value for e in at.exception]
    forms = at.dataframe[1].value.set_index(["table", "column"])
    assert int(forms.loc[("warning", "raised_at"), "rows"]) == len(REFUSED)
    assert forms.loc[("incident", "reported_at"), "examples"].startswith("I-NUM=")


SERVER_TYPES = {
    "postgresql": {"received_at": "text", "due_at": "timestamp with time zone"},
    "mariadb": {"received_at": "VARCHAR(40)"},
}


@pytest.mark.parametrize(
    "name", [p for p in BACKEND_PARAMS if p.values[0] != "sqlite"], indirect=False
)
def test_server_columns_are_judged_by_their_declared_type(
    name: str, geography: dict[str, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory
) -> None:
    url, drop = scratch_database(name, tmp_path_factory)
    try:
        _write(url, geography)
        raw = create_engine(url)
        with raw.begin() as conn:
            for col, sql_type in SERVER_TYPES[name].items():
                if name == "postgresql":
                    conn.execute(text(f'ALTER TABLE petition ALTER COLUMN "{col}" TYPE {sql_type}'))
                else:
                    conn.execute(text(f"ALTER TABLE petition MODIFY `{col}` {sql_type} NULL"))
        raw.dispose()
        engine = make_engine(url, timezone=CFG.timezone)
        with engine.connect() as conn:
            got: Any = quality_contract.timestamp_forms(conn, CITY).set_index(["table", "column"])
        engine.dispose()
    finally:
        if drop:
            drop()
    received: Any = got.loc[("petition", "received_at")]
    assert received["note"] == "text_column"
    petitions = len(_rows(geography)["petition"])  # every one has a received time
    assert int(received["rows"]) == petitions - 1  # not the one of no known street
    assert received["examples"].startswith("P-CLOSED-AT-RECEIPT=")
    accepted = got.drop(("petition", "received_at"))
    assert (accepted["rows"] == 0).all()
    if name == "postgresql":
        assert got.loc[("petition", "due_at"), "note"] == "converted_to_site_zone"
        assert got.loc[("incident", "reported_at"), "stored_as"] == "timestamp without time zone"
    else:
        assert got.loc[("incident", "reported_at"), "stored_as"] == "datetime"
    assert set(accepted["note"]) <= {"", "converted_to_site_zone"}
