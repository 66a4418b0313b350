"""The deploy/ configuration started for real, on this machine.

A PostgreSQL primary (a throwaway cluster: ``initdb`` on a free port) and a
streaming standby made from it with ``pg_basebackup -R``; the demo and the
rollup job written to the primary after the standby exists, so they reach
the standby by replication; two Streamlit replicas started with the
``ExecStart`` of ``deploy/systemd/dashboards@.service`` and an environment
file in its format (``OPS_DB_URL`` at the standby, ``OPS_APPSTATE_URL`` at
the primary), each serving one session first; Debian's nginx with
``deploy/nginx/dashboards.conf`` (its upstream ports, listen port and cache
folder rewritten) in front. Headless Chromium opens a wall's bookmark and
the overview through nginx, then:

- the replica holding the wall is killed (SIGKILL): the wall keeps its
  figures, reconnects through nginx to the other replica and shows the
  screen again, with no dialog and no error;
- the standby is stopped: the wall's tiles keep their figures with the
  stale mark; the overview, rerun, says the operational database cannot be
  reached (the app's own message: no traceback, no Streamlit error page);
- the standby is started again: the wall's stale marks go and the overview
  shows its figures again, by itself;
- nginx's sticky key: a browser (its ``ops_route`` cookie) reaches the same
  replica every time, and different browsers reach both.

Why a throwaway primary and not the machine's own server on 5432: a base
backup copies a whole cluster (here that one holds the 7 GB city database),
and its pg_hba.conf allows no replication connections. Nothing of the
machine's PostgreSQL or nginx is touched; the temporary folder, the servers
and the replicas go in the fixture's teardown, also after a failure.

Needs the PostgreSQL server binaries (``initdb``, ``pg_basebackup``), nginx
and Chromium: each missing one skips with the reason, or fails under CI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deploy import stack
from tests.conftest import FIXTURE_END, ROOT, skip_or_fail
from tests.test_browser import wait_until_idle
from tests.test_browser_walls import WALL_TEXTS, assert_clean, chromium, new_session  # noqa: F401
from ui.i18n import translate

pytestmark = [pytest.mark.backend, pytest.mark.browser]

WALL_TOKEN = "wall-token-deploy"
DISTRICT = "330105"
WALL = f"command-screen?wall={WALL_TOKEN}"
#: The overview's heading, whatever its area ("拱墅区 态势总览").
OVERVIEW_HEADING = translate("overview.heading", "zh", area="").strip()
#: ... and of the district it opens on (it came back from the outage on the
#: whole city: the browser had cleared the filters the stopped run left out).
OVERVIEW_DISTRICT = translate("overview.heading", "zh", area="拱墅区").strip()
UNREACHABLE = translate("error.db_unreachable", "zh", url="\0").split("\0")[0]
#: The wall's tiles that read the database, each with its stale mark when it cannot.
TILES = {"headline", "ranking", "alerts"}
#: Seconds: tile refresh and cache lifetime, longest backoff (short, for the test).
REFRESH_S = 3
MAX_BACKOFF_S = 4
#: nginx leaves a replica that failed out for this long (the config's fail_timeout).
FAIL_TIMEOUT_S = int(re.findall(r"fail_timeout=(\d+)s", stack.NGINX_CONF.read_text())[0])
#: Records in the page when each run ends (polled every 5 ms: a run can be
#: shorter than one round trip to the page). A wall whose tiles rerun every
#: few seconds is seldom idle, so "idle" cannot say that a run has ended.
WATCH_RUNS_JS = """() => { window.__runEnds = []; let running = false;
    setInterval(() => {
        const s = document.querySelector('[data-testid="stApp"]')
            ?.getAttribute('data-test-script-state');
        if (s === 'running') running = true;
        else if (running && s === 'notRunning') {
            running = false; window.__runEnds.push(performance.now()); }
    }, 5); }"""
#: Longest wait for each change the test watches for.
SETTLE_S = 30


@dataclass
class Stack:
    primary: stack.PgCluster
    standby: stack.PgCluster
    replicas: list[stack.Replica]
    nginx: stack.Nginx

    def sessions(self) -> list[int | None]:
        """Sessions each replica has opened so far (None: it does not answer)."""
        counts: list[int | None] = []
        for replica in self.replicas:
            try:
                counts.append(replica.connections())
            except OSError:
                counts.append(None)
        return counts


def _tools() -> None:
    for check in (stack.pg_bindir, stack.nginx_binary):
        try:
            check()
        except stack.MissingTool as exc:
            skip_or_fail(str(exc))
    if stack.is_root():
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            skip_or_fail("running as root, but there is no postgres user to run the servers as")
    try:
        import websockets.sync.client  # noqa: F401
    except ImportError:
        skip_or_fail("the websockets package is not installed (Streamlit >= 1.53 brings it)")


def _run(*args: str) -> None:
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=180, check=False
    )
    assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"


def _env_file(work: Path, primary: stack.PgCluster, standby: stack.PgCluster) -> Path:
    """The replicas' environment file, with the variables of
    deploy/systemd/dashboards.env.example (and no others but the clock and
    the secrets file): reads at the standby, writes at the primary."""
    config = stack.app_config(
        work, WALL_TOKEN, DISTRICT, refresh_s=REFRESH_S, max_backoff_s=MAX_BACKOFF_S,
        cache_ttl_s=REFRESH_S,
    )  # fmt: skip
    env = {
        "OPS_DB_URL": standby.url("ops"),
        "OPS_APPSTATE_URL": primary.url("appstate"),
        "OPS_SITE_CONFIG": config.pop("OPS_SITE_CONFIG"),
        "OPS_ACCESS_CONFIG": config.pop("OPS_ACCESS_CONFIG"),
        "STREAMLIT_SERVER_ADDRESS": "127.0.0.1",
        "STREAMLIT_SERVER_COOKIE_SECRET": "a-shared-secret-of-the-test-replicas-" + "0" * 27,
    }
    example = stack.read_env_file(ROOT / "deploy" / "systemd" / "dashboards.env.example")
    assert set(example) == set(env), "dashboards.env.example and this test name other variables"
    env |= {"OPS_NOW": FIXTURE_END.isoformat(timespec="minutes"), **config}
    return stack.write_env_file(work / "dashboards.env", env)


@pytest.fixture(scope="module")
def deployed() -> Iterator[Stack]:
    _tools()
    # Under /tmp (not pytest's 0700 folder): the postgres user must reach it.
    work = Path(tempfile.mkdtemp(prefix="ops-deploy-", dir="/tmp"))
    work.chmod(0o755)
    with ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, work, ignore_errors=True)
        primary = stack.PgCluster.primary(work / "pg" / "primary", stack.free_port())
        primary.start()
        cleanup.callback(primary.stop)
        standby = stack.PgCluster.standby_of(primary, work / "pg" / "standby", stack.free_port())
        standby.start()
        cleanup.callback(standby.stop)
        for database in ("ops", "appstate"):
            primary.sql(f"CREATE DATABASE {database}")
        end = FIXTURE_END.isoformat(timespec="minutes")
        env_file = _env_file(work, primary, standby)
        replicas = [
            stack.Replica(port, env_file, work / f"replica-{port}.log")
            for port in (stack.free_port(), stack.free_port())
        ]
        cleanup.callback(stack.stop_all, replicas)
        for replica in replicas:  # they import while the demo loads
            replica.start()
        _run("-m", "demo", "--url", primary.url("ops"), "--days", "14", "--scale", "0.1",
             "--end", end)  # fmt: skip
        _run("-m", "jobs.refresh_rollups", "refresh", "--url", primary.url("ops"),
             "--now", end, "--reviews", "0")  # fmt: skip
        standby.wait_replayed(primary)
        nginx = stack.Nginx(work / "nginx", stack.free_port())
        cleanup.callback(nginx.stop)
        try:
            for replica in replicas:
                replica.wait_healthy()
            # No warm-up: the wall is each replica's first session (at the
            # start, and on the other replica after the kill), the case in
            # which Streamlit's pages-folder mode once ran the wall's page
            # without Home.py's sign-in (all zeros, "district outside your
            # scope"; see ui.menu.in_pages_folder_run).
            nginx.start([r.port for r in replicas])
        except RuntimeError as exc:
            pytest.fail(str(exc), pytrace=False)
        yield Stack(primary, standby, replicas, nginx)


def _wait(what: str, condition: Callable[[], bool], page: Any | None = None) -> None:
    deadline = time.monotonic() + SETTLE_S
    while not condition():
        if time.monotonic() > deadline:
            shown = page.inner_text("body")[:400] if page is not None else ""
            raise AssertionError(f"{what}: not within {SETTLE_S} s {shown!r}")
        time.sleep(0.3)


def _shows_screen(page: Any) -> bool:
    """The wall's header and its headline figures are drawn. (Not "the run
    is over": with every tile on a 3 s timer a wall is seldom idle.)"""
    main = page.locator('[data-testid="stMain"]')
    text = main.inner_text() if main.count() else ""
    figure = page.locator('[data-key="today"] .scr-value')
    return all(t in text for t in WALL_TEXTS) and figure.count() > 0


def _figure(page: Any, key: str) -> str:
    return str(page.locator(f'[data-key="{key}"] .scr-value').first.inner_text()).strip()


def _stale_tiles(page: Any) -> set[str]:
    """The keys of the wall's tiles that show their stale mark now."""
    keys = page.eval_on_selector_all(
        "[data-tile-stale]", "els => els.map(e => e.getAttribute('data-tile-stale'))"
    )
    return {str(k) for k in keys}


def _wall_logins(deployed: Stack) -> int:
    """The wall's sign-ins in the app-state database on the primary."""
    query = "SELECT count(*) FROM audit_log WHERE action = 'login' AND role = 'wall'"
    return int(deployed.primary.sql(query, "appstate"))


def _risen(before: list[int | None], after: list[int | None]) -> list[int]:
    """Indexes of the replicas that opened sessions between ``before`` and ``after``."""
    return [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if (b or 0) > (a or 0)]


def _sticky_replica(deployed: Stack, cookie: str) -> int:
    """Open a websocket through nginx as the browser with this ``ops_route``
    cookie: the index of the replica that opened its session."""
    from websockets.sync.client import connect

    before = deployed.sessions()
    url = f"ws://127.0.0.1:{deployed.nginx.port}/_stcore/stream"
    with connect(
        url, subprotocols=["streamlit"], additional_headers={"Cookie": f"ops_route={cookie}"},
        proxy=None, open_timeout=10,
    ):  # fmt: skip
        for _ in range(50):
            risen = _risen(before, deployed.sessions())
            if risen:
                return risen[0]
            time.sleep(0.1)
    raise AssertionError(f"no replica counted the session: {before} -> {deployed.sessions()}")


def _replicated(deployed: Stack) -> None:
    """The demo and the rollup tables, written on the primary after the
    base backup, are on the standby; the standby takes no writes."""
    query = "SELECT (SELECT count(*) FROM incident) || '/' || (SELECT count(*) FROM rollup_case)"
    on_primary = deployed.primary.sql(query, "ops")
    assert on_primary.split("/")[0] != "0"
    assert deployed.standby.sql(query, "ops") == on_primary
    assert deployed.standby.sql("SELECT pg_is_in_recovery()") == "t"
    with pytest.raises(RuntimeError, match="read-only transaction"):
        deployed.standby.sql("CREATE TABLE refused (x int)", "ops")


def test_walls_and_pages_ride_out_a_replica_and_the_standby(
    deployed: Stack,
    chromium: Any,  # noqa: F811
) -> None:
    """One test, in order (one stack: under pytest -n 2 a second test could
    build a second one on the other worker)."""
    _replicated(deployed)
    base = deployed.nginx.url
    before = deployed.sessions()
    wall = chromium.new_context(locale="zh-CN").new_page()
    wall.goto(base + WALL, wait_until="domcontentloaded")
    _wait("the wall's screen", lambda: _shows_screen(wall), wall)
    assert_clean(wall, *WALL_TEXTS)
    leader = new_session(chromium, base)
    assert_clean(leader, OVERVIEW_DISTRICT)
    first = _risen(before, deployed.sessions())
    assert first, (before, deployed.sessions())
    wall_cookie = next(c["value"] for c in wall.context.cookies() if c["name"] == "ops_route")
    home = _sticky_replica(deployed, wall_cookie)  # the wall's replica
    assert home in first, (home, first)
    today = _figure(wall, "today")
    assert today.replace(",", "").isdigit(), today

    # 1. The wall's replica dies: the wall reconnects to the other one (a
    # new session there, which signs the wall in again).
    dead, alive = deployed.replicas[home], deployed.replicas[1 - home]
    alive_before, signed_in = alive.connections(), _wall_logins(deployed)
    assert signed_in == 1, signed_in
    dead.kill()
    killed_at = time.monotonic()
    wall.evaluate(WATCH_RUNS_JS)
    assert _figure(wall, "today") == today  # still up while it reconnects
    _wait("the wall signed in again", lambda: _wall_logins(deployed) >= 2, wall)
    assert alive.connections() > alive_before
    # The new session's page run has ended (every tile holds data again).
    signed_in_at = wall.evaluate("performance.now()")
    wall.wait_for_function(f"() => window.__runEnds.some(t => t > {signed_in_at})",
                           timeout=SETTLE_S * 1000)  # fmt: skip
    assert_clean(wall, *WALL_TEXTS)
    assert _figure(wall, "today") == today and not _stale_tiles(wall)
    assert_clean(leader, OVERVIEW_HEADING)
    dead.start()  # as systemd's Restart=always would

    # 2. The standby stops: the wall keeps its figures, marked stale; the
    # overview says which database it cannot reach.
    deployed.standby.stop()
    _wait("every tile marked stale", lambda: _stale_tiles(wall) >= TILES, wall)
    assert _figure(wall, "today") == today
    assert_clean(wall, *WALL_TEXTS)
    leader.keyboard.press("r")  # Streamlit's rerun key, as a user would
    _wait("the overview's message", lambda: UNREACHABLE in leader.inner_text("body"), leader)
    assert_clean(leader, UNREACHABLE, allowed=("error box",))

    # 3. The standby is back: both recover by themselves.
    deployed.standby.start()
    _wait("the wall's stale marks gone", lambda: not _stale_tiles(wall), wall)
    assert_clean(wall, *WALL_TEXTS)
    assert _figure(wall, "today") == today
    _wait("the overview back", lambda: OVERVIEW_HEADING in leader.inner_text("body"), leader)
    wait_until_idle(leader)
    assert_clean(leader, OVERVIEW_DISTRICT)
    assert "district=330105" in leader.url, leader.url
    assert UNREACHABLE not in leader.inner_text("body")

    # App-state writes went to the primary all along: the wall's sign-ins,
    # one on each replica it ran on.
    assert _wall_logins(deployed) >= 2
    for page in (wall, leader):
        page.context.close()

    dead.wait_healthy()

    # 4. Sticky: one browser's cookie reaches one replica every time (the
    # restarted one included, once nginx's fail_timeout has passed), and
    # browsers spread over both.
    time.sleep(max(0.0, killed_at + FAIL_TIMEOUT_S + 1 - time.monotonic()))
    cookies = [os.urandom(8).hex() for _ in range(12)]
    homes = [_sticky_replica(deployed, c) for c in cookies]
    assert [_sticky_replica(deployed, c) for c in cookies[:4]] == homes[:4]
    assert set(homes) == {0, 1}, homes
