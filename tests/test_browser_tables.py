"""Tables at 1920x1080 in Chromium: on every page with tables, no table is
wider than its place on the page (the throughput table's last column was
cut off), and none reaches past the window. Glide's grid scrolls inside
``.dvn-scroller``: a table whose columns do not fit has a scroll width over
its client width. Reuses the server and browser fixtures of
``tests/test_browser.py`` (this module's own server)."""

from __future__ import annotations

from urllib.parse import urljoin

import pytest

from tests.test_browser import (  # noqa: F401  (fixtures)
    Browser,
    StreamlitServer,
    browser,
    chromium_path,
    open_page,
    streamlit_server,
)

pytestmark = pytest.mark.browser

#: The pages with tables, and how many each shows by default.
PAGES = {"": 1, "throughput": 1, "warnings": 1, "weekly-review": 3, "data-quality": 2}
WIDE = {"width": 1920, "height": 1080}

#: Per table: its grid's scroll and client widths, and its right edge.
TABLE_WIDTHS_JS = """
() => [...document.querySelectorAll('[data-testid="stDataFrame"]')].map(d => {
  const s = d.querySelector('.dvn-scroller');
  const box = d.getBoundingClientRect();
  return {scroll: s ? s.scrollWidth : -1, client: s ? s.clientWidth : -1,
          right: box.right, window: window.innerWidth};
})
"""


def test_no_table_column_is_cut_off_at_1920(request: pytest.FixtureRequest) -> None:
    server: StreamlitServer = request.getfixturevalue("streamlit_server")
    b: Browser = request.getfixturevalue("browser")
    b.page.set_viewport_size(WIDE)
    failures: list[str] = []
    for path, expected in PAGES.items():
        open_page(b, urljoin(server.url, path))
        b.page.wait_for_selector('[data-testid="stDataFrame"] .dvn-scroller', timeout=30_000)
        widths = b.page.evaluate(TABLE_WIDTHS_JS)
        if len(widths) < expected:
            failures.append(f"/{path}: {len(widths)} tables, expected {expected}")
        for i, w in enumerate(widths):
            if w["scroll"] < 0:
                failures.append(f"/{path} table {i + 1}: not drawn")
            elif w["scroll"] > w["client"] + 1:
                failures.append(
                    f"/{path} table {i + 1}: columns {w['scroll']} px wide in {w['client']} px"
                )
            if w["right"] > w["window"] + 1:
                failures.append(f"/{path} table {i + 1}: ends at {w['right']} px of {w['window']}")
    assert not failures, "\n".join(failures)
