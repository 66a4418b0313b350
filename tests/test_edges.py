"""Every edge the figures compare with, with a row exactly on it, on every
backend and in SQLite's common text forms (docs/data-contract.md,
"Edges": which side of each boundary a row on it falls).

The geography is the demo's; the cases, crowd readings, petitions, housing
records and warnings are only the edge rows below, all in one street, so
each figure is a count of edge rows whose expected value is written here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine

from data_access.config import load_site_config
from data_access.connection import make_engine
from data_access.filters import AreaFilter
from data_access.schema import CONTRACT_TABLES
from metrics import overview, throughput, warnings
from metrics.warning_rules import load_warning_rules
from tests.conftest import scratch_database
from tests.test_storage_forms import TS_COLUMNS, _write_server, _write_sqlite

NOW = datetime(2026, 11, 20, 18, 0)  # a Friday
MIDNIGHT = datetime(2026, 11, 20)
MONDAY = datetime(2026, 11, 16)
WINDOW = (date(2026, 11, 14), date(2026, 11, 20))
SECOND = timedelta(seconds=1)

CFG = load_site_config()
RULES = load_warning_rules()


def _case(id_: str, reported: datetime, **kw: Any) -> dict[str, Any]:
    row = {c: None for c in (c.name for c in CONTRACT_TABLES["incident"].c)}
    row.update(id=id_, source="patrol", category="noise", reported_at=reported, status="open")
    row.update(kw)
    return row


def _edge_frames(geo: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    street = geo["street"].iloc[0]
    code = street["code"]
    on_site = CFG.targets_for(code, street["district_code"]).get("arrived")
    assert on_site is not None
    at = datetime(2026, 11, 18, 9, 0)
    cases = [
        _case("WIN-FIRST", datetime.combine(WINDOW[0], datetime.min.time())),  # in
        _case("WIN-BEFORE", datetime.combine(WINDOW[0], datetime.min.time()) - SECOND),  # out
        _case("AT-NOW", NOW),  # in: data up to and including now
        _case("AFTER-NOW", NOW + SECOND),  # out: the future
        _case("TODAY-FIRST", MIDNIGHT),  # today
        _case("WEEK-FIRST", MONDAY),  # this week, not today
        _case("WEEK-BEFORE", MONDAY - SECOND),  # neither
        # On site exactly at the target: on time; one second later: late.
        _case(
            "ONSITE-AT-TARGET",
            at,
            accepted_at=at,
            dispatched_at=at,
            arrived_at=at + timedelta(minutes=on_site),
            status="on_site",
        ),
        _case(
            "ONSITE-LATE",
            at,
            accepted_at=at,
            dispatched_at=at,
            arrived_at=at + timedelta(minutes=on_site) + SECOND,
            status="on_site",
        ),
        # Open, waited exactly the target: not yet late (pending).
        _case("WAIT-AT-TARGET", NOW - timedelta(minutes=on_site)),
    ]
    for c in cases:
        c["street_code"] = code
    crowd = [
        {"ts": NOW, "cell_id": "C1", "lat": street["lat"], "lon": street["lon"],
         "street_code": code, "people": 100},
        {"ts": NOW + timedelta(minutes=30), "cell_id": "C1", "lat": street["lat"],
         "lon": street["lon"], "street_code": code, "people": 999},
    ]  # fmt: skip
    soon = timedelta(days=RULES.petition.due_soon_days)
    petitions = [
        # due exactly now: not overdue (red only after due_at): yellow
        {"id": "P-DUE-NOW", "received_at": NOW - timedelta(days=30), "due_at": NOW},
        # due a second ago: overdue, red
        {"id": "P-OVERDUE", "received_at": NOW - timedelta(days=30), "due_at": NOW - SECOND},
        # received exactly now: counts (green: due in 60 days)
        {"id": "P-RECEIVED-NOW", "received_at": NOW, "due_at": NOW + timedelta(days=60)},
        # received a second after now: not yet
        {"id": "P-RECEIVED-LATER", "received_at": NOW + SECOND, "due_at": NOW + timedelta(days=60)},
        # closed exactly now: no longer open
        {"id": "P-CLOSED-NOW", "received_at": NOW - timedelta(days=3), "due_at": NOW + timedelta(days=60),
         "closed_at": NOW},
        # due exactly at the due-soon edge: yellow; a second beyond: green
        {"id": "P-SOON-EDGE", "received_at": NOW, "due_at": NOW + soon},
        {"id": "P-SOON-BEYOND", "received_at": NOW, "due_at": NOW + soon + SECOND},
    ]  # fmt: skip
    for p in petitions:
        p.update(street_code=code, grid_code=None, category="x", repeat_count=0, escalated=False)
        p.setdefault("closed_at", None)
    green = timedelta(days=RULES.housing.green_within_days)
    housing = [
        {"id": "H-GREEN-EDGE", "last_verified_at": NOW - green},  # green, exactly the limit
        {"id": "H-PAST-EDGE", "last_verified_at": NOW - green - SECOND},  # yellow
        {"id": "H-VERIFIED-NOW", "last_verified_at": NOW},  # green
        {"id": "H-VERIFIED-LATER", "last_verified_at": NOW + SECOND},  # unknown at now: left out
    ]
    for h in housing:
        h.update(street_code=code, grid_code=None, lat=None, lon=None, risk_grade="B")
    domain = RULES.warning_domains[0].code
    warns = [
        {"id": "W-RAISED-NOW", "raised_at": NOW, "cleared_at": None},  # active
        {"id": "W-RAISED-LATER", "raised_at": NOW + SECOND, "cleared_at": None},  # not yet
        {
            "id": "W-CLEARED-NOW",
            "raised_at": NOW - timedelta(hours=2),
            "cleared_at": NOW,
        },  # cleared
        {
            "id": "W-CLEARED-LATER",
            "raised_at": NOW - timedelta(hours=2),
            "cleared_at": NOW + SECOND,
        },
    ]
    for w in warns:
        w.update(domain=domain, street_code=code, grid_code=None, colour="red", note=None)
    frames = {name: geo[name] for name in ("district", "street", "grid", "venue")}
    frames["venue"] = frames["venue"].iloc[0:0]
    frames["incident"] = pd.DataFrame(cases)
    frames["crowd_reading"] = pd.DataFrame(crowd)
    frames["petition"] = pd.DataFrame(petitions)
    frames["housing_record"] = pd.DataFrame(housing)
    frames["warning"] = pd.DataFrame(warns)
    for name, df in frames.items():
        df = df[[c.name for c in CONTRACT_TABLES[name].c]]
        frames[name] = df.astype(object).where(df.notna(), None)
    return frames


@pytest.fixture(scope="module")
def edge_frames(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    from demo.build import build_demo

    path = tmp_path_factory.mktemp("edges") / "geo.sqlite"
    build_demo(f"sqlite:///{path}", days=1, seed=3, scale=0.01, end=NOW)
    with sqlite3.connect(path) as conn:
        geo = {n: pd.read_sql_query(f'SELECT * FROM "{n}"', conn) for n in CONTRACT_TABLES}
    return _edge_frames(geo)


EDGE_FORMS = [
    pytest.param(("sqlite", "native"), id="sqlite-native"),
    pytest.param(("sqlite", "seconds"), id="sqlite-seconds"),
    pytest.param(("sqlite", "iso_t"), id="sqlite-T"),
    pytest.param(("postgresql", "timestamp0"), id="pg-timestamp0", marks=pytest.mark.backend),
    pytest.param(("postgresql", "timestamptz"), id="pg-timestamptz", marks=pytest.mark.backend),
    pytest.param(("mariadb", "datetime"), id="mariadb-datetime", marks=pytest.mark.backend),
    pytest.param(("mariadb", "timestamp"), id="mariadb-timestamp", marks=pytest.mark.backend),
]


@pytest.fixture(scope="module", params=EDGE_FORMS)
def edges(
    request: pytest.FixtureRequest,
    edge_frames: dict[str, pd.DataFrame],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Engine]:
    backend, form = request.param
    drop: Callable[[], None] | None = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp(f'edges_{form}') / 'ops.sqlite'}"
        _write_sqlite(url, edge_frames, form)
    else:
        url, drop = scratch_database(backend, tmp_path_factory)
        _write_server(backend, url, edge_frames, form, CFG.timezone)
    engine = make_engine(url, timezone=CFG.timezone)
    yield engine
    engine.dispose()
    if drop:
        drop()


def _area(edge_frames: dict[str, pd.DataFrame]) -> AreaFilter:
    district = edge_frames["street"].iloc[0]["district_code"]
    return AreaFilter(start=WINDOW[0], end=WINDOW[1], district=district)


def test_case_count_edges(edges: Engine, edge_frames: dict[str, pd.DataFrame]) -> None:
    with edges.connect() as conn:
        counts = overview.case_counts(conn, _area(edge_frames), NOW).iloc[0]
    # In the window [14 Nov 00:00, now]: WIN-FIRST, AT-NOW, TODAY-FIRST,
    # WEEK-FIRST, WEEK-BEFORE, the two on-site cases, WAIT-AT-TARGET (not
    # WIN-BEFORE, not AFTER-NOW).
    assert int(counts["in_window"]) == 8
    assert int(counts["today"]) == 3  # TODAY-FIRST, AT-NOW, WAIT-AT-TARGET
    assert int(counts["this_week"]) == 6  # + WEEK-FIRST and the two on-site cases
    assert int(counts["open_backlog"]) == 9  # every open/on-site case reported by now
    # A window ending yesterday: TODAY-FIRST (exactly at its end's next
    # midnight) and the later ones are out.
    f = _area(edge_frames)
    earlier = AreaFilter(start=f.start, end=date(2026, 11, 19), district=f.district)
    with edges.connect() as conn:
        assert int(overview.case_counts(conn, earlier, NOW).iloc[0]["in_window"]) == 5


def test_on_time_edge(edges: Engine, edge_frames: dict[str, pd.DataFrame]) -> None:
    with edges.connect() as conn:
        table = throughput.ontime_by_milestone(conn, _area(edge_frames), NOW, CFG)
    arrived = table.set_index("milestone").loc["arrived"]
    # ONSITE-AT-TARGET on time (arrived exactly at the target), ONSITE-LATE
    # late; of the open cases never on site, those that waited longer than
    # the target are late (WIN-FIRST, TODAY-FIRST, WEEK-FIRST, WEEK-BEFORE),
    # AT-NOW and WAIT-AT-TARGET (waited exactly the target) still pending.
    assert int(arrived["judged"]) == 6
    assert int(arrived["pending"]) == 2
    assert arrived["on_time_share"] == pytest.approx(1 / 6)


def test_latest_crowd_reading_is_at_or_before_now(
    edges: Engine, edge_frames: dict[str, pd.DataFrame]
) -> None:
    with edges.connect() as conn:
        crowd = overview.largest_crowd(conn, _area(edge_frames), NOW)
    assert list(crowd["people"]) == [100]
    assert pd.Timestamp(crowd["ts"].iloc[0]) == pd.Timestamp(NOW)


def _colours(edges: Engine, edge_frames: dict[str, pd.DataFrame], domain: str) -> dict[str, int]:
    with edges.connect() as conn:
        dist = warnings.distribution(conn, _area(edge_frames), NOW, RULES, domain)
    return {c: int(dist[c].sum()) for c in ("red", "yellow", "green", "total")}


def test_petition_edges(edges: Engine, edge_frames: dict[str, pd.DataFrame]) -> None:
    # Open at now: P-DUE-NOW (yellow: due, not overdue), P-OVERDUE (red),
    # P-RECEIVED-NOW (green), P-SOON-EDGE (yellow), P-SOON-BEYOND (green);
    # not P-RECEIVED-LATER, not P-CLOSED-NOW.
    assert _colours(edges, edge_frames, "petition") == dict(red=1, yellow=2, green=2, total=5)


def test_housing_edges(edges: Engine, edge_frames: dict[str, pd.DataFrame]) -> None:
    # H-GREEN-EDGE and H-VERIFIED-NOW green, H-PAST-EDGE yellow
    # (red_after_days is 0 in the shipped rules), H-VERIFIED-LATER left out.
    assert RULES.housing.red_after_days == 0
    assert _colours(edges, edge_frames, "housing") == dict(red=0, yellow=1, green=2, total=3)


def test_warning_edges(edges: Engine, edge_frames: dict[str, pd.DataFrame]) -> None:
    domain = edge_frames["warning"].iloc[0]["domain"]
    # W-RAISED-NOW and W-CLEARED-LATER are active at now.
    assert _colours(edges, edge_frames, domain)["red"] == 2
    with edges.connect() as conn:
        active = overview.active_red_warnings(conn, _area(edge_frames), NOW)
    assert int(active["red"].sum()) == 2


def test_every_timestamp_column_is_written(edge_frames: dict[str, pd.DataFrame]) -> None:
    # The edge set covers every table that has a timestamp column.
    for name, cols in TS_COLUMNS.items():
        if cols:
            assert len(edge_frames[name]) > 0, name
