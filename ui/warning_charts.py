"""Figures and display helpers of the warning-colour page.

Colour is never the only carrier of meaning: every trace is named with the
level's icon and label, bar text repeats the icon, and the red list states
the reason in words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from metrics.warning_rules import WarningRules
from ui import tables
from ui.chart_axes import category_axis, count_axis, share_axis
from ui.i18n import current_lang, t, translate
from ui.palette import LEVEL_ORDER, LEVELS, level_name


def domain_label(rules: WarningRules, code: str, lang: str | None = None) -> str:
    lang = lang or current_lang()
    if code in ("petition", "housing"):
        return translate(f"warnings.domain_{code}", lang)
    d = rules.warning_domain(code)
    if d is None:
        return code
    return d.name_en if lang == "en" else d.name_zh


def rules_text(rules: WarningRules, domain: str) -> str:
    """The rule that colours ``domain``, in words."""
    if domain == "petition":
        p = rules.petition
        return t(
            "warnings.rules_petition",
            n=p.repeat_red,
            days=p.due_soon_days,
            pct=p.used_percent_yellow,
        )
    if domain == "housing":
        h = rules.housing
        text = t("warnings.rules_housing", days=h.green_within_days)
        if h.red_after_days:
            text += t("warnings.rules_housing_red", days=h.red_after_days)
        return text
    return t("warnings.rules_given")


def stacked_bars(
    frame: pd.DataFrame, label_col: str, share: bool, unit: str = "street"
) -> go.Figure:
    """Horizontal stacked bars, one per row of ``frame`` (columns ``red``,
    ``yellow``, ``green``, ``total`` and ``label_col``), counts or shares,
    from 0; each bar is labelled with its name and total; ``unit``
    (``street`` or ``grid``) names the bars' axis."""
    data = frame.assign(_red_share=frame["red"] / frame["total"].where(frame["total"] > 0))
    data = data.sort_values(["_red_share" if share else "red", "total"], ascending=True)
    labels = [
        f"{name} · {int(n):,}" for name, n in zip(data[label_col], data["total"], strict=True)
    ]
    fig = go.Figure()
    for key in LEVEL_ORDER:
        level = LEVELS[key]
        counts = data[key].astype(float)
        total = data["total"].where(data["total"] > 0)
        values = (counts / total).fillna(0.0) if share else counts
        text = [
            (f"{level.icon} {v:.0%}" if share else f"{level.icon} {int(c)}") if c > 0 else ""
            for v, c in zip(values, counts, strict=True)
        ]
        fig.add_bar(
            y=labels,
            x=values.tolist(),
            name=level_name(key),
            orientation="h",
            marker={"color": level.hex, "line": {"color": "#FFFFFF", "width": 0.5}},
            text=text,
            textposition="inside",
            insidetextanchor="middle",
            textangle=0,
            textfont={"color": "#212121" if key == "yellow" else "#FFFFFF"},
            customdata=counts.tolist(),
            hovertemplate="%{y}<br>" + level_name(key) + ": %{customdata:d}<extra></extra>",
        )
    fig.update_layout(
        barmode="stack",
        height=max(260, 26 * len(data) + 90),
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "traceorder": "normal"},
        uniformtext={"minsize": 9, "mode": "hide"},
        xaxis=share_axis(t("warnings.axis_share"))
        if share
        else count_axis(t("warnings.axis_items"), float(data["total"].max() or 0)),
        yaxis=category_axis(t(f"warnings.axis_{unit}")),
    )
    return fig


def trend_figure(frame: pd.DataFrame, freq: str = "day") -> go.Figure:
    """Lines of red/yellow/green counts per bucket (a day's or a week's end),
    each with its own marker symbol; the count axis from 0 in whole items."""
    symbols = {"red": "triangle-up", "yellow": "diamond", "green": "circle"}
    fig = go.Figure()
    for key in LEVEL_ORDER:
        level = LEVELS[key]
        fig.add_scatter(
            x=frame["bucket"].tolist(),
            y=frame[key].tolist(),
            name=level_name(key),
            mode="lines+markers",
            line={"color": level.hex, "width": 2},
            marker={"symbol": symbols[key], "size": 8},
        )
    fig.update_layout(
        height=320,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},
        yaxis=count_axis(
            t("warnings.axis_items"),
            float(frame[list(LEVEL_ORDER)].to_numpy().max()) if len(frame) else 0.0,
        ),
        xaxis={"title": {"text": t(f"warnings.axis_{freq}")}, "type": "category"},
    )
    return fig


def reason_words(
    row: Mapping[Any, Any], rules: WarningRules, domain: str, lang: str | None = None
) -> str:
    """The machine-readable ``reasons`` of a red-list row, in words (in
    ``lang``, default the current language: a table passes it once, not
    per row; 5,000 rows looked it up 11,000 times, 0.2 s a rerun)."""
    lang = lang or current_lang()

    def tr(key: str, **kwargs: Any) -> str:
        return translate(key, lang, **kwargs)

    words = []
    for code in str(row["reasons"]).split(","):
        if code == "overdue_days":
            days = int(row["overdue_days"])
            if days < 1:
                words.append(tr("warnings.reason.overdue_lt1"))
            elif days == 1:
                words.append(tr("warnings.reason.overdue_one"))
            else:
                words.append(tr("warnings.reason.overdue", days=days))
        elif code == "escalated":
            words.append(tr("warnings.reason.escalated"))
        elif code == "repeats":
            words.append(tr("warnings.reason.repeats", n=int(row["repeat_count"])))
        elif code == "never_verified":
            words.append(tr("warnings.reason.never_verified"))
        elif code == "verified_too_long_ago":
            words.append(tr("warnings.reason.stale", days=int(row["age_days"])))
        elif code == "given":
            words.append(tr("warnings.reason.given", domain=domain_label(rules, domain, lang)))
    return tr("warnings.reason.sep").join(words)


def red_table(
    frame: pd.DataFrame, rules: WarningRules, domain: str, street_name: dict[str, str]
) -> pd.DataFrame:
    """The red list for display and download: labelled columns, reason in words."""
    lang = current_lang()
    since = "since_petition" if domain == "petition" else "since_housing"
    if domain not in ("petition", "housing"):
        since = "since_warning"
    return pd.DataFrame(
        {
            t("warnings.col.level"): level_name("red"),
            t("warnings.col.id"): frame["id"],
            t("warnings.col.street"): [street_name.get(c, c) for c in frame["street_code"]],
            t("warnings.col.grid"): frame["grid_name"].fillna(frame["grid_code"]),
            t(f"warnings.col.{since}"): frame["since"].dt.strftime("%Y-%m-%d %H:%M").fillna("—"),
            t("warnings.col.age_days"): frame["age_days"],
            t("warnings.col.reason"): [
                reason_words(r, rules, domain, lang) for r in frame.to_dict("records")
            ],
        }
    )


#: Most red-list rows whose colour cells are filled: pandas' Styler takes
#: 0.08 s for 500 rows and 0.4 s for 5,000 on every rerun; a longer list
#: keeps the icon and word alone.
STYLED_ROWS = 2000


def red_view(table: pd.DataFrame) -> tuple[Any, dict[str, Any]]:
    """The :func:`red_table` as drawn: its colour cells filled with their
    colour (icon and word stay; up to :data:`STYLED_ROWS` rows), the age a
    count, every header its own."""
    level = t("warnings.col.level")
    styled: Any = table
    if len(table) <= STYLED_ROWS:
        styled = tables.level_cells(table, level, {level_name(k): k for k in LEVEL_ORDER})
    config: dict[str, Any] = {c: tables.text(c) for c in table.columns}
    config[level] = tables.text(level, width="small")
    config[t("warnings.col.age_days")] = tables.count(t("warnings.col.age_days"))
    return styled, config
