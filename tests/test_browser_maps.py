"""The two heat-map pages in a real browser: they draw a map canvas, send no
request off the machine, and the crowd map's play button moves the time step
(``run_every`` fragments do not tick under AppTest, so this is where it is
checked), and every map's deck is the size of the panel its view is fitted
for (``ui/map_view.py``), with its legend under it. Reuses the server and browser fixtures of ``tests/test_browser.py``;
the server is this module's own, so the first visit is a deep link on a
server's first run (which once showed "Page not found")."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urljoin

import pytest

from tests.test_browser import (  # noqa: F401  (fixtures)
    Browser,
    StreamlitServer,
    browser,
    chromium_path,
    open_page,
    page_problems,
    streamlit_server,
    wait_until_idle,
)
from ui.map_view import OVERVIEW_PANEL, PAGE_PANEL

pytestmark = pytest.mark.browser


MAP_BOX_JS = """() => {
  const r = (el) => el ? el.getBoundingClientRect() : null;
  const deck = r(document.querySelector('[data-testid="stDeckGlJsonChart"]'));
  const legend = r(document.querySelector('.map-legend'));
  const ctrl = r(document.querySelector('.mapboxgl-ctrl-group'));
  return {
    deck: deck && [deck.left, deck.top, deck.width, deck.height],
    legend: legend && [legend.left, legend.top, legend.width, legend.height],
    ctrl: ctrl && [ctrl.width, ctrl.height],
    viewport: [window.innerWidth, window.innerHeight],
  };
}"""


#: The wall's +/- buttons at 1080p, measured by the wall test (the 4K
#: wall's are compared with them).
WALL_CONTROLS: dict[str, list[float]] = {}


def assert_fitted_panel(name: str, box: dict[str, Any], panel: Any) -> None:
    """The deck is the size of the panel its view is fitted for, its legend under it."""
    _, top, width, height = box["deck"]
    assert abs(width - panel.width) <= 0.03 * panel.width, (name, width, panel)
    assert height == pytest.approx(panel.height, abs=2), (name, height, panel)
    legend = box["legend"]
    assert legend and legend[1] >= top + height - 1 and legend[2] > 200, (name, legend)


def slider_value(page) -> str:
    return page.inner_text('[data-testid="stSliderThumbValue"]').strip()


def test_heat_maps_render_offline_and_play_advances(request: pytest.FixtureRequest) -> None:
    server: StreamlitServer = request.getfixturevalue("streamlit_server")
    b: Browser = request.getfixturevalue("browser")
    page = b.page
    problems: dict[str, list[str]] = {}
    boxes = {}
    for name in ("incident-map", "crowd-map"):
        open_page(b, urljoin(server.url, name))
        page.wait_for_selector('[data-testid="stDeckGlJsonChart"] canvas', timeout=30_000)
        problems[name] = page_problems(b, is_home=True)
        boxes[name] = page.evaluate(MAP_BOX_JS)
        if os.environ.get("OPS_SCREENSHOT") == "1":
            page.wait_for_timeout(1500)
            page.screenshot(path=f"/tmp/{name}.png", full_page=True)

    # Still on the crowd map: play from the latest step restarts at 00:00 and moves on.
    before = slider_value(page)
    page.get_by_role("button", name="播放").click()
    page.wait_for_timeout(4500)
    after = slider_value(page)
    page.get_by_role("button", name="暂停").click()
    wait_until_idle(page)

    failures = [f"{name}: {p}" for name, ps in problems.items() for p in ps]
    outside = b.outside_requests()
    assert not failures, "\n".join(failures)
    assert not outside, outside[:10]
    assert after != before, (before, after)
    for name, box in boxes.items():  # the panel the view is fitted for
        assert_fitted_panel(name, box, PAGE_PANEL)


SCREEN_BOX_JS = """(key) => {
  const r = (el) => el ? el.getBoundingClientRect() : null;
  const panel = r(document.querySelector(`[data-key="${key}"]`));
  const deck = document.querySelector('[data-testid="stDeckGlJsonChart"]');
  const icon = document.querySelector('[data-testid="stAlertDynamicIcon"]');
  return {
    viewport: window.innerHeight,
    panelTop: panel && panel.top, panelBottom: panel && panel.bottom,
    deckHeight: deck ? r(deck).height : null,
    deckShown: deck ? getComputedStyle(deck).visibility === "visible"
                      && r(deck.closest('.st-key-scr-map')).height > 0 : null,
    iconFont: icon ? getComputedStyle(icon).fontFamily : null,
  };
}"""


def test_the_command_screen_fits_each_view_on_the_wall(request: pytest.FixtureRequest) -> None:
    """A wall shows every view inside the screen: a non-map view is not
    pushed down by the deck kept mounted (hidden) for the maps, a map
    view shows its map, and a notice's icon is drawn as an icon (the
    screen's font once turned it into the word "link")."""
    server: StreamlitServer = request.getfixturevalue("streamlit_server")
    b: Browser = request.getfixturevalue("browser")
    page = b.page
    seen = {}
    for view in ("warnings", "throughput", "incident-map"):
        open_page(b, urljoin(server.url, f"command-screen?view={view}&rotate=600&cycle=nonsense"))
        if view == "incident-map":
            page.wait_for_selector('[data-testid="stDeckGlJsonChart"] canvas', timeout=30_000)
        else:
            page.wait_for_selector(f'[data-key="{view}"]', timeout=30_000)
        wait_until_idle(page)
        seen[view] = page.evaluate(SCREEN_BOX_JS, view)
        if view == "incident-map":
            WALL_CONTROLS["1080p"] = page.evaluate(MAP_BOX_JS)["ctrl"]
    for view in ("warnings", "throughput"):
        box = seen[view]
        assert box["panelBottom"] <= box["viewport"], (view, box)
        assert box["panelTop"] < 0.25 * box["viewport"], (view, box)
        assert box["deckShown"] is False, (view, box)  # mounted, hidden
    shown = seen["incident-map"]
    assert shown["deckShown"] and shown["deckHeight"] > 0.4 * shown["viewport"], shown
    for view, box in seen.items():
        assert box["iconFont"] and "Material Symbols" in box["iconFont"], (view, box)


def test_the_overview_map_and_a_4k_walls_controls(request: pytest.FixtureRequest) -> None:
    """The overview's deck is the panel its view is fitted for
    (ui/map_view.py, measured at this browser's 1600x1000), its legend
    under it; on a 4K wall (``scale=2``) the +/- buttons are twice their
    1080p size, like everything else on the wall."""
    server: StreamlitServer = request.getfixturevalue("streamlit_server")
    b: Browser = request.getfixturevalue("browser")
    page = b.page
    boxes = {}
    for name, path in (
        ("overview", ""),
        ("wall-4k", "command-screen?view=incident-map&rotate=600&scale=2"),
    ):
        open_page(b, urljoin(server.url, path))
        page.wait_for_selector('[data-testid="stDeckGlJsonChart"] canvas', timeout=30_000)
        page.wait_for_selector(".map-legend", timeout=30_000)
        boxes[name] = page.evaluate(MAP_BOX_JS)
        assert not page_problems(b, is_home=name == "overview"), name
    assert not b.outside_requests()
    assert_fitted_panel("overview", boxes["overview"], OVERVIEW_PANEL)
    if "1080p" not in WALL_CONTROLS:  # run alone: measure the 1080p wall here
        open_page(b, urljoin(server.url, "command-screen?view=incident-map&rotate=600"))
        page.wait_for_selector(".mapboxgl-ctrl-group", timeout=30_000)
        WALL_CONTROLS["1080p"] = page.evaluate(MAP_BOX_JS)["ctrl"]
    one, four = WALL_CONTROLS["1080p"], boxes["wall-4k"]["ctrl"]
    assert four[1] == pytest.approx(2 * one[1], rel=0.1), (one, four)
