"""人流热力 Crowd heat map: people per cell at a chosen 15-minute step, venues' load."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import streamlit as st

from metrics import heatmap
from ui import map_legend, maps
from ui import tables as ui_tables
from ui.data import load, page_guard
from ui.i18n import t
from ui.map_view import PAGE_PANEL
from ui.palette import LEVEL_ORDER, level_name
from ui.phone import map_panel
from ui.shell import context, footer, page_header

ctx = context()
page_header(t("crowd_map.heading", area=ctx.area_name()), ctx, feeds=("crowd_reading",))
top = ctx.cfg.map.crowd_max_people_per_cell


def crowd_view(steps: list[datetime]) -> None:
    """Everything that changes with the time step (re-run alone while playing)."""
    if st.session_state.get("crowd_playing"):
        value, playing = maps.next_step(steps, st.session_state.get("crowd_ts"))
        st.session_state["crowd_ts"] = value
        if not playing:
            st.session_state["crowd_playing"] = False
            st.rerun()
    ts = st.select_slider(
        t("crowd_map.time"), steps, key="crowd_ts", format_func=lambda d: d.strftime("%H:%M")
    )
    with page_guard():
        cells = load(heatmap.crowd_cells, ctx.area, ts, ctx.cfg)
        venues = load(heatmap.venue_load, ctx.area, ts, ctx.cfg)
        hot = load(heatmap.hot_cells, ctx.area, ts, ctx.cfg)
        unmapped = int(load(heatmap.crowd_unmapped, ctx.area, ts, ctx.cfg)["rows"].iloc[0])
        alerts = venues.loc[venues["level"] == "red"]
        m1, m2, m3 = st.columns(3)
        m1.metric(t("crowd_map.total"), f"{int(cells['people'].sum()):,}")
        m2.metric(t("crowd_map.busiest"), f"{int(hot['people'].max()) if len(hot) else 0:,}")
        m3.metric(t("crowd_map.alerts"), f"{len(alerts)}")

        cell_m = float(cells["cell_m"].iloc[0]) if len(cells) else ctx.cfg.map.crowd_cell_m
        # Every street of the area is drawn, with readings or without.
        codes = maps.area_codes(ctx.streets, ctx.area)
        names = {
            c: ctx.street_name(c)
            for c in codes | set(cells["street_code"]) | set(hot["street_code"])
        }
        tip = t("crowd_map.tooltip_cell", people="{people}", cells="{cells}")
        cells["tip"] = [
            f"{names[s]} {tip.format(people=f'{p:,}', cells=n)}"
            for s, p, n in zip(cells["street_code"], cells["people"], cells["cells"], strict=True)
        ]
        rows = maps.cell_rows(ctx.cfg, cells, cells["people"] / cells["cells"], top, ["tip"])
        panel = map_panel(PAGE_PANEL)  # a phone's screen, else the page's width
        base = maps.area_basemap(ctx.cfg, codes, names, panel=panel)
        layers = base.stack(
            maps.cell_layer(rows, "crowd-cells", cell_m / 2), maps.venue_layer(ctx.cfg, venues)
        )
        deck = maps.offline_deck(layers, base.view, {"text": "{tip}"}, cfg=ctx.cfg)
        st.pydeck_chart(deck, height=panel.height)
        legend = t("maps.legend_crowd", cell=f"{ctx.cfg.map.crowd_cell_m:g}")
        st.markdown(map_legend.legend_html(top, legend, base=base), unsafe_allow_html=True)
        map_legend.map_notes(ctx.cfg, base)
        if cell_m > ctx.cfg.map.crowd_cell_m:
            st.caption(
                t("maps.aggregated", cell=f"{cell_m:g}", base=f"{ctx.cfg.map.crowd_cell_m:g}")
            )
        if unmapped:
            st.caption(":material/location_off: " + t("maps.unmapped", rows=f"{unmapped:,}"))

        left, right = st.columns(2)
        with left:
            st.subheader(t("crowd_map.alerts_title"))
            for v in alerts.to_dict("records"):
                name = v["name_en"] if ctx.lang == "en" and v["name_en"] else v["name_zh"]
                st.error(
                    t(
                        "crowd_map.alert_line",
                        venue=name,
                        street=names.get(v["street_code"]) or ctx.street_name(v["street_code"]),
                        people=f"{v['people']:,}",
                        capacity=f"{v['capacity']:,}",
                        load=f"{v['load']:.0%}",
                    ),
                    icon=":material/warning:",
                )
            if alerts.empty:
                st.success(t("crowd_map.no_alerts"), icon=":material/check_circle:")
            table = ui_tables.as_percent(venues, ["load"]).assign(
                venue=[n for n in venues["name_en" if ctx.lang == "en" else "name_zh"]],
                level=[level_name(v) for v in venues["level"]],
            )
            levels = {level_name(k): k for k in LEVEL_ORDER}
            ui_tables.show(
                ui_tables.level_cells(
                    table[["venue", "people", "capacity", "load", "level"]], "level", levels
                ),
                {
                    "venue": ui_tables.text(t("crowd_map.col_venue")),
                    "people": ui_tables.count(t("crowd_map.col_people")),
                    "capacity": ui_tables.count(t("crowd_map.col_capacity")),
                    "load": ui_tables.percent(t("crowd_map.col_load"), bar=False),
                    "level": ui_tables.text(t("crowd_map.col_level"), width="small"),
                },
                phone=["venue", "load", "level"],
            )
        with right:
            st.subheader(t("crowd_map.top_title"))
            hot.insert(0, "street", hot["street_code"].map(names))
            ui_tables.show(
                hot[["street", "cell_id", "people", "week_before", "change"]],
                {
                    "street": ui_tables.text(t("col.street")),
                    "cell_id": ui_tables.text(t("crowd_map.col_cell")),
                    "people": ui_tables.count(t("crowd_map.col_people")),
                    "week_before": ui_tables.count(t("crowd_map.col_week")),
                    "change": ui_tables.change(t("crowd_map.col_change")),
                },
                phone=["street", "people", "change"],
            )


with page_guard():
    span = load(heatmap.crowd_span, ctx.area, ctx.now).iloc[0]
    if pd.isna(span["latest"]):
        st.info(t("crowd_map.no_readings"), icon=":material/info:")
    else:
        first, latest = span["first"].date(), span["latest"].date()
        c1, c2 = st.columns([3, 1])
        day: date = c1.date_input(
            t("crowd_map.day"), value=latest, min_value=first, max_value=latest, key="crowd_day"
        )
        steps = [
            ts.to_pydatetime() for ts in load(heatmap.crowd_steps, ctx.area, day, ctx.now)["ts"]
        ]
        if st.session_state.get("crowd_ts") not in steps and steps:
            st.session_state["crowd_ts"] = steps[-1]
        playing = bool(st.session_state.get("crowd_playing"))
        if c2.button(
            t("crowd_map.pause") if playing else t("crowd_map.play"),
            icon=":material/pause:" if playing else ":material/play_arrow:",
            use_container_width=True,
        ):
            st.session_state["crowd_playing"] = not playing
            st.rerun()
        if steps:
            st.fragment(crowd_view, run_every=1.5 if playing else None)(steps)
        else:
            st.info(t("crowd_map.no_readings"), icon=":material/info:")

footer(ctx)
