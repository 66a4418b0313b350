"""The rollup (``rollups/``) gives every case query the same
figures as the source table, on all three backends.

Each backend gets its own small demo database. The rollup is refreshed a few
days before the fixture's "now", so the queries mix rolled-up cases with
live ones (reported since the seal, still open, duplicated); then rows
change as the source system would change them after a refresh: a new copy
of a rolled-up case and a rolled-up case reopened. Every case query is run
through the rollup and with rollups disabled, and the frames must be equal.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import create_engine, delete, event, func, insert, or_, select, update
from sqlalchemy.engine import make_url

import rollups
from data_access.area import resolve_streets
from data_access.config import load_site_config
from data_access.connection import make_engine
from data_access.filters import AreaFilter
from data_access.schema import crowd_reading, incident, metadata, street
from demo.build import build_demo
from jobs import refresh_rollups
from metrics import (
    heatmap,
    overview,
    quality,
    screen,
    throughput,
    throughput_backlog,
    weekly,
    weekly_figures,
    weekly_model,
)
from metrics.warning_rules import load_warning_rules
from rollups import (
    disjoint_spans,
    rollup_case,
    rollup_cell_week,
    rollup_dup_id,
    rollup_meta,
    rollup_open_id,
)
from tests.conftest import BACKEND_PARAMS, FIXTURE_END, scratch_database

NOW = FIXTURE_END  # 2026-11-20 18:00
REFRESHED = NOW - timedelta(days=3)  # sealed at 2026-11-17 00:00
CFG = load_site_config()
END = NOW.date()
WHOLE = AreaFilter(start=END - timedelta(days=20), end=END)
GONGSHU_WEEK = AreaFilter(start=END - timedelta(days=6), end=END, district="330105")
NARROW = replace(
    WHOLE, categories=("neighbour_dispute", "renovation_noise"), statuses=("closed", "open")
)
FILTERS = {"whole": WHOLE, "gongshu_week": GONGSHU_WEEK, "narrow": NARROW}
WEEKS = (
    weekly_model.week_of(END),
    weekly_model.week_of(END).shift(-1),
    weekly_model.week_of(END).shift(-2),
)

#: Every query function that reads clean incidents, as (name, call).
QUERIES = {
    "case_throughput_street": lambda c, f: throughput.case_throughput(c, f, NOW, CFG),
    "case_throughput_category": lambda c, f: throughput.case_throughput(
        c, f, NOW, CFG, by="category"
    ),
    "case_throughput_source": lambda c, f: throughput.case_throughput(c, f, NOW, CFG, by="source"),
    "ontime_by_milestone": lambda c, f: throughput.ontime_by_milestone(c, f, NOW, CFG, "street"),
    "ontime_area": lambda c, f: throughput.ontime_by_milestone(c, f, NOW, CFG),
    "case_counts": lambda c, f: overview.case_counts(c, f, NOW),
    "ontime_trend": lambda c, f: throughput.ontime_trend(c, f, NOW, CFG),
    "ontime_trend_weeks": lambda c, f: throughput.ontime_trend(c, f, NOW, CFG, "closed", "week"),
    "backlog_ageing": lambda c, f: throughput_backlog.backlog_ageing(c, f, NOW),
    "attention_cases": lambda c, f: throughput_backlog.attention_cases(c, f, NOW, CFG),
    "street_summary": lambda c, f: overview.street_summary(c, f, NOW),
    "street_figures": lambda c, f: pd.merge(
        *overview.street_figures(c, f, NOW, CFG), on="street_code", how="outer"
    ),
    "incident_cells": lambda c, f: heatmap.incident_cells(c, f, NOW, CFG),
    "incident_unmapped": lambda c, f: heatmap.incident_unmapped(c, f, NOW, CFG),
    "repeat_hotspots": lambda c, f: heatmap.repeat_hotspots(c, f, NOW, CFG),
    "late_arrivals": lambda c, f: screen.late_arrivals(c, f, NOW, CFG, hours=72),
    "case_mix": lambda c, f: weekly_figures.case_mix(c, f, NOW, WEEKS),
    "case_flow": lambda c, f: weekly_figures.case_flow(c, f, NOW, WEEKS, by="street"),
    "data_quality": lambda c, f: quality.data_quality(c, f, NOW, CFG),
}


#: The queries that read the rolled-up cases' per-day sums (without code filters).
DAY_QUERIES = {
    "case_throughput_street",
    "ontime_by_milestone",
    "ontime_area",
    "case_counts",
    "street_summary",
    "street_figures",
    "incident_unmapped",
    "ontime_trend",
    "ontime_trend_weeks",
}


@contextmanager
def statements(engine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` runs inside the block."""
    seen: list[str] = []

    def spy(_conn, _cursor, statement, *_a):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", spy)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", spy)


@pytest.fixture(scope="module", params=BACKEND_PARAMS)
def rolled(request, tmp_path_factory):
    """(rollup engine, source-only engine, writer engine, refresh report)."""
    url, drop = scratch_database(request.param, tmp_path_factory)
    build_demo(url, days=21, seed=11, scale=0.12, end=NOW)
    writer = create_engine(url)
    _bad_readings_before_refresh(writer)
    share = refresh_rollups.MAX_CELL_ROWS_SHARE
    # The fixture has too few cases for map cells to save rows; keep every
    # size anyway, so that the stored cells are compared with the cases.
    refresh_rollups.MAX_CELL_ROWS_SHARE = 100.0
    try:
        report = refresh_rollups.refresh(writer, REFRESHED, reviews=1, review_districts=["330105"])
        refresh_rollups.MAX_CELL_ROWS_SHARE = share
        _change_after_refresh(writer)
        with_rollup, without = make_engine(url), make_engine(url)
        rollups.disable(without)
        yield with_rollup, without, writer, report
        with_rollup.dispose()
        without.dispose()
    finally:
        refresh_rollups.MAX_CELL_ROWS_SHARE = share
        rollups.forget()
        writer.dispose()
        if drop:
            drop()


def _bad_readings_before_refresh(writer) -> None:
    """Crowd readings the data-quality page flags, before the seal (the
    demo's are all later), so the rollup's per-day counts hold some; and
    open cases with statuses the contract does not name."""
    ts = REFRESHED - timedelta(days=2)
    bad = [
        {"street_code": None, "lat": 30.27, "lon": 120.15, "people": 5},
        {"street_code": "330199999", "lat": 30.27, "lon": 120.15, "people": 5},
        {"street_code": "330105001", "lat": None, "lon": None, "people": 5},
        {"street_code": "330105001", "lat": 30.32, "lon": 120.14, "people": -3},
        {"street_code": "330102001", "lat": 30.25, "lon": 120.17, "people": -1},
    ]
    with writer.begin() as conn:
        conn.execute(
            insert(crowd_reading),
            [{"ts": ts, "cell_id": f"bad-{i}", **row} for i, row in enumerate(bad)],
        )
        # Open cases in statuses outside the contract's (or none): never
        # rolled up, so read live by the status ranges around the others.
        odd = conn.execute(
            select(incident.c.id)
            .where(
                incident.c.status.in_(("open", "dispatched", "on_site")),
                incident.c.reported_at >= REFRESHED - timedelta(days=8),
                incident.c.reported_at < REFRESHED - timedelta(days=1),
            )
            .order_by(incident.c.id)
            .limit(7)
        ).scalars()
        # One per range of unsettled_ranges (bytewise order: MariaDB's
        # collation puts "onward" before "on_site").
        statuses = ("awaiting", "checking", "deferred", "on_hold", "onward", "suspended", None)
        for case_id, status in zip(odd, statuses, strict=True):
            conn.execute(update(incident).where(incident.c.id == case_id).values(status=status))
        # Settled cases with no category or no source (the contract allows
        # NULL), in the stored weeks: the breakdowns' NULL group, rolled up.
        settled = (
            conn.execute(
                select(incident.c.id)
                .where(
                    incident.c.status.in_(("closed", "cancelled")),
                    incident.c.reported_at >= REFRESHED - timedelta(days=13),
                    incident.c.reported_at < REFRESHED - timedelta(days=2),
                )
                .order_by(incident.c.id)
                .limit(12)
            )
            .scalars()
            .all()
        )
        for case_id in settled[:6]:
            conn.execute(update(incident).where(incident.c.id == case_id).values(category=None))
        for case_id in settled[4:]:
            conn.execute(update(incident).where(incident.c.id == case_id).values(source=None))


def _change_after_refresh(writer) -> None:
    """What a source system does after the refresh: a second copy of a
    rolled-up case arrives (reported after the seal), two rolled-up cases
    are reopened (a recent one in 拱墅, and one in 上城 from a week whose
    stage times the rollup stores in rollup_stage_week), a case open at
    the refresh is closed, and two rows are entered late (reported before
    the seal)."""
    with writer.begin() as conn:
        ids = conn.execute(
            select(rollup_case.c.id, rollup_case.c.street_code)
            .where(rollup_case.c.street_code.like("330105%"), rollup_case.c.status == "closed")
            .order_by(rollup_case.c.reported_at.desc(), rollup_case.c.id)
            .limit(2)
        ).all()
        copied, reopened = ids[0][0], ids[1][0]
        row = conn.execute(select(incident).where(incident.c.id == copied)).mappings().one()
        later = dict(row) | {
            "reported_at": NOW - timedelta(hours=5),
            "accepted_at": NOW - timedelta(hours=4, minutes=58),
            "dispatched_at": None,
            "arrived_at": None,
            "closed_at": None,
            "status": "open",
        }
        conn.execute(insert(incident).values(**later))
        older = conn.execute(
            select(rollup_case.c.id)
            .where(
                rollup_case.c.street_code.like("330102%"),  # not in the stored review
                rollup_case.c.status == "closed",
                rollup_case.c.arrived_at.is_not(None),
                rollup_case.c.reported_at >= REFRESHED - timedelta(days=12),
                rollup_case.c.reported_at < REFRESHED - timedelta(days=9),
            )
            .order_by(rollup_case.c.id)
            .limit(1)
        ).scalar_one()
        conn.execute(
            update(incident)
            .where(incident.c.id.in_([reopened, older]))
            .values(status="open", closed_at=None, outcome=None)
        )
        # ... and the older one lost its coordinates (a data-quality finding
        # the per-day counts do not hold).
        conn.execute(update(incident).where(incident.c.id == older).values(lat=None, lon=None))
        # A rolled-up case without coordinates (counted so per day) is
        # reopened with them: its finding is gone.
        unplaced = conn.execute(
            select(rollup_case.c.id)
            .where(
                rollup_case.c.lat.is_(None),
                rollup_case.c.reported_at >= REFRESHED - timedelta(days=12),
            )
            .order_by(rollup_case.c.id)
            .limit(1)
        ).scalar_one()
        conn.execute(
            update(incident)
            .where(incident.c.id == unplaced)
            .values(status="open", closed_at=None, outcome=None, lat=30.32, lon=120.14)
        )
        # A row with no known street, reported since the seal.
        stray = dict(row) | {
            "id": "E-STRAY-AFTER-SEAL",
            "street_code": "330199999",
            "reported_at": NOW - timedelta(hours=3),
            "status": "open",
            "closed_at": None,
        }
        conn.execute(insert(incident).values(**stray))
        # A case open at the refresh is closed since (it is in no rolled-up
        # table, and no longer unsettled).
        was_open = conn.execute(
            select(incident.c.id)
            .where(
                incident.c.street_code.like("330106%"),  # not in the stored review
                incident.c.status.in_(("open", "dispatched", "on_site")),
                incident.c.category.not_in(NARROW.categories),  # keep its backlog
                incident.c.reported_at >= REFRESHED.replace(hour=0, minute=0) - timedelta(days=1),
                incident.c.reported_at < REFRESHED.replace(hour=0, minute=0),
            )
            .order_by(incident.c.reported_at.desc(), incident.c.id)
            .limit(1)
        ).scalar_one()
        conn.execute(
            update(incident)
            .where(incident.c.id == was_open)
            .values(status="closed", closed_at=NOW - timedelta(hours=1), outcome="resolved")
        )
        # Entered late: a closed case reported the evening before the seal,
        # typed in after the refresh (in no rolled-up table, and settled);
        # and a second copy of a rolled-up case, reported before the seal
        # and earlier than the rolled-up copy (so the source keeps it).
        sealed = REFRESHED.replace(hour=0, minute=0)
        late = dict(row) | {
            "id": "E-LATE-ENTRY",
            "reported_at": sealed - timedelta(hours=3),
            "accepted_at": sealed - timedelta(hours=2, minutes=59),
            "dispatched_at": sealed - timedelta(hours=2, minutes=50),
            "arrived_at": sealed - timedelta(hours=2, minutes=30),
            "closed_at": sealed - timedelta(hours=1),
            "status": "closed",
            "outcome": "resolved",
        }
        conn.execute(insert(incident).values(**late))
        early = (
            conn.execute(
                select(rollup_case)
                .where(
                    rollup_case.c.street_code.like("330105%"),
                    # In W47 (the stored review of W46 stays right: see
                    # test_a_stored_review_is_not_served_once_its_cases_changed).
                    rollup_case.c.reported_at >= sealed - timedelta(hours=23),
                    rollup_case.c.id.not_in([copied, reopened]),
                )
                .order_by(rollup_case.c.reported_at, rollup_case.c.id)
                .limit(1)
            )
            .mappings()
            .one()
        )
        first = {c.name: early[c.name] for c in incident.c}
        conn.execute(
            insert(incident).values(
                **first
                | {
                    "reported_at": early["reported_at"] - timedelta(minutes=20),
                    "street_code": "330105002"
                    if early["street_code"] != "330105002"
                    else "330105003",
                    "grid_code": None,
                }
            )
        )


def test_refresh_rolls_up_only_settled_unique_sealed_cases(rolled):
    _, _, writer, report = rolled
    assert report.sealed_until == REFRESHED.replace(hour=0, minute=0, second=0)
    with writer.connect() as conn:
        assert conn.execute(select(func.count()).select_from(rollup_meta)).scalar() == 1
        rows = conn.execute(select(func.count()).select_from(rollup_case)).scalar()
        late = conn.execute(
            select(func.count())
            .select_from(rollup_case)
            .where(rollup_case.c.reported_at >= report.sealed_until)
        ).scalar()
        unsettled = conn.execute(
            select(func.count())
            .select_from(rollup_case)
            .where(rollup_case.c.status.not_in(rollups.SETTLED))
        ).scalar()
        dup_rolled = conn.execute(
            select(func.count())
            .select_from(rollup_case)
            .where(rollup_case.c.id.in_(select(rollup_dup_id.c.id)))
        ).scalar()
        dups = conn.execute(select(func.count()).select_from(rollup_dup_id)).scalar()
    assert rows == report.rows > 1000
    with writer.connect() as conn:
        day = rollups.rollup_incident_quality_day
        held = conn.execute(
            select(
                *(
                    func.sum(day.c[n])
                    for n in ("unknown_street", "missing_coordinates", "out_of_order")
                )
            )
        ).one()
    assert all(n and n > 0 for n in held), held  # so the comparisons mean something
    assert dups == report.duplicate_ids > 0  # the demo's deliberate duplicates
    assert late == unsettled == dup_rolled == 0


@pytest.mark.parametrize("name", list(QUERIES))
@pytest.mark.parametrize("fname", list(FILTERS))
def test_rollup_gives_the_source_tables_figures(rolled, name, fname):
    with_rollup, without, _, _ = rolled
    f = FILTERS[fname]
    with statements(with_rollup) as seen, with_rollup.connect() as conn:
        assert rollups.state(conn, NOW) is not None
        got = QUERIES[name](conn, f)
        # No query leaves options behind on the caller's connection.
        assert not conn.get_execution_options(), conn.get_execution_options()
        if conn.dialect.driver == "psycopg":  # the binary stream's cursor factory
            import psycopg

            assert conn.connection.driver_connection.server_cursor_factory is psycopg.ServerCursor
    with without.connect() as conn:
        assert rollups.state(conn, NOW) is None
        want = QUERIES[name](conn, f)
    # backlog_ageing: open cases only, read by index from the source;
    # case_counts with code filters: distinct ids counted in the source.
    if name != "backlog_ageing" and (name, fname) != ("case_counts", "narrow"):
        tables = ["rollup_case"]
        if name == "data_quality":  # with or without code filters (it ignores them)
            tables = ["FROM rollup_crowd_quality_day", "FROM rollup_incident_quality_day"]
        for table in tables:
            assert any(table in s for s in seen), f"{table} was not read"
    by_day = any("rollup_case_day" in s for s in seen)
    assert by_day == (name in DAY_QUERIES and fname != "narrow"), "per-day sums (not) read"
    # Stored weeks of stage times: whole weeks ended before the seal (the
    # 拱墅 week has none), no code filter.
    stored = any("rollup_stage_week" in s for s in seen)
    throughput_whole = name.startswith("case_throughput_") and fname == "whole"
    assert stored == throughput_whole, "stage weeks"
    # The breakdowns' counts: per code, street and stored week.
    by_kind = any("rollup_kind_week" in s for s in seen)
    assert by_kind == (throughput_whole and name != "case_throughput_street"), "kind weeks"
    cells = any("rollup_cell_week" in s for s in seen)
    assert cells == ((name, fname) == ("incident_cells", "whole")), "cell weeks"
    assert len(want) > 0 or name in ("late_arrivals", "repeat_hotspots"), "nothing compared"
    if throughput_whole and name != "case_throughput_street":  # the cases with no code
        assert want[name.removeprefix("case_throughput_")].isna().sum() == 1, want
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False
    )
    # The area's streets named as a literal list (what the dashboards do on
    # PostgreSQL and MariaDB) give the same figures.
    with with_rollup.connect() as conn:
        listed = resolve_streets(conn, f)
        assert listed.known_streets
        literal = QUERIES[name](conn, listed)
    pd.testing.assert_frame_equal(
        literal.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False
    )


def test_stored_weekly_review_is_the_computed_one(rolled):
    """The job stored the review of the last ended week (2026-W46) for 拱墅;
    the page's function returns it, equal to computing it from the cases
    (the rows of 拱墅 changed after the refresh are in W47, which W46 never
    reads)."""
    with_rollup, without, _, report = rolled
    assert report.reviews == 1
    rules = load_warning_rules()
    f = AreaFilter(start=END, end=END, district="330105")
    with with_rollup.connect() as conn:  # the state, read once per engine (7 statements)
        assert rollups.state(conn, NOW) is not None
    with statements(with_rollup) as seen, with_rollup.connect() as conn:
        got = weekly.review_tables(conn, f, NOW, CFG, "2026-W46", rules)
    assert any("rollup_review" in s for s in seen)
    # Read, not computed (computing it runs some 50 statements; reading it
    # is one SELECT by id of the cases changed since the refresh, and one
    # of the stored tables).
    assert len(seen) == 2 and "changed_since" in seen[0], seen
    with without.connect() as conn:
        want = weekly.review_tables(conn, f, NOW, CFG, "2026-W46", rules)
    assert list(got) == list(want) == list(weekly.REVIEW_TABLES)
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], obj=name)
    # Not stored: another district, a streets filter, the running week.
    with with_rollup.connect() as conn:
        other = AreaFilter(start=END, end=END, district="330102")
        narrow = replace(f, streets=("330105001",))
        current = weekly_model.parse_week("2026-W47")
        for area, week in (
            (other, weekly_model.parse_week("2026-W46")),
            (narrow, current),
            (f, current),
        ):
            names = weekly.REVIEW_TABLES
            assert rollups.stored_review(conn, area, NOW, CFG, rules, week, names) is None
        # Another configuration: computed live.
        changed = replace(CFG, row_cap=CFG.row_cap + 1)
        week = weekly_model.parse_week("2026-W46")
        assert rollups.stored_review(conn, f, NOW, changed, rules, week, names) is None
        # The same files read from another checkout (the job may run from
        # another directory or container than the dashboards): still read.
        moved_cfg = replace(CFG, source_path="/elsewhere/config/site.toml")
        moved_rules = replace(rules, source_path="/elsewhere/config/warning_rules.toml")
        found = rollups.stored_review(conn, f, NOW, moved_cfg, moved_rules, week, names)
        assert found is not None


def test_a_stored_review_is_not_served_once_its_cases_changed(rolled):
    """A case of the stored week entered late (typed in after the refresh,
    reported in W46), or a case of it cancelled since: the stored review
    is left and the review computed, equal to the source's. Undone after."""
    with_rollup, without, writer, _ = rolled
    rules = load_warning_rules()
    f = AreaFilter(start=END, end=END, district="330105")
    week = weekly_model.parse_week("2026-W46")
    names = weekly.REVIEW_TABLES
    with writer.begin() as conn:
        row = (
            conn.execute(
                select(rollup_case)
                .where(
                    rollup_case.c.street_code.like("330105%"),
                    rollup_case.c.status == "closed",
                    # Within rollups.LATE_DAYS of the seal (2026-11-17).
                    rollup_case.c.reported_at >= week.start_ts + timedelta(days=3),
                    rollup_case.c.reported_at < week.end_ts,
                )
                .order_by(rollup_case.c.id)
                .limit(1)
            )
            .mappings()
            .one()
        )
    late = {c.name: row[c.name] for c in incident.c} | {"id": "E-LATE-W46"}
    conn_id = was = None

    def computed_as_the_sources() -> None:
        with with_rollup.connect() as conn:
            got = weekly.review_tables(conn, f, NOW, CFG, "2026-W46", rules)
        with without.connect() as conn:
            want = weekly.review_tables(conn, f, NOW, CFG, "2026-W46", rules)
        for name in want:
            pd.testing.assert_frame_equal(got[name], want[name], obj=name)

    try:
        with writer.begin() as conn:
            conn.execute(insert(incident).values(**late))
        rollups.forget()
        with with_rollup.connect() as conn:
            assert "E-LATE-W46" in rollups.state(conn, NOW).changed_ids
            assert rollups.stored_review(conn, f, NOW, CFG, rules, week, names) is None
        computed_as_the_sources()
        with writer.begin() as conn:
            conn.execute(delete(incident).where(incident.c.id == "E-LATE-W46"))
        rollups.forget()
        with with_rollup.connect() as conn:  # as before: served again
            assert rollups.stored_review(conn, f, NOW, CFG, rules, week, names) is not None
        # A case open at the refresh, reported before the week, closed since
        # (after the week): as the review showed it, open at the week's end,
        # unless the review reads its report time (here: it does, so the
        # rule is asked with no such span) ...
        with writer.begin() as conn:
            conn_id, was = conn.execute(
                select(rollup_open_id.c.id, incident.c.status)
                .join(incident, incident.c.id == rollup_open_id.c.id)
                .where(
                    incident.c.street_code.like("330105%"),
                    incident.c.reported_at < week.start_ts,
                )
                .order_by(rollup_open_id.c.id)
                .limit(1)
            ).one()
            conn.execute(
                update(incident)
                .where(incident.c.id == conn_id)
                .values(status="closed", closed_at=NOW - timedelta(hours=2))
            )
        rollups.forget()
        with with_rollup.connect() as conn:
            assert conn_id in rollups.state(conn, NOW).settled_ids
            assert rollups.stored_review(conn, f, NOW, CFG, rules, week, names, []) is not None
            assert rollups.stored_review(conn, f, NOW, CFG, rules, week, names) is None
        # ... but cancelled it counts in no backlog: computed, as the source's.
        with writer.begin() as conn:
            conn.execute(
                update(incident)
                .where(incident.c.id == conn_id)
                .values(status="cancelled", closed_at=None)
            )
        rollups.forget()
        with with_rollup.connect() as conn:
            assert rollups.stored_review(conn, f, NOW, CFG, rules, week, names, []) is None
        computed_as_the_sources()
    finally:
        with writer.begin() as conn:
            conn.execute(delete(incident).where(incident.c.id == "E-LATE-W46"))
            if conn_id is not None:
                conn.execute(
                    update(incident)
                    .where(incident.c.id == conn_id)
                    .values(status=was, closed_at=None)
                )
        rollups.forget()


def test_changed_rows_are_read_live(rolled):
    """The reopened case counts as open and the new copy once, not twice."""
    with_rollup, without, _, _ = rolled
    with with_rollup.connect() as conn:
        got = overview.street_summary(conn, GONGSHU_WEEK, NOW)
        # Both are rolled up and subtracted from the per-day sums.
        found = rollups.state(conn, NOW)
        assert len(found.changed_ids) == 6  # and the two late entries
        assert len(found.settled_ids) == 1  # open at refresh, closed since
    with without.connect() as conn:
        want = overview.street_summary(conn, GONGSHU_WEEK, NOW)
    assert got["open_backlog"].sum() == want["open_backlog"].sum() > 0
    assert got["cases"].sum() == want["cases"].sum()


def test_cell_sizes_without_gain_are_not_kept(rolled, monkeypatch):
    """A cell size whose rows are hardly fewer than the cases is dropped
    (and every finer one with it); the map then snaps the cases."""
    _, _, writer, report = rolled
    with writer.connect() as conn, conn.begin() as trans:
        assert conn.execute(select(func.count()).select_from(rollup_cell_week)).scalar() > 0
        conn.execute(delete(rollup_cell_week))
        monkeypatch.setattr(refresh_rollups, "MAX_CELL_ROWS_SHARE", 0.0)
        assert refresh_rollups._store_cell_weeks(conn, CFG, report.sealed_until) == []
        assert conn.execute(select(func.count()).select_from(rollup_cell_week)).scalar() == 0
        monkeypatch.setattr(refresh_rollups, "MAX_CELL_ROWS_SHARE", 100.0)
        assert len(refresh_rollups._store_cell_weeks(conn, CFG, report.sealed_until)) >= 2
        trans.rollback()


def test_other_targets_judge_the_cases_not_the_day_sums(rolled):
    """The per-day judgements hold for the targets they were made under: a
    site whose targets changed since the refresh gets its own judgements."""
    with_rollup, without, _, _ = rolled
    stricter = replace(
        CFG, default_targets=replace(CFG.default_targets, minutes=(("arrived", 7.0),))
    )
    with statements(with_rollup) as seen, with_rollup.connect() as conn:
        assert not rollups.state(conn, NOW).day_counts(WHOLE, stricter)
        got = throughput.case_throughput(conn, WHOLE, NOW, stricter)
    assert not any("rollup_case_day" in s for s in seen)
    with without.connect() as conn:
        want = throughput.case_throughput(conn, WHOLE, NOW, stricter)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert got["arrived_late"].sum() > 0


def test_fallbacks_read_the_source(rolled, tmp_path):
    with_rollup, _, writer, report = rolled
    with with_rollup.connect() as conn:
        # A pinned clock before the seal cannot use the rollup.
        assert rollups.state(conn, report.sealed_until - timedelta(seconds=1)) is None
        assert rollups.state(conn, report.sealed_until) is not None
    # Without rollup tables every query reads the source.
    path = tmp_path / "bare.sqlite"
    build_demo(f"sqlite:///{path}", days=3, seed=3, scale=0.05, end=NOW)
    bare = make_engine(f"sqlite:///{path}")
    try:
        with bare.connect() as conn:
            assert rollups.state(conn, NOW) is None
            assert len(overview.street_summary(conn, WHOLE, NOW)) > 0
    finally:
        bare.dispose()


def test_unreadable_rollup_falls_back_to_the_source(rolled):
    """A rollup the dashboards cannot read gets the source tables' figures,
    not an error: on PostgreSQL a reader without SELECT on the rollup tables
    (the job ran as another user); elsewhere a rollup table gone missing."""
    with_rollup, without, writer, _ = rolled
    with without.connect() as conn:
        want = overview.street_summary(conn, WHOLE, NOW)
    if writer.dialect.name == "postgresql":
        role = f"ops_reader_{secrets.token_hex(3)}"
        contract = ", ".join(t.name for t in metadata.sorted_tables)
        with writer.begin() as conn:
            conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
            conn.exec_driver_sql(f"GRANT SELECT ON {contract}, rollup_meta TO {role}")
        url = make_url(str(writer.url.render_as_string(False))).set(username=role)
        reader = make_engine(url.render_as_string(False))
        try:
            with reader.connect() as conn:
                assert rollups.state(conn, NOW) is None
                got = overview.street_summary(conn, WHOLE, NOW)
        finally:
            reader.dispose()
            rollups.forget()
            with writer.begin() as conn:
                conn.exec_driver_sql(f"DROP OWNED BY {role}")
                conn.exec_driver_sql(f"DROP ROLE {role}")
    else:
        with writer.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE rollup_open_id RENAME TO rollup_open_id_away")
        rollups.forget()
        try:
            with with_rollup.connect() as conn:
                assert rollups.state(conn, NOW) is None
                got = overview.street_summary(conn, WHOLE, NOW)
        finally:
            with writer.begin() as conn:
                conn.exec_driver_sql("ALTER TABLE rollup_open_id_away RENAME TO rollup_open_id")
            rollups.forget()
    pd.testing.assert_frame_equal(got, want)
    with with_rollup.connect() as conn:  # and the rollup is used again once readable
        assert rollups.state(conn, NOW) is not None


def test_rollup_without_the_incident_quality_table_reads_the_rows(rolled):
    """A rollup built before ``rollup_incident_quality_day`` existed (until
    its next refresh): the data-quality incident checks read the window's
    rows, the rest of the rollup is still used, and the figures are the
    source's."""
    with_rollup, without, writer, _ = rolled
    with without.connect() as conn:
        want = quality.data_quality(conn, WHOLE, NOW, CFG)
    with writer.begin() as conn:
        conn.exec_driver_sql(
            "ALTER TABLE rollup_incident_quality_day RENAME TO rollup_incident_quality_away"
        )
    rollups.forget()
    try:
        with statements(with_rollup) as seen, with_rollup.connect() as conn:
            found = rollups.state(conn, NOW)
            assert found is not None and not found.incident_quality
            got = quality.data_quality(conn, WHOLE, NOW, CFG)
        # (The existence check names the table too; no SELECT reads it.)
        assert not any("FROM rollup_incident_quality_day" in s for s in seen)
        assert any("FROM rollup_crowd_quality_day" in s for s in seen)
    finally:
        with writer.begin() as conn:
            conn.exec_driver_sql(
                "ALTER TABLE rollup_incident_quality_away RENAME TO rollup_incident_quality_day"
            )
        rollups.forget()
    pd.testing.assert_frame_equal(got, want)


def test_refresh_command(tmp_path, capsys):
    path = tmp_path / "cmd.sqlite"
    url = f"sqlite:///{path}"
    build_demo(url, days=3, seed=3, scale=0.05, end=NOW)
    assert refresh_rollups.main(["refresh", "--url", url, "--now", NOW.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "settled cases before 2026-11-20 00:00" in out
    # A second refresh replaces the contents (and upgrades a table whose
    # columns changed between versions).
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE rollup_meta DROP COLUMN max_closed_min")
    finally:
        engine.dispose()
    assert refresh_rollups.main(["refresh", "--url", url, "--now", NOW.isoformat()]) == 0
    capsys.readouterr()
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            state = rollups.state(conn, NOW)
            assert state is not None and state.max_closed_min is not None
            assert state.max_closed_min > 60
    finally:
        engine.dispose()
    assert refresh_rollups.main(["refresh", "--url", url, "--now", "yesterday"]) == 2
    assert "--now" in capsys.readouterr().err
    assert refresh_rollups.main(["drop", "--url", url]) == 0
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert rollups.state(conn, NOW) is None
    finally:
        engine.dispose()


def test_disjoint_spans_merge_overlaps_and_drop_empty_ones():
    """The rolled-up rows are read one SELECT per span: spans that overlap
    or touch are merged (no row read twice), empty ones dropped."""
    d = datetime(2026, 11, 1)
    h = timedelta(hours=1)
    spans = [(d + 5 * h, d + 7 * h), (d, d + 2 * h), (d + 2 * h, d + 3 * h), (d + 6 * h, d + 9 * h)]
    spans += [(d + 4 * h, d + 4 * h), (d + 11 * h, d + 10 * h)]
    assert disjoint_spans(spans) == [(d, d + 3 * h), (d + 5 * h, d + 9 * h)]
    assert disjoint_spans([]) == []


@pytest.mark.parametrize("name", list(QUERIES))
def test_a_scope_through_the_rollup_is_its_streets_figures(rolled, name):
    """Row-level security through the rollup tables: a user scoped to two
    of 拱墅's streets, with no district picked, gets the figures of those
    two streets named, read from the source tables."""
    with_rollup, without, _, _ = rolled
    with without.connect() as conn:
        codes = tuple(
            conn.execute(
                select(incident.c.street_code)
                .where(incident.c.street_code.like("330105%"))
                .group_by(incident.c.street_code)
                .order_by(func.count().desc(), incident.c.street_code)
                .limit(2)
            ).scalars()
        )
        want = QUERIES[name](conn, replace(WHOLE, district="330105", streets=codes))
    if name == "data_quality":  # the whole database's counts are withheld from a scope
        whole_db = want["scope"] == "database"
        want.loc[whole_db, "rows"] = 0
        want.loc[whole_db, "scope"] = "withheld"
    scoped = replace(WHOLE, scope=codes)
    with with_rollup.connect() as conn:
        assert rollups.state(conn, NOW) is not None
        got = QUERIES[name](conn, scoped)
        listed = QUERIES[name](conn, resolve_streets(conn, scoped))
    for frame in (got, listed):
        pd.testing.assert_frame_equal(
            frame.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False
        )


def test_a_stored_weekly_review_is_never_served_to_a_scope(rolled):
    with_rollup, _, _, _ = rolled
    week = weekly_model.last_complete_week(NOW)
    rules = load_warning_rules()
    with with_rollup.connect() as conn:
        f = replace(GONGSHU_WEEK, start=week.monday, end=week.sunday)
        stored = rollups.stored_review(conn, f, NOW, CFG, rules, week, weekly.REVIEW_TABLES)
        streets = tuple(
            conn.execute(
                select(func.distinct(rollup_case.c.street_code)).where(
                    rollup_case.c.street_code.like("330105%")
                )
            ).scalars()
        )
        scoped = replace(f, scope=streets[:1])
        assert stored is not None  # the district's review is stored ...
        # ... and not handed to a user who may see one of its streets,
        tables = weekly.REVIEW_TABLES
        assert rollups.stored_review(conn, scoped, NOW, CFG, rules, week, tables) is None
        # ... but to one whose scope is the whole district (and more).
        district = tuple(
            conn.execute(
                select(street.c.code).where(
                    or_(street.c.district_code == "330105", street.c.code.like("330102%"))
                )
            ).scalars()
        )
        served = rollups.stored_review(
            conn, replace(f, scope=district), NOW, CFG, rules, week, tables
        )
        assert served is not None
        for name in tables:
            pd.testing.assert_frame_equal(served[name], stored[name])
