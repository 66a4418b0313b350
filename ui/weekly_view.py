"""Tables and charts of the weekly review page (the PDF draws the same
figures with matplotlib, see :mod:`reports.weekly`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from metrics import weekly, weekly_model
from metrics.weekly_model import records
from metrics.weekly_summary import format_figure
from reports.weekly import mark_text, metric_label, value_text
from ui import tables as ui_tables
from ui.chart_axes import category_axis, count_axis
from ui.i18n import current_lang, t, translate
from ui.palette import ACCENT, LEVELS


def tr(key: str, **kwargs: Any) -> str:
    return translate(key, current_lang(), **kwargs)


def week_option(label: str) -> str:
    w = weekly_model.parse_week(label)
    return t("weekly.week_option", week=w.label, monday=w.monday, sunday=w.sunday)


def picked_week(choices: list[str], now: datetime) -> tuple[list[str], str, tuple[str, str] | None]:
    """The week picker's choices, the week to open and the rejected ``?week=``.

    A ``week`` URL parameter naming any week that has started as of ``now``
    opens it, also one older than ``choices`` (the latest complete weeks) or
    the running one (evaluated as of ``now``): it is added to the choices. A
    malformed, non-existent or future week is rejected as ``(value,
    problem)`` (:func:`metrics.weekly_model.week_problem`) and the first choice
    opens."""
    wanted = st.query_params.get("week", "")
    if not wanted:
        return choices, choices[0], None
    problem = weekly_model.week_problem(wanted, now)
    if problem is not None:
        return choices, choices[0], (wanted, problem)
    label = weekly_model.parse_week(wanted).label
    if label not in choices:
        choices = sorted([*choices, label], key=weekly_model.parse_week, reverse=True)
    return choices, label, None


def bad_week_notice(rejected: tuple[str, str] | None, opened: str) -> None:
    """Say why a ``?week=`` value was not opened, and which week was instead."""
    if rejected is not None:
        value, problem = rejected
        st.warning(
            t(f"weekly.bad_week.{problem}", value=value, opened=opened), icon=":material/link:"
        )


def comparison_frame(tables: dict[str, pd.DataFrame], names: dict[str, str]) -> pd.DataFrame:
    """The comparison table as shown: labels, formatted values, marks with
    icon + words (never colour alone)."""
    rows = []
    for rec in records(tables["comparison"]):
        rows.append(
            {
                t("weekly.col.section"): t(f"weekly.section.{rec.section}"),
                t("weekly.col.metric"): metric_label(rec.section, rec.metric, rec.code, names, tr),
                t("weekly.col.this_week"): value_text(rec.this_week, rec.kind),
                t("weekly.col.last_week"): value_text(rec.last_week, rec.kind),
                t("weekly.col.change"): value_text(rec.change, rec.kind, change=True),
                t("weekly.col.mark"): mark_text(rec.z, rec.significant, tr),
                t("weekly.col.last_year"): value_text(rec.last_year, rec.kind),
                t("weekly.col.change_last_year"): value_text(
                    rec.change_last_year, rec.kind, change=True
                ),
                t("weekly.col.mark_last_year"): mark_text(
                    rec.z_last_year, rec.significant_last_year, tr
                ),
                t("weekly.col.mean_4"): value_text(rec.mean_4_weeks_before, rec.kind),
            }
        )
    return pd.DataFrame(rows)


def comparison_config(frame: pd.DataFrame) -> dict[str, Any]:
    """Headers of :func:`comparison_frame`: its figure columns right-aligned
    (each row is its own kind: counts, shares, points, so they are text)."""
    figures = ("this_week", "last_week", "change", "last_year", "change_last_year", "mean_4")
    config: dict[str, Any] = {c: ui_tables.text(c) for c in frame.columns}
    for key in figures:
        config[t(f"weekly.col.{key}")] = ui_tables.figures(t(f"weekly.col.{key}"))
    return config


def comparison_view(tables: dict[str, pd.DataFrame], names: dict[str, str]) -> tuple[Any, Any]:
    """:func:`comparison_frame` as drawn: the rows of a warning colour have
    their measure's cell filled with that colour; and its headers."""
    frame = comparison_frame(tables, names)
    levels = {
        metric_label(r.section, r.metric, r.code, names, tr): str(r.metric)
        for r in records(tables["comparison"])
        if r.metric in LEVELS
    }
    styled = ui_tables.level_cells(frame, t("weekly.col.metric"), levels) if levels else frame
    return styled, comparison_config(frame)


def league_frame(tables: dict[str, pd.DataFrame], names: dict[str, str]) -> pd.DataFrame:
    """The street league table as shown: numbers as numbers (shares in per
    cent, changes in points), marks and movers as icon + words."""
    rows = []
    for rec in records(tables["streets"]):
        mover = ""
        if rec.mover:
            icon = "▲" if rec.mover == "improved" else "▼"
            mover = f"{icon} {t(f'weekly.mover_{rec.mover}')}"
        rows.append(
            {
                t("weekly.col.rank"): rec.rank,
                t("weekly.col.street"): names.get(rec.street_code, rec.street_code),
                t("weekly.col.cases"): rec.cases,
                t("weekly.col.cases_last"): rec.cases_last_week,
                t("weekly.col.mark"): mark_text(rec.z, rec.significant, tr),
                t("weekly.col.closure_rate"): _pct(rec.closure_rate),
                t("weekly.col.backlog"): rec.backlog_at_end,
                t("weekly.col.judged"): rec.judged,
                t("weekly.col.ontime"): _pct(rec.ontime_share),
                t("weekly.col.ontime_last"): _pct(rec.ontime_share_last_week),
                t("weekly.col.ontime_change"): _pct(rec.ontime_change),
                t("weekly.col.red"): rec.red_at_end,
                t("weekly.col.mover"): mover,
            }
        )
    return pd.DataFrame(rows, columns=list(league_config()))


def _pct(value: Any) -> float:
    """A 0-1 share (or a change of one) in per cent (points)."""
    return float("nan") if is_nan(value) else float(value) * 100.0


def columns(**kinds: Callable[[str], Any]) -> dict[str, Any]:
    """Column settings keyed by the header of each ``weekly.col.<key>``
    (the frames' columns are their headers), built by ``kinds[key](header)``."""
    return {t(f"weekly.col.{k}"): build(t(f"weekly.col.{k}")) for k, build in kinds.items()}


def _share(label: str) -> Any:
    return ui_tables.percent(label, bar=False)


def league_config() -> dict[str, Any]:
    """Headers and formats of :func:`league_frame`, in its column order."""
    text, count = ui_tables.text, ui_tables.count
    return columns(
        rank=count,
        street=text,
        cases=count,
        cases_last=count,
        mark=text,
        closure_rate=_share,
        backlog=count,
        judged=count,
        ontime=_share,
        ontime_last=_share,
        ontime_change=ui_tables.points,
        red=count,
        mover=text,
    )


def trend_figure(tables: dict[str, pd.DataFrame]) -> go.Figure:
    """Cases per week, :func:`metrics.weekly.case_trend` (each week once,
    the reviewed week highlighted; a week without data has no bar and "—"),
    on a count axis from 0."""
    trend = weekly.case_trend(tables)
    values = [None if math.isnan(v) else v for v in trend["cases"]]
    fig = go.Figure(
        go.Bar(
            x=trend["week"].tolist(),
            y=values,
            marker_color=["#90A4AE"] * (len(trend) - 1) + [ACCENT],
            text=[format_figure(v, "int") for v in trend["cases"]],
            textposition="outside",
            name=t("weekly.metric.cases"),
        )
    )
    top = max((v for v in values if v is not None), default=0.0)
    fig.update_layout(
        height=300,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"title": {"text": t("weekly.axis_week")}, "type": "category"},
        yaxis=count_axis(t("weekly.axis_cases"), float(top)),
    )
    return fig


def category_figure(tables: dict[str, pd.DataFrame], names: dict[str, str]) -> go.Figure:
    """Cases per category, this week against last week."""
    cmp_ = tables["comparison"]
    rows = cmp_[cmp_["metric"] == "category"].sort_values("this_week")
    labels = [names.get(c, c) for c in rows["code"]]
    fig = go.Figure()
    fig.add_bar(
        y=labels,
        x=rows["last_week"],
        orientation="h",
        name=t("weekly.col.last_week"),
        marker_color="#B0BEC5",
    )
    fig.add_bar(
        y=labels,
        x=rows["this_week"],
        orientation="h",
        name=t("weekly.col.this_week"),
        marker_color=ACCENT,
    )
    top = float(max(rows["this_week"].max(), rows["last_week"].max())) if len(rows) else 0.0
    fig.update_layout(
        barmode="group",
        height=max(300, 28 * len(rows) + 80),
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis=count_axis(t("weekly.axis_cases"), 0.0 if pd.isna(top) else top),
        yaxis=category_axis(t("weekly.col.category")),
    )
    return fig


def red_frame(tables: dict[str, pd.DataFrame], names: dict[str, str]) -> pd.DataFrame:
    red = tables["red_open"]
    out = pd.DataFrame(
        {
            t("weekly.col.domain"): [names.get(d, d) for d in red["domain"]],
            t("weekly.col.id"): red["id"].astype(str),
            t("weekly.col.street"): [names.get(c, c) for c in red["street_code"]],
            t("weekly.col.grid"): red["grid_name"].fillna(red["grid_code"]),
            t("weekly.col.since"): pd.to_datetime(red["since"]),
            t("weekly.col.age_days"): red["age_days"],
            t("weekly.col.overdue_days"): red["overdue_days"],
        }
    )
    return out


def red_config() -> dict[str, Any]:
    """Headers and formats of :func:`red_frame`."""
    names = dict.fromkeys(("domain", "id", "street", "grid"), ui_tables.text)
    days = dict.fromkeys(("age_days", "overdue_days"), ui_tables.count)
    return columns(**names, since=ui_tables.when, **days)


def red_icon() -> str:
    return f"{LEVELS['red'].icon} {LEVELS['red'].label}"


def hotspot_frame(tables: dict[str, pd.DataFrame], names: dict[str, str]) -> pd.DataFrame:
    hot = tables["hotspots_new"]
    return pd.DataFrame(
        {
            t("weekly.col.category"): [names.get(c, c) for c in hot["category"]],
            t("weekly.col.street"): [names.get(c, c) for c in hot["street_code"]],
            t("weekly.col.cases"): hot["cases"],
            t("weekly.col.first_at"): pd.to_datetime(hot["first_at"]),
            t("weekly.col.last_at"): pd.to_datetime(hot["last_at"]),
        }
    )


def hotspot_config() -> dict[str, Any]:
    """Headers and formats of :func:`hotspot_frame`."""
    text, when = ui_tables.text, ui_tables.when
    return columns(category=text, street=text, cases=ui_tables.count, first_at=when, last_at=when)


def no_data_weeks(tables: dict[str, pd.DataFrame]) -> list[str]:
    """The weeks read that have no data, each once (``last`` is ``w-1``), oldest first."""
    read = tables["weeks_read"]
    weeks = read.loc[~read["has_data"].astype(bool), "week"].astype(str)
    return sorted(set(weeks))


def week_has_data(tables: dict[str, pd.DataFrame]) -> bool:
    """Whether the reviewed week itself has data (it ends after the first case)."""
    read = tables["weeks_read"].set_index("period")
    return bool(read.at["this", "has_data"])


def is_nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
