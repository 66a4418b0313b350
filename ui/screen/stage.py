"""The centre of the wall: the playlist's current view (crowd map,
incident map, throughput ranking, warnings), with its title and what comes
next. The map slot stays mounted, hidden behind the non-map views."""

from __future__ import annotations

import copy
from typing import Any

import pandas as pd
import streamlit as st

from data_access.config import ScreenView
from data_access.filters import AreaFilter
from metrics import heatmap, screen
from ui import maps
from ui.data import local_now, session_scope
from ui.i18n import t
from ui.palette import LEVELS, MUTED
from ui.screen import runner  # runner.clock: tests replace it there
from ui.screen.blocks import _bar_rows, _e, _hhmm, area_label, domain_name, fig_html, screen_area
from ui.screen.loading import red_counts, screen_load
from ui.screen.params import (
    WALL_SCALE,
    expand_views,
    map_geometry,
    playlist_position,
    view_seconds,
    views_in_scope,
)
from ui.screen.runner import run_tile
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
        "throughput": _throughput_view,
        "warnings": _warnings_view,
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
        layers, view = _basemap(ctx, f)
        layers = [layers[0], maps.cell_layer(rows, "crowd-cells", cell_m / 2)]
        layers += [maps.venue_layer(ctx.cfg, venues), _basemap(ctx, f)[0][1]]
        _deck(ctx, layers, view, slot)
        st.html(
            f'<div class="scr-legend">{_e(t("screen.crowd_at", ts=_hhmm(d["ts"])))}'
            f"{maps.legend_html(top, t('maps.legend_crowd', cell=f'{ctx.cfg.map.crowd_cell_m:g}'))}</div>"
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
        layers, view = _basemap(ctx, f)
        _deck(
            ctx,
            [layers[0], maps.cell_layer(rows, "incident-cells", cell_m / 2), layers[1]],
            view,
            slot,
        )
        legend = maps.legend_html(
            top, t("maps.legend_cases", cell=f"{ctx.cfg.map.incident_cell_m:g}")
        )
        total = t("screen.incidents_today", n=f"{int(cells['cases'].sum()):,}")
        st.html(f'<div class="scr-legend">{_e(total)}{legend}</div>')

    run_tile(key, fetch, draw)


def _basemap(ctx: PageContext, f: AreaFilter) -> tuple[list[Any], Any]:
    codes = {
        c
        for c, dc in zip(ctx.streets["code"], ctx.streets["district_code"], strict=True)
        if (not f.district or dc == f.district) and (not f.streets or c in f.streets)
    }
    names = {c: ctx.street_name(c) for c in codes}
    return maps.area_basemap(ctx.cfg, codes, names)


def _deck(ctx: PageContext, layers: list[Any], view: Any, slot: Any) -> None:
    """Draw a map view's deck in the stage's map slot (see :func:`stage_tile`)."""
    scale = float(st.session_state.get(WALL_SCALE, 1.0))
    view.zoom, height = map_geometry(float(view.zoom), scale)
    layers = [_scaled_labels(layer, scale) for layer in layers]
    deck = maps.offline_deck(layers, view, None, theme="dark", cfg=ctx.cfg)
    with slot:
        st.pydeck_chart(deck, height=height)
    st.session_state[LAST_DECK] = deck
    st.session_state[DECK_DRAWN] = True


def _scaled_labels(layer: Any, scale: float) -> Any:
    """Text layers are sized in pixels: a copy with labels ``scale`` times
    larger (other layers as they are)."""
    if scale == 1.0 or getattr(layer, "type", "") != "TextLayer":
        return layer
    grown = copy.copy(layer)
    grown.get_size = float(layer.get_size) * scale
    return grown


def _hidden_deck(ctx: PageContext, f: AreaFilter) -> None:
    """Keep the map slot's deck mounted while a non-map view (or a "waiting"
    notice) is on the stage: the last map shown, else the bare basemap."""
    scale = float(st.session_state.get(WALL_SCALE, 1.0))
    deck = st.session_state.get(LAST_DECK)
    if deck is None:
        layers, view = _basemap(ctx, f)
        view.zoom, _ = map_geometry(float(view.zoom), scale)
        deck = maps.offline_deck(layers, view, None, theme="dark", cfg=ctx.cfg)
    st.pydeck_chart(deck, height=map_geometry(0.0, scale)[1])


def _throughput_view(ctx: PageContext, f: AreaFilter, key: str, slot: Any = None) -> None:
    now = local_now(ctx.cfg)

    def fetch() -> pd.DataFrame:
        return screen_load(screen.street_ranking, f, now, ctx.cfg)

    def draw(ranked: pd.DataFrame) -> None:
        colour = {"top": LEVELS["green"].hex, "bottom": LEVELS["red"].hex, "": MUTED}
        rows = [
            (ctx.street_name(c), s, colour[str(k)])
            for c, s, k in zip(
                ranked["street_code"], ranked["on_time_share"], ranked["callout"], strict=True
            )
        ][:30]
        days = ctx.cfg.default_window_days
        bars = _bar_rows(rows, fit_vh=63.0)
        if not ctx.cfg.judges(screen.ON_SITE):
            bars = f'<div class="scr-sub" data-key="not-judged">{_e(t("screen.not_judged"))}</div>'
        st.html(
            f'<div class="scr-panel" data-key="throughput" style="height:70vh;overflow:hidden">'
            f'<div class="scr-h">{_e(t("screen.throughput_title", days=days))}</div>'
            f"{bars}</div>"
        )

    run_tile(key, fetch, draw)


def _warnings_view(ctx: PageContext, f: AreaFilter, key: str, slot: Any = None) -> None:
    now = local_now(ctx.cfg)
    hours = ctx.cfg.screen.warning_alert_hours

    def fetch() -> dict[str, pd.DataFrame]:
        return {
            "reds": red_counts(f, now),
            "new": screen_load(screen.new_red_warnings, f, now, ctx.cfg, hours),
        }

    def draw(d: dict[str, pd.DataFrame]) -> None:
        figs = "".join(
            fig_html(f"red_{dom}", domain_name(str(dom)), f"{int(n):,}", red=int(n) > 0)
            for dom, n in zip(d["reds"]["domain"], d["reds"]["red"], strict=True)
        ) or fig_html("red_none", t("screen.red"), "0")
        rows = (
            "".join(
                f'<div class="scr-row"><span class="when" style="flex:0 0 12%">{_hhmm(w.raised_at)}</span>'
                f'<span style="flex:0 0 30%">{_e(ctx.street_name(str(w.street_code)))}</span>'
                f"<span>{_e(domain_name(str(w.domain)))} · {_e(w.id)}</span></div>"
                for w in d["new"].head(10).itertuples()
            )
            or f'<div class="scr-sub">{_e(t("screen.no_new_red", hours=hours))}</div>'
        )
        st.html(
            f'<div class="scr-panel" data-key="warnings" style="height:70vh;overflow:hidden">'
            f'<div class="scr-h">{_e(t("screen.red_by_domain"))}</div>'
            f'<div class="scr-big-row">{figs}</div>'
            f'<div class="scr-h">{_e(t("screen.new_red", hours=hours))}</div>{rows}</div>'
        )

    run_tile(key, fetch, draw)
