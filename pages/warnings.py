"""三色预警 Warning colours: distribution per street and grid, trend, red list with reasons."""

from __future__ import annotations

import streamlit as st

from metrics import warnings
from metrics.warning_rules import WarningRulesError, load_warning_rules
from ui import tables
from ui import warning_charts as wc
from ui.auth import audited_download, describe_filter
from ui.data import load, page_guard
from ui.i18n import t
from ui.palette import LEVEL_ORDER
from ui.shell import context, footer, page_header

ctx = context()
page_header(
    t("warnings.heading", area=ctx.area_name()),
    ctx,
    feeds=("warning", "petition", "housing_record"),
)

rules = None
try:
    rules = load_warning_rules()
except WarningRulesError as exc:
    st.error(t("warnings.rules_error", detail=str(exc)), icon=":material/rule:")

if rules is not None:
    with page_guard():
        domain = (
            st.segmented_control(
                t("warnings.domain"),
                rules.domains,
                default=rules.domains[0],
                format_func=lambda code: wc.domain_label(rules, code),
                key="w_domain",
            )
            or rules.domains[0]
        )
        st.caption(
            ":material/rule: " + t("warnings.rules_caption", rules=wc.rules_text(rules, domain))
        )
        dist = load(warnings.distribution, ctx.area, ctx.now, rules, domain)
        names = {c: ctx.street_name(c) for c in dist["street_code"]}
        cols = st.columns(6 if domain == "petition" else 4)
        for col, key in zip(cols, LEVEL_ORDER, strict=False):
            col.metric(wc.level_name(key), f"{int(dist[key].sum()):,}")
        cols[3].metric(t("warnings.total"), f"{int(dist['total'].sum()):,}")
        if domain == "petition":
            closures = load(warnings.petition_closures, ctx.area, ctx.now).iloc[0]
            for col, key in zip(cols[4:], ("closed_on_time", "closed_late"), strict=True):
                col.metric(
                    t(f"warnings.{key}"), f"{int(closures[key]):,}", help=t("warnings.closed_help")
                )

        share = (
            st.segmented_control(
                t("warnings.mode"),
                ["count", "share"],
                default="count",
                format_func=lambda m: t(f"warnings.mode_{m}"),
                key="w_mode",
            )
            == "share"
        )
        st.subheader(t("warnings.by_street", ts=ctx.now.strftime("%Y-%m-%d %H:%M")))
        shown = dist.loc[dist["total"] > 0].assign(name=lambda d: d["street_code"].map(names))
        if shown.empty:
            st.info(t("warnings.no_items"), icon=":material/info:")
        else:
            st.plotly_chart(wc.stacked_bars(shown, "name", share), key="w_streets")
            street = st.selectbox(
                t("warnings.drill"),
                [None, *shown.sort_values("red", ascending=False)["street_code"]],
                format_func=lambda c: t("warnings.drill_none") if c is None else names[c],
                key="w_street",
            )
            if street:
                grids = load(warnings.distribution, ctx.area, ctx.now, rules, domain, street)
                grids["name"] = grids["grid_name"].fillna(grids["grid_code"])
                st.subheader(t("warnings.by_grid", street=names[street]))
                st.plotly_chart(wc.stacked_bars(grids, "name", share, "grid"), key="w_grids")

        freq = (
            st.segmented_control(
                t("warnings.freq"),
                ["day", "week"],
                default="day" if ctx.area.days <= warnings.MAX_BUCKETS else "week",
                format_func=lambda f: t(f"warnings.freq_{f}"),
                key="w_freq",
            )
            or "day"
        )
        st.subheader(t("warnings.trend", freq=t(f"warnings.freq_{freq}")))
        history = load(warnings.trend, ctx.area, ctx.now, rules, domain, freq)
        st.plotly_chart(wc.trend_figure(history, freq), key="w_trend")
        if domain == "housing":
            st.caption(":material/info: " + t("warnings.housing_trend_note"))

        reds = load(warnings.red_list, ctx.area, ctx.now, rules, domain, ctx.cfg.row_cap)
        st.subheader(t("warnings.red_list", n=f"{len(reds):,}"))
        if len(reds) >= ctx.cfg.row_cap:
            st.caption(t("warnings.red_capped", n=f"{ctx.cfg.row_cap:,}"))
        table = wc.red_table(
            reds, rules, domain, {c: ctx.street_name(c) for c in reds["street_code"]}
        )
        styled, red_config = wc.red_view(table)
        phone = [t(f"warnings.col.{c}") for c in ("street", "age_days", "reason")]
        tables.show(styled, red_config, height=420, phone=phone)
        audited_download(
            st,
            t("warnings.download"),
            lambda: table.to_csv(index=False).encode("utf-8-sig"),  # made when pressed
            action="export",
            query=f"red list {domain} " + describe_filter(ctx.area),
            file_name=f"red_list_{domain}_{ctx.now:%Y%m%d_%H%M}.csv",
            mime="text/csv",
            icon=":material/download:",
        )

footer(ctx)
