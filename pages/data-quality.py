"""数据质量 Data quality: the bad rows the metrics leave out, and config problems."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from metrics import quality, quality_contract
from ui.data import load, page_guard
from ui.i18n import t
from ui.shell import context, footer, page_header

ctx = context()
page_header(t("quality.heading"), ctx)
st.write(t("quality.intro"))

with page_guard():
    findings = pd.concat(
        [
            load(quality.data_quality, ctx.area, ctx.now, ctx.cfg).assign(examples=""),
            load(quality_contract.contract_checks, ctx.area, ctx.now, ctx.cfg),
        ],
        ignore_index=True,
    )
    forms = load(quality_contract.timestamp_forms, ctx.area)
    pairs = list(zip(findings["table"], findings["check"], strict=True))
    shown = findings.assign(
        check_label=[t(f"quality.check.{a}.{b}") for a, b in pairs],
        effect=[t(f"quality.effect.{a}.{b}") for a, b in pairs],
        scope_label=[t(f"quality.scope_{s}") for s in findings["scope"]],
    )
    if int(findings["rows"].sum()) + int(forms["rows"].sum()) == 0:
        st.success(t("quality.all_clean"))
    st.dataframe(
        shown[["check_label", "rows", "effect", "scope_label", "examples"]],
        hide_index=True,
        column_config={
            "check_label": t("col.check"),
            "rows": st.column_config.NumberColumn(t("col.rows"), format="%d"),
            "effect": t("col.meaning"),
            "scope_label": t("col.scope"),
            "examples": t("quality.col_examples"),
        },
        placeholder="—",
    )

    st.subheader(t("quality.forms_heading"))
    st.write(t("quality.forms_intro"))
    st.dataframe(
        forms.assign(
            scope_label=[t(f"quality.scope_{s}") for s in forms["scope"]],
            note_label=[t(f"quality.form_note.{n or 'none'}") for n in forms["note"]],
        )[["table", "column", "stored_as", "rows", "scope_label", "examples", "note_label"]],
        hide_index=True,
        column_config={
            "table": t("col.table"),
            "column": t("quality.col_column"),
            "stored_as": t("quality.col_stored_as"),
            "rows": st.column_config.NumberColumn(t("quality.col_not_accepted"), format="%d"),
            "scope_label": t("col.scope"),
            "examples": t("quality.col_examples"),
            "note_label": t("quality.col_note"),
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
