"""An unattended wall opens its bookmark clean, whichever session of the server it is.

A wall's one page is its default page, and ``st.navigation`` serves a
default page at "/" only: from the server's second session on, the
README's bookmark ``/command-screen?playlist=districts&wall=TOKEN`` opened
under Streamlit's English "Page not found" dialog, there until someone
clicked × (the server's first session hid it; see
``ui.shell.open_default_for``). Here the bookmark is opened as several
sessions of one server, after a reload and after a server restart, and the
other deep links after another session; each time no dialog, no exception
box, no error box and no "unexpected problem" may show, and the page's own
content must.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

import appstate
from appstate import audit
from data_access.access import token_sha256
from tests.conftest import Backend, skip_or_fail
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, PAGE_SETTLE_S, free_port, wait_until_idle
from tests.test_browser_login import running_app
from ui.i18n import translate

pytestmark = pytest.mark.browser

WALL_TOKEN = "wall-token-room-a"
#: The README's form of a wall's bookmark.
BOOKMARK = f"command-screen?playlist=districts&wall={WALL_TOKEN}"
DISTRICT = "330105"
#: What every session must not show: a Streamlit dialog (e.g. "Page not
#: found"), an exception, an error box.
BAD_ELEMENTS = {
    "dialog": '[role="dialog"]',
    "exception": '[data-testid="stException"]',
    "element that failed to draw": '[data-testid="stErrorElementStack"]',
    "error box": '[data-testid="stAlertContentError"]',
}
#: The start of the app's own message for an unexpected failure (before its ref).
UNEXPECTED = translate("error.unexpected", "zh", ref="\0").split("\0")[0]
#: Text of the wall's header and of its headline tile.
WALL_TEXTS = (translate("screen.title", "zh", area="").strip(" ·"), translate("screen.today", "zh"))


def wall_access() -> str:
    return f"""[[walls]]
name = "room-a"
token_sha256 = "{token_sha256(WALL_TOKEN)}"
districts = ["{DISTRICT}"]
"""


@pytest.fixture(scope="module")
def wall_app(sqlite_demo: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app with one wall (and no login for everyone else): its base URL."""
    folder = tmp_path_factory.mktemp("walls")
    with running_app(folder, sqlite_demo.url, wall_access()) as (base, _state):
        yield base


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        skip_or_fail(f"{CHROMIUM} not found: install Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_session(chromium: Any, url: str) -> Any:
    """``url`` in a new browser context (a new Streamlit session), once its run is done."""
    page = chromium.new_context(locale="zh-CN").new_page()
    page.goto(url, wait_until="domcontentloaded")
    wait_until_idle(page)
    return page


def shown_problems(page: Any, allowed: tuple[str, ...] = ()) -> list[str]:
    """Every dialog, exception or error box visible now (but the ``allowed``
    kinds of :data:`BAD_ELEMENTS`), and the app's "unexpected problem"
    message (empty if none)."""
    problems = [
        f"{what} shown: {box.inner_text()[:200]!r}"
        for what, selector in BAD_ELEMENTS.items()
        if what not in allowed
        for box in page.locator(selector).all()
        if box.is_visible()
    ]
    if UNEXPECTED in page.inner_text("body"):
        problems.append(f"{UNEXPECTED!r} shown")
    return problems


def assert_clean(page: Any, *texts: str, allowed: tuple[str, ...] = ()) -> None:
    """No problem shown (see :func:`shown_problems`), and each of ``texts``
    in the page's main area."""
    problems = shown_problems(page, allowed)
    main = page.inner_text('[data-testid="stMain"]')
    missing = [t for t in texts if t not in main]
    assert not problems and not missing, (page.url, problems, missing, main[:300])


def test_a_wall_opens_clean_as_every_session_and_after_a_reload(
    wall_app: str, chromium: Any
) -> None:
    """The bookmark as three sessions of one server (at least its first,
    second and third), all open at once as in a command room, then the
    third reloaded and the first closed and opened again."""
    pages = []
    for _ in range(3):
        pages.append(new_session(chromium, wall_app + BOOKMARK))
        assert_clean(pages[-1], *WALL_TEXTS)
    pages[-1].reload(wait_until="domcontentloaded")
    wait_until_idle(pages[-1])
    assert_clean(pages[-1], *WALL_TEXTS)
    pages[0].context.close()
    again = new_session(chromium, wall_app + BOOKMARK)
    assert_clean(again, *WALL_TEXTS)
    for page in (*pages[1:], again):
        page.context.close()


def test_deep_links_open_clean_after_another_session(
    wall_app: str, chromium: Any, sqlite_demo: Backend
) -> None:
    """The default page by its own path, a page with link parameters, and a
    page the wall may not open (the app's refusal, no dialog over it), each
    after the server has served another session."""
    with sqlite_demo.raw_engine.connect() as conn:
        code, street_name = conn.execute(
            text("SELECT code, name_zh FROM street WHERE district_code = :d ORDER BY code"),
            {"d": DISTRICT},
        ).first()
    new_session(chromium, wall_app).context.close()
    links = {
        "overview": (),
        f"throughput?streets={code}": (street_name,),
        "weekly-review?week=2026-W45": ("2026-W45",),
    }
    refusal = translate("auth.page_refused", "zh", page=translate("nav.audit", "zh"))
    # A typo in the bookmark's page: the wall's screen, and our own word for it.
    unknown = translate("app.unknown_path", "zh", path="/comand-screen")
    links[f"comand-screen?playlist=districts&wall={WALL_TOKEN}"] = (unknown,)
    for link, texts in [*links.items(), (f"audit?wall={WALL_TOKEN}", (refusal,))]:
        page = new_session(chromium, wall_app + link)
        try:  # the refusal is an error box of the app's own
            assert_clean(page, *texts, allowed=("error box",) if refusal in texts else ())
        finally:
            page.context.close()


def _logins(state: Path) -> int:
    rows = audit.recent(appstate.make_engine(f"sqlite:///{state}"))
    return int((rows["action"] == "login").sum())


def test_a_wall_reconnects_clean_after_a_server_restart(
    sqlite_demo: Backend, chromium: Any, tmp_path: Path
) -> None:
    """The wall left open while its server stops and starts again on the
    same port: the page reconnects by itself (a new session, audited as a
    wall sign-in) and shows the screen with no dialog."""
    port = free_port()
    with running_app(tmp_path, sqlite_demo.url, wall_access(), port=port) as (base, state):
        page = new_session(chromium, base + BOOKMARK)  # the server's first session
        assert_clean(page, *WALL_TEXTS)
        before = _logins(state)
    try:
        with running_app(tmp_path, sqlite_demo.url, wall_access(), port=port) as (base, state):
            deadline = time.monotonic() + PAGE_SETTLE_S
            while _logins(state) == before:  # the wall's new session has run Home.py
                assert time.monotonic() < deadline, "the wall did not reconnect"
                page.wait_for_timeout(300)
            page.locator('[role="dialog"]').first.wait_for(state="hidden", timeout=30_000)
            wait_until_idle(page)
            assert_clean(page, *WALL_TEXTS)
    finally:
        page.context.close()


def test_sessions_that_start_together_on_a_fresh_server_all_sign_in(
    sqlite_demo: Backend, tmp_path: Path
) -> None:
    """Four walls reconnecting at once to a fresh server (a replica just
    restarted): Streamlit begins every one in its pages-folder mode, and the
    first to leave it hid the mode from the others, whose page then ran
    without Home.py's sign-in (zeros, "district outside your scope"). Each
    must sign in, and show the wall. Streamlit's own protocol, no browser
    (benchmarks/load.py's client)."""
    import asyncio
    import concurrent.futures

    from benchmarks.load import Session

    query = BOOKMARK.split("?", 1)[1]

    async def wall(port: int) -> Any:
        session = Session("127.0.0.1", port)
        await session.open()
        try:
            return await session.page("command-screen", query)
        finally:
            await session.close()

    async def together(port: int) -> list[Any]:
        return list(await asyncio.gather(*(wall(port) for _ in range(4))))

    port = free_port()
    with running_app(tmp_path, sqlite_demo.url, wall_access(), port=port) as (_base, state):
        # On a thread of its own: Playwright's sync API (the other tests of
        # this worker) leaves an event loop running on this one.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            runs = pool.submit(asyncio.run, together(port)).result()
        assert all(r.elements > 0 and not r.errors for r in runs), [r.errors for r in runs]
        rows = audit.recent(appstate.make_engine(f"sqlite:///{state}"))
        walls = rows[(rows["action"] == "login") & (rows["role"] == "wall")]
        assert len(walls) == 4, rows[["action", "role", "actor"]].to_string()
