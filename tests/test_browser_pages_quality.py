"""Every page at 1920x1080 in Chromium, as a command room or a meeting
reads it (issue #24). Per page of the app's own navigation (as
tests/test_browser.py lists them), the check fails on:

- a chart's labels on top of each other: the boxes of any two different
  texts of a plotly chart (tick labels, bar texts, annotations, axis and
  chart titles, legend entries) overlap, each box turned with its text
  (rotated tick labels are tested as drawn, not as their bounding boxes);
- a table column cut off: a grid whose columns are wider than its place
  (Glide's grid scrolls inside ``.dvn-scroller``: scroll width over client
  width; the throughput table's last column was cut), or a table reaching
  past the window;
- English words on the Chinese page (visible text of the main area and the
  sidebar, SVG included), but the ids, units and proper names of
  :data:`tests.page_words.ALLOWED_WORDS` (the wall's list too);
- a bar chart's value axis not starting at 0 (the throughput ranking once
  started at ~76 %, 96.7 % looking four times 86.0 %) unless the figure
  marks the break as :data:`ui.chart_axes.AXIS_BREAK` says: the axis named
  in ``layout.meta["axis_break"]`` and a visible annotation of that name.
  The axes are read from the drawn figure (``gd._fullLayout``), so an
  autorange that does not include 0 is caught too.

``test_the_checks_fail_on_a_broken_page`` shows each detector failing on a
tiny hand-made page (no server), so none of them is a check that cannot
fail. One server and one browser for the module (the fixtures of
tests/test_browser.py, instances of this module's own).

The suite's server lists every page but the administrator's (audit,
import: its role is a leader's); those are checked under AppTest
(tests/test_tables.py) and, with ``OPS_SCREENSHOT=1``, here too on a
second server whose no-login role is the administrator.

``OPS_SCREENSHOT=1`` also saves every page at 1920x1080 to
``docs/screenshots/<page>.png`` and every wall view at 1080p to
``docs/screenshots/wall-<view>.png`` (the viewport, not the full page;
reduced to a 256-colour palette to stay small).
"""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest

from tests.conftest import FIXTURE_END, ROOT
from tests.page_words import LATIN_TEXTS_JS, english_words
from tests.test_browser import (  # noqa: F401  (fixtures)
    Browser,
    StreamlitServer,
    browser,
    chromium_path,
    free_port,
    navigation_links,
    open_page,
    running_streamlit,
    save_screenshot,
    streamlit_server,
)
from ui.chart_axes import AXIS_BREAK

pytestmark = pytest.mark.browser

WIDE = {"width": 1920, "height": 1080}
#: Pages that must show at least this many tables by default (so the
#: width check cannot pass on a page whose tables stopped drawing).
TABLES_AT_LEAST = {
    "overview": 1,
    "throughput": 1,
    "warnings": 1,
    "weekly-review": 3,
    "data-quality": 2,
    "crowd-map": 2,
}
#: Pages that must show at least this many plotly charts by default.
CHARTS_AT_LEAST = {"throughput": 1, "warnings": 2, "weekly-review": 2}
#: Pixels two text boxes may overlap by (anti-aliasing, a glyph's side bearing).
OVERLAP_PX = 1.0
#: The wall's views, each saved with ``OPS_SCREENSHOT=1``.
WALL_VIEWS = ("crowd-map", "incident-map", "throughput", "warnings")
#: Pages the suite's server does not list (its role is no administrator):
#: with ``OPS_SCREENSHOT=1`` saved, and checked, from a server of their own.
ADMIN_PAGES = ("audit", "import")
SCREENSHOTS = ROOT / "docs" / "screenshots"

#: Per table: its grid's scroll and client widths, and its right edge.
TABLE_WIDTHS_JS = """
() => [...document.querySelectorAll('[data-testid="stDataFrame"]')].map(d => {
  const s = d.querySelector('.dvn-scroller');
  const box = d.getBoundingClientRect();
  return {scroll: s ? s.scrollWidth : -1, client: s ? s.clientWidth : -1,
          right: box.right, window: window.innerWidth, shown: box.width > 0};
})
"""

#: Resolves once every shown table has its grid and every shown chart its
#: drawn figure.
DRAWN_JS = """
() => {
  const shown = el => el.getBoundingClientRect().width > 0;
  const tables = [...document.querySelectorAll('[data-testid="stDataFrame"]')].filter(shown);
  const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].filter(shown);
  return tables.every(t => t.querySelector('.dvn-scroller'))
    && charts.every(c => { const gd = c.querySelector('.js-plotly-plot');
      return gd && gd._fullLayout && gd.querySelector('.main-svg'); });
}
"""

#: Per shown plotly chart: each drawn text (ticks, bar texts, annotations,
#: titles, legend) as the four corners of its box on the screen, turned
#: with the text (getBBox through getScreenCTM).
CHART_TEXTS_JS = """
() => {
  const drawn = (el) => {
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.display === 'none' || s.visibility === 'hidden' || s.opacity === '0') return false;
    }
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  const SEL = 'g[class$="tick"] > text, text.bartext, text.annotation-text, text.legendtext,'
    + ' text.gtitle, text[class$="title"], g.textpoint > text';
  return [...document.querySelectorAll('.js-plotly-plot')].filter(drawn).map((gd, i) => {
    const texts = [];
    for (const el of gd.querySelectorAll(SEL)) {
      const text = el.textContent.trim();
      if (!text || !drawn(el)) continue;
      const b = el.getBBox(), m = el.getScreenCTM();
      if (!m || b.width === 0 || b.height === 0) continue;
      const pt = (x, y) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f];
      texts.push({text, kind: el.getAttribute('class') || el.parentElement.getAttribute('class'),
        quad: [pt(b.x, b.y), pt(b.x + b.width, b.y), pt(b.x + b.width, b.y + b.height),
               pt(b.x, b.y + b.height)]});
    }
    // (the given title: plotly's _fullLayout has a placeholder where there is none)
    const title = gd.layout && gd.layout.title && gd.layout.title.text;
    return {chart: i + 1, title: title || '', texts};
  });
}
"""

#: Per plotly chart: the value axis of every shown bar trace (its type and
#: drawn range), the axes ``layout.meta.axis_break`` names and the names of
#: its visible annotations.
BAR_AXES_JS = """
() => [...document.querySelectorAll('.js-plotly-plot')].map((gd, i) => {
  const L = gd._fullLayout || {};
  const meta = (gd.layout && gd.layout.meta) || L.meta || {};
  const bars = [];
  for (const tr of gd._fullData || []) {
    if (tr.type !== 'bar' || tr.visible !== true) continue;
    const values = (tr.orientation === 'h' ? tr.x : tr.y) || [];
    if (![...values].some(v => v !== null && v !== '' && isFinite(v))) continue;  // a legend key
    const id = tr.orientation === 'h' ? (tr.xaxis || 'x') : (tr.yaxis || 'y');
    const axis = id[0] + 'axis' + id.slice(1);
    const ax = L[axis] || {};
    bars.push({trace: String(tr.name || ''), axis, type: ax.type || '',
               range: (ax.range || []).map(Number)});
  }
  const title = gd.layout && gd.layout.title && gd.layout.title.text;
  return {chart: i + 1, title: title || '', bars,
          breaks: [].concat((meta && meta.axis_break) || []),
          annotations: (L.annotations || []).filter(a => a.visible !== false)
            .map(a => String(a.name || ''))};
})
"""


# --- the detectors (pure: measured values in, problems out) -----------------------------


def table_problems(widths: list[dict[str, Any]]) -> list[str]:
    """A grid narrower than its columns, not drawn, or past the window."""
    out = []
    for i, w in enumerate(widths, start=1):
        if not w["shown"]:
            continue
        if w["scroll"] < 0:
            out.append(f"table {i}: not drawn")
        elif w["scroll"] > w["client"] + 1:
            out.append(f"table {i}: columns {w['scroll']} px wide in {w['client']} px (cut off)")
        if w["right"] > w["window"] + 1:
            out.append(f"table {i}: ends at {w['right']:.0f} px of {w['window']}")
    return out


def _overlap_px(a: list[list[float]], b: list[list[float]]) -> float:
    """How far two convex quads overlap (separating-axis test: the least
    overlap of their projections on each edge's normal; 0 if apart)."""
    least = float("inf")
    for quad in (a, b):
        for (x1, y1), (x2, y2) in itertools.pairwise([*quad, quad[0]]):
            nx, ny = y1 - y2, x2 - x1
            length = (nx * nx + ny * ny) ** 0.5
            if length == 0:
                continue
            nx, ny = nx / length, ny / length
            pa = [x * nx + y * ny for x, y in a]
            pb = [x * nx + y * ny for x, y in b]
            overlap = min(max(pa), max(pb)) - max(min(pa), min(pb))
            if overlap <= 0:
                return 0.0
            least = min(least, overlap)
    return 0.0 if least == float("inf") else least


def chart_name(chart: dict[str, Any]) -> str:
    """``chart 2 (its title)``, the title's markup left out."""
    title = re.sub(r"<[^>]+>", "", chart["title"])
    return f"chart {chart['chart']}" + (f" ({title})" if title else "")


def label_overlaps(charts: list[dict[str, Any]]) -> list[str]:
    """Two different texts of one chart drawn on top of each other."""
    out = []
    for chart in charts:
        name = chart_name(chart)
        for a, b in itertools.combinations(chart["texts"], 2):
            if a["text"] == b["text"]:
                continue
            px = _overlap_px(a["quad"], b["quad"])
            if px > OVERLAP_PX:
                out.append(
                    f"{name}: {a['kind']} {a['text']!r} overlaps {b['kind']} {b['text']!r}"
                    f" by {px:.1f} px"
                )
    return out


def bar_axis_problems(charts: list[dict[str, Any]]) -> list[str]:
    """A bar trace whose value axis does not run from 0 (a log axis never
    does), unless the figure marks that axis as broken."""
    out = []
    for chart in charts:
        name = chart_name(chart)
        marked = AXIS_BREAK in chart["annotations"]
        for bar in chart["bars"]:
            rng = bar["range"]
            from_zero = (
                bar["type"] == "linear" and len(rng) == 2 and min(rng) <= 1e-9 <= max(rng) + 1e-9
            )
            if from_zero or (marked and bar["axis"] in chart["breaks"]):
                continue
            out.append(
                f"{name}: bar {bar['trace']!r} on {bar['axis']} ({bar['type']}, range {rng})"
                f" does not start at 0 and no break is marked"
            )
    return out


def measure(b: Browser) -> dict[str, Any]:
    """Everything the detectors read, from the page now shown."""
    return {
        "tables": b.page.evaluate(TABLE_WIDTHS_JS),
        "texts": b.page.evaluate(CHART_TEXTS_JS),
        "bars": b.page.evaluate(BAR_AXES_JS),
        "texts_latin": b.page.evaluate(
            LATIN_TEXTS_JS, '[data-testid="stMain"], [data-testid="stSidebar"]'
        ),
    }


def problems(m: dict[str, Any], lang: str = "zh", names: tuple[str, ...] = ()) -> list[str]:
    """What is wrong with the measured page (empty if nothing); on a Chinese
    page its English words (``names``: the site's proper names)."""
    out = table_problems(m["tables"]) + label_overlaps(m["texts"]) + bar_axis_problems(m["bars"])
    return out + (english_words(m["texts_latin"], names=names) if lang == "zh" else [])


# --- the pages ---------------------------------------------------------------------------


def page_name(url: str) -> str:
    """The page's URL path (the default page's: ``overview``)."""
    return urlsplit(url).path.strip("/") or "overview"


def wait_drawn(b: Browser) -> None:
    """Until every table and chart is drawn, and the fonts (text boxes are
    measured in them)."""
    b.page.wait_for_function(DRAWN_JS, timeout=30_000)
    b.page.evaluate("document.fonts.ready")
    b.page.wait_for_timeout(300)  # plotly's automargin redraw


def screenshot(b: Browser, name: str) -> None:
    """The viewport as ``docs/screenshots/<name>.png`` (256 colours)."""
    save_screenshot(b.page, SCREENSHOTS / f"{name}.png")


def admin_pages(b: Browser, db_url: str, tmp: Path, names: tuple[str, ...]) -> dict[str, list[str]]:
    """:data:`ADMIN_PAGES` checked and saved, on a server whose no-login
    role is the administrator (only with ``OPS_SCREENSHOT=1``: a second
    server is no cost the suite pays)."""
    access = tmp / "access.toml"
    access.write_text('[login]\nno_login_role = "admin"\n')
    env = dict(
        os.environ,
        OPS_DB_URL=db_url,
        OPS_NOW=FIXTURE_END.isoformat(timespec="minutes"),
        OPS_ACCESS_CONFIG=str(access),
        OPS_APPSTATE_PATH=str(tmp / "appstate.sqlite"),
        OPS_IMPORT_DB_URL=f"sqlite:///{tmp / 'import.sqlite'}",
        PYTHONUNBUFFERED="1",
    )
    env.pop("OPS_APPSTATE_URL", None)
    report = {}
    with running_streamlit(env, free_port(), tmp / "server.log") as server:
        for name in ADMIN_PAGES:
            open_page(b, urljoin(server.url, name))
            wait_drawn(b)
            report[name] = problems(measure(b), names=names)
            screenshot(b, name)
    return report


def test_every_page_reads_right_at_1920(request: pytest.FixtureRequest) -> None:
    """Every page of the navigation at 1920x1080, in Chinese, by default:
    no overlapping chart labels, no cut-off table, no English word, no bar
    axis from above 0 without a marked break; the pages known to have
    tables and charts show at least that many."""
    server: StreamlitServer = request.getfixturevalue("streamlit_server")
    b: Browser = request.getfixturevalue("browser")
    # The footer names the source by its database's name: a proper name.
    names = (Path(urlsplit(request.getfixturevalue("sqlite_demo").url).path).stem,)
    shots = os.environ.get("OPS_SCREENSHOT") == "1"
    b.page.set_viewport_size(WIDE)
    report: dict[str, list[str]] = {}
    try:
        open_page(b, server.url)
        pages = [server.url, *navigation_links(b.page, server.url)]
        assert len(pages) > len(TABLES_AT_LEAST), pages
        for url in dict.fromkeys(pages):
            name = page_name(url)
            if name in report:
                continue
            if report:  # the default page is already open
                open_page(b, url)
            wait_drawn(b)
            m = measure(b)
            found = problems(m, names=names)
            shown_tables = sum(1 for w in m["tables"] if w["shown"])
            if shown_tables < TABLES_AT_LEAST.get(name, 0):
                found.append(f"{shown_tables} tables, expected {TABLES_AT_LEAST[name]}")
            if len(m["texts"]) < CHARTS_AT_LEAST.get(name, 0):
                found.append(f"{len(m['texts'])} charts, expected {CHARTS_AT_LEAST[name]}")
            report[name] = found
            if shots:
                b.page.wait_for_timeout(1500)  # deck.gl's first frames
                screenshot(b, name)
        if shots:
            for view in WALL_VIEWS:
                open_page(b, urljoin(server.url, f"command-screen?view={view}&rotate=600"))
                b.page.wait_for_selector('[data-key="alerts"]', timeout=30_000)
                b.page.wait_for_timeout(2500)  # the map's or the stage's first frames
                screenshot(b, f"wall-{view}")
            tmp = request.getfixturevalue("tmp_path")
            report |= admin_pages(b, request.getfixturevalue("sqlite_demo").url, tmp, names)
    finally:
        b.page.set_viewport_size({"width": 1600, "height": 1000})
    assert "overview" in report and len(report) >= len(TABLES_AT_LEAST), list(report)
    failures = [f"/{k}:\n  " + "\n  ".join(v) for k, v in report.items() if v]
    assert not failures, f"{len(failures)} of {len(report)} pages:\n" + "\n".join(failures)


# --- the detectors can fail ------------------------------------------------------------

#: A hand-made page with one of each fault: two tick labels on top of each
#: other (and two rotated ones whose bounding boxes overlap but whose
#: texts do not), a bar axis from 50, a marked one from 50, an English
#: word, a grid wider than its place.
BROKEN_PAGE = """
<div data-testid="stMain">
  <p>数据截至 10:40 Upload</p>
  <div data-testid="stDataFrame" style="width:300px">
    <div class="dvn-scroller" style="width:300px;overflow:auto">
      <div style="width:900px;height:20px">宽表</div></div></div>
  <div class="js-plotly-plot" id="a"><svg class="main-svg" width="600" height="300">
    <g class="xtick"><text x="100" y="50" font-size="14">湖墅街道</text></g>
    <g class="xtick"><text x="120" y="52" font-size="14">朝晖街道</text></g>
    <g class="xtick"><text x="300" y="150" font-size="14" transform="rotate(-45 300 150)"
      >拱宸桥街道</text></g>
    <g class="xtick"><text x="330" y="150" font-size="14" transform="rotate(-45 330 150)"
      >康桥街道</text></g>
  </svg></div>
  <div class="js-plotly-plot" id="b"><svg class="main-svg" width="10" height="10"></svg></div>
</div>
<script>
  const fake = (id, meta, names) => { const gd = document.getElementById(id);
    gd._fullData = [{type: 'bar', visible: true, orientation: 'h', xaxis: 'x', yaxis: 'y',
                     name: 'on time', x: [0.8, 0.9], y: ['a', 'b']},
                    {type: 'bar', visible: true, orientation: 'h', x: [null], y: [null],
                     name: 'a legend key'}];
    gd._fullLayout = {xaxis: {type: 'linear', range: [0.5, 1]}, annotations:
                      names.map(n => ({name: n}))};
    gd.layout = {meta}; };
  fake('a', null, []);
  fake('b', {axis_break: ['xaxis']}, ['AXIS_BREAK']);
</script>
"""


def test_the_checks_fail_on_a_broken_page(request: pytest.FixtureRequest) -> None:
    """Each detector on :data:`BROKEN_PAGE`: the overlapping labels named
    (the rotated pair not), the unmarked bar axis from 0.5 named (the
    marked one not), the English word named (the time not), the cut-off
    grid named."""
    b: Browser = request.getfixturevalue("browser")
    b.page.set_content(BROKEN_PAGE.replace("AXIS_BREAK", AXIS_BREAK))
    found = problems(measure(b))
    joined = "\n".join(found)
    assert "'湖墅街道' overlaps xtick '朝晖街道'" in joined or "'朝晖街道' overlaps" in joined, (
        found
    )
    assert "拱宸桥街道" not in joined and "康桥街道" not in joined, found
    assert "chart 1: bar 'on time' on xaxis (linear, range [0.5, 1])" in joined, found
    assert "chart 2" not in joined, found
    assert "English words on the Chinese page: ['Upload']" in joined, found
    assert "table 1: columns 900 px wide in 300 px (cut off)" in joined, found
    # Without its faults the same page passes.
    fixed = (
        BROKEN_PAGE.replace(" Upload", "")
        .replace('x="120" y="52"', 'x="220" y="52"')
        .replace("width:900px", "width:200px")
        .replace("range: [0.5, 1]", "range: [0, 1]")
    )
    b.page.set_content(fixed.replace("AXIS_BREAK", AXIS_BREAK))
    assert problems(measure(b)) == []
