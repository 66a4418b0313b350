"""周例会 Weekly review: one week against last week, the same week last year and
the four weeks before, street league with movers, a written summary, and the
PDF + Excel pack (the same files as ``python -m reports weekly``)."""

from __future__ import annotations

import streamlit as st

from metrics import weekly, weekly_compare, weekly_model, weekly_summary
from metrics.warning_rules import WarningRulesError, load_warning_rules
from reports.labels import local_now
from reports.weekly import area_label, display_names, excel_bytes, pdf_bytes
from ui import tables as ui_tables
from ui import weekly_view as wv
from ui.auth import audited_download, describe_filter
from ui.data import database_url, load, page_guard
from ui.i18n import t
from ui.shell import context, footer, page_header

ctx = context()
choices, wanted, rejected = wv.picked_week(
    [w.label for w in weekly_model.recent_weeks(ctx.now)], ctx.now
)
if st.session_state.get("weekly_week") not in choices:
    st.session_state["weekly_week"] = wanted
week = st.sidebar.selectbox(
    t("weekly.week"), choices, format_func=wv.week_option, key="weekly_week"
)
st.query_params["week"] = week

rules = None
try:
    rules = load_warning_rules()
except WarningRulesError as exc:
    st.warning(t("warnings.rules_error", detail=str(exc)), icon=":material/rule:")
names = display_names(ctx.districts, ctx.streets, ctx.cfg, rules, ctx.lang)
area = area_label(ctx.area, names, ctx.cfg, ctx.lang)
page_header(t("weekly.heading", area=area, week=week), ctx)
wv.bad_week_notice(rejected, week)

with page_guard():
    tables = load(weekly.review_tables, ctx.area, ctx.now, ctx.cfg, week, rules)
    sentences = weekly_summary.summary(tables, wv.tr, names)
    last_year = weekly_model.parse_week(week).last_year().label
    st.caption(":material/event: " + t("weekly.as_of", last_year=last_year))
    has_data = wv.week_has_data(tables)
    if has_data:
        for label in wv.no_data_weeks(tables):
            st.caption(":material/info: " + t("weekly.no_data_week", week=label))
    else:
        st.info(t("weekly.no_data_this_week", week=week), icon=":material/event_busy:")

    left, right = st.columns([3, 2])
    with left:
        st.subheader(t("weekly.summary_title"))
        st.markdown("\n".join(f"- {s.text}" for s in sentences))
    with right:
        b1, b2 = st.columns(2)
        pack_query = f"week={week} " + describe_filter(ctx.area)
        audited_download(
            b1,
            t("weekly.download_pdf"),
            data=lambda: pdf_bytes(
                tables,
                sentences,
                names,
                ctx.lang,
                week,
                area,
                ctx.now,
                database_url(),
                tz=ctx.cfg.timezone,
            ),
            action="pack",
            query=pack_query,
            file_name=f"weekly-{week}.pdf",
            mime="application/pdf",
            icon=":material/picture_as_pdf:",
            on_click="ignore",
        )
        audited_download(
            b2,
            t("weekly.download_xlsx"),
            data=lambda: excel_bytes(
                tables, sentences, names, ctx.lang, area, ctx.now, local_now(ctx.cfg.timezone)
            ),
            action="pack",
            query=pack_query,
            file_name=f"weekly-{week}.xlsx",
            mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            icon=":material/table_view:",
            on_click="ignore",
        )
        if has_data:
            st.plotly_chart(wv.trend_figure(tables), width="stretch")

    st.subheader(t("weekly.comparison_title"))
    st.caption(":material/functions: " + t("weekly.sig_legend"))
    ui_tables.show(*wv.comparison_view(tables, names))
    if has_data:
        st.plotly_chart(wv.category_figure(tables, names), width="stretch")

    milestone = names.get(weekly_compare.HEADLINE_MILESTONE, weekly_compare.HEADLINE_MILESTONE)
    st.subheader(t("weekly.streets_title", milestone=milestone))
    st.caption(":material/info: " + t("weekly.movers_note", n=weekly_compare.MOVER_MIN_JUDGED))
    ui_tables.show(wv.league_frame(tables, names), wv.league_config())

    # One under the other, each the page's width (side by side, the red
    # list's seven columns were cut at 1920 px).
    st.subheader(t("weekly.hotspots_title"))
    if tables["hotspots_new"].empty:
        st.info(t("weekly.hotspots_none"), icon=":material/check_circle:")
    else:
        ui_tables.show(wv.hotspot_frame(tables, names), wv.hotspot_config())
    st.subheader(t("weekly.red_title"))
    if tables["red_open"].empty:
        st.info(t("weekly.red_none"), icon=":material/check_circle:")
    else:
        st.caption(wv.red_icon())
        ui_tables.show(wv.red_frame(tables, names), wv.red_config())

footer(ctx)
