"""人流热力 Crowd heat map: people per cell at a chosen 15-minute step, venues' load."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import streamlit as st

from metrics import heatmap
from ui import map_legend, maps
from ui.data import load, page_guard
from ui.i18n import t
from ui.map_view import PAGE_PANEL
from ui.palette import LEVELS
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
        base = maps.area_basemap(ctx.cfg, codes, names)
        layers = base.stack(
            maps.cell_layer(rows, "crowd-cells", cell_m / 2), maps.venue_layer(ctx.cfg, venues)
        )
        deck = maps.offline_deck(layers, base.view, {"text": "{tip}"}, cfg=ctx.cfg)
        st.pydeck_chart(deck, height=PAGE_PANEL.height)
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
            table = venues.assign(
                venue=[n for n in venues["name_en" if ctx.lang == "en" else "name_zh"]],
                level=[LEVELS[v].label for v in venues["level"]],
            )
            st.dataframe(
                table[["venue", "people", "capacity", "load", "level"]],
                hide_index=True,
                column_config={
                    "venue": t("crowd_map.col_venue"),
                    "people": st.column_config.NumberColumn(t("crowd_map.col_people"), format="%d"),
                    "capacity": st.column_config.NumberColumn(
                        t("crowd_map.col_capacity"), format="%d"
                    ),
                    "load": st.column_config.NumberColumn(
                        t("crowd_map.col_load"), format="percent"
                    ),
                    "level": " ",
                },
                placeholder="—",
            )
        with right:
            st.subheader(t("crowd_map.top_title"))
            hot.insert(0, "street", hot["street_code"].map(names))
            st.dataframe(
                hot[["street", "cell_id", "people", "week_before", "change"]],
                hide_index=True,
                column_config={
                    "street": t("col.street"),
                    "cell_id": t("crowd_map.col_cell"),
                    "people": st.column_config.NumberColumn(t("crowd_map.col_people"), format="%d"),
                    "week_before": st.column_config.NumberColumn(
                        t("crowd_map.col_week"), format="%d"
                    ),
                    "change": st.column_config.NumberColumn(
                        t("crowd_map.col_change"), format="%+d"
                    ),
                },
                placeholder="—",
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
