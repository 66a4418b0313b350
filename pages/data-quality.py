"""数据质量 Data quality: the bad rows the metrics leave out, and config problems."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from data_access.config import DEFAULT_CONFIG_PATH, PROJECT_ROOT
from metrics import quality, quality_contract
from ui import tables as ui_tables
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
    ui_tables.show(
        shown[["check_label", "rows", "effect", "scope_label", "examples"]],
        {
            "check_label": ui_tables.text(t("col.check"), width="large"),
            "rows": ui_tables.count(t("col.rows")),
            "effect": ui_tables.text(t("col.meaning"), width="large"),
            "scope_label": ui_tables.text(t("col.scope")),
            "examples": ui_tables.text(t("quality.col_examples")),
        },
    )

    st.subheader(t("quality.forms_heading"))
    st.write(t("quality.forms_intro"))
    ui_tables.show(
        forms.assign(
            scope_label=[t(f"quality.scope_{s}") for s in forms["scope"]],
            note_label=[t(f"quality.form_note.{n or 'none'}") for n in forms["note"]],
        )[["table", "column", "stored_as", "rows", "scope_label", "examples", "note_label"]],
        {
            "table": ui_tables.text(t("col.table")),
            "column": ui_tables.text(t("quality.col_column")),
            "stored_as": ui_tables.text(t("quality.col_stored_as")),
            "rows": ui_tables.count(t("quality.col_not_accepted")),
            "scope_label": ui_tables.text(t("col.scope")),
            "examples": ui_tables.text(t("quality.col_examples")),
            "note_label": ui_tables.text(t("quality.col_note"), width="large"),
        },
    )

st.subheader(t("quality.config_heading"))
if ctx.cfg.problems:
    for problem in ctx.cfg.problems:
        st.warning(problem, icon=":material/settings:")
else:
    # The file as the site knows it (config/site.toml), not the server's full path.
    source = Path(ctx.cfg.source_path or DEFAULT_CONFIG_PATH)
    shown_path = (
        source.resolve().relative_to(PROJECT_ROOT)
        if source.resolve().is_relative_to(PROJECT_ROOT)
        else source.name
    )
    st.success(t("quality.config_ok", path=str(shown_path)))

footer(ctx)
