"""The pages an alert's link opens, on a phone, in Chromium.

Officials reached by an alert are away from the wall: they tap its
DingTalk link on a phone. The overview (``/``), the street view and the
alerts page by the two links of a real alert message
(:func:`alerts.message.render`: the throughput page for its street and
window, which must open that street over those dates), the warnings list
and the crowd map (a venue's alert) are opened in a mobile context
(390x844, then the same page at 430x932; device scale factor 3, touch, an
iPhone's User-Agent) and measured in the page:

- the page does not scroll sideways (no scroll container wider than the
  screen, nothing drawn past its right edge);
- metrics wrap, two to a row at most, each at least 40 % of the screen
  and its figure whole;
- every table shows at most :data:`PHONE_MAX_COLUMNS` columns and does not
  scroll sideways; the rest is one tap away (the "更多列" expander opens a
  table with all of them);
- a map is no wider than the screen and at most half its height;
- the sidebar is closed on load, and one tap on its toggle shows the
  filters on the screen;
- no English word on the Chinese page (``tests/page_words.py``), no
  exception, traceback, page or console error, Chinese drawn in a Chinese
  font.

One server (``tests/test_browser.py``'s fixtures), five page loads.
``OPS_SCREENSHOT=1`` saves each page's first screen at both sizes to
``docs/phone/<page>-<width>.png``. The sign-in that comes back to the
link's view is in ``tests/test_browser_login.py``.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
from sqlalchemy import text

from tests import test_browser
from tests.conftest import FIXTURE_END, ROOT, Backend
from tests.page_words import LATIN_TEXTS_JS, english_words
from tests.test_browser import (
    Browser,
    StreamlitServer,
    page_problems,
    recording,
    save_screenshot,
    wait_until_idle,
)
from ui.phone import PHONE_UA

pytestmark = pytest.mark.browser

# The server and browser of tests/test_browser.py (this module's own instances).
browser, chromium_path = test_browser.browser, test_browser.chromium_path
streamlit_server = test_browser.streamlit_server

SCREENSHOTS = ROOT / "docs" / "phone"
IPHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1 DingTalk/7.6.0"
)
#: The phones: an iPhone 15's screen and a 15 Pro Max's, in CSS pixels.
SIZES = {390: {"width": 390, "height": 844}, 430: {"width": 430, "height": 932}}
#: ``browser.new_context`` arguments of a phone (tests/test_browser_login.py too).
PHONE_CONTEXT: dict[str, Any] = {
    "viewport": SIZES[390],
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": IPHONE_UA,
    "locale": "zh-CN",
}
DISTRICT = "330105"
#: An on-time share alert's 72 hours to 17:00 on the fixture's last day.
WINDOW = ("2026-11-17", "2026-11-20")
#: Most columns a table may show on a phone.
PHONE_MAX_COLUMNS = 4
#: Share of the screen's height a map may take.
MAP_MAX_HEIGHT = 0.5

#: What the checks read, from the page now shown.
MEASURE_JS = """() => {
  const vw = window.innerWidth, vh = window.innerHeight;
  const shown = (el) => { const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && !el.closest('details:not([open])'); };
  const rect = (el) => { const r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, width: r.width, height: r.height}; };
  const name = (el) => el.getAttribute('data-testid') || el.tagName.toLowerCase();
  // The page's scroll containers: none may be wider than the screen.
  const scrolls = [document.scrollingElement, ...document.querySelectorAll(
      '[data-testid="stAppViewContainer"], [data-testid="stMain"], '
      + '[data-testid="stMainBlockContainer"]')]
    .filter(e => e && e.scrollWidth > Math.max(e.clientWidth, vw) + 1)
    .map(e => `${name(e)} ${e.scrollWidth} px wide`);
  // Anything drawn past the screen's right edge that no box within it clips.
  const clipped = (e) => { for (let a = e.parentElement; a && a !== document.body;
      a = a.parentElement) { if (getComputedStyle(a).overflowX !== 'visible'
      && a.getBoundingClientRect().right <= vw + 1) return true; } return false; };
  const past = [...document.querySelectorAll('[data-testid="stMain"] *')]
    .filter(e => shown(e) && e.getBoundingClientRect().right > vw + 1 && !clipped(e))
    .slice(0, 5).map(e => `${name(e)} to ${Math.round(e.getBoundingClientRect().right)} px`);
  const tables = [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stDataFrame"]')]
    .filter(shown).map(f => { const s = f.querySelector('.dvn-scroller');
      return {columns: f.querySelectorAll('[role="columnheader"]').length,
        heads: [...f.querySelectorAll('[role="columnheader"]')].map(h => h.textContent.trim()),
        scrollWidth: s ? s.scrollWidth : 0, clientWidth: s ? s.clientWidth : 0, ...rect(f)}; });
  const metrics = [...document.querySelectorAll('[data-testid="stMetric"]')].filter(shown)
    .map(m => { const v = m.querySelector('[data-testid="stMetricValue"]');
      return {label: m.innerText.split('\\n')[0], ...rect(m),
        cut: v ? v.scrollWidth > v.clientWidth + 1 : false}; });
  const decks = [...document.querySelectorAll('[data-testid="stDeckGlJsonChart"]')]
    .filter(shown).map(rect);
  const toggle = document.querySelector('[data-testid="stExpandSidebarButton"]');
  const sidebar = document.querySelector('[data-testid="stSidebar"]');
  return {vw, vh, scrolls, past, tables, metrics, decks,
    toggle: toggle ? {expanded: toggle.getAttribute('aria-expanded'), ...rect(toggle)} : null,
    sidebar: sidebar ? rect(sidebar) : null};
}"""


def layout_problems(m: dict[str, Any]) -> list[str]:
    """What is wrong with the phone page measured in ``m`` (empty if nothing)."""
    vw, vh = m["vw"], m["vh"]
    out = [f"the page scrolls sideways: {s}" for s in m["scrolls"]]
    out += [f"drawn past the screen's edge: {p}" for p in m["past"]]
    for i, tab in enumerate(m["tables"], 1):
        if tab["columns"] > PHONE_MAX_COLUMNS:
            out.append(
                f"table {i} shows {tab['columns']} columns (at most {PHONE_MAX_COLUMNS} on a "
                f"phone): {tab['heads']}"
            )
        if tab["scrollWidth"] > tab["clientWidth"] + 1:
            out.append(
                f"table {i} scrolls sideways ({tab['scrollWidth']} px in {tab['clientWidth']})"
            )
        if tab["right"] > vw + 1:
            out.append(f"table {i} is wider than the screen ({tab['right']:.0f} px)")
    rows: dict[int, int] = {}
    for metric in m["metrics"]:
        rows[round(metric["top"])] = rows.get(round(metric["top"]), 0) + 1
        if metric["width"] < 0.4 * vw or metric["right"] > vw + 1:
            out.append(
                f"metric {metric['label']!r} is {metric['width']:.0f} px wide from "
                f"{metric['left']:.0f} px: not stacked on a {vw} px screen"
            )
        if metric["cut"]:
            out.append(f"metric {metric['label']!r}: its figure does not fit")
    out += [f"{n} metrics in one row" for n in rows.values() if n > 2]
    for i, deck in enumerate(m["decks"], 1):
        if deck["right"] > vw + 1 or deck["width"] > vw:
            out.append(f"map {i} is {deck['width']:.0f} px wide, to {deck['right']:.0f} px")
        if deck["height"] > MAP_MAX_HEIGHT * vh:
            out.append(f"map {i} is {deck['height']:.0f} px high on a {vh} px screen")
    return out


def sidebar_problems(b: Browser) -> list[str]:
    """The sidebar closed on load; one tap on its toggle opens it on the
    screen with the first filter (the district) in sight and the others
    below it in the sidebar; closed again after."""
    m = b.page.evaluate(MEASURE_JS)
    toggle, bar = m["toggle"], m["sidebar"]
    if toggle is None or not toggle["width"]:
        return ["no sidebar toggle on the screen"]
    out = []
    if bar is not None and bar["right"] > 1:
        out.append(f"the sidebar is open on load ({bar['width']:.0f} px of the screen)")
    b.page.tap('[data-testid="stExpandSidebarButton"]')
    b.page.wait_for_function(SIDEBAR_OPEN_JS, timeout=5_000)
    b.page.wait_for_timeout(400)  # its slide-in
    sidebar = '[data-testid="stSidebar"] '
    district = b.page.locator(sidebar + '[data-testid="stSelectbox"]').first
    if not on_screen(district.bounding_box(), m["vw"], m["vh"]):
        out.append(f"the district filter is off the screen after a tap: {district.bounding_box()}")
    dates = b.page.locator(sidebar + '[data-testid="stDateInput"]')
    dates.scroll_into_view_if_needed()
    if not on_screen(dates.bounding_box(), m["vw"], m["vh"]):
        out.append(f"the date filter cannot be scrolled to in the sidebar: {dates.bounding_box()}")
    b.page.tap('[data-testid="stSidebarCollapseButton"] button')
    b.page.wait_for_timeout(500)
    return out


#: The sidebar has slid onto the screen.
SIDEBAR_OPEN_JS = """() => { const s = document.querySelector('[data-testid="stSidebar"]');
  return !!s && s.getBoundingClientRect().left >= -1; }"""


def on_screen(box: dict[str, float] | None, vw: float, vh: float) -> bool:
    return (
        box is not None
        and box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= vw + 1
        and box["y"] + box["height"] <= vh + 1
    )


def more_columns_problems(b: Browser) -> list[str]:
    """The first table's other columns one tap away: the "更多列" expander
    under it opens a table with more columns than the phone's."""
    expander = b.page.locator('[data-testid="stExpander"] summary', has_text="更多列").first
    if not expander.count():
        return ["no 更多列 expander under the table"]
    compact = b.page.evaluate(MEASURE_JS)["tables"]
    expander.tap()
    b.page.wait_for_timeout(800)
    opened = b.page.evaluate(MEASURE_JS)["tables"]
    expander.tap()  # closed again for what follows
    b.page.wait_for_function("() => !document.querySelector('details[open]')", timeout=5_000)
    wider = [
        t for t in opened if t["columns"] > PHONE_MAX_COLUMNS or t["scrollWidth"] > t["clientWidth"]
    ]
    if len(opened) <= len(compact) or not wider:
        return ["the 更多列 expander shows no table with the other columns"]
    return []


def m_tables(b: Browser) -> list[dict[str, Any]]:
    return list(b.page.evaluate(MEASURE_JS)["tables"])


def english_problems(b: Browser, names: tuple[str, ...]) -> list[str]:
    texts = b.page.evaluate(LATIN_TEXTS_JS, '[data-testid="stMain"]')
    return english_words(texts, "the Chinese phone page", names=names)


def screenshot(b: Browser, name: str) -> None:
    """The screen as ``docs/phone/<name>.png`` (256 colours)."""
    save_screenshot(b.page, SCREENSHOTS / f"{name}.png")


def alert_links(street: str, base_url: str) -> tuple[str, str]:
    """The two links of a DingTalk message about one street's low on-site
    on-time share over the last 72 hours (:func:`alerts.message.render`):
    the street's own view, and the alerts page."""
    from alerts import message, rules

    alert = {
        "status": "firing",
        "kind": "ontime_share",
        "severity": "warning",
        "values": {
            "street": street, "district": DISTRICT, "street_zh": "街道", "district_zh": "拱墅区",
            "on_time_share": 0.7, "on_time": 14, "judged": 20, "threshold": 0.9, "hours": 72,
            "at": f"{WINDOW[1]}T17:00:00",
        },
    }  # fmt: skip
    channel = rules.Channel(name="dingtalk", type="dingtalk")
    service = rules.Service(base_url=base_url.rstrip("/"))
    msg = message.render({"alerts": [alert]}, "firing", "ontime_low", channel, service,
                         datetime(2026, 11, 20, 9, 0, tzinfo=UTC), "Asia/Shanghai")  # fmt: skip
    links = re.findall(r"\]\((http[^)]+)\)", msg.text)
    assert len(links) == 2 and links[1] == msg.link, msg.text
    return links[0], links[1]


def phone_pages(street: str, base_url: str) -> dict[str, str]:
    """Page name -> link: the pages an alert's link opens, and the overview."""
    view, _ = alert_links(street, base_url)
    return {
        "overview": base_url,
        "street": view,
        "warnings": urljoin(base_url, f"warnings?district={DISTRICT}"),
        "alerts": urljoin(base_url, f"alerts?district={DISTRICT}"),  # its firing alert
        "crowd-map": urljoin(base_url, f"crowd-map?district={DISTRICT}"),
    }


def seed_alerts(server: StreamlitServer, backend: Backend) -> None:
    """One pass of the alert service (the shipped rules) into the server's
    app-state file, so that the alerts page has a firing alert to list."""
    import appstate
    from alerts import evaluate, rules
    from alerts.clock import ManualClock
    from data_access.config import load_site_config

    engine = appstate.make_engine(f"sqlite:///{server.log.parent / 'appstate.sqlite'}")
    try:
        clock = ManualClock(datetime.now(UTC))
        evaluate.evaluate_rules(
            backend.engine, engine, rules.load(), load_site_config(), clock, FIXTURE_END
        )
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def phone(browser: Browser) -> Any:
    """A phone's context in the module's Chromium, recording errors."""
    recorded = recording(browser.context.browser.new_context(**PHONE_CONTEXT))
    yield recorded
    recorded.context.close()


def test_the_alert_pages_fit_a_phone(
    streamlit_server: StreamlitServer, phone: Browser, sqlite_demo: Backend
) -> None:
    with sqlite_demo.raw_engine.connect() as conn:
        street = str(
            conn.execute(
                text(
                    "SELECT street_code FROM incident WHERE street_code LIKE :d "
                    "GROUP BY street_code ORDER BY COUNT(*) DESC, street_code"
                ),
                {"d": DISTRICT + "%"},
            ).first()[0]
        )
        street_name = conn.execute(
            text("SELECT name_zh FROM street WHERE code = :c"), {"c": street}
        ).scalar_one()
    names = (Path(sqlite_demo.url.split("///")[-1]).stem,)  # the database's name, in the footer
    shots = os.environ.get("OPS_SCREENSHOT") == "1"
    seed_alerts(streamlit_server, sqlite_demo)
    report: dict[str, list[str]] = {}
    pages = phone_pages(street, streamlit_server.url)
    # The message's link names the throughput page, the street and the window.
    link = urlsplit(pages["street"])
    assert link.path == "/throughput", pages["street"]
    assert dict(parse_qsl(link.query)) == {
        "district": DISTRICT, "streets": street, "start": WINDOW[0], "end": WINDOW[1]
    }  # fmt: skip
    for name, url in pages.items():
        phone.page.set_viewport_size(SIZES[390])
        test_browser.open_page(phone, url)
        problems = page_problems(phone, is_home=name == "overview")
        if name == "alerts" and not m_tables(phone):
            problems.append("no table of firing alerts on the alerts page")
        if name == "street":  # the view the link names: that street, those dates
            title = phone.page.inner_text('[data-testid="stMain"] h1')
            if "街道案件流转" not in title or street_name not in title:
                problems.append(f"the alert's link opened {title!r}, not {street_name}'s view")
            if set(parse_qsl(urlsplit(phone.page.url).query)) < set(parse_qsl(link.query)):
                problems.append(f"the link's filters are not in the URL: {phone.page.url}")
        problems += english_problems(phone, names)
        for width, size in SIZES.items():
            if width != 390:
                phone.page.set_viewport_size(size)
                phone.page.wait_for_timeout(400)
            found = layout_problems(phone.page.evaluate(MEASURE_JS))
            if shots:
                phone.page.wait_for_timeout(1000)  # deck.gl's first frames
                screenshot(phone, f"{name}-{width}")
            if name == "overview" and width == 390:  # the taps, on the smaller phone
                found += sidebar_problems(phone) + more_columns_problems(phone)
            report[f"{name} at {width}x{size['height']}"] = found
        report[name] = problems
    assert phone.outside_requests() == []
    failures = [f"{k}:\n  " + "\n  ".join(v) for k, v in report.items() if v]
    assert not failures, "\n".join(failures)


def test_the_checks_fail_on_a_desktop_page(
    streamlit_server: StreamlitServer, phone: Browser
) -> None:
    """The same street view in a desktop browser's narrow window (no phone
    User-Agent: whole tables, the desktop map) fails the phone checks: they
    can fail."""
    context = phone.context.browser.new_context(viewport=SIZES[390], locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(urljoin(streamlit_server.url, f"?district={DISTRICT}"))
        wait_until_idle(page)
        found = layout_problems(page.evaluate(MEASURE_JS))
    finally:
        context.close()
    assert any("columns" in p or "scrolls sideways" in p for p in found), found
    assert any(p.startswith("map 1 is") for p in found), found


@pytest.mark.parametrize(
    ("agent", "is_phone"),
    [
        (IPHONE_UA, True),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0 Mobile Safari/537.36",
            True,
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0 Safari/537.36",
            False,
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0 Safari/537.36",
            False,
        ),
    ],
    ids=["iphone-dingtalk", "android-phone", "android-tablet", "desktop"],
)
def test_a_phone_is_known_by_its_user_agent(agent: str, is_phone: bool) -> None:
    assert bool(PHONE_UA.search(agent)) is is_phone
