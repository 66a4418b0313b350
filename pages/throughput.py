"""街道案件流转 Case throughput: each street's handling against its targets,
ranked, trended, aged and broken down, with a drill-down to grids and cases."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import streamlit as st

from metrics import throughput as tp
from metrics import throughput_backlog as backlog
from ui import tables
from ui import throughput_charts as charts
from ui import throughput_tables as tt
from ui.auth import describe_filter
from ui.data import load, page_guard
from ui.i18n import t
from ui.phone import fit_figure
from ui.reveal import reveal_form
from ui.shell import context, footer, page_header

ctx = context()
page_header(t("throughput.heading", area=ctx.area_name()), ctx, feeds=("incident",))

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
    goals = charts.street_goals(ctx.cfg, in_area)
    min_n = ctx.cfg.ranking_min_judged
    st.caption(charts.target_sets_text(ctx.cfg, in_area, ctx.lang, ctx.street_name))
    tt.ontime_metrics(tp.ontime_from_table(table, ctx.cfg), table, milestones, ctx.cfg, ctx.lang)
    if excluded := int(table["excluded_cases"].sum()):
        st.caption(":material/rule: " + t("throughput.excluded_note", cases=f"{excluded:,}"))

    ranked = tp.rank_by_ontime(table, m, min_judged=min_n)
    # A bar click drills down (read from the chart's state before it is drawn,
    # so the drawn chart highlights the street drilled into); an emptied
    # selection undoes it; a drill-down chosen or cleared in the box below
    # starts the chart afresh (a new key), so no stale selection keeps the
    # other bars faded.
    rank_key = f"tp_rank_{st.session_state.setdefault('tp_rank_gen', 0)}"
    pick = charts.picked_code(st.session_state.get(rank_key))
    if pick in names and pick != st.session_state.get("tp_last_pick"):
        st.session_state["tp_last_pick"] = st.session_state["tp_drill"] = pick
    elif pick is None and st.session_state.get("tp_last_pick"):
        st.session_state["tp_last_pick"] = None
        st.session_state["tp_drill"] = ""
    if st.session_state.get("tp_drill") not in names:  # e.g. the district changed
        st.session_state["tp_drill"] = ""
    if tt.targeted(table, m) == "none":
        st.info(
            t("throughput.no_target_rank", milestone=charts.milestone_label(m)),
            icon=":material/info:",
        )
    elif ranked.empty:
        st.info(t("throughput.no_judged"), icon=":material/info:")
    else:
        fig = charts.ranking_figure(
            ranked,
            table,
            "street_code",
            m,
            names,
            goals,
            min_n,
            selected=st.session_state["tp_drill"] or None,
        )
        fig = fit_figure(fig)  # on a phone, its title wrapped to the screen
        st.plotly_chart(fig, on_select="rerun", selection_mode="points", key=rank_key)
        st.caption(charts.callouts_text(ranked, names.__getitem__, min_n))
        st.caption(
            ":material/sort: "
            + t("throughput.ranking_rule", n=min_n)
            + " "
            + t("throughput.ranking_hint")
        )

    def _drill_changed() -> None:
        st.session_state["tp_rank_gen"] = st.session_state.get("tp_rank_gen", 0) + 1
        st.session_state["tp_last_pick"] = None

    drill = st.selectbox(
        t("throughput.drill"),
        ["", *table["street_code"]],
        key="tp_drill",
        format_func=lambda c: names.get(c, c) if c else t("throughput.drill_none"),
        on_change=_drill_changed,
    )

    keys = ("table", "trend", "ageing", "category", "source")
    # Only the open tab runs (its queries are a year of the city's cases at
    # the widest filter); switching tabs reruns the page.
    tabs = st.tabs([t(f"throughput.tab_{k}") for k in keys], key="tp_tab", on_change="rerun")
    with tabs[0]:
        if tabs[0].open:
            tt.street_table(
                table, [names[c] for c in table["street_code"]], milestones, m, "tp_cols"
            )
            # Both files are made when their button is pressed.
            period = (ctx.area.start, ctx.area.end)
            sheets = partial(
                tp.export_sheets, table, names, ctx.lang, "street", ctx.area_name(), period
            )
            charts.download_buttons(
                lambda: tp.export_csv(sheets()),
                lambda: tp.excel_bytes(sheets()),
                f"throughput_{ctx.area.start}_{ctx.area.end}",
                describe_filter(ctx.area),
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
            goal = charts.single_goal([goals[c] for c in chosen if c in goals])
            st.plotly_chart(charts.trend_figure(trend, chosen, names, m, target, goal))
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
                dimension = t(f"throughput.dim_{kind}")
                goal = charts.single_goal(list(goals.values()))
                st.plotly_chart(charts.breakdown_figure(parts, kind, m, label, dimension, goal))
                tt.street_table(
                    parts,
                    [label(c) for c in parts[kind]],
                    milestones,
                    m,
                    f"tp_cols_{kind}",
                    t(f"throughput.col.{kind}"),
                )

    if drill:
        district = ctx.streets.loc[ctx.streets["code"] == drill, "district_code"].iloc[0]
        sub = replace(ctx.area, district=district, streets=(drill,))
        st.subheader(t("throughput.drill_heading", street=names[drill]))
        grids = load(tp.case_throughput, sub, ctx.now, ctx.cfg, by="grid")
        known = load(tp.grid_names, drill)
        grid_names = {g: n or g for g, n in zip(known["grid_code"], known["name_zh"], strict=True)}
        grid_rank = tp.rank_by_ontime(grids, m, key="grid_code", min_judged=min_n)
        if not grid_rank.empty:
            title = t(
                "throughput.grid_ranking_title",
                street=names[drill],
                milestone=charts.milestone_label(m),
                target=charts.shared_target(grids, m),
                goal=charts.goal_text([goals[drill]]),
            )
            grid_goals = {str(g): goals[drill] for g in grids["grid_code"]}
            fig = charts.ranking_figure(
                grid_rank, grids, "grid_code", m, grid_names, grid_goals, min_n,
                meta="grid_ranking", title=title,
            )  # fmt: skip
            st.plotly_chart(fig)
            st.caption(
                charts.callouts_text(grid_rank, lambda g: charts.grid_label(grid_names, g), min_n)
            )
        labels = [charts.grid_label(grid_names, g) for g in grids["grid_code"]]
        tt.street_table(grids, labels, milestones, m, "tp_cols_grid", t("throughput.col.grid"))
        grid_ageing = load(backlog.backlog_ageing, sub, ctx.now, by="grid")
        if not grid_ageing.empty:
            st.plotly_chart(charts.ageing_figure(grid_ageing, grid_names, unit="grid"))
        st.markdown("**" + t("throughput.cases_title") + "**")
        cases = load(backlog.attention_cases, sub, ctx.now, ctx.cfg)
        if cases.empty:
            st.info(t("throughput.no_cases"), icon=":material/check_circle:")
        else:
            shown_cases = tt.readable_cases(cases, ctx.cfg, ctx.lang, grid_names)
            case_order, case_config = tt.case_list_view()
            phone = ["id", "category", "late_milestones"]
            tables.show(shown_cases, case_config, case_order, phone=phone)
            if len(cases) >= ctx.cfg.row_cap:
                st.caption(t("throughput.cases_capped", rows=f"{len(cases):,}"))
            reveal_form(cases["id"], sub, key="tp_reveal")

footer(ctx)
