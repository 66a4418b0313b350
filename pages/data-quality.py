"""数据质量 Data quality: the bad rows the metrics leave out, and config problems."""

from __future__ import annotations

import streamlit as st

from data_access import quality
from ui.data import load, page_guard
from ui.i18n import t
from ui.shell import context, footer, page_header

ctx = context()
page_header(t("quality.heading"), ctx)
st.write(t("quality.intro"))

with page_guard():
    findings = load(quality.data_quality, ctx.area, ctx.now, ctx.cfg)
    shown = findings.assign(
        check_label=[
            t(f"quality.check.{a}.{b}")
            for a, b in zip(findings["table"], findings["check"], strict=True)
        ],
        effect=[
            t(f"quality.effect.{a}.{b}")
            for a, b in zip(findings["table"], findings["check"], strict=True)
        ],
        scope_label=[t(f"quality.scope_{s}") for s in findings["scope"]],
    )
    if int(findings["rows"].sum()) == 0:
        st.success(t("quality.all_clean"))
    st.dataframe(
        shown[["check_label", "rows", "effect", "scope_label"]],
        hide_index=True,
        column_config={
            "check_label": t("col.check"),
            "rows": st.column_config.NumberColumn(t("col.rows"), format="%d"),
            "effect": t("col.meaning"),
            "scope_label": t("col.scope"),
        },
        placeholder="—",
    )

st.subheader(t("quality.config_heading"))
if ctx.cfg.problems:
    for problem in ctx.cfg.problems:
        st.warning(problem, icon=":material/settings:")
else:
    st.success(t("quality.config_ok", path=ctx.cfg.source_path))

footer(ctx)
