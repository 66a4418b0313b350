"""The wall's dark, full-bleed theme: sizes in ``vh``/``vw``, so the same
page fills 1920x1080 and 3840x2160.

The page is one screen that never scrolls: a column of fixed height
(100 vh) holding the header (:data:`HEAD_VH`), the link notice when there
is one (:data:`NOTICE_VH`), the three panels, which take whatever height is
left and reach the alert strip, and the alert strip (:data:`ALERTS_VH`).
The panels' contents fill their height (rows spread, or as many rows as fit
are listed: :func:`stage_panel_vh` is the stage panel's height, from which
a view computes how many rows it lists).
"""

from __future__ import annotations

from collections.abc import Collection

import streamlit as st

from ui.filters import show_notices
from ui.i18n import t

#: Heights of the wall's rows, in ``vh`` (the same share of a 1080p and a
#: 4K screen). The main row of panels takes what the others leave.
PAD_TOP_VH = 1.2
PAD_BOTTOM_VH = 1.0
GAP_VH = 0.8
HEAD_VH = 7.0
NOTICE_VH = 3.4
ALERTS_VH = 10.0
STAGE_TITLE_VH = 4.2
#: Streets in each of the right panel's two lists (the best, the worst): a
#: row's height is a fifth of its list's, however few streets qualify.
RANKED_ROWS = 5
#: The stage's map (a notice row takes its height from it).
MAP_VH = 66.0
MAP_SELECTOR = """[data-testid="stDeckGlJsonChart"], [data-testid="stDeckGlJsonChart"] > div,
[data-testid="stElementContainer"]:has([data-testid="stDeckGlJsonChart"]),
[data-testid="stFullScreenFrame"]:has([data-testid="stDeckGlJsonChart"])"""


def main_vh(notices: int = 0) -> float:
    """Height of the row of panels, below ``notices`` rows of link notices."""
    rest = PAD_TOP_VH + PAD_BOTTOM_VH + HEAD_VH + ALERTS_VH + 2 * GAP_VH
    return 100.0 - rest - notices * (NOTICE_VH + GAP_VH)


def stage_panel_vh(notices: int = 0) -> float:
    """Height of the stage's panel (a non-map view): the main row less the
    stage's title line."""
    return main_vh(notices) - STAGE_TITLE_VH - GAP_VH


def stage_notices() -> int:
    """The notice rows this session's wall shows (set by :func:`notice_rows`)."""
    return int(st.session_state.get(NOTICE_ROWS, 0))


def notice_rows(rows: int) -> None:
    """Remember how many notice rows the page shows, and give their height
    from the map (the panels below give theirs by themselves)."""
    st.session_state[NOTICE_ROWS] = rows
    if rows:
        height = MAP_VH - rows * (NOTICE_VH + GAP_VH)
        st.html(f"<style>{MAP_SELECTOR} {{ height: {height:g}vh !important; }}</style>")


THEME_CSS = f"""
<style>
.stApp, [data-testid="stAppViewContainer"] {{ background: #0A1220 !important; color: #E3EAF2; }}
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stHeader"], [data-testid="stToolbar"], [data-testid="stDecoration"],
[data-testid="stStatusWidget"], footer {{ display: none !important; }}
/* One screen, never scrolled: a column of 100 vh. */
[data-testid="stMain"] {{ overflow: hidden !important; }}
[data-testid="stMainBlockContainer"], .block-container {{
  padding: {PAD_TOP_VH}vh 1.2vw {PAD_BOTTOM_VH}vh 1.2vw !important; max-width: 100% !important;
  height: 100vh; box-sizing: border-box; overflow: hidden; }}
[data-testid="stMainBlockContainer"] > [data-testid="stVerticalBlock"] {{
  height: 100%; flex-wrap: nowrap; }}
[data-testid="stVerticalBlock"] {{ gap: {GAP_VH}vh !important; }}
/* Not on icons: they are glyphs of the Material Symbols font (with the
   text font an icon shows as its name, "link"). */
.stApp *:not([data-testid$="Icon"]):not([data-testid="stIconMaterial"]) {{
  font-family: "Noto Sans CJK SC", "Source Sans", sans-serif; }}
h1 {{ font-size: 3.6vh !important; color: #E3EAF2 !important; padding: 0 !important;
     margin: 0 !important; letter-spacing: .1em; line-height: 1.5 !important;
     white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }}
[data-testid="stHeaderActionElements"] {{ display: none !important; }}
/* The rows of the screen: header, notice, panels (the rest), alert strip. */
[data-testid="stLayoutWrapper"]:has(> .st-key-scr-head), .st-key-scr-head {{
  flex: 0 0 {HEAD_VH}vh !important; height: {HEAD_VH}vh; min-height: 0; overflow: hidden; }}
.st-key-scr-head [data-testid="stHorizontalBlock"] {{ height: 100%; align-items: center; }}
/* A link notice (st.warning / st.error) is a row of the layout: one line
   of wall-sized type, the panels below give it their height. */
[data-testid="stMainBlockContainer"] > [data-testid="stVerticalBlock"]
  > [data-testid="stElementContainer"]:has([data-testid="stAlert"]) {{
  flex: 0 0 {NOTICE_VH}vh; height: {NOTICE_VH}vh; overflow: hidden; }}
[data-testid="stMainBlockContainer"] > [data-testid="stVerticalBlock"]
  > [data-testid="stElementContainer"] [data-testid="stAlertContainer"] {{
  height: {NOTICE_VH}vh; box-sizing: border-box; padding: 0 1vw !important;
  display: flex; align-items: center; border-radius: .4vh; }}
[data-testid="stMainBlockContainer"] > [data-testid="stVerticalBlock"]
  > [data-testid="stElementContainer"] [data-testid="stAlertContainer"] * {{
  font-size: 1.9vh !important; line-height: 1.2 !important; margin: 0 !important;
  white-space: nowrap; }}
[data-testid="stLayoutWrapper"]:has(> .st-key-scr-main), .st-key-scr-main {{
  flex: 1 1 0 !important; min-height: 0; }}
.st-key-scr-main {{ height: 100%; }}
.st-key-scr-main > [data-testid="stLayoutWrapper"],
.st-key-scr-main [data-testid="stHorizontalBlock"] {{ height: 100%; align-items: stretch; }}
.st-key-scr-main [data-testid="stColumn"] {{ height: 100%; min-height: 0; }}
.st-key-scr-main [data-testid="stColumn"] > [data-testid="stVerticalBlock"] {{
  height: 100%; flex-wrap: nowrap; }}
/* A tile (a fragment's block) fills its column; its panel fills the tile. */
.st-key-scr-main [data-testid="stColumn"] > [data-testid="stVerticalBlock"]
  > [data-testid="stLayoutWrapper"] {{ flex: 1 1 0; min-height: 0; }}
.st-key-scr-main [data-testid="stColumn"] > [data-testid="stVerticalBlock"]
  > [data-testid="stLayoutWrapper"] > [data-testid="stVerticalBlock"] {{
  height: 100%; flex-wrap: nowrap; }}
[data-testid="stLayoutWrapper"]:has(> .st-key-scr-stage-body) {{ flex: 1 1 0; min-height: 0; }}
.st-key-scr-stage-body {{ height: 100%; }}
[data-testid="stElementContainer"]:has(> [data-testid="stHtml"] > .scr-panel) {{
  flex: 1 1 0; min-height: 0; }}
[data-testid="stHtml"]:has(> .scr-panel) {{ height: 100%; }}
[data-testid="stLayoutWrapper"]:has(> .st-key-scr-alerts), .st-key-scr-alerts {{
  flex: 0 0 {ALERTS_VH}vh !important; height: {ALERTS_VH}vh; min-height: 0; }}
{MAP_SELECTOR} {{
  height: {MAP_VH:g}vh !important; }}
.scr-top {{ display:flex; justify-content:flex-end; align-items:baseline; gap:1.4vw;
  font-size: 2.4vh; color:#9FB3C8; white-space:nowrap; }}
.scr-clock {{ font-size: 4.2vh; color:#E3EAF2; font-variant-numeric: tabular-nums; }}
.scr-panel {{ background:#111C2E; border:1px solid #1F3350; border-radius:.6vh;
  padding: 1.0vh 0.9vw; box-sizing: border-box; height: 100%; overflow: hidden; }}
/* The headline figures spread over the left panel's height. */
.st-key-scr-main [data-testid="stColumn"]:first-child .scr-panel {{
  display:flex; flex-direction:column; justify-content:space-evenly; }}
.scr-fig {{ margin: 0; }}
.scr-label {{ font-size: 2.3vh; color:#9FB3C8; }}
.scr-value {{ font-size: 7.4vh; line-height:1.05; font-weight:700; color:#FFFFFF;
  font-variant-numeric: tabular-nums; }}
.scr-sub {{ font-size: 1.9vh; color:#9FB3C8; }}
.scr-red {{ color:#FF6B6B !important; }}
.scr-green {{ color:#81C784 !important; }}
.scr-muted {{ color:#7D90A6 !important; }}
.scr-h {{ font-size: 2.6vh; color:#E3EAF2; margin: 0 0 .6vh 0; font-weight:600; line-height:1.3; }}
/* Bars: a grid, so the name column is as wide as the longest name (up to
   58 %, wrapping between words beyond it): no name is cut. */
.scr-bars {{ display:grid; grid-template-columns: fit-content(58%) minmax(3vw, 1fr) max-content;
  column-gap:.6vw; align-items:center; font-size:2.3vh; }}
.scr-row {{ display: contents; }}
.scr-name {{ overflow-wrap: normal; word-break: keep-all; line-height:1.15; }}
.scr-bar {{ position:relative; height: var(--bar, 2.0vh); background:#1B2A40; border-radius:.3vh; }}
.scr-bar > span {{ display:block; height:100%; border-radius:.3vh; }}
.scr-bar > i {{ position:absolute; top:-.3vh; bottom:-.3vh; width:.2vw; background:#E3EAF2; }}
.scr-pct {{ text-align:right; font-variant-numeric: tabular-nums; }}
.scr-pct small {{ font-size: .7em; color:#9FB3C8; }}
.scr-rank {{ display:flex; flex-direction:column; }}
.scr-rank .scr-bars {{ flex: 1 1 0; min-height:0; grid-template-rows: repeat({RANKED_ROWS}, 1fr);
  font-size:2.4vh; --bar:2.2vh; }}
.scr-stage-title {{ display:flex; justify-content:space-between; align-items:center;
  font-size: 2.8vh; line-height: 1.4; height: {STAGE_TITLE_VH}vh; white-space:nowrap;
  overflow:hidden; }}
.scr-stage-title small {{ font-size: 1.9vh; color:#9FB3C8; }}
/* The throughput view's table: streets (or days) by stage. */
.scr-grid {{ display:grid; align-items:center; font-variant-numeric: tabular-nums; }}
.scr-grid > div {{ white-space:nowrap; padding-left:.8vw; }}
.scr-grid > .scr-first {{ padding-left:0; }}
.scr-grid .scr-th {{ color:#9FB3C8; font-size:.8em; line-height:1.2; white-space:normal; }}
.scr-grid .scr-num {{ text-align:right; }}
.scr-grid .scr-total {{ border-top:1px solid #2C4466; font-weight:600; align-self:stretch;
  display:flex; align-items:center; justify-content:flex-end; }}
.scr-grid .scr-total.scr-first {{ justify-content:flex-start; }}
.scr-grid small {{ font-size:.65em; margin-left:.3vw; }}
/* The warnings view: the red figure per domain over the red list. */
.scr-big-row {{ display:flex; gap:2.4vw; margin: .6vh 0 1.6vh 0; }}
.scr-big-row .scr-value {{ font-size: 6.4vh; }}
.scr-redlist {{ display:grid; font-size:2.3vh;
  grid-template-columns: max-content max-content minmax(0, 1fr) max-content; }}
.scr-item {{ display: contents; }}
.scr-item > * {{ border-top:1px solid #1F3350; display:flex; align-items:center;
  white-space:nowrap; overflow:hidden; min-width:0; padding-right:1.2vw; }}
.scr-item > :last-child {{ padding-right:0; }}
.scr-item b {{ font-weight:600; }}
.scr-item .scr-dom {{ color:#FF8A80; }}
.scr-item .scr-ref {{ color:#7D90A6; font-size:.8em; justify-content:flex-end; }}
.scr-more {{ color:#9FB3C8; font-size:2.1vh; padding-top:.6vh; border-top:1px solid #1F3350; }}
.scr-alerts {{ display:flex; gap:.8vw; align-items:stretch; overflow:hidden; height: {ALERTS_VH}vh; }}
.scr-alert {{ flex: 1 1 0; min-width:0; background:#2A1216; border-left:.5vw solid #C62828;
  border-radius:.4vh; padding:.6vh .6vw; font-size:1.9vh; line-height:1.3; overflow:hidden;
  box-sizing:border-box; }}
.scr-alert b {{ font-size: 2.2vh; }}
.scr-alert .when {{ color:#FFB4B4; font-variant-numeric: tabular-nums; }}
.scr-alert .old {{ color:#FFD54F; }}
.scr-ok {{ background:#11261A; border-left:.5vw solid #2E7D32; }}
.scr-note {{ flex: 0 1 auto; background:#111C2E; border-left:.5vw solid #546E7A; color:#9FB3C8; }}
.scr-stale {{ font-size: 1.9vh; color:#FFD54F; margin-top:.3vh; }}
.scr-wait {{ font-size: 2.4vh; color:#9FB3C8; padding: 2vh 0; }}
.scr-legend {{ font-size: 1.8vh; color:#9FB3C8; display:flex; align-items:center; gap:1vw;
  white-space:nowrap; overflow:hidden; }}
.scr-legend > div {{ margin: 0 !important; }}
</style>
"""


#: Session key: how many notice rows the wall shows (the stage's views
#: list the rows that fit the height left).
NOTICE_ROWS = "_screen_notice_rows"


#: Session key of a URL path that named no page (set by Home.py, which
#: opened the default page instead: on a wall, this page).
UNKNOWN_PATH = "_unknown_path"


def notices(rejected: list[tuple[str, str]], left_out: Collection[str] = ()) -> None:
    """The wall's notices as rows of its layout: a path that named no page,
    and the rejected link parameters with what became of them."""
    rows = 0
    if st.session_state.get(UNKNOWN_PATH):
        path = "/" + st.session_state[UNKNOWN_PATH]
        st.warning(t("app.unknown_path", path=path), icon=":material/link_off:")
        rows += 1
    rows += show_notices(rejected, left_out)
    notice_rows(rows)


def inject_theme() -> None:
    """The dark, full-bleed theme (this page only: the CSS goes with the page)."""
    st.html(THEME_CSS)
