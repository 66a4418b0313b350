"""指挥大屏 Command screen: a 16:9 wall that refreshes and rotates by itself.

Open ``/command-screen`` (the default playlist), ``?playlist=NAME`` for a
configured playlist, or ``?view=crowd-map,throughput&rotate=60``; the
wall's area is the usual ``?district=`` / ``?streets=`` filter, and
``&cycle=streets`` shows each view once per street of it; a 4K wall adds
``&scale=2`` (1.5 for 2560x1440) so that its map scales with the rest. Each tile
refreshes on its own timer and keeps its last data while the database is
away (see ``ui/screen/``).
"""

from __future__ import annotations

import streamlit as st

from ui import screen
from ui.shell import context

ctx = context()
sc = ctx.cfg.screen
params = {k: st.query_params.get(k, "") for k in ("playlist", "view", "rotate", "cycle", "scale")}
views, rejected = screen.views_from_params(params, sc)
st.session_state[screen.WALL_SCALE], bad_scale = screen.wall_scale(params)
rejected += bad_scale
screen.inject_theme()
# One screen of fixed rows: header, link notices, the panels (what is
# left), the alert strip (ui/screen/theme.py).
with st.container(key="scr-head"):
    screen.header(ctx)
screen.notices(rejected, screen.left_out(params))
with st.container(key="scr-main"):
    left, centre, right = st.columns([1, 2.5, 1.15])
    with left:
        screen.live(screen.headline_tile, sc.refresh_s)(ctx)
    with centre:
        screen.live(screen.stage_tile, screen.stage_every(sc))(ctx, views)
    with right:
        screen.live(screen.ranking_tile, sc.refresh_s)(ctx)
with st.container(key="scr-alerts"):
    screen.live(screen.alert_tile, sc.refresh_s)(ctx)
