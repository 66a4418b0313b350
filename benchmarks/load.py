"""Capacity: N real sessions through Streamlit's own websocket protocol, no browser.

    python benchmarks/load.py [--db URL] [--now ISO] [--replicas 1|2] [--nginx]
                              [--sessions 1,10,25,50,100] [--hold 60] [--refresh 30]
                              [--appstate-url URL] [--chromium] [--json FILE]

Starts ``--replicas`` Streamlit replicas exactly as deploy/systemd/dashboards@.service
starts them (``deploy/stack.py``), behind nginx with deploy/nginx/dashboards.conf
when there are two or more (or with ``--nginx``), and drives sessions the way
Streamlit's frontend does: a websocket to ``/_stcore/stream`` (with an
``ops_route`` cookie of its own, as a browser has from nginx), a ``BackMsg``
``rerun_script`` naming the page (``page_name``) and its query string, then
every ``ForwardMsg`` read and decoded with Streamlit's protobufs until
``script_finished``. A fragment's ``auto_rerun`` is answered like the
frontend's timer: a ``rerun_script`` with the fragment's id every interval.

Each level opens that many sessions at once (spread over ``--ramp`` s), a
fixed mix of three roles, cycling wall, leader, analyst:

- wall: ``/command-screen?wall=TOKEN`` (a wall's bookmark, signed in by its
  token), then every tile's own refresh (``screen.refresh_s``, ``--refresh``)
  until the level ends;
- leader: the overview, then the warning colours;
- analyst: case throughput for one street (``?streets=``), its Excel export
  (its button pressed: the rerun that writes the audit row and makes the
  file, then the file fetched from ``/media/`` as the Save button's link),
  the incident map, then the map with a category filter.

When every session has done its steps the level holds ``--hold`` s more
(walls keep refreshing), then reads the servers and closes the sessions.
Printed per level: sessions, page views, p50/p95 seconds to a complete page
(``rerun_script`` to ``script_finished``), tile refreshes and their
p50/p95 (the request to the end of the fragment run that served it),
exports and their p95, the replicas' CPU seconds per page view (utime +
stime from ``/proc``, tile refreshes included, over the page views),
their RSS growth per session (after the hold, against the level's start),
and errors: error boxes or exceptions on a page, pages not found, failed
runs, exports or connections. The client's own CPU is printed too: it runs
on the same machine as the servers.

``--chromium`` first times the overview in headless Chromium (Playwright,
/usr/bin/chromium) and with this client, warm, three times each.

The app reads ``--db`` (default: a demo SQLite database built into a
temporary folder, 90 days ending ``--now``), its clock pinned with
``OPS_NOW`` to ``--now``; its app-state database (the walls' sign-ins and
the exports' audit rows) is ``--appstate-url`` or a SQLite file in the
temporary folder. For the city database built by ``benchmarks/city_db.py``:

    python benchmarks/load.py --db postgresql+psycopg://postgres@127.0.0.1:5432/city \\
        --now 2026-11-21T23:00 --replicas 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deploy import stack  # noqa: E402
from i18n import translate  # noqa: E402
from ui.auth import PREPARED_PREFIX  # noqa: E402

WALL_TOKEN = "load-benchmark-wall"
DISTRICT = "330105"
ROLES = ("wall", "leader", "analyst")
#: The throughput page's Excel download (the analyst's export).
XLSX_LABEL = translate("throughput.download_xlsx", "zh")
#: Longest wait for one page, export or fragment run before it counts as failed.
STEP_TIMEOUT_S = 120.0


# --- one session over Streamlit's protocol -------------------------------


@dataclass
class RunResult:
    seconds: float
    elements: int = 0
    errors: list[str] = field(default_factory=list)


class Session:
    """One browser tab, as far as the server can tell."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.cookie = f"ops_route={secrets.token_hex(16)}"
        self.ws: Any = None
        self.session_id = ""
        self.page_hash = ""
        self.query = ""
        self.pages: dict[str, str] = {}  # url path -> page_script_hash
        self.fragments: dict[str, float] = {}  # fragment id -> auto-rerun seconds
        self.widgets: dict[str, Any] = {}  # a widget's key -> its element proto
        self.downloads: list[str] = []  # the download buttons' /media/ paths
        self._finished: asyncio.Queue[tuple[int, float]] = asyncio.Queue()
        self._elements = 0
        self._errors: list[str] = []
        self._reader: asyncio.Task[None] | None = None
        self.run_started = 0.0  # monotonic time the server's current run began

    async def open(self) -> None:
        from websockets.asyncio.client import connect

        self.ws = await connect(
            f"ws://{self.host}:{self.port}/_stcore/stream",
            subprotocols=["streamlit"],  # type: ignore[list-item]
            additional_headers={"Cookie": self.cookie},
            max_size=None,
            proxy=None,
            open_timeout=60,
            ping_interval=None,
        )
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self.ws is not None:
            await self.ws.close()

    async def _read(self) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        async for data in self.ws:
            msg = ForwardMsg()
            msg.ParseFromString(data)
            kind = msg.WhichOneof("type")
            if kind == "delta":
                self._on_delta(msg.delta)
            elif kind == "new_session":
                self.page_hash = msg.new_session.page_script_hash
                self.session_id = msg.new_session.initialize.session_id or self.session_id
            elif kind == "navigation":
                self.pages = {p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages}
                self.page_hash = msg.navigation.page_script_hash or self.page_hash
            elif kind == "page_info_changed":
                self.query = msg.page_info_changed.query_string
            elif kind == "session_status_changed":
                if msg.session_status_changed.script_is_running:
                    self.run_started = time.monotonic()
            elif kind == "auto_rerun":
                self.fragments[msg.auto_rerun.fragment_id] = msg.auto_rerun.interval
            elif kind == "page_not_found":
                self._errors.append(f"page not found: {msg.page_not_found.page_name}")
            elif kind == "script_finished":
                self._finished.put_nowait((msg.script_finished, time.monotonic()))

    def _on_delta(self, delta: Any) -> None:
        if delta.WhichOneof("type") != "new_element":
            return
        element = delta.new_element
        kind = element.WhichOneof("type")
        self._elements += 1
        if kind == "exception":
            self._errors.append(f"exception: {element.exception.type}")
        elif kind == "alert" and element.alert.format == 1:  # Alert.Format.ERROR
            self._errors.append(f"error box: {element.alert.body[:120]}")
        if kind == "download_button" and element.download_button.url:
            self.downloads.append(element.download_button.url)
        widget = getattr(element, kind, None) if kind else None
        widget_id = getattr(widget, "id", "") if widget is not None else ""
        if widget_id and "-" in widget_id:  # "$$ID-<hash>-<key>"
            self.widgets[widget_id.rsplit("-", 1)[-1]] = widget

    async def _send(self, **client_state: Any) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = client_state.pop("query_string", self.query)
        state.page_script_hash = client_state.pop("page_script_hash", self.page_hash)
        for key, value in client_state.items():
            if key == "widgets":
                state.widget_states.widgets.extend(value)
            else:
                setattr(state, key, value)
        info = state.context_info
        info.timezone, info.timezone_offset, info.locale = "Asia/Shanghai", -480, "zh-CN"
        info.url = f"http://{self.host}:{self.port}/"
        await self.ws.send(msg.SerializeToString())

    async def page(self, path: str, query: str = "", widgets: list[Any] | None = None) -> RunResult:
        """Open ``path`` (a rerun naming it, like a link or the first load,
        or the current page again with ``widgets`` changed); until its run
        finished successfully (a run ended early by ``st.rerun`` goes on)."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        done = ForwardMsg.ScriptFinishedStatus
        self._drain()
        self._elements, self._errors, self.downloads = 0, [], []
        t0 = time.monotonic()
        page_hash = self.pages.get(path, "") if path else self.page_hash
        if path or query:
            self.query = query
        await self._send(page_script_hash=page_hash, page_name=path, widgets=widgets or [])
        while True:
            status, at = await asyncio.wait_for(self._finished.get(), STEP_TIMEOUT_S)
            if status == done.FINISHED_SUCCESSFULLY:
                return RunResult(at - t0, self._elements, list(self._errors))
            if status == done.FINISHED_WITH_COMPILE_ERROR:
                return RunResult(at - t0, self._elements, [*self._errors, "compile error"])

    def _drain(self) -> None:
        while not self._finished.empty():
            self._finished.get_nowait()

    async def tiles(self, until: list[float], tally: Tally) -> None:
        """Answer every fragment's auto-rerun, as the frontend's timers do,
        from now until ``until[0]`` (monotonic; set when the level's hold
        begins): each request's seconds to the end of the fragment run that
        served it (Streamlit folds requests that wait into one run); the
        requests still unanswered at the end are counted."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        fragment_done = ForwardMsg.ScriptFinishedStatus.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
        pending: list[float] = []
        due = {fid: time.monotonic() + every for fid, every in self.fragments.items()}
        self._drain()
        while not until or time.monotonic() < until[0]:
            now = time.monotonic()
            for fid, at in due.items():
                if at <= now:
                    self._errors = []
                    await self._send(fragment_id=fid, is_auto_rerun=True)
                    pending.append(time.monotonic())
                    due[fid] = at + self.fragments[fid]
            end = until[0] if until else now + 1.0
            wait = max(0.01, min(min(due.values(), default=end), end) - time.monotonic())
            try:
                status, at = await asyncio.wait_for(self._finished.get(), wait)
            except TimeoutError:
                continue
            if status == fragment_done:
                served = [p for p in pending if p <= self.run_started]
                pending = [p for p in pending if p > self.run_started]
                tally.tiles.extend(at - p for p in served)
                tally.errors.extend(self._errors)
        tally.tiles_unanswered += len(pending)

    async def export(self, label: str, suffix: str) -> float:
        """Press the export button ``label`` of the last page (the rerun
        that audits and makes the file) and fetch the file its Save button
        links (the one whose path ends in ``suffix``): seconds to the whole
        file."""
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        widget = self.widgets.get(f"{PREPARED_PREFIX}export:{label}:prepare")
        if widget is None:
            raise RuntimeError(f"no export button {label!r} on the page")
        t0 = time.monotonic()
        run = await self.page("", self.query, [WidgetState(id=widget.id, trigger_value=True)])
        if run.errors:
            raise RuntimeError(f"export: {run.errors[0]}")
        made = [u for u in self.downloads if u.endswith(suffix)]
        if not made:
            raise RuntimeError(f"export: no {suffix} file after the press")
        size = await asyncio.to_thread(
            _fetch, f"http://{self.host}:{self.port}{made[0]}", self.cookie
        )
        if size == 0:
            raise RuntimeError("export: empty file")
        return time.monotonic() - t0


def _fetch(url: str, cookie: str) -> int:
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    with urllib.request.urlopen(request, timeout=STEP_TIMEOUT_S) as r:
        return len(r.read())


def category_filter(session: Session) -> list[Any]:
    """The incident map's category multiselect set to its first option."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    widget = session.widgets.get("im_categories")
    if widget is None or not widget.options:
        raise RuntimeError("the incident map has no category filter")
    state = WidgetState(id=widget.id)
    state.string_array_value.data.append(widget.options[0])
    return [state]


# --- a level: N sessions at once -----------------------------------------


@dataclass
class Tally:
    pages: list[float] = field(default_factory=list)
    tiles: list[float] = field(default_factory=list)
    exports: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)
    tiles_unanswered: int = 0

    def note(self, run: RunResult) -> None:
        self.pages.append(run.seconds)
        self.errors.extend(run.errors)
        if run.elements == 0:
            self.errors.append("a page with no elements")


async def drive(role: str, host: str, port: int, street: str, tally: Tally, steps_done: asyncio.Event,
                hold_until: list[float], delay: float) -> None:  # fmt: skip
    """One session of ``role``: its steps (a wall's tiles refreshing from
    its page on, until the level ends); a failed step is counted and the
    next one taken."""
    await asyncio.sleep(delay)
    session = Session(host, port)
    tally.sessions.append(session)
    tiles: asyncio.Task[None] | None = None

    async def step(name: str, action: Any) -> Any:
        try:
            return await action
        except Exception as exc:  # counted, the level goes on
            tally.errors.append(f"{role} {name}: {type(exc).__name__}: {exc}"[:200])
            return None

    try:
        await session.open()
        if role == "wall":
            run = await step("page", session.page("command-screen", f"wall={WALL_TOKEN}"))
            if run is not None:
                tally.note(run)
                tiles = asyncio.create_task(step("tiles", session.tiles(hold_until, tally)))
        elif role == "leader":
            for path in ("", "warnings"):
                run = await step(path or "overview", session.page(path, session.query))
                if run is not None:
                    tally.note(run)
        else:
            for name, path, query in (("throughput", "throughput", f"streets={street}"),
                                      ("incident map", "incident-map", None)):  # fmt: skip
                run = await step(
                    name, session.page(path, session.query if query is None else query)
                )
                if run is not None:
                    tally.note(run)
                if name == "throughput":
                    seconds = await step("export", session.export(XLSX_LABEL, ".xlsx"))
                    if seconds is not None:
                        tally.exports.append(seconds)
            widgets = await step("filter", asyncio.to_thread(category_filter, session))
            if widgets is not None:
                run = await step("filtered map", session.page("", session.query, widgets))
                if run is not None:
                    tally.note(run)
    except Exception as exc:  # the websocket itself
        tally.errors.append(f"{role}: {type(exc).__name__}: {exc}"[:200])
    finally:
        steps_done.set()
    if tiles is not None:
        await tiles


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mb(pid: int) -> float:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def level(
    n: int, host: str, port: int, pids: list[int], street: str, args: Any
) -> dict[str, Any]:
    tally = Tally()
    cpu0, rss0 = sum(map(proc_cpu_s, pids)), sum(map(proc_rss_mb, pids))
    me0, t0 = time.process_time(), time.monotonic()
    hold_until: list[float] = []
    events = [asyncio.Event() for _ in range(n)]
    tasks = [
        asyncio.create_task(
            drive(
                ROLES[i % len(ROLES)],
                host,
                port,
                street,
                tally,
                events[i],
                hold_until,
                args.ramp * i / max(n, 1),
            )
        )  # fmt: skip
        for i in range(n)
    ]
    await asyncio.gather(*(e.wait() for e in events))
    steps_s = time.monotonic() - t0
    hold_until.append(time.monotonic() + args.hold)
    await asyncio.gather(*tasks)
    cpu1, rss1 = sum(map(proc_cpu_s, pids)), sum(map(proc_rss_mb, pids))
    client_cpu = time.process_time() - me0
    await asyncio.gather(*(s.close() for s in tally.sessions), return_exceptions=True)
    views = len(tally.pages)
    return {
        "sessions": n,
        "pages": views,
        "page_p50_s": percentile(tally.pages, 0.5),
        "page_p95_s": percentile(tally.pages, 0.95),
        "tiles": len(tally.tiles),
        "tile_p50_s": percentile(tally.tiles, 0.5),
        "tile_p95_s": percentile(tally.tiles, 0.95),
        "tiles_unanswered": tally.tiles_unanswered,
        "exports": len(tally.exports),
        "export_p95_s": percentile(tally.exports, 0.95),
        "cpu_s_per_page": (cpu1 - cpu0) / views if views else float("nan"),
        "server_cpu_s": cpu1 - cpu0,
        "rss_mb_per_session": (rss1 - rss0) / n,
        "rss_mb": rss1,
        "errors": len(tally.errors),
        "error_samples": sorted(set(tally.errors))[:5],
        "steps_s": steps_s,
        "wall_s": time.monotonic() - t0,
        "client_cpu_s": client_cpu,
    }


# --- Chromium against this client ----------------------------------------


def chromium_sample(base: str, host: str, port: int, repeat: int = 3) -> dict[str, list[float]]:
    """The overview, warm, ``repeat`` times each: opened in Chromium (to
    the page drawn: the bundle, the websocket, the run, the drawing), the
    run as Chromium's own websocket saw it (its ``rerun_script`` sent to
    the ``script_finished`` received: what this client times), and run by
    this client."""
    from playwright.sync_api import sync_playwright
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    done_js = """() => { const a = document.querySelector('[data-testid="stApp"]');
        return !!a && a.getAttribute('data-test-script-state') === 'notRunning'
            && !!document.querySelector('[data-testid="stMain"]'); }"""
    opened, runs = [], []
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )  # fmt: skip
        for i in range(repeat + 1):
            page = chromium.new_context(locale="zh-CN").new_page()
            frames: list[tuple[str, float, bytes]] = []

            def on_socket(ws: Any, frames: list[tuple[str, float, bytes]] = frames) -> None:
                if ws.url.endswith("/_stcore/stream"):
                    ws.on("framesent", lambda data: frames.append(("sent", time.monotonic(), data)))
                    ws.on(
                        "framereceived",
                        lambda data: frames.append(("recv", time.monotonic(), data)),
                    )

            page.on("websocket", on_socket)
            t0 = time.monotonic()
            page.goto(base, wait_until="commit")
            page.wait_for_function(done_js, polling=50, timeout=STEP_TIMEOUT_S * 1000)
            if i:  # the first warms the caches
                opened.append(time.monotonic() - t0)
                sent = next(
                    at for kind, at, p in frames
                    if kind == "sent" and isinstance(p, bytes)
                    and BackMsg.FromString(p).WhichOneof("type") == "rerun_script"
                )  # fmt: skip
                done = ForwardMsg.ScriptFinishedStatus.FINISHED_SUCCESSFULLY
                finished = next(
                    at for kind, at, p in frames
                    if kind == "recv" and at > sent and isinstance(p, bytes)
                    and ForwardMsg.FromString(p).script_finished == done
                    and ForwardMsg.FromString(p).WhichOneof("type") == "script_finished"
                )  # fmt: skip
                runs.append(finished - sent)
            page.context.close()
        chromium.close()
    # After Playwright's own event loop has gone.
    client = [asyncio.run(one_page(host, port)).seconds for _ in range(repeat)]
    return {"chromium_open_s": opened, "chromium_run_s": runs, "client_s": client}


async def one_page(host: str, port: int) -> RunResult:
    """The overview once, as one new session."""
    session = Session(host, port)
    await session.open()
    try:
        return await session.page("", "")
    finally:
        await session.close()


# --- the servers -----------------------------------------------------------


def first_street(db_url: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(
                text("SELECT code FROM street WHERE district_code = :d ORDER BY code"),
                {"d": DISTRICT},
            ).scalars().first())  # fmt: skip
    finally:
        engine.dispose()


def start(args: Any, work: Path) -> tuple[list[stack.Replica], stack.Nginx | None]:
    env = {
        "OPS_DB_URL": args.db,
        "OPS_NOW": args.now,
        "STREAMLIT_SERVER_ADDRESS": "127.0.0.1",
        "STREAMLIT_SERVER_COOKIE_SECRET": secrets.token_hex(32),
        **stack.app_config(work, WALL_TOKEN, DISTRICT, refresh_s=args.refresh),
    }
    if args.appstate_url:
        env["OPS_APPSTATE_URL"] = args.appstate_url
    else:
        env["OPS_APPSTATE_PATH"] = str(work / "appstate.sqlite")
    env_file = stack.write_env_file(work / "dashboards.env", env)
    replicas = [
        stack.Replica(port, env_file, work / f"replica-{port}.log")
        for port in (stack.free_port() for _ in range(args.replicas))
    ]
    stack.start_replicas(replicas)
    nginx = None
    if args.replicas > 1 or args.nginx:
        nginx = stack.Nginx(work / "nginx", stack.free_port())
        nginx.start([r.port for r in replicas])
    return replicas, nginx


def print_table(rows: list[dict[str, Any]]) -> None:
    head = ("sessions", "pages", "page p50", "page p95", "tiles (unanswered)", "tile p50", "tile p95",
            "export p95", "CPU s/page", "RSS MB/session", "errors", "client CPU s")  # fmt: skip
    print(" | ".join(head))
    for r in rows:
        print(
            f"{r['sessions']} | {r['pages']} | {r['page_p50_s']:.2f} | {r['page_p95_s']:.2f} | "
            f"{r['tiles']} ({r['tiles_unanswered']}) | {r['tile_p50_s']:.2f} | {r['tile_p95_s']:.2f} | "
            f"{r['export_p95_s']:.2f} | {r['cpu_s_per_page']:.2f} | "
            f"{r['rss_mb_per_session']:.1f} | {r['errors']} | {r['client_cpu_s']:.1f}"
        )
        for sample in r["error_samples"]:
            print(f"    error: {sample}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", help="operational database URL (default: a demo SQLite database)")
    ap.add_argument("--now", default="2026-11-20T18:00", help="OPS_NOW: the app's local time")
    ap.add_argument("--replicas", type=int, default=1)
    ap.add_argument("--nginx", action="store_true", help="nginx in front of a single replica too")
    ap.add_argument("--sessions", default="1,10,25,50,100", help="session counts, one level each")
    ap.add_argument("--hold", type=float, default=60, help="seconds each level holds its sessions")
    ap.add_argument(
        "--ramp", type=float, default=5, help="seconds over which a level's sessions start"
    )
    ap.add_argument("--refresh", type=int, default=30, help="screen.refresh_s: each tile's timer")
    ap.add_argument("--appstate-url", help="app-state database (default: a SQLite file)")
    ap.add_argument("--chromium", action="store_true", help="time the overview in Chromium too")
    ap.add_argument("--json", type=Path, help="write every figure here")
    args = ap.parse_args()

    # Ctrl-C or a kill unwinds through the finally below: no replica left running.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: sys.exit(1))
    work = Path(tempfile.mkdtemp(prefix="ops-load-", dir="/tmp"))
    if not args.db:
        path = work / "demo.sqlite"
        subprocess.run([sys.executable, "-m", "demo", "--url", f"sqlite:///{path}", "--end", args.now],
                       cwd=ROOT, check=True, capture_output=True)  # fmt: skip
        args.db = f"sqlite:///{path}"
    street = first_street(args.db)
    replicas, nginx = start(args, work)
    host, port = "127.0.0.1", nginx.port if nginx else replicas[0].port
    pids = [r.process.pid for r in replicas if r.process is not None]
    print(f"{len(replicas)} replica(s){' behind nginx' if nginx else ''}, db {args.db.split('@')[-1]}, "
          f"now {args.now}, tiles every {args.refresh} s, hold {args.hold:.0f} s", flush=True)  # fmt: skip
    out: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "levels": []}
    try:
        # Each replica's imports and first caches, not counted: one session
        # on each, directly (a fresh replica's first sessions at once run in
        # Streamlit's pages-folder mode: docs/benchmarks.md, "Capacity").
        for replica in replicas:
            asyncio.run(one_page(host, replica.port))
        if args.chromium:
            try:
                out["chromium"] = chromium_sample(f"http://{host}:{port}/", host, port)
            except Exception as exc:  # the levels still run
                out["chromium"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
            print(json.dumps(out["chromium"]), flush=True)
        for n in (int(x) for x in args.sessions.split(",")):
            row = asyncio.run(level(n, host, port, pids, street, args))
            out["levels"].append(row)
            print_table([row])
            sys.stdout.flush()
    finally:
        if nginx:
            nginx.stop()
        stack.stop_all(replicas)
        shutil.rmtree(work, ignore_errors=True)
    print("\nall levels:")
    print_table(out["levels"])
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
