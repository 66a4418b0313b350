"""Figures and table settings for the case-throughput page (plotly, no data access).

Every builder takes the documented frames of ``metrics.throughput`` and
returns a plotly figure; ``layout.meta`` names the figure so tests can find
it in the page's output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from data_access.config import SiteConfig
from data_access.schema import INCIDENT_STATUSES, MILESTONES
from metrics.throughput_backlog import AGE_BUCKETS
from ui.i18n import t
from ui.palette import ACCENT, HEAT_SCALE, LEVELS, MUTED

#: Colour of each backlog age bucket: young = light, old = dark.
AGE_COLOURS = dict(zip((b for b, _ in AGE_BUCKETS), HEAT_SCALE[1:], strict=True))
CALLOUT_COLOURS = {"top": LEVELS["green"].hex, "bottom": LEVELS["red"].hex, "": MUTED}


def grid_label(names: dict[Any, str], code: Any) -> str:
    """Display name of a code (street or grid); a missing grid shows as such."""
    if code in names:
        return names[code]
    return t("throughput.unknown_grid") if code is None or pd.isna(code) else str(code)


def milestone_label(m: str) -> str:
    return t(f"milestone.{m}")


def minutes_text(value: float | None) -> str:
    if value is None or pd.isna(value):
        return t("throughput.no_target")
    return t("milestone.target_minutes", minutes=float(value))


def judged_milestones(cfg: SiteConfig) -> list[str]:
    """Milestones that have a target somewhere (the others are never judged)."""
    sets = [cfg.default_targets, *(ts for _, ts in cfg.target_overrides)]
    return [m for m in MILESTONES if any(s.get(m) is not None for s in sets)]


def target_sets_text(
    cfg: SiteConfig, streets: pd.DataFrame, lang: str, name: Callable[[str], str]
) -> str:
    """The target sets that judge the listed streets (``code``, ``district_code``),
    each with its label and the streets it applies to."""
    groups: dict[Any, list[str]] = {}
    for code, district in zip(streets["code"], streets["district_code"], strict=True):
        groups.setdefault(cfg.targets_for(code, district), []).append(code)
    parts = []
    for target_set, codes in groups.items():
        label = target_set.label_en if lang == "en" else target_set.label_zh
        if target_set == cfg.default_targets and len(groups) > 1:
            where = t("throughput.all_other_streets")
        else:
            where = ", ".join(name(c) for c in codes[:4]) + ("…" if len(codes) > 4 else "")
        parts.append(t("throughput.target_set", label=label, streets=where))
    return t("throughput.targets_in_use", targets="; ".join(parts))


def ranking_figure(
    ranked: pd.DataFrame,
    table: pd.DataFrame,
    key: str,
    milestone: str,
    names: dict[str, str],
    meta: str = "ranking",
    title: str = "",
) -> go.Figure:
    """Horizontal bars of on-time share, best at the top; top/bottom three coloured
    and labelled. ``customdata`` = [code, target minutes, judged]."""
    order = ranked.iloc[::-1]
    targets = table.set_index(key)[f"target_{milestone}_min"]
    callout_text = {"top": t("throughput.callout_top"), "bottom": t("throughput.callout_bottom")}
    text = [
        f"{share:.1%}" + (f" · {callout_text[c]}" if c else "")
        for share, c in zip(order["on_time_share"], order["callout"], strict=True)
    ]
    custom = [
        [code, float(targets.get(code, float("nan"))), int(judged)]
        for code, judged in zip(order[key], order["judged"], strict=True)
    ]
    hover = (
        "<b>%{y}</b><br>"
        + t("throughput.hover_ontime")
        + ": %{x:.1%}<br>"
        + t("throughput.hover_judged")
        + ": %{customdata[2]}<br>"
        + t("throughput.hover_target")
        + ": %{customdata[1]} "
        + t("throughput.minutes")
        + "<extra></extra>"
    )
    fig = go.Figure(
        go.Bar(
            x=list(order["on_time_share"]),
            y=[grid_label(names, c) for c in order[key]],
            orientation="h",
            marker_color=[CALLOUT_COLOURS[c] for c in order["callout"]],
            text=text,
            # Short bars cannot hold their label: put it beside them.
            textposition=["outside" if s < 0.3 else "inside" for s in order["on_time_share"]],
            customdata=custom,
            hovertemplate=hover,
        )
    )
    lowest = float(order["on_time_share"].min()) if len(order) else 0.0
    fig.update_layout(
        meta=meta,
        title=title
        or t(
            "throughput.ranking_title",
            milestone=milestone_label(milestone),
            target=shared_target(table, milestone),
        ),
        height=max(260, 26 * len(order) + 90),
        margin={"l": 10, "r": 10, "t": 50, "b": 30},
        xaxis={"tickformat": ".0%", "range": [max(0.0, lowest - 0.1), 1.0]},
        yaxis={"automargin": True, "type": "category"},
        showlegend=False,
    )
    return fig


def trend_figure(
    trend: pd.DataFrame, codes: Sequence[str], names: dict[str, str], milestone: str, target: str
) -> go.Figure:
    """One line per chosen street: on-time share of ``milestone`` per period."""
    fig = go.Figure()
    for code in codes:
        part = trend[trend["street_code"] == code]
        fig.add_trace(
            go.Scatter(
                x=list(part["period"]),
                y=list(part["on_time_share"]),
                mode="lines+markers",
                name=names.get(code, code),
                customdata=list(part["judged"]),
                hovertemplate="%{x}: %{y:.1%} (n=%{customdata})<extra>%{fullData.name}</extra>",
            )
        )
    fig.update_layout(
        meta="trend",
        title=t("throughput.trend_title", milestone=milestone_label(milestone), target=target),
        yaxis={"tickformat": ".0%", "range": [0, 1.02]},
        xaxis={"title": t("throughput.period"), "type": "category"},
        height=380,
        margin={"l": 10, "r": 10, "t": 50, "b": 30},
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


def ageing_figure(ageing: pd.DataFrame, names: dict[str, str]) -> go.Figure:
    """Stacked horizontal bars: open cases per street (or grid) by age bucket."""
    fig = go.Figure()
    labels = [grid_label(names, k) for k in ageing["key"].drop_duplicates()]
    for bucket, _ in AGE_BUCKETS:
        part = ageing[ageing["age_bucket"] == bucket]
        fig.add_trace(
            go.Bar(
                x=list(part["cases"]),
                y=[grid_label(names, k) for k in part["key"]],
                orientation="h",
                name=t(f"throughput.age_{bucket}"),
                marker_color=AGE_COLOURS[bucket],
            )
        )
    fig.update_layout(
        meta="ageing",
        barmode="stack",
        title=t("throughput.ageing_title"),
        height=max(260, 24 * len(labels) + 110),
        margin={"l": 10, "r": 10, "t": 50, "b": 30},
        yaxis={
            "automargin": True,
            "type": "category",
            "categoryorder": "array",
            "categoryarray": labels[::-1],
        },
        legend={"orientation": "h", "y": -0.15},
    )
    return fig


def breakdown_figure(
    table: pd.DataFrame, key: str, milestone: str, label: Callable[[str], str], dimension: str
) -> go.Figure:
    """On-time share of ``milestone`` per category or source, with case counts."""
    rows = table[table[f"{milestone}_judged"] > 0].sort_values(f"{milestone}_on_time_share")
    fig = go.Figure(
        go.Bar(
            x=list(rows[f"{milestone}_on_time_share"]),
            y=[label(str(c)) for c in rows[key]],
            orientation="h",
            marker_color=ACCENT,
            text=[
                f"{s:.1%} (n={n})"
                for s, n in zip(
                    rows[f"{milestone}_on_time_share"], rows[f"{milestone}_judged"], strict=True
                )
            ],
            textposition="auto",
        )
    )
    fig.update_layout(
        meta=f"breakdown_{key}",
        title=t(
            "throughput.breakdown_title",
            milestone=milestone_label(milestone),
            dimension=dimension,
            target=shared_target(table, milestone),
        ),
        xaxis={"tickformat": ".0%", "range": [0, 1]},
        yaxis={"automargin": True, "type": "category"},
        height=max(240, 28 * len(rows) + 90),
        margin={"l": 10, "r": 10, "t": 50, "b": 30},
    )
    return fig


def table_view(milestones: Sequence[str]) -> tuple[list[str], dict[str, Any]]:
    """Visible columns and their headers for a :func:`case_throughput` table with
    a ``name`` column: each on-time share is shown next to its target."""
    num = st.column_config.NumberColumn
    pct = st.column_config.ProgressColumn
    order = ["name", "cases", "closed", "cancelled", "open_backlog", "closure_rate"]
    config: dict[str, Any] = {
        "name": t("throughput.col.name"),
        "cases": num(t("col.cases"), format="%d"),
        "closed": num(t("col.closed"), format="%d"),
        "cancelled": num(t("throughput.col.cancelled"), format="%d"),
        "open_backlog": num(t("col.backlog"), format="%d"),
        "closure_rate": pct(
            t("throughput.col.closure_rate"), min_value=0.0, max_value=1.0, format="percent"
        ),
    }
    for m in milestones:
        label = milestone_label(m)
        order += [f"{m}_on_time_share", f"target_{m}_min"]
        config[f"{m}_on_time_share"] = pct(
            t("throughput.col.ontime", milestone=label),
            min_value=0.0,
            max_value=1.0,
            format="percent",
        )
        config[f"target_{m}_min"] = num(t("throughput.col.target", milestone=label), format="%g")
    for m in MILESTONES:
        label = milestone_label(m)
        order += [f"{m}_median_min", f"{m}_p90_min"]
        config[f"{m}_median_min"] = num(t("throughput.col.median", milestone=label), format="%.1f")
        config[f"{m}_p90_min"] = num(t("throughput.col.p90", milestone=label), format="%.1f")
    order += ["excluded_cases", "camera_ai_false_share"]
    config["excluded_cases"] = num(t("throughput.col.excluded"), format="%d")
    config["camera_ai_false_share"] = num(t("throughput.col.camera_false"), format="percent")
    return order, config


def case_list_view() -> tuple[list[str], dict[str, Any]]:
    """Visible columns and headers of the late / still-open case list."""
    dt = st.column_config.DatetimeColumn
    order = ["id", "grid_code", "category", "source", "status", "reported_at"]
    order += [f"{m}_at" for m in MILESTONES] + ["late_milestones", "address"]
    order += ["reporter_name", "reporter_phone"]
    config: dict[str, Any] = {
        "id": t("throughput.col.id"),
        "grid_code": t("throughput.col.grid"),
        "category": t("throughput.col.category"),
        "source": t("throughput.col.source"),
        "status": t("throughput.col.status"),
        "reported_at": dt(t("throughput.col.reported_at"), format="MM-DD HH:mm:ss"),
        "late_milestones": t("throughput.col.late"),
        "address": t("throughput.col.address"),
        "reporter_name": t("throughput.col.reporter"),
        "reporter_phone": t("throughput.col.phone"),
    }
    for m in MILESTONES:
        config[f"{m}_at"] = dt(milestone_label(m), format="MM-DD HH:mm:ss")
    return order, config


def picked_code(event: Any) -> str | None:
    """The code in ``customdata[0]`` of the first point selected in a plotly chart."""
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return None
    for point in points or []:
        custom = point.get("customdata")
        if custom:
            return str(custom[0])
    return None


def shared_target(table: pd.DataFrame, milestone: str) -> str:
    """The target of ``milestone`` as text when every listed row shares it."""
    values = table[f"target_{milestone}_min"].dropna().unique()
    if len(values) == 1 and table[f"target_{milestone}_min"].notna().all():
        return minutes_text(float(values[0]))
    return t("throughput.target_varies") if len(values) else t("throughput.no_target")


def ontime_metrics(overall: pd.DataFrame, table: pd.DataFrame, milestones: Sequence[str]) -> None:
    """One metric per judged milestone for the whole area, its target in the help."""
    rows: dict[Any, dict[Any, Any]] = {r["milestone"]: r for r in overall.to_dict("records")}
    for col, m in zip(st.columns(len(milestones)), milestones, strict=True):
        row = rows.get(m, {})
        n = {k: int(row.get(k, 0)) for k in ("judged", "late", "pending", "excluded")}
        col.metric(
            t("throughput.ontime_metric", milestone=milestone_label(m)),
            f"{row['on_time_share']:.1%}" if n["judged"] else "—",
            help=t("throughput.ontime_help", target=shared_target(table, m), **n),
        )


def download_buttons(
    export: pd.DataFrame, excel: Callable[[], bytes], stem: str, query: str = ""
) -> None:
    """CSV (UTF-8 with BOM, so Excel reads the Chinese names) and .xlsx
    downloads, each made when its button is pressed (the workbook of the
    city's 196 streets took 0.2-0.45 s, on every rerun, when made up front),
    for a role with ``export`` only, each press audited (``query``: the
    filter behind it)."""
    from ui.auth import audited_download

    left, right = st.columns(2)
    audited_download(
        left,
        t("throughput.download_csv"),
        lambda: export.to_csv(index=False).encode("utf-8-sig"),
        action="export",
        query=query,
        file_name=f"{stem}.csv",
        mime="text/csv",
        icon=":material/download:",
    )
    audited_download(
        right,
        t("throughput.download_xlsx"),
        excel,
        action="export",
        query=query,
        file_name=f"{stem}.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        icon=":material/table:",
    )
    st.caption(t("throughput.export_note"))


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
