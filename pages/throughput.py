"""街道案件流转 Case throughput: each street's handling against its targets,
ranked, trended, aged and broken down, with a drill-down to grids and cases."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from metrics import throughput as tp
from metrics import throughput_backlog as backlog
from ui import throughput_charts as charts
from ui.auth import describe_filter
from ui.data import load, page_guard
from ui.i18n import t
from ui.reveal import reveal_form
from ui.shell import context, footer, page_header

ctx = context()
page_header(t("throughput.heading", area=ctx.area_name()), ctx)

with page_guard():
    milestones = charts.judged_milestones(ctx.cfg)
    first = "arrived" if "arrived" in milestones else milestones[0]
    m = (
        st.segmented_control(
            t("throughput.judge_by"),
            milestones,
            default=first,
            key="tp_milestone",
            format_func=charts.milestone_label,
        )
        or first
    )
    table = load(tp.case_throughput, ctx.area, ctx.now, ctx.cfg)
    names = {c: ctx.street_name(c) for c in table["street_code"]}
    in_area = ctx.streets[ctx.streets["code"].isin(table["street_code"])]
    st.caption(charts.target_sets_text(ctx.cfg, in_area, ctx.lang, ctx.street_name))
    charts.ontime_metrics(tp.ontime_from_table(table, ctx.cfg), table, milestones)
    if excluded := int(table["excluded_cases"].sum()):
        st.caption(":material/rule: " + t("throughput.excluded_note", cases=f"{excluded:,}"))

    ranked = tp.rank_by_ontime(table, m)
    called = {
        k: [names[c] for c in ranked.loc[ranked["callout"] == k, "street_code"]]
        for k in ("top", "bottom")
    }
    if ranked.empty:
        st.info(t("throughput.no_judged"), icon=":material/info:")
    else:
        fig = charts.ranking_figure(ranked, table, "street_code", m, names)
        event = st.plotly_chart(fig, on_select="rerun", selection_mode="points", key="tp_rank")
        callouts = t(
            "throughput.callouts", top=", ".join(called["top"]), bottom=", ".join(called["bottom"])
        )
        st.caption(callouts + " · " + t("throughput.ranking_hint"))
        pick = charts.picked_code(event)
        if pick in names and pick != st.session_state.get("tp_last_pick"):
            st.session_state["tp_last_pick"] = st.session_state["tp_drill"] = pick
    if st.session_state.get("tp_drill") not in names:  # e.g. the district changed
        st.session_state["tp_drill"] = ""
    drill = st.selectbox(
        t("throughput.drill"),
        ["", *table["street_code"]],
        key="tp_drill",
        format_func=lambda c: names.get(c, c) if c else t("throughput.drill_none"),
    )

    keys = ("table", "trend", "ageing", "category", "source")
    # Only the open tab runs (its queries are a year of the city's cases at
    # the widest filter); switching tabs reruns the page.
    tabs = st.tabs([t(f"throughput.tab_{k}") for k in keys], key="tp_tab", on_change="rerun")
    order, config = charts.table_view(milestones)
    with tabs[0]:
        if tabs[0].open:
            shown = table.assign(name=[names[c] for c in table["street_code"]])
            st.dataframe(
                shown, column_order=order, column_config=config, hide_index=True, placeholder="—"
            )
            export = tp.export_frame(table, names)
            stem = f"throughput_{ctx.area.start}_{ctx.area.end}"
            charts.download_buttons(
                export, lambda: tp.excel_bytes({"streets": export}), stem, describe_filter(ctx.area)
            )
    with tabs[1]:
        if tabs[1].open:
            grain = (
                st.segmented_control(
                    t("throughput.grain"),
                    ["day", "week"],
                    default="day",
                    key="tp_grain",
                    format_func=lambda g: t(f"throughput.grain_{g}"),
                )
                or "day"
            )
            bottom = list(ranked.loc[ranked["callout"] == "bottom", "street_code"])
            chosen = st.multiselect(
                t("throughput.trend_streets"),
                list(table["street_code"]),
                default=[drill] if drill else bottom,
                format_func=lambda c: names.get(c, c),
            )
            trend = load(tp.ontime_trend, ctx.area, ctx.now, ctx.cfg, m, grain)
            target = charts.shared_target(table[table["street_code"].isin(chosen)], m)
            st.plotly_chart(charts.trend_figure(trend, chosen, names, m, target))
    with tabs[2]:
        if tabs[2].open:
            ageing = load(backlog.backlog_ageing, ctx.area, ctx.now)
            if ageing.empty:
                st.info(t("throughput.no_backlog"), icon=":material/check_circle:")
            else:
                st.plotly_chart(charts.ageing_figure(ageing, names))
    for tab, kind in ((tabs[3], "category"), (tabs[4], "source")):
        with tab:
            if tab.open:
                parts = load(tp.case_throughput, ctx.area, ctx.now, ctx.cfg, by=kind)
                label = lambda c, k=kind: ctx.cfg.display_name(k, c, ctx.lang)  # noqa: E731
                fig = charts.breakdown_figure(parts, kind, m, label, t(f"throughput.dim_{kind}"))
                st.plotly_chart(fig)
                parts = parts.assign(name=[label(c) for c in parts[kind]])
                st.dataframe(
                    parts,
                    column_order=order,
                    column_config=config,
                    hide_index=True,
                    placeholder="—",
                )

    if drill:
        district = ctx.streets.loc[ctx.streets["code"] == drill, "district_code"].iloc[0]
        sub = replace(ctx.area, district=district, streets=(drill,))
        st.subheader(t("throughput.drill_heading", street=names[drill]))
        grids = load(tp.case_throughput, sub, ctx.now, ctx.cfg, by="grid")
        known = load(tp.grid_names, drill)
        grid_names = {g: n or g for g, n in zip(known["grid_code"], known["name_zh"], strict=True)}
        grid_rank = tp.rank_by_ontime(grids, m, key="grid_code")
        if not grid_rank.empty:
            title = t(
                "throughput.grid_ranking_title",
                street=names[drill],
                milestone=charts.milestone_label(m),
                target=charts.shared_target(grids, m),
            )
            fig = charts.ranking_figure(
                grid_rank, grids, "grid_code", m, grid_names, "grid_ranking", title
            )
            st.plotly_chart(fig)
        grids = grids.assign(name=[charts.grid_label(grid_names, g) for g in grids["grid_code"]])
        st.dataframe(
            grids, column_order=order, column_config=config, hide_index=True, placeholder="—"
        )
        grid_ageing = load(backlog.backlog_ageing, sub, ctx.now, by="grid")
        if not grid_ageing.empty:
            st.plotly_chart(charts.ageing_figure(grid_ageing, grid_names))
        st.markdown("**" + t("throughput.cases_title") + "**")
        cases = load(backlog.attention_cases, sub, ctx.now, ctx.cfg)
        if cases.empty:
            st.info(t("throughput.no_cases"), icon=":material/check_circle:")
        else:
            shown_cases = charts.readable_cases(cases, ctx.cfg, ctx.lang, grid_names)
            case_order, case_config = charts.case_list_view()
            st.dataframe(
                shown_cases,
                column_order=case_order,
                column_config=case_config,
                hide_index=True,
                placeholder="—",
            )
            if len(cases) >= ctx.cfg.row_cap:
                st.caption(t("throughput.cases_capped", rows=f"{len(cases):,}"))
            reveal_form(cases["id"], sub, key="tp_reveal")

footer(ctx)
