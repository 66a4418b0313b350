"""The pages on a phone: officials reached by an alert open its DingTalk
link away from the wall, on a 390-430 px wide screen.

Streamlit already collapses the sidebar below its breakpoint (the filters
are one tap on its toggle away) and wraps columns to the screen's width.
What it cannot know is which of a table's columns matter, nor how large a
map should be: those are decided on the server, which knows a phone by its
browser's ``User-Agent`` (the only thing a first script run knows of the
screen; there is no viewport width before the page is drawn). A phone gets
tables of their main columns with the rest one tap away
(:func:`ui.tables.show`), and maps fitted to :data:`PHONE_PANEL`.

:data:`PHONE_CSS` (sent by Home.py on every page) tightens the layout
below 640 px, whatever the browser claims to be: metrics two to a row
instead of one to a screen, smaller titles and figures, less space above
the title, and a tighter page menu so that the sidebar's first filters are
on the screen when it opens.
"""

from __future__ import annotations

import re
from typing import Any

import streamlit as st

from ui.map_view import Panel

#: A phone's browser, by its User-Agent: iPhones and iPods, Android and
#: HarmonyOS phones ("Mobile"; their tablets say no such thing and get the
#: desktop page), DingTalk's and WeChat's in-app browsers on them.
PHONE_UA = re.compile(r"Mobi|iPhone|iPod|Windows Phone", re.I)

#: The map panel on a phone: a 390 px screen less Streamlit's 1 rem margins,
#: and a height that leaves room above and below the map for its title and
#: legend on a 844 px screen (a 430 px phone shows a little more around
#: the area, never less of it).
PHONE_PANEL = Panel(358, 340)

#: Columns a table shows on a phone when its call names none.
PHONE_COLUMNS = 3

#: Widest line of a chart's title on a phone, in Chinese characters (an
#: ASCII letter or digit counts 0.55), at :data:`PHONE_TITLE_PX`.
PHONE_TITLE_CHARS = 22
PHONE_TITLE_PX = 14
#: Where a title is best broken: after a clause mark or a space, before "（".
_TITLE_BREAKS = re.compile(r"(?<=[；，、：）;, ])|(?=[（(])")

#: Below Streamlit's own breakpoint (640 px, where columns wrap).
PHONE_CSS = """<style>
@media (max-width: 640px) {
  [data-testid="stMainBlockContainer"] { padding-top: 3.5rem; }
  [data-testid="stMain"] h1 { font-size: 1.75rem; line-height: 1.25; }
  [data-testid="stMain"] h2, [data-testid="stMain"] h3 { font-size: 1.25rem; }
  [data-testid="stMetricValue"] { font-size: 1.6rem; }
  [data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] [data-testid="stMetric"]) {
    flex-wrap: wrap; row-gap: 0.5rem;
  }
  [data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] [data-testid="stMetric"])
    > [data-testid="stColumn"] {
    flex: 1 1 calc(50% - 1rem) !important; min-width: calc(50% - 1rem) !important;
    max-width: calc(50% - 0.5rem);
  }
  [data-testid="stSidebarHeader"] { height: 2.75rem; margin-bottom: 0.25rem; }
  [data-testid="stSidebarNavLinkContainer"] { height: 1.75rem; }
  [data-testid="stSidebarNavLink"] { height: 1.625rem; min-height: 0; line-height: 1.625rem; }
  [data-testid="stNavSectionHeader"] { margin-top: 0.25rem; }
  /* A chart's hover toolbar: no hover on a touch screen, and it covers the legend. */
  [data-testid="stPlotlyChart"] .modebar-container { display: none !important; }
}
</style>"""


def is_phone() -> bool:
    """Whether this session's browser is a phone's (its ``User-Agent``);
    False outside a browser session (AppTest, a script)."""
    try:
        agent = st.context.headers.get("User-Agent") or ""
    except Exception:  # no session context
        return False
    return bool(PHONE_UA.search(agent))


def map_panel(panel: Panel) -> Panel:
    """The map panel to fit and size a deck for: ``panel`` (the desktop
    page's), or :data:`PHONE_PANEL` on a phone."""
    return PHONE_PANEL if is_phone() else panel


def phone_style() -> None:
    """The phone layout's CSS (no effect on a screen wider than 640 px)."""
    st.html(PHONE_CSS)


def _width(text: str) -> float:
    return sum(0.55 if ord(ch) < 0x2E80 else 1.0 for ch in text)


def wrap_title(title: str, chars: float = PHONE_TITLE_CHARS) -> list[str]:
    """``title`` in lines of at most ``chars`` (see :data:`PHONE_TITLE_CHARS`),
    broken at a clause where it can be, else anywhere."""
    lines: list[str] = []
    line = ""
    for piece in (p for p in _TITLE_BREAKS.split(title) if p):
        while _width(piece) > chars:  # no clause mark to break at
            room = chars - _width(line)
            cut = max(
                1, next((i for i in range(len(piece), 0, -1) if _width(piece[:i]) <= room), 0)
            )
            if not line or _width(piece[:cut]) <= room:
                lines.append(line + piece[:cut])
                line, piece = "", piece[cut:]
            else:
                lines.append(line)
                line = ""
        if line and _width(line + piece) > chars:
            lines.append(line)
            line = ""
        line += piece
    if line:
        lines.append(line)
    return [ln.strip() for ln in lines if ln.strip()]


def fit_figure(fig: Any) -> Any:
    """``fig`` (a plotly figure) as a phone shows it: its title wrapped to
    the screen, smaller, with room for it above the plot (a title drawn
    in SVG does not wrap by itself: past 358 px it is cut), the legend
    under the chart, bar labels smaller. Unchanged off a phone."""
    if not is_phone():
        return fig
    title = fig.layout.title.text
    if title:
        lines = wrap_title(str(title))
        top = 24 + (PHONE_TITLE_PX + 6) * len(lines)
        fig.update_layout(
            title={"text": "<br>".join(lines), "font": {"size": PHONE_TITLE_PX}, "x": 0.02},
            margin={"t": top},
        )
    if fig.layout.showlegend is not False:  # under the chart, left: the title has the top
        bottom = (fig.layout.margin.b or 40) + 70
        fig.update_layout(
            legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 0, "yanchor": "bottom",
                    "yref": "container"},
            margin={"b": bottom},
            height=(fig.layout.height + 70) if fig.layout.height else None,
        )  # fmt: skip
    fig.update_traces(textfont_size=10, selector={"type": "bar"})
    for trace in fig.data:  # a label column right of the bars (ui.throughput_charts)
        if trace.type == "scatter" and trace.mode == "text" and trace.x:
            # The share and n only ("100.0% · n=19"), and room for them: the
            # whole label ran past the screen's edge.
            trace.text = [" · ".join(str(x).split(" · ")[:2]) for x in trace.text or ()]
            trace.textfont.size = 10
            fig.update_xaxes(range=[0.0, float(trace.x[0]) + 0.55])
    return fig
