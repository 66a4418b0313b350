"""The real app in a real browser: every page renders, offline, in Chinese, with its map.

Starts ``streamlit run Home.py`` on a free port against the SQLite fixture
database (clock pinned to its end with ``OPS_NOW``) and drives Debian's Chromium (``/usr/bin/chromium``) with
Playwright. The page list comes from the app's own navigation, so a new page
is covered without touching this file. Pixels are not compared (WebGL maps
make that flaky); what is checked is what a command-centre screen needs:

- no Streamlit exception box, no element that failed to draw, no traceback,
  no uncaught page error, no console error;
- no request leaves the machine (command-centre networks are closed);
- Chinese text is present and drawn with a Simplified Chinese font (not as
  boxes, not in Japanese glyph forms);
- a map page has a ``canvas`` inside its deck.gl container.

``OPS_SCREENSHOT=1`` also saves the home page at 1600x1000 to
``docs/screenshot.png`` for the README.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pandas as pd
import pytest

from i18n import translate
from tests.conftest import FIXTURE_END, ROOT, Backend, skip_or_fail

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1600, "height": 1000}
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
#: Schemes that never reach a network.
LOCAL_SCHEMES = {"data", "blob", "about", "chrome", "chrome-extension"}
MIN_PAGES = 5
SCREENSHOT = ROOT / "docs" / "screenshot.png"
#: Seconds for the server to answer /_stcore/health, and for a page to settle.
SERVER_START_S = 60
PAGE_SETTLE_S = 90
CJK = re.compile(r"[\u3400-\u9fff]")
#: Font families that draw Chinese with Simplified Chinese glyph forms.
CHINESE_FONT = re.compile(
    r"CJK SC|Han Sans (SC|CN)|Han Serif (SC|CN)|Noto Sans SC|Noto Serif SC|WenQuanYi|"
    r"YaHei|PingFang SC|SimHei|SimSun|DengXian|Droid Sans Fallback|AR PL",
    re.I,
)
#: Other CJK fonts: they have the characters, but Japanese, Korean or
#: Traditional glyph forms (what fontconfig picks when nothing asks for zh).
OTHER_CJK_FONT = re.compile(r"CJK|Source Han|Han Sans|Han Serif|Gothic|Mincho|Gulim", re.I)
CJK_SAMPLE = "人流热力"
#: Streamlit's frontend, opened on a page's deep link (``/overview``), probes
#: ``/overview/_stcore/health`` and ``host-config`` before the real base path;
#: those 404s are its own and harmless.
BENIGN_CONSOLE_URL = re.compile(r"/_stcore/(health|host-config)$")

#: Resolves once Streamlit has rendered a run and is no longer running.
#: ``stApp[data-test-script-state]`` is "initial" before the first run and
#: "running" during one; the status widget shows "Running" too.
IDLE_JS = """
() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app) return false;
  const state = app.getAttribute('data-test-script-state');
  if (state === 'initial' || state === 'running') return false;
  const status = document.querySelector('[data-testid="stStatusWidget"]');
  if (status && /running/i.test(status.innerText || '')) return false;
  if (document.querySelector('[data-testid="stSkeleton"]')) return false;
  return !!document.querySelector('[data-testid="stMain"], [data-testid="stAppViewContainer"]');
}
"""

#: Marks the deepest element holding Chinese text; returns its text, or null.
MARK_CJK_JS = """
() => {
  const root = document.querySelector('[data-testid="stMain"]') || document.body;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || !/[\\u3400-\\u9fff]/.test(n.nodeValue)) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    el.setAttribute('data-ops-cjk', '1');
    return n.nodeValue.trim().slice(0, 40);
  }
  return null;
}
"""

#: Widths (px at 40px) of each sample character in the page's font.
GLYPH_WIDTHS_JS = """
(sample) => {
  const el = document.querySelector('[data-ops-cjk]') || document.body;
  const family = getComputedStyle(el).fontFamily;
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = `40px ${family}`;
  return [...sample].map(ch => ctx.measureText(ch).width);
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class StreamlitServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="module")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        skip_or_fail(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        skip_or_fail("the playwright Python package is not installed (pip install -e '.[test]')")
    return CHROMIUM


@pytest.fixture(scope="module")
def streamlit_server(
    chromium_path: Path, sqlite_demo: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StreamlitServer]:
    """``streamlit run Home.py`` on a free port against the SQLite fixture database."""
    if not (ROOT / "Home.py").is_file():
        pytest.fail(f"{ROOT / 'Home.py'} does not exist yet", pytrace=False)
    port = free_port()
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    # OPS_NOW pins the app's clock to the fixture's end, so "today" has data
    # and the screenshot does not depend on the day the suite runs.
    # The downloads write audit rows: to a file of this run's own.
    env = dict(
        os.environ,
        OPS_DB_URL=sqlite_demo.url,
        OPS_NOW=FIXTURE_END.isoformat(timespec="minutes"),
        OPS_APPSTATE_PATH=str(log.parent / "appstate.sqlite"),
        PYTHONUNBUFFERED="1",
    )
    env.pop("OPS_APPSTATE_URL", None)
    with running_streamlit(env, port, log) as server:
        yield server


@contextlib.contextmanager
def running_streamlit(
    env: dict[str, str], port: int, log: Path, *options: str, address: str | None = "127.0.0.1"
) -> Iterator[StreamlitServer]:
    """``streamlit run Home.py`` on ``address`` (None: Streamlit's default,
    every interface), port ``port``, with ``env`` and extra command-line
    ``options``, its output in ``log``; waits until it answers its health
    check on 127.0.0.1 (fails the test with the log's tail if it exits or
    does not answer within ``SERVER_START_S``), stops it after."""
    cmd = [
        sys.executable, "-m", "streamlit", "run", "Home.py",
        "--server.headless", "true", "--server.port", str(port),
        *(("--server.address", address) if address else ()), *options,
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = StreamlitServer(f"http://127.0.0.1:{port}/", process, log)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"streamlit exited with {process.returncode}:\n{server.log_tail()}",
                    pytrace=False,
                )
            try:
                with urllib.request.urlopen(f"{server.url}_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"streamlit did not answer /_stcore/health within {SERVER_START_S} s:\n"
                    f"{server.log_tail()}",
                    pytrace=False,
                )
            time.sleep(0.3)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Browser:
    """One Chromium context, recording every request and page error."""

    context: Any
    page: Any
    requests: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def on_console(self, message: Any) -> None:
        if message.type != "error":
            return
        where = (message.location or {}).get("url", "")
        if BENIGN_CONSOLE_URL.search(where):
            return
        self.console_errors.append(f"{message.text} ({where})" if where else message.text)

    def outside_requests(self) -> list[str]:
        outside = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in LOCAL_SCHEMES:
                continue
            if (parts.hostname or "") not in LOCAL_HOSTS:
                outside.append(url)
        return outside


@pytest.fixture(scope="module")
def browser(chromium_path: Path) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            yield recording(chromium.new_context(viewport=VIEWPORT, locale="zh-CN"))
        finally:
            chromium.close()


def recording(context: Any) -> Browser:
    """A new page of ``context`` whose requests, page errors and console
    errors are recorded."""
    page = context.new_page()
    recorded = Browser(context, page)
    context.on("request", lambda request: recorded.requests.append(request.url))
    page.on("pageerror", lambda error: recorded.page_errors.append(str(error)))
    page.on("console", recorded.on_console)
    return recorded


def save_screenshot(page: Any, path: Path) -> None:
    """The viewport as the PNG ``path``, in a 256-colour palette (a
    dashboard's flat colours survive it; a 1080p page stays well under
    400 KB)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    with Image.open(path) as img:
        small = img.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def wait_until_idle(page: Any) -> None:
    """Wait for Streamlit to finish the script run, then for two more quiet checks."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=PAGE_SETTLE_S * 1000)
    deadline = time.monotonic() + PAGE_SETTLE_S
    quiet = 0
    while quiet < 3:
        if time.monotonic() > deadline:
            raise AssertionError(f"{page.url}: still running after {PAGE_SETTLE_S} s")
        quiet = quiet + 1 if page.evaluate(IDLE_JS) else 0
        page.wait_for_timeout(300)


def navigation_links(page: Any, base_url: str) -> list[str]:
    """Page URLs from the app's own navigation (sidebar, or top bar), in order."""
    more = page.query_selector('[data-testid="stSidebarNavViewButton"]')
    if more is not None and re.search(r"more|更多", more.inner_text(), re.I):
        more.click()
    hrefs = page.eval_on_selector_all(
        '[data-testid="stSidebarNav"] a, a[data-testid="stSidebarNavLink"], '
        'a[data-testid="stTopNavLink"], a[data-testid="stTopNavDropdownLink"]',
        "links => links.map(a => a.getAttribute('href'))",
    )
    urls: list[str] = []
    for href in hrefs:
        url = urljoin(base_url, href or "")
        if url not in urls:
            urls.append(url)
    return urls


def cjk_font_problems(browser: Browser) -> list[str]:
    """Why Chinese text on the current page is not drawn with a CJK font (empty if fine)."""
    page = browser.page
    sample = page.evaluate(MARK_CJK_JS)
    if sample is None:
        return ["no visible Chinese text"]
    problems = []
    cdp = browser.context.new_cdp_session(page)
    try:
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "[data-ops-cjk]"})
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})["fonts"]
    finally:
        cdp.detach()
    used = [f["familyName"] for f in fonts if f["glyphCount"] > 0]
    if not any(CHINESE_FONT.search(name) for name in used):
        if any(OTHER_CJK_FONT.search(name) for name in used):
            problems.append(
                f"{sample!r} drawn with {used}: a CJK font, but not its Simplified Chinese "
                "forms; name a Chinese font first for CJK (e.g. theme.font = "
                "\"'Source Sans', 'Noto Sans CJK SC', sans-serif\")"
            )
        else:
            problems.append(f"{sample!r} drawn with {used or 'no font'}: no CJK font (tofu)")
    widths = page.evaluate(GLYPH_WIDTHS_JS, CJK_SAMPLE)
    if not (all(w > 30 for w in widths) and max(widths) - min(widths) < 0.5):
        problems.append(f"{CJK_SAMPLE!r} measures {widths} px at 40 px: not full-width CJK glyphs")
    return problems


def map_problems(page: Any, required: bool) -> list[str]:
    decks = page.query_selector_all('[data-testid="stDeckGlJsonChart"]')
    if not decks:
        return ["no map ([data-testid=stDeckGlJsonChart])"] if required else []
    with contextlib.suppress(Exception):  # reported below, map by map
        page.wait_for_selector('[data-testid="stDeckGlJsonChart"] canvas', timeout=20_000)
    return [
        f"map {i + 1} of {len(decks)} has no canvas"
        for i, deck in enumerate(decks)
        if deck.query_selector("canvas") is None
    ]


def open_page(browser: Browser, url: str) -> None:
    """Load ``url`` in a fresh session and wait for its run; errors are recorded from here."""
    browser.page_errors.clear()
    browser.console_errors.clear()
    browser.page.goto(url, wait_until="domcontentloaded")
    wait_until_idle(browser.page)


def page_problems(browser: Browser, *, is_home: bool) -> list[str]:
    """Everything wrong with the page now shown (empty if nothing)."""
    page = browser.page
    problems: list[str] = []
    for box in page.query_selector_all('[data-testid="stException"]'):
        problems.append(f"exception shown: {box.inner_text()[:300]!r}")
    # An element the frontend failed to draw (e.g. a deck spec it cannot read).
    for box in page.query_selector_all('[data-testid="stErrorElementStack"]'):
        problems.append(f"element failed to render: {box.inner_text()[:300]!r}")
    text = page.inner_text("body")
    if "Traceback" in text:
        problems.append("'Traceback' in the page text")
    # Streamlit's dialog for a URL path it cannot resolve (a deep link on a
    # server's first run did this before ui.shell.leave_pages_folder_mode).
    if "Page not found" in text:
        problems.append("'Page not found' dialog shown")
    if not CJK.search(text):
        problems.append("no Chinese text on the page")
    else:
        problems.extend(cjk_font_problems(browser))
    problems.extend(map_problems(page, required=is_home))
    problems.extend(f"page error: {e[:300]}" for e in browser.page_errors)
    problems.extend(f"console error: {e[:300]}" for e in browser.console_errors)
    return problems


def test_every_page_renders_offline_in_chinese(
    streamlit_server: StreamlitServer, browser: Browser
) -> None:
    page = browser.page
    home = streamlit_server.url
    open_page(browser, home)
    pages = navigation_links(page, home)
    assert len(pages) >= MIN_PAGES, f"navigation lists {len(pages)} pages: {pages}"

    report: dict[str, list[str]] = {}
    for url in [home, *pages]:
        if url in report:
            continue
        is_home = url == home
        try:
            if not is_home:  # the home page is already open
                open_page(browser, url)
            report[url] = page_problems(browser, is_home=is_home)
        except AssertionError as exc:
            report[url] = [str(exc)]
        if is_home and os.environ.get("OPS_SCREENSHOT") == "1":
            page.wait_for_timeout(1500)  # let deck.gl finish its first frames
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT))

    outside = browser.outside_requests()
    failures = [f"{url}:\n  " + "\n  ".join(p) for url, p in report.items() if p]
    if outside:
        hosts = sorted({urlsplit(u).hostname or u for u in outside})
        failures.append(f"requests left the machine, to {hosts}:\n  " + "\n  ".join(outside[:20]))
    assert not failures, (
        f"{len(failures)} problem(s) over {len(report)} pages:\n"
        + "\n".join(failures)
        + f"\n--- server log ---\n{streamlit_server.log_tail(30)}"
    )


def test_throughput_exports_are_made_when_asked_and_outlast_other_sessions(
    streamlit_server: StreamlitServer, browser: Browser, tmp_path: Path
) -> None:
    """The street table's CSV and workbook are made when their export
    button is pressed (not on every rerun), then saved from a download
    button that holds them: each save fetches its file with the table's
    rows, and the file is still served after other sessions have run the
    script twice. Streamlit's deferred download was swept by those runs'
    ends (the first marks an unreferenced file, the second deletes it): a
    404 under load."""
    import openpyxl

    page = browser.page
    open_page(browser, urljoin(streamlit_server.url, "throughput"))
    labels = {".csv": translate("throughput.download_csv", "zh"),
              ".xlsx": translate("throughput.download_xlsx", "zh")}  # fmt: skip
    assert page.locator('[data-testid="stDownloadButton"]').count() == 0, "made before asked"
    urls = {}
    for suffix, label in labels.items():
        page.get_by_role("button", name=label, exact=True).click()
        wait_until_idle(page)
        save = page.locator('[data-testid="stDownloadButton"] button', has_text=suffix)
        assert save.count() == 1, page_problems(browser, is_home=False)
        with page.expect_download(timeout=PAGE_SETTLE_S * 1000) as info:
            save.click()
        assert "/media/" in info.value.url and info.value.suggested_filename.endswith(suffix)
        assert Path(info.value.path()).stat().st_size > 0
        urls[suffix] = info.value.url
    other = browser.context.new_page()
    try:  # two more script runs' ends, in another session: two sweeps
        for _ in range(2):
            other.goto(urljoin(streamlit_server.url, "overview"), wait_until="domcontentloaded")
            wait_until_idle(other)
    finally:
        other.close()
    bodies = {}
    for suffix, url in urls.items():
        got = browser.context.request.get(url)
        assert got.ok, (url, got.status)
        bodies[suffix] = got.body()
    csv, xlsx = tmp_path / "streets.csv", tmp_path / "streets.xlsx"
    csv.write_bytes(bodies[".csv"])
    xlsx.write_bytes(bodies[".xlsx"])
    table = pd.read_csv(csv, encoding="utf-8-sig")
    assert len(table) > 0
    sheet = openpyxl.load_workbook(xlsx, read_only=True)["streets"]
    rows = list(sheet.iter_rows(values_only=True))
    assert [str(c) for c in rows[0]] == list(table.columns)
    assert len(rows) - 1 == len(table)
    assert not page_problems(browser, is_home=False)


def test_server_start_asks_no_outside_host(sqlite_demo: Backend, tmp_path: Path) -> None:
    """Started as the README says (headless, no ``server.address``),
    Streamlit looked up the machine's external IP at checkip.amazonaws.com
    for its welcome banner: a request out of an offline command room
    ("Did not auto detect external IP" in the log). ``browser.serverAddress``
    in .streamlit/config.toml makes the banner name that address instead."""
    log = tmp_path / "server.log"
    env = dict(
        os.environ,
        OPS_DB_URL=sqlite_demo.url,
        OPS_APPSTATE_PATH=str(tmp_path / "appstate.sqlite"),
        PYTHONUNBUFFERED="1",
    )
    env.pop("OPS_APPSTATE_URL", None)
    with running_streamlit(env, free_port(), log, address=None) as server:
        deadline = time.monotonic() + 20
        while "You can now view" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)  # what the banner prints after its title
        text = log.read_text()
    assert "You can now view" in text, server.log_tail()
    assert "URL: http://localhost:" in text, text
    for outside in ("External URL", "Did not auto detect external IP", "Network URL"):
        assert outside not in text, text
