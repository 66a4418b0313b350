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
from data_access.schema import MILESTONES
from metrics.throughput_backlog import AGE_BUCKETS
from ui.chart_axes import count_axis
from ui.i18n import t
from ui.palette import ACCENT, HEAT_SCALE, LEVELS, MUTED

#: Colour of each backlog age bucket: young = light, old = dark.
AGE_COLOURS = dict(zip((b for b, _ in AGE_BUCKETS), HEAT_SCALE[1:], strict=True))
#: A bar that meets its on-time goal, one below it, and the goal tick.
MEETS, BELOW, GOAL_INK = LEVELS["green"].hex, LEVELS["red"].hex, "#212121"
#: Where the ranking's bar labels start (an on-time share of 102 %: right of every bar).
LABEL_X = 1.02


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
            where = t("throughput.list_sep").join(name(c) for c in codes[:4])
            where += "…" if len(codes) > 4 else ""
        parts.append(t("throughput.target_set", label=label, streets=where))
    return t("throughput.targets_in_use", targets=t("app.clause_sep").join(parts))


def goal_of(cfg: SiteConfig, street_code: str, district_code: str | None) -> float:
    """The on-time goal (0-1] of a street: its target set's ``on_time_goal``."""
    return cfg.targets_for(street_code, district_code).on_time_goal


def street_goals(cfg: SiteConfig, streets: pd.DataFrame) -> dict[str, float]:
    """Street code -> on-time goal, for the listed streets (``code``, ``district_code``)."""
    return {
        str(c): goal_of(cfg, str(c), d)
        for c, d in zip(streets["code"], streets["district_code"], strict=True)
    }


def single_goal(goals: Sequence[float]) -> float | None:
    """The goal every one of ``goals`` has, or None (several, or none)."""
    unique = {round(float(g), 6) for g in goals if not pd.isna(g)}
    return unique.pop() if len(unique) == 1 else None


def goal_text(goals: Sequence[float]) -> str:
    """``≥ 90%`` when every goal is the same, else "per street's standard"."""
    goal = single_goal(goals)
    if goal is not None:
        return t("throughput.goal", goal=goal)
    known = [g for g in goals if not pd.isna(g)]
    return t("throughput.target_varies") if known else t("throughput.no_target")


def bar_colour(share: float, goal: float | None) -> str:
    """Green when ``share`` meets ``goal``, red below it, grey without a goal."""
    if goal is None or pd.isna(goal):
        return MUTED
    return MEETS if share >= goal - 1e-12 else BELOW


def ranking_text(row: Any, min_judged: int) -> str:
    """A ranking bar's label: share, n, and its place (tied, called out, or
    too few cases to be ranked)."""
    parts = [f"{row.on_time_share:.1%}", t("throughput.bar_n", n=f"{int(row.judged):,}")]
    if not row.eligible:
        parts.append(t("throughput.small_sample", n=min_judged))
    elif row.tied:
        parts.append(t("throughput.tied", place=int(row.place)))
    if row.callout:
        parts.append(t(f"throughput.callout_{row.callout}"))
    return " · ".join(parts)


def ranking_figure(
    ranked: pd.DataFrame,
    table: pd.DataFrame,
    key: str,
    milestone: str,
    names: dict[str, str],
    goals: dict[str, float],
    min_judged: int,
    selected: str | None = None,
    meta: str = "ranking",
    title: str = "",
) -> go.Figure:
    """Horizontal bars of on-time share from 0 to 100 %, best at the top,
    each coloured against its own goal (green meets it, red is below; the
    goal drawn as a tick on the bar), labelled with its n and place; a unit
    with fewer than ``min_judged`` judged cases is hatched and not ranked.
    ``customdata`` = [code, target minutes, judged, goal]. ``selected``: the
    code drilled into (its bar stays full, the others readable at 55 %)."""
    order = ranked.iloc[::-1].reset_index(drop=True)
    targets = table.set_index(key)[f"target_{milestone}_min"]
    labels = [grid_label(names, c) for c in order[key]]
    goal = [float(goals.get(str(c), float("nan"))) for c in order[key]]
    custom = [
        [code, float(targets.get(code, float("nan"))), int(judged), g]
        for code, judged, g in zip(order[key], order["judged"], goal, strict=True)
    ]
    hover = (
        "<b>%{y}</b><br>"
        + t("throughput.hover_ontime")
        + ": %{x:.1%}<br>"
        + t("throughput.hover_judged")
        + ": %{customdata[2]:,}<br>"
        + t("throughput.hover_target")
        + ": %{customdata[1]} "
        + t("throughput.minutes")
        + "<br>"
        + t("throughput.hover_goal")
        + ": %{customdata[3]:.0%}<extra></extra>"
    )
    picked = [i for i, c in enumerate(order[key]) if selected is not None and str(c) == selected]
    bars = go.Bar(
        x=list(order["on_time_share"]),
        y=labels,
        orientation="h",
        marker={
            "color": [bar_colour(s, g) for s, g in zip(order["on_time_share"], goal, strict=True)],
            "pattern": {
                "shape": ["" if e else "/" for e in order["eligible"]],
                "fgcolor": "#FFFFFF",
                "solidity": 0.3,
            },
        },
        customdata=custom,
        hovertemplate=hover,
        name=t("throughput.hover_ontime"),
        showlegend=False,
        selected={"marker": {"opacity": 1.0}},
        unselected={"marker": {"opacity": 0.55}},
        selectedpoints=picked or None,
    )
    fig = go.Figure(bars)
    # The goal of each bar, as a tick across it (also clickable: same customdata).
    fig.add_trace(
        go.Scatter(
            x=goal,
            y=labels,
            mode="markers",
            marker={
                "symbol": "line-ns",
                "size": 20,
                "line": {"width": 3, "color": GOAL_INK},
                "color": GOAL_INK,
            },
            name=t("throughput.legend_goal"),
            customdata=custom,
            hovertemplate="<b>%{y}</b><br>"
            + t("throughput.hover_goal")
            + ": %{x:.0%}<extra></extra>",
            selected={"marker": {"opacity": 1.0}},
            unselected={"marker": {"opacity": 1.0}},
        )
    )
    fig.add_trace(label_column(labels, [ranking_text(r, min_judged) for r in order.itertuples()]))
    for name, colour in (
        (t("throughput.legend_meets"), MEETS),
        (t("throughput.legend_below"), BELOW),
    ):  # legend entries only: no data, so nothing to click or draw
        fig.add_trace(
            go.Bar(x=[None], y=[None], name=name, marker={"color": colour}, hoverinfo="skip")
        )
    # plotly draws no swatch for a hatched legend entry: the name carries it (▨).
    fig.add_trace(
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            marker={"size": 1, "color": "rgba(0,0,0,0)"},
            name=t("throughput.legend_small", n=min_judged),
            hoverinfo="skip",
        )
    )
    fig.update_layout(
        meta=meta,
        title=title
        or t(
            "throughput.ranking_title",
            milestone=milestone_label(milestone),
            target=shared_target(table, milestone),
            goal=goal_text(goal),
        ),
        barmode="overlay",
        height=max(300, 26 * len(order) + 130),
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        xaxis=labelled_share_axis(milestone),
        shapes=[FULL_SCALE],
        yaxis={
            "title": {"text": t(f"throughput.axis_{'grid' if key == 'grid_code' else 'street'}")},
            "automargin": True,
            "type": "category",
            "categoryorder": "array",
            "categoryarray": labels,
        },
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1.0, "xanchor": "right"},
        clickmode="event+select",
    )
    return fig


def labelled_share_axis(milestone: str) -> dict[str, Any]:
    """An on-time share axis from 0 to 100 %, then room for a
    :func:`label_column` (no tick beyond 100 %)."""
    return {
        "title": {"text": t("throughput.axis_ontime", milestone=milestone_label(milestone))},
        "tickformat": ".0%",
        "range": [0.0, LABEL_X + 0.3],
        "tickvals": [i / 10 for i in range(11)],
        "zeroline": True,
    }


#: The 100 % end of a :func:`labelled_share_axis`, drawn as a thin line.
FULL_SCALE = {
    "type": "line",
    "xref": "x",
    "yref": "paper",
    "x0": 1.0,
    "x1": 1.0,
    "y0": 0,
    "y1": 1,
    "line": {"color": "#B0BEC5", "width": 1},
}


def label_column(y: Sequence[str], text: Sequence[str]) -> go.Scatter:
    """Each bar's label in a column right of 100 %, clear of bars, goal and ticks."""
    return go.Scatter(
        x=[LABEL_X] * len(y),
        y=list(y),
        mode="text",
        text=list(text),
        textposition="middle right",
        textfont={"size": 12, "color": "#212121"},
        # A selection elsewhere must not fade the labels (plotly's default does).
        selected={"textfont": {"color": "#212121"}},
        unselected={"textfont": {"color": "#424242"}},
        hoverinfo="skip",
        showlegend=False,
    )


def callouts_text(ranked: pd.DataFrame, label: Callable[[Any], str], min_judged: int) -> str:
    """The top and bottom three of a :func:`~metrics.throughput.rank_by_ontime`
    frame in words, ties marked (并列); or why nobody is named."""
    if not ranked["eligible"].any():
        return t("throughput.callouts_none", n=min_judged)

    def named(kind: str) -> str:
        rows = ranked[ranked["callout"] == kind]
        return t("throughput.list_sep").join(
            label(c) + (t("throughput.tied_mark") if tied else "")
            for c, tied in zip(rows.iloc[:, 0], rows["tied"], strict=True)
        ) or t("throughput.callouts_nobody")

    return t("throughput.callouts", top=named("top"), bottom=named("bottom"))


def trend_figure(
    trend: pd.DataFrame,
    codes: Sequence[str],
    names: dict[str, str],
    milestone: str,
    target: str,
    goal: float | None = None,
) -> go.Figure:
    """One line per chosen street: on-time share of ``milestone`` per period,
    0-100 %, with the streets' shared on-time goal as a dashed line."""
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
                hovertemplate="%{x}: %{y:.1%} (n=%{customdata:,})<extra>%{fullData.name}</extra>",
            )
        )
    goal_line(fig, goal, "y")
    fig.update_layout(
        meta="trend",
        title=t("throughput.trend_title", milestone=milestone_label(milestone), target=target),
        yaxis={
            "title": {"text": t("throughput.axis_ontime", milestone=milestone_label(milestone))},
            "tickformat": ".0%",
            "range": [0, 1.02],
        },
        xaxis={"title": {"text": t("throughput.period")}, "type": "category"},
        height=400,
        margin={"l": 10, "r": 10, "t": 50, "b": 30},
        legend={"orientation": "h", "y": -0.3},
    )
    return fig


def goal_line(fig: go.Figure, goal: float | None, axis: str) -> None:
    """A dashed line at a shared on-time ``goal`` across the ``axis`` ("x" or "y")."""
    if goal is None or pd.isna(goal):
        return
    line = {"dash": "dash", "color": GOAL_INK, "width": 1.5}
    text = t("throughput.legend_goal") + " " + t("throughput.goal", goal=goal)
    if axis == "y":
        fig.add_hline(y=goal, line=line, annotation_text=text, annotation_position="bottom right")
    else:
        fig.add_vline(x=goal, line=line, annotation_text=text, annotation_position="top")


def ageing_figure(ageing: pd.DataFrame, names: dict[str, str], unit: str = "street") -> go.Figure:
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
                hovertemplate="%{y} · %{fullData.name}: %{x:,} "
                + t("throughput.cases_unit")
                + "<extra></extra>",
            )
        )
    top = float(ageing.groupby("key", dropna=False)["cases"].sum().max()) if len(ageing) else 0.0
    fig.update_layout(
        meta="ageing",
        barmode="stack",
        title=t("throughput.ageing_title"),
        height=max(280, 24 * len(labels) + 130),
        margin={"l": 10, "r": 10, "t": 50, "b": 30},
        xaxis=count_axis(t("throughput.axis_open_cases"), top),
        yaxis={
            "title": {"text": t(f"throughput.axis_{unit}")},
            "automargin": True,
            "type": "category",
            "categoryorder": "array",
            "categoryarray": labels[::-1],
        },
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def breakdown_figure(
    table: pd.DataFrame,
    key: str,
    milestone: str,
    label: Callable[[str], str],
    dimension: str,
    goal: float | None = None,
) -> go.Figure:
    """On-time share of ``milestone`` per category or source, 0-100 %, with
    case counts; coloured against ``goal`` when the area's streets share one."""
    rows = table[table[f"{milestone}_judged"] > 0].sort_values(f"{milestone}_on_time_share")
    shares = rows[f"{milestone}_on_time_share"]
    names = [label(str(c)) for c in rows[key]]
    fig = go.Figure(
        go.Bar(
            x=list(shares),
            y=names,
            orientation="h",
            marker_color=[bar_colour(v, goal) if goal is not None else ACCENT for v in shares],
            showlegend=False,
        )
    )
    texts = [
        f"{v:.1%} · " + t("throughput.bar_n", n=f"{int(n):,}")
        for v, n in zip(shares, rows[f"{milestone}_judged"], strict=True)
    ]
    fig.add_trace(label_column(names, texts))
    shapes: list[dict[str, Any]] = [FULL_SCALE]
    goal_line(fig, goal, "x")
    fig.update_layout(
        meta=f"breakdown_{key}",
        title=t(
            "throughput.breakdown_title",
            milestone=milestone_label(milestone),
            dimension=dimension,
            target=shared_target(table, milestone),
        ),
        xaxis=labelled_share_axis(milestone),
        yaxis={"title": {"text": dimension}, "automargin": True, "type": "category"},
        height=max(260, 28 * len(rows) + 110),
        margin={"l": 10, "r": 10, "t": 60, "b": 30},
    )
    for shape in shapes:
        fig.add_shape(shape)
    return fig


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


def download_buttons(
    export: pd.DataFrame | Callable[[], bytes],
    excel: Callable[[], bytes],
    stem: str,
    query: str = "",
) -> None:
    """CSV (UTF-8 with BOM, so Excel reads the Chinese names; ``export``: a
    frame, or a function making the file's bytes) and .xlsx downloads, each
    made when its button is pressed (the workbook of the city's 196 streets
    took 0.2-0.45 s, on every rerun, when made up front), for a role with
    ``export`` only, each press audited (``query``: the filter behind it)."""
    from ui.auth import audited_download

    left, right = st.columns(2)
    audited_download(
        left,
        t("throughput.download_csv"),
        export if callable(export) else lambda: export.to_csv(index=False).encode("utf-8-sig"),
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
