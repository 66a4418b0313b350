"""The live source (demo/live.py): a demo opened days after its build is
current, the source's command line refuses bad input, and the figures stay
right while it writes: the pages read and the rollup job refreshes (across
a midnight, so the seal moves) while the source writes at a high speed-up,
and once it stops every figure equals the independent pandas computation
on the final rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import create_engine, event, func, select, update

import rollups
from data_access.config import load_site_config
from data_access.connection import make_engine
from data_access.filters import AreaFilter
from data_access.schema import crowd_reading, incident
from demo.build import build_demo, main
from demo.live import LiveClock, LiveError, LiveWriter, WriterLock, run, wall_now
from jobs import refresh_rollups
from metrics import overview, throughput
from metrics import warnings as w
from metrics.warning_rules import load_warning_rules
from rollups import rollup_case
from tests import reference
from tests import reference_throughput as ref
from tests.conftest import scratch_database
from tests.test_app import metric, no_errors
from tests.test_auth_app import signed_in, street  # noqa: F401 (fixtures)
from tests.test_screen import _figure
from tests.test_throughput import _compare
from tests.test_warnings import ref_colours

CFG = load_site_config()
RULES = load_warning_rules()
#: The end of the built data: 22:00, so that the source writes across
#: midnight and into the morning (cases today).
BUILT = datetime(2026, 11, 20, 22, 0)
#: Data time the source writes, and how fast (an hour and a half a second).
WRITTEN = timedelta(hours=11)
SPEED = 5400.0
SEED = 3
#: Read while the source writes, in turn (on a busy machine perhaps not all:
#: those left are read once it has stopped, the last two with their figures).
PAGES = ("pages/throughput.py", "pages/warnings.py", "Home.py", "pages/command-screen.py")


def _latest(engine, column):
    with engine.connect() as conn:
        return pd.Timestamp(conn.execute(select(func.max(column))).scalar()).to_pydatetime()


def test_a_demo_opened_three_days_after_its_build_is_current(tmp_path):
    opened = datetime(2026, 11, 20, 11, 0)  # a fixed day: the same rows every run
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    build_demo(url, days=5, seed=SEED, scale=0.1, end=opened - timedelta(days=3))
    writer = LiveWriter(url, seed=SEED)
    assert writer.until == opened - timedelta(days=3) and writer.scale == pytest.approx(0.1, 0.02)
    step = writer.advance_to(opened)
    writer.close()
    assert writer.until == opened
    raw = create_engine(url)
    # Every feed is current: the last reading interval ended within one
    # interval of now, the newest case minutes ago; petitions, warnings
    # and housing checks were written in the gap too.
    last_reading = _latest(raw, crowd_reading.c.ts)
    assert opened - timedelta(minutes=15) <= last_reading + timedelta(minutes=15) <= opened
    assert opened - timedelta(minutes=15) <= _latest(raw, incident.c.reported_at) <= opened
    assert step.petitions > 0 and step.warnings > 0 and step.housing > 0 and step.milestones > 0
    cases = reference.read(raw, "incident")
    cases = cases[cases["reported_at"] <= opened]
    per_day = cases.groupby(cases["reported_at"].dt.date).size()
    built, filled = per_day.iloc[1:3].mean(), per_day.iloc[-3:-1].mean()
    assert 0.7 < filled / built < 1.3, per_day  # the same rate as the build's
    old = cases[cases["reported_at"] < opened - timedelta(days=2)]
    assert old["status"].isin(["closed", "cancelled"]).mean() > 0.95  # the cut cases closed
    raw.dispose()


def test_the_first_start_option_keeps_the_embedded_demo_current(app_test, monkeypatch, tmp_path):
    """``OPS_DEMO_LIVE=1``: the dashboards fill the gap of the embedded demo
    (with a progress box) and then write in real time, one writer only."""
    from ui import data

    path = tmp_path / "demo.sqlite"
    now = wall_now()
    build_demo(f"sqlite:///{path}", days=4, seed=SEED, scale=0.05, end=now - timedelta(days=3))
    monkeypatch.setenv("OPS_DEMO_PATH", str(path))
    monkeypatch.setenv("OPS_DEMO_LIVE", "1")
    monkeypatch.setattr(data, "database_origin", lambda: "demo")
    data.stop_live_demo()
    try:
        at = app_test("Home.py", "sqlite:///unused")
        no_errors(at)
        boxes = [str(b.label) for b in at.get("status")]
        assert any("补齐" in b for b in boxes), boxes
        background = data._live
        assert background and background.thread.is_alive()
        with pytest.raises(LiveError, match="another live writer"):
            WriterLock(create_engine(f"sqlite:///{path}")).acquire()
        raw = create_engine(f"sqlite:///{path}")
        assert _latest(raw, crowd_reading.c.ts) >= now - timedelta(minutes=30)
        raw.dispose()
    finally:
        data.stop_live_demo()


def test_the_overviews_own_refresh_is_no_activity(
    app_test,
    sqlite_demo,
    signed_in,  # noqa: F811 (the fixture of tests/test_auth_app.py)
    monkeypatch,
):
    """The overview reruns itself (``ui.data.rerun_every``); such a run
    must not keep an idle signed-in session alive."""
    from ui import data

    signed_in("analyst@hz.gov.cn")
    monkeypatch.setenv("OPS_NOW", BUILT.isoformat())
    at = app_test("Home.py", sqlite_demo.url)
    no_errors(at)
    idle_since = time.time() - 10 * 60
    at.session_state["_auth_last_active"] = idle_since
    at.session_state[data.TIMER_RUN] = True  # what the page's timer sets
    at.run(timeout=60)
    assert at.session_state["_auth_last_active"] == idle_since and at.metric
    assert data.TIMER_RUN not in at.session_state
    at.run(timeout=60)  # the user's own run
    assert at.session_state["_auth_last_active"] > idle_since


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["live", "--url", "notaurl"], "--url"),
        (["live", "--speed", "0", "--url", "sqlite:///{tmp}/x.sqlite"], "--speed"),
        (["live", "--speed", "-3", "--url", "sqlite:///{tmp}/x.sqlite"], "--speed"),
        (["live", "--url", "sqlite:///{tmp}/none.sqlite"], "build it first"),
        (["live", "--url", "postgresql+psycopg://nobody@127.0.0.1:1/none"], "cannot use"),
        (["live", "--start", "soon", "--url", "sqlite:///{tmp}/x.sqlite"], "--start"),
    ],
)
def test_the_command_refuses_bad_input_with_a_message(argv, said, tmp_path, capsys):
    code = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and said in err and "Traceback" not in err, err


# -- right while writing ------------------------------------------------------


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.backend)]
)
def demo_db(request, tmp_path_factory):
    url, drop = scratch_database(request.param, tmp_path_factory)
    build_demo(url, days=9, seed=SEED, scale=0.1, end=BUILT)
    yield url
    rollups.forget()
    if drop:
        drop()


def _reopen(url: str, n: int) -> list[str]:
    """What a source system does: rolled-up cases reopened."""
    engine = create_engine(url)
    with engine.begin() as conn:
        ids = list(
            conn.execute(
                select(rollup_case.c.id)
                .where(rollup_case.c.status == "closed")
                .order_by(rollup_case.c.reported_at.desc(), rollup_case.c.id)
                .limit(n)
            ).scalars()
        )
        conn.execute(
            update(incident)
            .where(incident.c.id.in_(ids))
            .values(status="open", closed_at=None, outcome=None)
        )
    engine.dispose()
    return ids


@pytest.mark.backend
def test_a_case_closed_during_a_refresh_is_counted_once(tmp_path_factory):
    """The refresh lists the open cases, then rolls up the settled ones: a
    case closed between the two statements must be in one of them, not
    both (PostgreSQL; on SQLite and MariaDB the refresh holds the rows, so
    a writer waits for it)."""
    url, drop = scratch_database("postgresql", tmp_path_factory)
    job, other = create_engine(url), create_engine(url)
    try:
        build_demo(url, days=4, seed=SEED, scale=0.05, end=BUILT)
        seal = datetime.combine(BUILT.date(), datetime.min.time())
        with other.begin() as conn:
            victim = conn.execute(
                select(incident.c.id)
                .where(incident.c.status == "closed", incident.c.reported_at < seal)
                .order_by(incident.c.id)
                .limit(1)
            ).scalar_one()
            closed_at = conn.execute(
                select(incident.c.closed_at).where(incident.c.id == victim)
            ).scalar_one()
            conn.execute(
                update(incident)
                .where(incident.c.id == victim)
                .values(status="on_site", closed_at=None)
            )

        def close_it(_conn, _cursor, statement, *_args) -> None:
            if statement.lstrip().startswith("INSERT INTO rollup_open_id"):
                with other.begin() as conn:  # the source closes it, mid-refresh
                    conn.execute(
                        update(incident)
                        .where(incident.c.id == victim)
                        .values(status="closed", closed_at=closed_at)
                    )

        event.listen(job, "after_cursor_execute", close_it)
        refresh_rollups.refresh(job, BUILT, reviews=0)
        event.remove(job, "after_cursor_execute", close_it)
        rollups.forget()
        f = AreaFilter(start=BUILT.date() - timedelta(days=3), end=BUILT.date())
        engine = make_engine(url)
        with engine.connect() as conn:
            got = overview.case_counts(conn, f, BUILT).iloc[0].to_dict()
        engine.dispose()
        raw = {t: reference.read(job, t) for t in ("street", "incident")}
        assert got == reference.case_counts(raw["incident"], raw["street"], f, BUILT)
    finally:
        job.dispose()
        other.dispose()
        rollups.forget()
        if drop:
            drop()


def test_figures_are_right_while_the_source_writes(app_test, demo_db, monkeypatch):
    url = demo_db
    job = create_engine(url)
    writer = LiveWriter(url, seed=SEED)
    lock = WriterLock(writer.engine).acquire()
    clock = LiveClock(BUILT, SPEED, cap=False)
    end = BUILT + WRITTEN
    failures: list[BaseException] = []

    def write() -> None:
        try:
            run(writer, clock, tick_s=0.2, until=end)
        except BaseException as exc:  # noqa: BLE001 (reported by the test)
            failures.append(exc)

    source = threading.Thread(target=write, daemon=True)
    source.start()
    reads, refreshed, reopened = 0, [], []
    try:
        while source.is_alive():
            sim = clock.now()
            if not refreshed or (len(refreshed) == 1 and sim.date() > BUILT.date()):
                refresh_rollups.refresh(job, sim, reviews=0)  # the seal moves at midnight
                refreshed.append(sim)
                if len(refreshed) == 2:
                    reopened = _reopen(url, 4)
                continue
            monkeypatch.setenv("OPS_NOW", sim.isoformat())
            at = app_test(PAGES[reads % len(PAGES)], url)
            no_errors(at)
            reads += 1
        source.join()
    finally:
        lock.release()
        writer.close()
    assert not failures, failures
    assert reads >= 1 and len(refreshed) == 2, (reads, refreshed)
    assert reopened, "no case was reopened"

    # Quiesced: the figures once every cache's lifetime has passed.
    rollups.forget()
    now = end
    monkeypatch.setenv("OPS_NOW", now.isoformat())
    raw = {
        t: reference.read(job, t)
        for t in ("street", "incident", "petition", "housing_record", "warning")
    }
    inc = raw["incident"]
    seal = datetime.combine(refreshed[1].date(), datetime.min.time())
    # Written on both sides of the last refresh's seal (its midnight).
    written = inc[inc["reported_at"] > BUILT]
    assert (written["reported_at"] < seal).any() and (written["reported_at"] >= seal).any()
    assert set(reopened) <= set(inc.loc[inc["status"] == "open", "id"])

    engine = make_engine(url)
    with engine.connect() as conn:
        state = rollups.state(conn, now)
    # Both ways a rolled-up figure meets the live part were taken: cases
    # open at the refresh closed since, and rolled-up cases reopened.
    assert state is not None and state.settled_ids and set(reopened) <= set(state.changed_ids)
    week = AreaFilter(start=now.date() - timedelta(days=6), end=now.date())
    gongshu = AreaFilter(start=week.start, end=week.end, district=CFG.default_district)
    for f in (week, gongshu):
        with engine.connect() as conn:
            got = overview.case_counts(conn, f, now).iloc[0].to_dict()
            table = throughput.case_throughput(conn, f, now, CFG, by="street")
        want = reference.case_counts(inc, raw["street"], f, now)
        assert got == want, (f, got, want)
        expected = ref.case_throughput(inc, raw["street"], f, now, CFG, by="street")
        _compare(
            table[table["street_code"].isin(expected["street_code"])], expected, ["street_code"]
        )
    for domain in RULES.domains:
        with engine.connect() as conn:
            dist = w.distribution(conn, week, now, RULES, domain)
        colours = ref_colours(raw, domain, now)["colour"].value_counts()
        for colour in ("red", "yellow", "green"):
            assert dist[colour].sum() == colours.get(colour, 0), (domain, colour)
    engine.dispose()

    # ... and on the pages.
    for page in PAGES[reads:2]:
        no_errors(app_test(page, url))
    want = reference.case_counts(inc, raw["street"], gongshu, now)
    at = app_test("Home.py", url)
    no_errors(at)
    assert metric(at, "overview.today") == f"{want['today']:,}"
    assert metric(at, "overview.this_week") == f"{want['this_week']:,}"
    assert metric(at, "overview.backlog") == f"{want['open_backlog']:,}"
    today = AreaFilter(start=now.date(), end=now.date())
    want = reference.case_counts(inc, raw["street"], today, now)
    at = app_test("pages/command-screen.py", url, query_params={"district": ""})  # the city
    no_errors(at)
    assert _figure(at, "today") == f"{want['today']:,}" and want["today"] > 0
    assert _figure(at, "open") == f"{want['open_backlog']:,}"
    job.dispose()
