"""The command screen: rotation/backoff logic, its queries against pandas on
three backends, the page under AppTest, and resilience to a lost database
(real PostgreSQL behind a proxy that the test cuts and restores)."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from data_access import geography
from data_access.config import DEFAULT_CONFIG_PATH, ScreenView, load_site_config, parse_site_config
from data_access.filters import AreaFilter
from metrics import overview, screen, warnings
from metrics.warning_rules import load_warning_rules
from tests.conftest import FIXTURE_END
from ui.screen import loading as ui_loading
from ui.screen import params as ui_params
from ui.screen import runner as ui_runner
from ui.screen import stage as ui_stage

NOW = FIXTURE_END
CFG = load_site_config(DEFAULT_CONFIG_PATH)

# ---------------------------------------------------------------------------
# Pure logic


def test_rotation_walks_the_playlist_and_loops():
    seconds = [60, 45, 30]
    assert ui_params.playlist_position(seconds, 0) == (0, 60)
    assert ui_params.playlist_position(seconds, 59.5) == (0, 0.5)
    assert ui_params.playlist_position(seconds, 60) == (1, 45)
    assert ui_params.playlist_position(seconds, 134) == (2, 1)
    assert ui_params.playlist_position(seconds, 135) == (0, 60)  # loops
    assert ui_params.playlist_position(seconds, 135 * 1000 + 70) == (1, 35)
    assert ui_params.playlist_position([], 10)[0] == 0


def test_views_from_url_parameters():
    sc = CFG.screen
    default, bad = ui_params.views_from_params({}, sc)
    assert default == sc.playlist("default") and not bad
    named, bad = ui_params.views_from_params({"playlist": "districts"}, sc)
    assert named == sc.playlist("districts") and named[0].district == "330105" and not bad
    one, bad = ui_params.views_from_params({"view": "throughput,warnings", "rotate": "15"}, sc)
    assert [v.page for v in one] == ["throughput", "warnings"] and not bad
    assert ui_params.view_seconds(one, sc.rotate_s) == [15, 15]
    fallback, bad = ui_params.views_from_params(
        {"playlist": "nope", "rotate": "0"}, sc
    )  # bad values fall back and are reported
    assert fallback == default and bad == [("playlist", "nope"), ("rotate", "0")]
    _, bad = ui_params.views_from_params({"view": "drop-tables"}, sc)
    assert bad == [("view", "drop-tables")]
    kept, bad = ui_params.views_from_params({"view": "throughput,crowdmap,warnings"}, sc)
    assert [v.page for v in kept] == ["throughput", "warnings"]
    assert bad == [("view", "crowdmap")]  # the typo alone
    kept, bad = ui_params.views_from_params({"view": ",,"}, sc)
    assert kept == default and bad == [("view", ",,")]
    assert ui_params.view_seconds([ScreenView("warnings")], 60) == [60]


def test_street_cycling():
    sc = CFG.screen
    streets = pd.DataFrame(
        {
            "code": ["330105002", "330105001", "330102001"],
            "district_code": ["330105", "330105", "330102"],
        }
    )
    views, bad = ui_params.views_from_params({"view": "throughput", "cycle": "streets"}, sc)
    assert not bad and views == (ScreenView("throughput", each_street=True),)
    # The wall's district, in code order; each view is one street.
    assert ui_params.expand_views(views, streets, "330105") == (
        ScreenView("throughput", district="330105", streets=("330105001",)),
        ScreenView("throughput", district="330105", streets=("330105002",)),
    )
    # A view's own district wins; the whole city when neither names one.
    own = (ScreenView("warnings", district="330102", seconds=20, each_street=True),)
    assert ui_params.expand_views(own, streets, "330105") == (
        ScreenView("warnings", district="330102", streets=("330102001",), seconds=20),
    )
    assert len(ui_params.expand_views(views, streets, None)) == 3
    # Other views pass through; a district without streets keeps its view.
    plain = (ScreenView("crowd-map"), ScreenView("throughput", district="330199", each_street=True))
    assert ui_params.expand_views(plain, streets, None) == (
        ScreenView("crowd-map"),
        ScreenView("throughput", district="330199"),
    )
    _, bad = ui_params.views_from_params({"cycle": "grids"}, sc)
    assert bad == [("cycle", "grids")]
    parsed = parse_site_config(
        {"screen": {"playlists": {"wall": [{"page": "throughput", "each_street": True}]}}}
    )
    assert parsed.screen.playlist("wall") == (ScreenView("throughput", each_street=True),)


def test_wall_scale():
    assert ui_params.wall_scale({}) == (1.0, [])
    assert ui_params.wall_scale({"scale": "2"}) == (2.0, [])
    assert ui_params.wall_scale({"scale": "3"}) == (1.0, [("scale", "3")])
    assert ui_params.map_geometry(10.0, 1.0) == (10.6, 680)
    assert ui_params.map_geometry(10.0, 2.0) == (11.6, 1360)


def test_backoff_and_staleness():
    assert [ui_runner.backoff_s(n, 30, 300) for n in range(7)] == [0, 30, 60, 120, 240, 300, 300]
    s = ui_runner.succeeded({"x": 1}, 1000.0)
    assert ui_runner.due(s, 1000.0) and ui_runner.stale_minutes(s, 5000.0) is None
    s = ui_runner.failed(s, 1030.0, 30, 300)
    assert s.data == {"x": 1} and s.failures == 1 and s.next_try_at == 1060.0
    assert not ui_runner.due(s, 1059.0) and ui_runner.due(s, 1060.0)
    assert ui_runner.stale_minutes(s, 1030.0) == "<1"
    s = ui_runner.failed(s, 1060.0, 30, 300)
    assert s.next_try_at == 1120.0 and ui_runner.stale_minutes(s, 1190.0) == "3"
    assert ui_runner.succeeded({"x": 2}, 1200.0).failures == 0
    never = ui_runner.failed(None, 10.0, 30, 300)
    assert never.data is None and never.ok_at is None and ui_runner.stale_minutes(never, 99) is None


def test_screen_config_section():
    cfg = load_site_config(DEFAULT_CONFIG_PATH)
    assert cfg.screen.refresh_s == 30 and cfg.problems == ()
    bad = parse_site_config(
        {
            "screen": {
                "refresh_s": 0,
                "rotate_s": "soon",
                "playlists": {
                    "wall": [
                        {"page": "crowd-map", "params": {"district": "33"}, "seconds": -1},
                        {"page": "weather"},
                        "warnings",
                    ],
                    "empty": [{"page": "nope"}],
                },
            }
        }
    )
    text = "\n".join(bad.problems)
    for key in (
        "screen.refresh_s",
        "screen.rotate_s",
        "screen.playlists.wall[0].params.district",
        "screen.playlists.wall[0].seconds",
        "screen.playlists.wall[1].page",
        "screen.playlists.wall[2]",
        "screen.playlists.empty",
    ):
        assert key in text, key
    assert bad.screen.refresh_s == 30 and bad.screen.rotate_s == 60
    assert bad.screen.playlist("wall") == (ScreenView("crowd-map"),)
    assert bad.screen.playlist("default")  # always present
    assert bad.screen.playlist("empty") is None


# ---------------------------------------------------------------------------
# Queries against an independent pandas computation


def _read(backend, sql: str, **params) -> pd.DataFrame:
    with backend.raw_engine.connect() as conn:
        return pd.read_sql_query(text(sql), conn, params=params)


def _reference_late_arrivals(backend, f: AreaFilter, hours: float) -> list[str]:
    since = NOW - timedelta(days=1)
    inc = _read(backend, "SELECT * FROM incident WHERE reported_at >= :since", since=since)
    streets = _read(backend, "SELECT code, district_code FROM street")
    if f.district:
        streets = streets[streets["district_code"] == f.district]
    for c in ("reported_at", "accepted_at", "dispatched_at", "arrived_at", "closed_at"):
        inc[c] = pd.to_datetime(inc[c])
    inc = inc[inc["reported_at"] <= NOW]
    inc = inc.sort_values(["id", "reported_at", "accepted_at"]).drop_duplicates("id")
    inc = inc.merge(streets, left_on="street_code", right_on="code")
    out = []
    for r in inc.itertuples():
        if r.status == "cancelled":
            continue
        target = CFG.targets_for(r.street_code, r.district_code).get("arrived")
        if target is None:
            continue
        earlier = [r.reported_at, r.accepted_at, r.dispatched_at]
        if pd.notna(r.arrived_at) and any(pd.notna(e) and r.arrived_at < e for e in earlier):
            continue  # out of order: excluded
        breach = r.reported_at + timedelta(minutes=target)
        if not (NOW - timedelta(hours=hours) <= breach < NOW):
            continue
        if pd.notna(r.arrived_at):
            late = (r.arrived_at - r.reported_at).total_seconds() / 60 > target
        else:
            late = pd.isna(r.closed_at) and r.status in ("open", "dispatched", "on_site")
        if late:
            out.append((breach, r.id))
    return [i for _, i in sorted(out, key=lambda x: (-x[0].value, x[1]))]


def test_late_arrivals_match_pandas(backend):
    f = AreaFilter(start=NOW.date(), end=NOW.date())
    with backend.engine.connect() as conn:
        got = screen.late_arrivals(conn, f, NOW, CFG, hours=6)
    want = _reference_late_arrivals(backend, f, 6)
    assert want, "fixture has no late arrivals in the last 6 hours"
    assert sorted(got["id"]) == sorted(want)
    assert got["breached_at"].is_monotonic_decreasing
    assert list(got.columns) == screen.LATE_ARRIVAL_COLUMNS
    assert not {"address", "reporter_name", "reporter_phone"} & set(got.columns)


def test_new_red_warnings_and_alerts_match_pandas(backend):
    f = AreaFilter(start=NOW.date(), end=NOW.date(), district="330105")
    with backend.engine.connect() as conn:
        got = screen.new_red_warnings(conn, f, NOW, CFG, hours=72)
        strip = screen.alerts(conn, f, NOW, CFG, case_hours=6, warning_hours=72)
        venues = screen.alerts(conn, AreaFilter(start=NOW.date(), end=NOW.date()), NOW, CFG)
    w = _read(backend, "SELECT * FROM warning")
    s = _read(backend, "SELECT code FROM street WHERE district_code = '330105'")
    w["raised_at"] = pd.to_datetime(w["raised_at"])
    w["cleared_at"] = pd.to_datetime(w["cleared_at"])
    want = w[
        (w["colour"] == "red")
        & (w["raised_at"] <= NOW)
        & (w["raised_at"] > NOW - timedelta(hours=72))
        & (w["cleared_at"].isna() | (w["cleared_at"] > NOW))
        & w["street_code"].isin(s["code"])
    ].sort_values(["raised_at", "id"], ascending=[False, True])
    assert list(got["id"]) == list(want["id"])
    assert set(strip.loc[strip["kind"] == "warning", "ref"]) == set(want["id"])
    assert strip["at"].is_monotonic_decreasing
    assert set(strip["kind"]) <= {"venue", "warning", "case"}
    over = venues.loc[venues["kind"] == "venue"]
    assert (over["load"] >= CFG.map.venue_alert_share).all()
    assert (over["people"] >= over["capacity"] * CFG.map.venue_alert_share).all()


def test_street_ranking_orders_by_share(backend):
    f = AreaFilter(start=NOW.date() - timedelta(days=6), end=NOW.date(), district="330105")
    with backend.engine.connect() as conn:
        ranked = screen.street_ranking(conn, f, NOW, CFG)
    assert len(ranked) > 5 and list(ranked["rank"]) == list(range(1, len(ranked) + 1))
    assert ranked["on_time_share"].is_monotonic_decreasing
    assert (ranked["judged"] > 0).all()


# ---------------------------------------------------------------------------
# The page


def _html(at) -> str:
    return "\n".join(h.proto.body for h in at.get("html"))


def _figure(at, key: str) -> str:
    m = re.search(rf'data-key="{key}">.*?class="scr-value[^"]*">([^<]*)<', _html(at), re.S)
    assert m, f"no figure {key}"
    return m.group(1)


def _no_errors(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert "Traceback" not in _html(at)


@pytest.fixture
def pinned(monkeypatch):
    monkeypatch.setenv("OPS_NOW", NOW.isoformat())
    ui_loading.clear_cache()
    yield
    ui_loading.clear_cache()


def test_page_headline_numbers_match_sql(app_test, sqlite_demo, pinned):
    at = app_test("pages/command-screen.py", sqlite_demo.url)
    _no_errors(at)
    assert at.title and "指挥大屏" in at.title[0].value
    f = AreaFilter(start=NOW.date(), end=NOW.date(), district=CFG.default_district)
    with sqlite_demo.engine.connect() as conn:
        counts = overview.case_counts(conn, f, NOW).iloc[0]
        # The same red figure as the overview's: rule-based, every domain.
        reds = warnings.red_counts(conn, f, NOW, load_warning_rules())
        crowd = overview.largest_crowd(conn, f, NOW)
        strip = screen.alerts(conn, f, NOW, CFG, 1, 24)
    assert _figure(at, "today") == f"{counts['today']:,}"
    assert _figure(at, "open") == f"{counts['open_backlog']:,}"
    assert _figure(at, "red") == f"{int(reds['red'].sum()):,}"
    assert _figure(at, "crowd") == f"{int(crowd['people'].iloc[0]):,}"
    assert re.search(rf'data-key="alerts" data-n="{len(strip)}"', _html(at))
    body = _html(at)
    for key in ("ranking", "stage", "as_of", "clock"):
        assert f'data-key="{key}"' in body, key
    assert "data-tile-stale" not in body
    assert "height: 66vh" in body  # the map fills the stage


def test_page_shows_each_view(app_test, sqlite_demo, pinned):
    at = app_test("pages/command-screen.py", sqlite_demo.url, query_params={"view": "crowd-map"})
    for page in ("crowd-map", "incident-map", "throughput", "warnings"):
        at.query_params["view"] = page
        at.run()
        _no_errors(at)
        assert f'data-view="{page}"' in _html(at)
        # One deck on every view: the map slot stays mounted (a deck.gl
        # canvas re-created on each rotation leaked browser memory) and is
        # collapsed while a non-map view is on the stage.
        decks = at.get("deck_gl_json_chart")
        assert len(decks) == 1
        hidden = ui_stage.HIDE_MAP_SLOT_CSS in _html(at)
        assert hidden == (not page.endswith("-map")), page
    # The hidden deck is the last map shown (incident map), not a new one.
    assert '"incident-cells"' in decks[0].proto.json


def test_page_cycles_through_streets(app_test, sqlite_demo, pinned, monkeypatch):
    """``?cycle=streets``: the stage shows one street of the wall's district
    at a time, the one the playlist clock points at."""
    with sqlite_demo.engine.connect() as conn:
        streets = geography.streets(conn)
    mine = streets[streets["district_code"] == CFG.default_district].sort_values("code")
    monkeypatch.setattr(ui_runner, "clock", lambda: 20 * 2 + 1.0)  # the third view
    at = app_test(
        "pages/command-screen.py",
        sqlite_demo.url,
        query_params={"view": "throughput", "cycle": "streets", "rotate": "20"},
    )
    _no_errors(at)
    third = mine.iloc[2]["name_zh"]
    html = _html(at)
    stage = re.search(r"scr-stage-title.*?</div>", html, re.S)
    assert stage, html[:2000]
    assert third in stage.group(0) and f"3/{len(mine)}" in stage.group(0), stage.group(0)


def test_4k_wall_map_is_one_zoom_level_closer(app_test, sqlite_demo, pinned):
    """``&scale=2``: the map of a 4K wall shows the same area at the same
    share of the screen (one zoom level closer, drawn twice as high)."""

    def zoom(query: dict[str, str]) -> float:
        at = app_test("pages/command-screen.py", sqlite_demo.url, query_params=query)
        _no_errors(at)
        spec = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
        return float(spec["initialViewState"]["zoom"])

    assert zoom({"view": "crowd-map", "scale": "2"}) == pytest.approx(
        zoom({"view": "crowd-map"}) + 1.0
    )
    at = app_test("pages/command-screen.py", sqlite_demo.url, query_params={"scale": "4"})
    assert any("scale" in w.value for w in at.warning)


# ---------------------------------------------------------------------------
# Resilience: the database goes away and comes back


class _Proxy:
    """A TCP proxy 127.0.0.1:port -> target that can be cut and restored."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._server: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.port))
        srv.listen(32)
        self.port = srv.getsockname()[1]
        self._server = srv
        threading.Thread(target=self._accept, args=(srv,), daemon=True).start()

    def _accept(self, srv: socket.socket) -> None:
        while True:
            try:
                client, _ = srv.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        """Database down: refuse new connections and cut the open ones."""
        if self._server is not None:
            # shutdown() wakes the accepting thread; close() alone leaves it listening
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        with self._lock:
            for s in self._open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._open.clear()


def test_screen_survives_database_outage(app_test, databases, pinned, monkeypatch):
    pg = databases.get("postgresql")
    url = make_url(pg.url)
    proxy = _Proxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    try:
        through_proxy = url.set(host="127.0.0.1", port=proxy.port)
        clock = [1_000_000.0]
        monkeypatch.setattr(ui_runner, "clock", lambda: clock[0])

        at = app_test("pages/command-screen.py", through_proxy.render_as_string(False))
        _no_errors(at)
        today = _figure(at, "today")
        ranking = re.search(r'data-key="ranking".*?</div></div>', _html(at), re.S)
        assert "data-tile-stale" not in _html(at)

        proxy.stop()  # the database is gone
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", proxy.port), timeout=2).close()
        ui_loading.clear_cache()  # so every tile must query again
        clock[0] += 150
        at.run()
        _no_errors(at)
        body = _html(at)
        assert _figure(at, "today") == today  # the last good data stays up
        assert ranking and ranking.group(0)[:200] in body
        stale = re.findall(r'data-tile-stale="([^"]+)">([^<]*)<', body)
        assert {"headline", "ranking", "alerts", "header"} <= {k for k, _ in stale}
        assert all("数据已 2 分钟未更新" in text for _, text in stale), stale

        clock[0] += 10  # inside the backoff: no new query, still stale
        at.run()
        _no_errors(at)
        assert _figure(at, "today") == today and "data-tile-stale" in _html(at)

        proxy.start()  # the database is back on the same port
        clock[0] += 300
        at.run()
        _no_errors(at)
        assert _figure(at, "today") == today
        assert "data-tile-stale" not in _html(at), "did not recover"
    finally:
        proxy.stop()
