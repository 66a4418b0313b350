"""The wall's dark, full-bleed theme: sizes in ``vh``/``vw``, so the same
page fills 1920x1080 and 3840x2160."""

from __future__ import annotations

import streamlit as st

THEME_CSS = """
<style>
.stApp, [data-testid="stAppViewContainer"] { background: #0A1220 !important; color: #E3EAF2; }
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stHeader"], [data-testid="stToolbar"], [data-testid="stDecoration"],
[data-testid="stStatusWidget"], footer { display: none !important; }
[data-testid="stMainBlockContainer"], .block-container {
  padding: 1.2vh 1.2vw 0.6vh 1.2vw !important; max-width: 100% !important; }
[data-testid="stVerticalBlock"] { gap: 0.8vh !important; }
/* Not on icons: they are glyphs of the Material Symbols font (with the
   text font an icon shows as its name, "link"). */
.stApp *:not([data-testid$="Icon"]):not([data-testid="stIconMaterial"]) {
  font-family: "Noto Sans CJK SC", "Source Sans", sans-serif; }
h1 { font-size: 3.6vh !important; color: #E3EAF2 !important; padding: 0 !important;
     margin: 0 !important; letter-spacing: .1em; line-height: 1.2 !important; }
[data-testid="stDeckGlJsonChart"], [data-testid="stDeckGlJsonChart"] > div,
[data-testid="stElementContainer"]:has([data-testid="stDeckGlJsonChart"]),
[data-testid="stFullScreenFrame"]:has([data-testid="stDeckGlJsonChart"]) {
  height: 66vh !important; }
.scr-top { display:flex; justify-content:flex-end; align-items:baseline; gap:1.4vw;
  font-size: 2.4vh; color:#9FB3C8; white-space:nowrap; }
.scr-clock { font-size: 4.2vh; color:#E3EAF2; font-variant-numeric: tabular-nums; }
.scr-panel { background:#111C2E; border:1px solid #1F3350; border-radius:.6vh;
  padding: 1.0vh 0.9vw; }
.scr-fig { margin: 0 0 1.1vh 0; }
.scr-label { font-size: 2.3vh; color:#9FB3C8; }
.scr-value { font-size: 7.4vh; line-height:1.05; font-weight:700; color:#FFFFFF;
  font-variant-numeric: tabular-nums; }
.scr-sub { font-size: 1.9vh; color:#9FB3C8; }
.scr-red { color:#FF6B6B !important; }
.scr-h { font-size: 2.6vh; color:#E3EAF2; margin: 0 0 .6vh 0; font-weight:600; }
.scr-row { display:flex; align-items:center; gap:.5vw; font-size:2.3vh; margin:.45vh 0; }
.scr-name { flex: 0 0 38%; overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
.scr-bar { flex: 1 1 auto; height: var(--bar, 2.0vh); background:#1B2A40; border-radius:.3vh; }
.scr-bar > span { display:block; height:100%; border-radius:.3vh; }
.scr-pct { flex: 0 0 18%; text-align:right; font-variant-numeric: tabular-nums; }
.scr-stage-title { display:flex; justify-content:space-between; align-items:baseline;
  font-size: 2.8vh; margin: 0 0 .6vh 0; }
.scr-stage-title small { font-size: 1.9vh; color:#9FB3C8; }
.scr-big-row { display:flex; gap:2vw; margin: 1vh 0 2vh 0; }
.scr-alerts { display:flex; gap:.8vw; align-items:stretch; overflow:hidden; height: 9.5vh; }
.scr-alert { flex: 1 1 0; background:#2A1216; border-left:.5vw solid #C62828;
  border-radius:.4vh; padding:.6vh .6vw; font-size:2.0vh; overflow:hidden; }
.scr-alert b { font-size: 2.2vh; }
.scr-alert .when { color:#FFB4B4; font-variant-numeric: tabular-nums; }
.scr-ok { background:#11261A; border-left:.5vw solid #2E7D32; }
.scr-note { flex: 0 1 auto; background:#111C2E; border-left:.5vw solid #546E7A; color:#9FB3C8; }
.scr-stale { font-size: 1.9vh; color:#FFD54F; margin-top:.3vh; }
.scr-wait { font-size: 2.4vh; color:#9FB3C8; padding: 2vh 0; }
.scr-legend { font-size: 1.8vh; color:#9FB3C8; }
</style>
"""


def inject_theme() -> None:
    """The dark, full-bleed theme (this page only: the CSS goes with the page)."""
    st.html(THEME_CSS)
