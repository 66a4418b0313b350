"""Tables and headline figures of the case-throughput page: the street
(grid, category, source) table with its column groups, the case list and
the on-time metrics. Formats come from :mod:`ui.tables`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from data_access.config import SiteConfig
from data_access.schema import INCIDENT_STATUSES, MILESTONES
from ui import tables
from ui.i18n import t
from ui.throughput_charts import grid_label, milestone_label, shared_target

#: Column groups of the street table a reader can add (the base columns always show).
TABLE_GROUPS = ("ontime", "targets", "times", "other")
SHARE_COLUMNS = ["closure_rate", "camera_ai_false_share"] + [
    f"{m}_on_time_share" for m in MILESTONES
]


def targeted(table: pd.DataFrame, milestone: str) -> str:
    """Whether the listed rows have a target for ``milestone``: ``all``,
    ``some`` or ``none``."""
    col = table[f"target_{milestone}_min"]
    if len(col) and col.notna().all():
        return "all"
    return "some" if col.notna().any() else "none"


def table_view(
    milestones: Sequence[str], table: pd.DataFrame, milestone: str, groups: Sequence[str]
) -> tuple[list[str], dict[str, Any], list[str]]:
    """Visible columns, their settings and footnotes for a :func:`case_throughput`
    table with a ``name`` column and shares in per cent (:func:`shown_table`).

    Always: name, cases, closed, open, closure rate and the judged cases of
    ``milestone`` (the n behind its ranking); then the chosen ``groups`` of
    :data:`TABLE_GROUPS`: on-time shares, targets (minutes), stage times
    (median, P90), other (cancelled, excluded, camera-AI false share). A
    milestone no listed row has a target for has no on-time column: a
    footnote says why (无考核目标); one that only some rows have says so in
    its header's help."""
    m_label = milestone_label(milestone)
    order = ["name", "cases", "closed", "open_backlog", "closure_rate"]
    config: dict[str, Any] = {
        "name": tables.text(t("throughput.col.name"), width="medium"),
        "cases": tables.count(t("col.cases")),
        "closed": tables.count(t("col.closed")),
        "open_backlog": tables.count(t("col.backlog")),
        "closure_rate": tables.percent(t("throughput.col.closure_rate")),
    }
    if targeted(table, milestone) != "none":  # judged nowhere: no column of zeros
        order.append(f"{milestone}_judged")
        config[f"{milestone}_judged"] = tables.count(
            t("throughput.col.judged", milestone=m_label),
            help=t("throughput.col.judged_help", milestone=m_label),
        )
    notes = []
    for m in milestones:
        label = milestone_label(m)
        coverage = targeted(table, m)
        if coverage == "none":
            notes.append(t("throughput.no_target_note", milestone=label))
            continue
        help_ = t("throughput.partial_target_help", milestone=label) if coverage == "some" else None
        if "ontime" in groups:
            order.append(f"{m}_on_time_share")
            config[f"{m}_on_time_share"] = tables.percent(
                t("throughput.col.ontime", milestone=label), help=help_
            )
        if "targets" in groups:
            order.append(f"target_{m}_min")
            config[f"target_{m}_min"] = tables.minutes(
                t("throughput.col.target", milestone=label), help=help_
            )
    if "times" in groups:
        for m in MILESTONES:
            label = milestone_label(m)
            order += [f"{m}_median_min", f"{m}_p90_min"]
            config[f"{m}_median_min"] = tables.minutes(t("throughput.col.median", milestone=label))
            config[f"{m}_p90_min"] = tables.minutes(t("throughput.col.p90", milestone=label))
    if "other" in groups:
        order += ["cancelled", "excluded_cases", "camera_ai_false_share"]
        config["cancelled"] = tables.count(t("throughput.col.cancelled"))
        config["excluded_cases"] = tables.count(
            t("throughput.col.excluded"), help=t("throughput.col.excluded_help")
        )
        config["camera_ai_false_share"] = tables.percent(
            t("throughput.col.camera_false"), help=t("throughput.col.camera_false_help")
        )
    return order, config, notes


def shown_table(table: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """A :func:`case_throughput` frame as :func:`table_view` shows it: a
    ``name`` column, shares in per cent."""
    return tables.as_percent(table.assign(name=list(names)), SHARE_COLUMNS)


def street_table(
    table: pd.DataFrame,
    names: Sequence[str],
    milestones: Sequence[str],
    milestone: str,
    key: str,
    name_label: str = "",
) -> None:
    """A :func:`case_throughput` table (``names``: its rows' display names)
    with a column-group picker (``key``), so the default fits the page and
    the stage times and other columns are one click away; footnotes below."""
    varies = any(table[f"target_{m}_min"].dropna().nunique() > 1 for m in milestones if len(table))
    groups = st.pills(
        t("throughput.cols"),
        TABLE_GROUPS,
        selection_mode="multi",
        default=["ontime", "targets"] if varies else ["ontime"],
        format_func=lambda g: t(f"throughput.cols_{g}"),
        key=key,
    )
    order, config, notes = table_view(milestones, table, milestone, groups or [])
    if name_label:
        config["name"] = tables.text(name_label, width="medium")
    phone = ["name", f"{milestone}_on_time_share", "open_backlog"]  # fits 358 px
    tables.show(shown_table(table, names), config, order, phone=phone)
    for note in notes:
        st.caption(":material/info: " + note)


def case_list_view() -> tuple[list[str], dict[str, Any]]:
    """Visible columns and headers of the late / still-open case list."""
    order = ["id", "grid_code", "category", "source", "status", "reported_at"]
    order += [f"{m}_at" for m in MILESTONES] + ["late_milestones", "address"]
    order += ["reporter_name", "reporter_phone"]
    config: dict[str, Any] = {
        "id": tables.text(t("throughput.col.id")),
        "grid_code": tables.text(t("throughput.col.grid")),
        "category": tables.text(t("throughput.col.category")),
        "source": tables.text(t("throughput.col.source")),
        "status": tables.text(t("throughput.col.status")),
        "reported_at": tables.when(t("throughput.col.reported_at"), seconds=True),
        "late_milestones": tables.text(t("throughput.col.late")),
        "address": tables.text(t("throughput.col.address")),
        "reporter_name": tables.text(t("throughput.col.reporter")),
        "reporter_phone": tables.text(t("throughput.col.phone")),
    }
    for m in MILESTONES:
        config[f"{m}_at"] = tables.when(milestone_label(m), seconds=True)
    return order, config


def sets_with(cfg: SiteConfig, milestone: str, lang: str) -> str:
    """The labels of the site's target sets that have a target for ``milestone``."""
    sets = [cfg.default_targets, *(ts for _, ts in cfg.target_overrides)]
    labels = [ts.label_en if lang == "en" else ts.label_zh for ts in sets if ts.get(milestone)]
    return t("throughput.list_sep").join(dict.fromkeys(labels)) or t("throughput.no_target")


def ontime_metrics(
    overall: pd.DataFrame,
    table: pd.DataFrame,
    milestones: Sequence[str],
    cfg: SiteConfig,
    lang: str,
) -> None:
    """One metric per judged milestone for the whole area, its target in the
    help; a milestone no listed street has a target for says so (无考核目标)
    and why, instead of a bare "—"."""
    rows: dict[Any, dict[Any, Any]] = {r["milestone"]: r for r in overall.to_dict("records")}
    for col, m in zip(st.columns(len(milestones)), milestones, strict=True):
        label = t("throughput.ontime_metric", milestone=milestone_label(m))
        if targeted(table, m) == "none":
            col.metric(
                label,
                t("throughput.no_target_kpi"),
                help=t(
                    "throughput.no_target_help",
                    milestone=milestone_label(m),
                    sets=sets_with(cfg, m, lang),
                ),
            )
            continue
        row = rows.get(m, {})
        n = {k: f"{int(row.get(k, 0)):,}" for k in ("judged", "late", "pending", "excluded")}
        help_ = t("throughput.ontime_help", target=shared_target(table, m), **n)
        if targeted(table, m) == "some":
            help_ += " " + t("throughput.partial_target_help", milestone=milestone_label(m))
        col.metric(label, f"{row['on_time_share']:.1%}" if row.get("judged") else "—", help=help_)


def readable_cases(
    cases: pd.DataFrame, cfg: SiteConfig, lang: str, grids: dict[Any, str]
) -> pd.DataFrame:
    """The (already masked) case list with display names for codes."""
    return cases.assign(
        grid_code=[grid_label(grids, g) for g in cases["grid_code"]],
        category=[cfg.display_name("category", c, lang) for c in cases["category"]],
        source=[cfg.display_name("source", c, lang) for c in cases["source"]],
        status=[
            t(f"throughput.status.{s}") if s in INCIDENT_STATUSES else str(s)
            for s in cases["status"]
        ],
        late_milestones=[
            "、".join(milestone_label(m) for m in str(v).split(",") if m)
            for v in cases["late_milestones"]
        ],
    )
