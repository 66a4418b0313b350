"""总览 Overview: the selected area at a glance, each figure linking to its page."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from metrics import overview, quality, throughput, warnings
from metrics.warning_rules import WarningRulesError, load_warning_rules
from ui import map_legend, maps
from ui import tables as ui_tables
from ui.data import load, page_guard, rerun_every
from ui.i18n import t
from ui.map_view import OVERVIEW_PANEL
from ui.palette import heat_rgba
from ui.phone import map_panel
from ui.shell import context, footer, page_header, stale_as_of
from ui.warning_charts import domain_label

ctx = context()
page_header(t("overview.heading", area=ctx.area_name()), ctx)
rerun_every()  # the figures of now keep up with the data, like the wall's tiles

with page_guard():
    counts = load(overview.case_counts, ctx.area, ctx.now).iloc[0]
    streets, per_street = load(overview.street_figures, ctx.area, ctx.now, ctx.cfg)
    ontime = throughput.ontime_from_streets(per_street, ctx.cfg)
    reds = load(overview.active_red_warnings, ctx.area, ctx.now)
    crowd = load(overview.largest_crowd, ctx.area, ctx.now)

    closure = counts["closed_in_window"] / counts["in_window"] if counts["in_window"] else math.nan
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(t("overview.today"), f"{counts['today']:,}")
    c2.metric(t("overview.this_week"), f"{counts['this_week']:,}")
    c3.metric(t("overview.backlog"), f"{counts['open_backlog']:,}")
    c4.metric(
        t("overview.closure_rate"),
        "—" if math.isnan(closure) else f"{closure:.1%}",
        help=t("overview.in_window_n", n=f"{counts['in_window']:,}"),
    )

    c5, c6, c7 = st.columns(3)
    arrived = ontime.loc[ontime["milestone"] == "arrived"]
    if not ctx.cfg.judges("arrived"):  # e.g. a site that judges closure only
        c5.metric(
            t("overview.ontime", milestone=t("milestone.arrived")),
            "—",
            help=t("overview.ontime_not_judged", milestone=t("milestone.arrived")),
        )
    elif not arrived.empty:
        row = arrived.iloc[0]
        target = ctx.cfg.default_targets
        label = target.label_en if ctx.lang == "en" else target.label_zh
        c5.metric(
            t("overview.ontime", milestone=t("milestone.arrived")),
            "—" if row["judged"] == 0 else f"{row['on_time_share']:.1%}",
            help=t(
                "overview.ontime_help",
                target=label,
                judged=int(row["judged"]),
                late=int(row["late"]),
                pending=int(row["pending"]),
                excluded=int(row["excluded"]),
            ),
        )
    try:
        rules = load_warning_rules()
    except WarningRulesError:  # the warnings page explains the broken file
        rules = None
    if rules is None:
        c6.metric(
            t("overview.red_warnings"), f"{int(reds['red'].sum()):,}", help=t("overview.red_help")
        )
    else:
        red_by_domain = load(warnings.red_counts, ctx.area, ctx.now, rules)
        lines = [
            f"{domain_label(rules, d)}: {n:,}"
            for d, n in zip(red_by_domain["domain"], red_by_domain["red"], strict=True)
        ]
        c6.metric(
            t("overview.red_warnings"),
            f"{int(red_by_domain['red'].sum()):,}",
            help="  \n".join([t("overview.red_rules_help"), *lines]),
        )
    if crowd.empty:
        c7.metric(t("overview.largest_crowd"), "—", help=t("overview.no_crowd"))
    else:
        top = crowd.iloc[0]
        street = top["name_en"] if ctx.lang == "en" and top["name_en"] else top["name_zh"]
        # "Now" only while the reading is: an older one says its real time.
        stale = stale_as_of("crowd_reading", top["ts"], ctx.now, ctx.cfg)
        c7.metric(
            t("overview.largest_crowd"),
            f"{int(top['people']):,}",
            delta=stale,
            delta_color="orange",
            delta_arrow="off",
            icon=":material/update_disabled:" if stale else None,
            help=t(
                "overview.crowd_help",
                street=street,
                cell=top["cell_id"],
                ts=pd.Timestamp(top["ts"]).strftime("%m-%d %H:%M"),
            ),
        )

    links = st.columns(4)
    links[0].page_link("pages/throughput.py", label=t("nav.throughput"), icon=":material/timer:")
    links[1].page_link("pages/warnings.py", label=t("nav.warnings"), icon=":material/traffic:")
    links[2].page_link("pages/crowd-map.py", label=t("nav.crowd_map"), icon=":material/groups:")
    links[3].page_link(
        "pages/incident-map.py", label=t("nav.incident_map"), icon=":material/location_on:"
    )

    on_site = per_street.loc[per_street["milestone"] == "arrived", ["street_code", "on_time_share"]]
    table = streets.merge(on_site, on="street_code", how="left")
    table.insert(0, "name", [ctx.street_name(c) for c in table["street_code"]])

    left, right = st.columns([3, 2])
    with left:
        st.subheader(t("overview.map_title"))
        top_cases = max(int(table["cases"].max() or 0), 1)
        values = {
            r.street_code: {
                "name": r.name,
                "cases": int(r.cases),
                "fill": heat_rgba(r.cases / top_cases, 170),
            }
            for r in table.itertuples()
        }
        names = {code: v["name"] for code, v in values.items()}
        panel = map_panel(OVERVIEW_PANEL)  # a phone's screen, else the left column
        base = maps.area_basemap(ctx.cfg, set(values), names, panel=panel, values=values)
        drawn = {row["code"] for row in base.outlines.data}
        points = maps.street_point_rows(ctx.cfg, ctx.streets, values, drawn)
        # Streets without outlines (a site with no outline file) as points.
        extra = [maps.street_point_layer(points, "street-points")] if points else []
        deck = maps.offline_deck(
            base.stack(*extra), base.view, tooltip={"text": "{name}: {cases}"}, cfg=ctx.cfg
        )
        st.pydeck_chart(deck, height=panel.height)
        legend = t("maps.legend_overview", top=f"{top_cases:,}")
        st.markdown(map_legend.legend_html(top_cases, legend, base=base), unsafe_allow_html=True)
        if ctx.cfg.streets_approximate:
            st.caption(":material/info: " + t("overview.map_note"))
        map_legend.map_notes(ctx.cfg, base, approx=False)
        located = drawn | {p["code"] for p in points}
        unlocated = [code for code in values if code not in located]
        if unlocated:  # left off the map, and said so
            cases = sum(values[code]["cases"] for code in unlocated)
            st.caption(
                ":material/location_off: "
                + t("overview.unlocated", n=len(unlocated), cases=f"{cases:,}")
            )
    with right:
        st.subheader(t("overview.table_title"))
        district_of = dict(zip(ctx.streets["code"], ctx.streets["district_code"], strict=True))
        shown = ui_tables.as_percent(table, ["on_time_share"]).assign(
            link=[
                ui_tables.street_link("throughput", ctx.area, c, district_of.get(c), ctx.lang)
                for c in table["street_code"]
            ]
        )
        ui_tables.show(
            shown.sort_values("cases", ascending=False),
            {
                "name": ui_tables.text(t("col.street")),
                "cases": ui_tables.count(t("col.cases")),
                "closed": ui_tables.count(t("col.closed")),
                "open_backlog": ui_tables.count(t("col.backlog")),
                "on_time_share": ui_tables.percent(t("col.ontime_arrived")),
                "link": ui_tables.link(
                    t("overview.col_open"),
                    t("overview.open_throughput"),
                    help=t("overview.open_help"),
                ),
            },
            ["name", "cases", "closed", "open_backlog", "on_time_share", "link"],
            phone=["name", "cases", "on_time_share", "link"],
            height=460,
        )

    problems = load(quality.data_quality, ctx.area, ctx.now, ctx.cfg)
    bad = int(problems["rows"].sum())
    if bad:
        st.page_link(
            "pages/data-quality.py",
            label=t("overview.quality_note", rows=f"{bad:,}"),
            icon=":material/health_and_safety:",
        )

footer(ctx)
