"""The command screen's layout in Chromium, per view, on a 1080p and a 4K wall.

What a command room sees from the back of the room, measured in the
browser (AppTest cannot: it has no layout):

- the three panels reach the alert strip (the right one once ended at two
  thirds of the height), their bottoms level;
- no text overflows its box (a panel, an alert, the notice, a clipped cell
  or a name cut by an ellipsis): everything shown fits;
- the alert strip is wholly on the screen with a link notice shown (at 4K
  the notice once pushed it off), and the page does not scroll;
- no English word on the Chinese wall (record ids, proper names and units
  allowed), and the English wall's names fit too.

Reuses the server and browser fixtures of ``tests/test_browser.py`` (a
server of this module's own, the SQLite fixture database, the clock pinned
to its end). ``OPS_SCREENSHOT=1`` also saves the 1080p crowd-map view to
``docs/command_screen.png`` for the README.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import urljoin

import pytest

from tests import page_words, test_browser
from tests.conftest import ROOT
from tests.test_browser import Browser, StreamlitServer, cjk_font_problems, open_page

pytestmark = pytest.mark.browser

# The server and browser of tests/test_browser.py (this module's own instances).
browser, chromium_path = test_browser.browser, test_browser.chromium_path
streamlit_server = test_browser.streamlit_server

#: ``OPS_SCREENSHOT=1`` saves the 1080p crowd-map view here, for the README.
SCREENSHOT = ROOT / "docs" / "command_screen.png"

WALLS = {
    "1080p": ({"width": 1920, "height": 1080}, ""),
    "4K": ({"width": 3840, "height": 2160}, "&scale=2"),
}
VIEWS = ("crowd-map", "incident-map", "throughput", "warnings")
#: A bad link parameter: every check runs with the notice it brings.
TYPO = "&cycle=oops"
#: Pixels a panel's bottom may miss the bottom of the row of panels by.
LEVEL_PX = 4

#: Geometry of the wall: the rows, the panels, and every box whose content
#: does not fit it (its text clipped, cut by an ellipsis or spilling out).
LAYOUT_JS = """() => {
  const box = (el) => { if (!el) return null; const r = el.getBoundingClientRect();
    return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: r.height}; };
  const shown = (el) => { const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden'; };
  // The row of panels: its container, else the block of the three columns.
  const main = document.querySelector('.st-key-scr-main')
    || [...document.querySelectorAll('[data-testid="stHorizontalBlock"]')].find(
      h => h.querySelectorAll(':scope > [data-testid="stColumn"]').length === 3);
  const cols = [...main.querySelectorAll('[data-testid="stColumn"]')].slice(0, 3);
  const last = (col) => { const els = [...col.querySelectorAll('.scr-panel, .scr-legend,'
      + ' [data-testid="stDeckGlJsonChart"]')].filter(shown);
    return els.length ? Math.max(...els.map(e => e.getBoundingClientRect().bottom)) : null; };
  const roots = [...document.querySelectorAll('.scr-panel, .scr-alert, .scr-stage-title,'
      + ' .scr-top, h1, [data-testid="stAlertContainer"]')].filter(shown);
  const spill = [];
  for (const root of roots) {
    for (const el of [root, ...root.querySelectorAll('*')]) {
      if (!shown(el) || !el.textContent.trim()) continue;
      if (el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0
          && getComputedStyle(el).overflowX !== 'visible'
          || el.scrollHeight > el.clientHeight + 1 && el.clientHeight > 0
          && getComputedStyle(el).overflowY !== 'visible') {
        spill.push(`${el.className || el.tagName}: ${el.textContent.trim().slice(0, 60)}`
          + ` (${el.scrollWidth}x${el.scrollHeight} in ${el.clientWidth}x${el.clientHeight})`);
      }
      const r = el.getBoundingClientRect(), p = root.getBoundingClientRect();
      if (r.bottom > p.bottom + 1 || r.right > p.right + 1) {
        spill.push(`${el.className || el.tagName} outside its box: ${el.textContent.trim().slice(0, 60)}`);
      }
    }
  }
  const words = [];
  const walker = document.createTreeWalker(document.querySelector('[data-testid="stMain"]'),
    NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || !shown(el) || el.closest('[data-testid="stIconMaterial"], [data-testid="stAlert"],'
        + ' style, script')) continue;
    words.push(...(n.nodeValue.match(/[A-Za-z][A-Za-z0-9]*/g) || []));
  }
  const block = document.querySelector('[data-testid="stMainBlockContainer"]');
  return {
    viewport: window.innerHeight,
    scrolls: block.scrollHeight > block.clientHeight + 1
      || document.scrollingElement.scrollHeight > window.innerHeight + 1,
    main: box(main), bottoms: cols.map(last),
    stagePanel: box([...cols[1].querySelectorAll('.scr-panel')].filter(shown)[0]),
    deck: box([...document.querySelectorAll('[data-testid="stDeckGlJsonChart"]')].filter(shown)[0]),
    strip: box(document.querySelector('[data-key="alerts"]')),
    notice: box([...document.querySelectorAll('[data-testid="stAlert"]')].filter(shown)[0]),
    spill, words,
  };
}"""


def wall(b: Browser, server: StreamlitServer, query: str, size: dict[str, int]) -> None:
    """Open the wall at ``query`` in a viewport of ``size``; return once
    every tile has drawn."""
    b.page.set_viewport_size(size)
    open_page(b, urljoin(server.url, f"command-screen?{query}"))
    view = re.search(r"view=([a-z-]+)", query)
    stage = f'[data-key="{view.group(1)}"]' if view and not view.group(1).endswith("-map") else ""
    b.page.wait_for_selector(stage or '[data-testid="stDeckGlJsonChart"] canvas', timeout=30_000)
    b.page.wait_for_selector('[data-key="alerts"]', timeout=30_000)
    b.page.evaluate("document.fonts.ready")


def layout_problems(m: dict[str, Any], view: str, notice: bool) -> list[str]:
    """What is wrong with the measured wall (empty if nothing)."""
    out = [f"text does not fit: {s}" for s in m["spill"]]
    height, main, strip = m["viewport"], m["main"], m["strip"]
    if m["scrolls"]:
        out.append("the page scrolls: something is below the screen")
    if not (strip["top"] >= 0 and strip["bottom"] <= height + 1):
        out.append(f"alert strip not wholly on the screen: {strip} in {height}")
    if strip["top"] < main["bottom"] - 1:
        out.append(f"the panels run under the alert strip: {main} / {strip}")
    left, centre, right = m["bottoms"]
    for name, bottom in (("left", left), ("right", right)):
        if bottom is None or abs(bottom - main["bottom"]) > LEVEL_PX:
            out.append(f"the {name} panel ends at {bottom}, the row at {main['bottom']}")
    if view.endswith("-map"):
        deck = m["deck"]
        if not deck or deck["height"] < 0.5 * height or centre > main["bottom"] + 1:
            out.append(f"the map does not fill the stage: {deck}, stage ends at {centre}")
    elif not m["stagePanel"] or abs(m["stagePanel"]["bottom"] - main["bottom"]) > LEVEL_PX:
        out.append(f"the stage panel ends at {m['stagePanel']}, the row at {main['bottom']}")
    if notice:
        n = m["notice"]
        if not n or n["top"] < 0 or n["bottom"] > main["top"] + 1:
            out.append(f"the notice is not a row above the panels: {n} / {main}")
    return out


def english_words(m: dict[str, Any]) -> list[str]:
    """The Latin words on the (Chinese) wall that are no id, unit or name
    (the pages' allow-list, tests/page_words.py)."""
    return page_words.english_words(m["words"], "the Chinese wall")


def shown_problems(b: Browser, lang: str) -> list[str]:
    """An exception box, an element that failed to draw, a traceback, a
    page or console error; on the Chinese wall, Chinese not drawn in a
    Simplified Chinese font. (``page_problems`` of tests/test_browser.py
    also waits for a canvas in every deck: the wall's hidden one never
    draws one.)"""
    out = [
        f"{what} shown: {box.inner_text()[:200]!r}"
        for what, selector in (
            ("exception", '[data-testid="stException"]'),
            ("element that failed to draw", '[data-testid="stErrorElementStack"]'),
        )
        for box in b.page.query_selector_all(selector)
    ]
    if "Traceback" in b.page.inner_text("body"):
        out.append("'Traceback' in the page text")
    out += [f"page error: {e[:300]}" for e in b.page_errors]
    out += [f"console error: {e[:300]}" for e in b.console_errors]
    return out + (cjk_font_problems(b) if lang == "zh" else [])


def check(b: Browser, view: str, lang: str, notice: bool) -> list[str]:
    """The wall now on the screen, measured (see :func:`layout_problems`),
    and on the Chinese wall its English words."""
    m = dict(b.page.evaluate(LAYOUT_JS))
    return layout_problems(m, view, notice) + (english_words(m) if lang == "zh" else [])


def test_every_view_fills_a_1080p_and_a_4k_wall(request: pytest.FixtureRequest) -> None:
    """Each view of the 4K wall (``scale=2``) in Chinese with a notice;
    the stages and the red warnings then at 1920x1080 too, the same page
    resized (their layout is in vh: the same share of the screen at both
    sizes), the maps loaded at 1080p (the wall's scale sizes a map's
    drawing and legend): the incident map with a notice, the crowd map
    without, which gives the map the notice's height back; and the red
    warnings in English (the longest texts: domains, reasons, the right
    panel's street names), where every name must fit, none cut mid-word.
    (A page load of the wall takes seconds: seven keep this test near half
    a minute on a quiet machine.)"""
    server: StreamlitServer = request.getfixturevalue("streamlit_server")
    b: Browser = request.getfixturevalue("browser")
    big, scale = WALLS["4K"]
    small = WALLS["1080p"][0]
    report: dict[str, list[str]] = {}
    try:
        for view in VIEWS:
            wall(b, server, f"view={view}&rotate=600{scale}{TYPO}", big)
            report[f"4K {view}"] = check(b, view, "zh", notice=True) + shown_problems(b, "zh")
            if not view.endswith("-map"):
                b.page.set_viewport_size(small)
                b.page.wait_for_timeout(300)
                report[f"1080p {view}"] = check(b, view, "zh", notice=True)
        wall(b, server, f"view=incident-map&rotate=600{TYPO}", small)
        report["1080p incident-map"] = check(b, "incident-map", "zh", notice=True)
        wall(b, server, f"view=warnings&rotate=600{TYPO}&lang=en", small)
        report["1080p warnings, English"] = check(b, "warnings", "en", notice=True)
        wall(b, server, "view=crowd-map&rotate=600", small)
        report["1080p crowd-map, no notice"] = check(b, "crowd-map", "zh", notice=False)
        if os.environ.get("OPS_SCREENSHOT") == "1":
            b.page.wait_for_timeout(1500)  # let deck.gl finish its first frames
            b.page.screenshot(path=str(SCREENSHOT))
    finally:
        b.page.set_viewport_size({"width": 1600, "height": 1000})
    failures = [f"{k}:\n  " + "\n  ".join(v) for k, v in report.items() if v]
    assert not failures, "\n".join(failures)
