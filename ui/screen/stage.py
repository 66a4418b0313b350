"""The centre of the wall: the playlist's current view (crowd map,
incident map, the stages table, red warnings: :mod:`ui.screen.views`), with
its title and what comes next. The map slot stays mounted, hidden behind the
non-map views."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import pandas as pd
import streamlit as st

from data_access.config import ScreenView
from data_access.filters import AreaFilter
from metrics import heatmap
from ui import map_legend, maps
from ui.data import local_now, session_scope
from ui.i18n import t
from ui.map_view import WALL_PANEL
from ui.screen import runner  # runner.clock: tests replace it there
from ui.screen.blocks import _e, _hhmm, area_label, screen_area
from ui.screen.loading import screen_load
from ui.screen.params import (
    WALL_SCALE,
    expand_views,
    map_geometry,
    playlist_position,
    view_seconds,
    views_in_scope,
)
from ui.screen.runner import run_tile
from ui.screen.views import throughput_view, warnings_view
from ui.shell import PageContext

#: The stage's map slot (a keyed container), whether a view drew its deck
#: this run, and the last deck drawn (kept mounted, hidden, between maps).
MAP_SLOT = "scr-map"
DECK_DRAWN = "_screen_deck_drawn"
LAST_DECK = "_screen_last_deck"
#: Collapses the map slot to nothing; the canvas inside keeps its size, so
#: hiding and showing it does not resize (or re-create) the deck.
#: The slot sits in a layout wrapper that sizes to its content, so the
#: wrapper is collapsed too (else the hidden deck still takes its 66 vh and
#: pushes a non-map view off the screen).
HIDE_MAP_SLOT_CSS = (
    ".st-key-scr-map, [data-testid='stLayoutWrapper']:has(> .st-key-scr-map) {"
    " height:0 !important; min-height:0 !important; flex:0 0 0px !important;"
    " overflow:hidden !important; visibility:hidden !important; }"
)


def stage_tile(ctx: PageContext, views: tuple[ScreenView, ...]) -> None:
    sc = ctx.cfg.screen
    views = views_in_scope(
        expand_views(views, ctx.streets, ctx.area.district), ctx.streets, session_scope()
    )
    seconds = view_seconds(views, sc.rotate_s)
    index, left = playlist_position(seconds, runner.clock())
    view = views[index]
    nxt = views[(index + 1) % len(views)]
    title = t(f"screen.view_{view.page.replace('-', '_')}")
    f = screen_area(ctx, view, days=ctx.cfg.default_window_days if view.page == "throughput" else 1)
    progress = (
        t(
            "screen.next",
            i=index + 1,
            n=len(views),
            next=t(f"screen.view_{nxt.page.replace('-', '_')}"),
            seconds=f"{left:.0f}",
        )
        if len(views) > 1
        else ""
    )
    st.html(
        f'<div class="scr-stage-title" data-key="stage" data-view="{_e(view.page)}">'
        f"<span>{_e(title)} · {_e(area_label(ctx, f))}</span><small>{_e(progress)}</small></div>"
    )
    draw = {
        "crowd-map": _crowd_view,
        "incident-map": _incident_view,
        "throughput": throughput_view,
        "warnings": warnings_view,
    }[view.page]
    # The map slot comes first and always holds a deck. Unmounting a deck.gl
    # canvas and mounting a new one on every rotation leaked ~22 MB of
    # browser heap an hour (WebGL contexts are not freed at once); a deck
    # that stays mounted, hidden behind the non-map views, keeps it flat.
    slot = st.container(key=MAP_SLOT)
    st.session_state[DECK_DRAWN] = False
    with st.container(key="scr-stage-body"):
        draw(ctx, f, f"stage:{index}", slot)
    if not st.session_state[DECK_DRAWN]:
        with slot:
            _hidden_deck(ctx, f)
        st.html(f"<style>{HIDE_MAP_SLOT_CSS}</style>")


def _crowd_view(ctx: PageContext, f: AreaFilter, key: str, slot: Any) -> None:
    now = local_now(ctx.cfg)

    def fetch() -> dict[str, Any]:
        latest = screen_load(heatmap.crowd_span, f, now)["latest"].iloc[0]
        if pd.isna(latest):
            return {"ts": None, "cells": None, "venues": None}
        ts = pd.Timestamp(latest).to_pydatetime()
        return {
            "ts": ts,
            "cells": screen_load(heatmap.crowd_cells, f, ts, ctx.cfg),
            "venues": screen_load(heatmap.venue_load, f, ts, ctx.cfg),
        }

    def draw(d: dict[str, Any]) -> None:
        if d["cells"] is None:
            st.html(f'<div class="scr-wait">{_e(t("screen.no_crowd"))}</div>')
            return
        cells, venues = d["cells"], d["venues"]
        top = ctx.cfg.map.crowd_max_people_per_cell
        cell_m = float(cells["cell_m"].iloc[0]) if len(cells) else ctx.cfg.map.crowd_cell_m
        rows = maps.cell_rows(ctx.cfg, cells, cells["people"] / cells["cells"], top, [])
        base = _basemap(ctx, f)
        cell_layer = maps.cell_layer(rows, "crowd-cells", cell_m / 2)
        _deck(ctx, base.stack(cell_layer, maps.venue_layer(ctx.cfg, venues)), base.view, slot)
        unit = t("maps.legend_crowd", cell=f"{ctx.cfg.map.crowd_cell_m:g}")
        st.html(
            f'<div class="scr-legend">{_e(t("screen.crowd_at", ts=_hhmm(d["ts"])))}'
            f"{map_legend.legend_html(top, unit, theme='dark', base=base)}</div>"
        )

    run_tile(key, fetch, draw)


def _incident_view(ctx: PageContext, f: AreaFilter, key: str, slot: Any) -> None:
    now = local_now(ctx.cfg)

    def fetch() -> pd.DataFrame:
        return screen_load(heatmap.incident_cells, f, now, ctx.cfg)

    def draw(cells: pd.DataFrame) -> None:
        top = ctx.cfg.map.incident_max_cases_per_cell
        cell_m = float(cells["cell_m"].iloc[0]) if len(cells) else ctx.cfg.map.incident_cell_m
        scale = (ctx.cfg.map.incident_cell_m / cell_m) ** 2
        rows = maps.cell_rows(ctx.cfg, cells, cells["cases"] * scale, top, [])
        base = _basemap(ctx, f)
        # Today's few cases as dots that read from across the room, however
        # small their cell at the area's zoom, over the names.
        dots = maps.cell_layer(rows, "incident-cells", cell_m / 2, min_px=WALL_DOT_PX * _scale())
        _deck(ctx, [*base.stack(), dots], base.view, slot)
        legend = map_legend.legend_html(
            top,
            t("maps.legend_cases", cell=f"{ctx.cfg.map.incident_cell_m:g}"),
            theme="dark",
            base=base,
        )
        total = t("screen.incidents_today", n=f"{int(cells['cases'].sum()):,}")
        st.html(f'<div class="scr-legend">{_e(total)}{legend}</div>')

    run_tile(key, fetch, draw)


#: Street names on a 1920x1080 wall, px (times the wall's scale): read
#: from a few metres, in white on a navy halo.
WALL_LABEL_PX = 22
#: Smallest radius of a cell with cases on the wall, px at 1080 lines.
WALL_DOT_PX = 10


def _scale() -> float:
    return float(st.session_state.get(WALL_SCALE, 1.0))


def _map_css(scale: float) -> str:
    """The map slot's CSS on a wall of ``scale``: the +/- buttons grown with
    the wall (they are drawn in CSS pixels) and dark, and the legend in the
    wall's own type size (vh) instead of the pages' rem."""
    return (
        f".st-key-{MAP_SLOT} .mapboxgl-ctrl-group {{ transform: scale({scale:g});"
        " transform-origin: top right; background:#111C2E; border:1px solid #2C4366; }"
        f" .st-key-{MAP_SLOT} .mapboxgl-ctrl-group button {{ border-color:#2C4366; }}"
        f" .st-key-{MAP_SLOT} .mapboxgl-ctrl-icon {{ filter: invert(1); }}"
        " .scr-legend .map-legend { font-size: inherit; }"
    )


def _basemap(ctx: PageContext, f: AreaFilter) -> maps.Basemap:
    """The wall's basemap of the view's area: every street of it, fitted to
    the stage's map at the wall's scale, labels sized for the room."""
    scale = _scale()
    codes = maps.area_codes(ctx.streets, f)
    names = {c: ctx.street_name(c) for c in codes}
    return maps.area_basemap(
        ctx.cfg,
        codes,
        names,
        panel=WALL_PANEL.scaled(scale),
        theme="dark",
        label_size=WALL_LABEL_PX * scale,
    )


def _deck(ctx: PageContext, layers: list[Any], view: Any, slot: Any) -> None:
    """Draw a map view's deck in the stage's map slot (see :func:`stage_tile`)."""
    deck = maps.offline_deck(layers, view, None, theme="dark", cfg=ctx.cfg)
    _show_deck(deck, slot)
    st.session_state[LAST_DECK] = deck
    st.session_state[DECK_DRAWN] = True


def _show_deck(deck: Any, slot: Any) -> None:
    scale = _scale()
    with slot:
        st.pydeck_chart(deck, height=map_geometry(0.0, scale)[1])
        st.html(f"<style>{_map_css(scale)}</style>")


def _hidden_deck(ctx: PageContext, f: AreaFilter) -> None:
    """Keep the map slot's deck mounted while a non-map view (or a "waiting"
    notice) is on the stage: the last map shown, else the bare basemap."""
    deck = st.session_state.get(LAST_DECK)
    if deck is None:
        base = _basemap(ctx, f)
        deck = maps.offline_deck(base.stack(), base.view, None, theme="dark", cfg=ctx.cfg)
    _show_deck(deck, nullcontext())
