"""The weekly review's written summary: every sentence from figures of the
tables of :func:`metrics.weekly.review_tables`, each number naming the cell
it comes from (:class:`Figure`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from data_access.schema import MILESTONES
from metrics.weekly_compare import HEADLINE_MILESTONE
from metrics.weekly_model import records


@dataclass(frozen=True)
class Figure:
    """One number of a sentence: ``table``/``row`` (a dict of column ->
    value selecting exactly one row)/``column``, and its ``fmt``
    (``int``, ``signed``, ``pct``, ``pp``, ``z``) as printed."""

    name: str
    table: str
    row: tuple[tuple[str, Any], ...]
    column: str
    fmt: str


@dataclass(frozen=True)
class Sentence:
    key: str  # the catalogue key of the template (weekly.summary.<key>)
    text: str
    figures: tuple[Figure, ...]


def format_figure(value: Any, fmt: str) -> str:
    """How a figure is printed in the summary, the page and the PDF: counts
    with thousands separators in both languages (12,528; +1,204: Chinese
    groups by three with the same comma), shares to 0.1 %."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    v = float(value)
    if fmt == "int":
        return f"{round(v):,d}"
    if fmt == "signed":
        return f"{round(v):+,d}"
    if fmt == "pct":
        return f"{v:.1%}"
    if fmt == "pp":
        return f"{v * 100:+.1f}"
    if fmt == "z":
        return f"{v:+.1f}"
    raise ValueError(f"unknown format {fmt!r}")


def figure_value(tables: dict[str, pd.DataFrame], fig: Figure) -> Any:
    """The cell a figure refers to (exactly one row must match)."""
    frame = tables[fig.table]
    if fig.column == ROWS:
        return len(frame)
    mask = pd.Series(True, index=frame.index)
    for col, value in fig.row:
        mask &= frame[col] == value
    hit = frame.loc[mask, fig.column]
    if len(hit) != 1:
        raise KeyError(f"{fig}: {len(hit)} rows match")
    return hit.iloc[0]


#: ``Figure.column`` meaning "the number of rows of the table".
ROWS = "#rows"

Translate = Callable[..., str]


def summary(
    tables: dict[str, pd.DataFrame],
    tr: Translate,
    names: dict[str, str],
) -> list[Sentence]:
    """The written summary: what went up, what went down, which streets need
    attention. ``tr(key, **figures)`` renders a catalogue template
    (``weekly.summary.*``); ``names`` maps street / category / source /
    milestone / domain codes to display names. Each sentence lists the
    :class:`Figure` cells its numbers come from (the test checks every
    number printed is one of them)."""
    out: list[Sentence] = []
    cmp_ = tables["comparison"]

    def say(key: str, figs: list[Figure], **extra: str) -> None:
        values = {f.name: format_figure(figure_value(tables, f), f.fmt) for f in figs}
        out.append(Sentence(key, tr(f"weekly.summary.{key}", **values, **extra), tuple(figs)))

    def cmp_fig(name: str, metric: str, code: str, column: str, fmt: str) -> Figure:
        return Figure(name, "comparison", (("metric", metric), ("code", code)), column, fmt)

    total = cmp_[(cmp_["metric"] == "cases") & (cmp_["code"] == "")]
    if total.empty or pd.isna(total["this_week"].iloc[0]):
        say("no_data", [])
        return out
    figs = [
        cmp_fig("this", "cases", "", "this_week", "int"),
        cmp_fig("last", "cases", "", "last_week", "int"),
        cmp_fig("change", "cases", "", "change", "signed"),
        cmp_fig("z", "cases", "", "z", "z"),
    ]
    sig = bool(total["significant"].iloc[0])
    say("cases_sig" if sig else "cases_flat", figs)

    mix = cmp_[cmp_["metric"].isin(["category", "source"]) & cmp_["significant"]]
    for direction, frame in (
        ("up", mix[mix["change"] > 0].sort_values("z", ascending=False)),
        ("down", mix[mix["change"] < 0].sort_values("z")),
    ):
        for rec in records(frame.head(3)):
            say(
                f"mix_{direction}",
                [
                    cmp_fig("last", rec.metric, rec.code, "last_week", "int"),
                    cmp_fig("this", rec.metric, rec.code, "this_week", "int"),
                    cmp_fig("z", rec.metric, rec.code, "z", "z"),
                ],
                name=names.get(rec.code, rec.code),
            )
    if mix.empty:
        say("mix_flat", [])

    for m in MILESTONES:
        hit = cmp_[(cmp_["metric"] == "ontime_share") & (cmp_["code"] == m)]
        if m != HEADLINE_MILESTONE or hit.empty or pd.isna(hit["this_week"].iloc[0]):
            continue
        figs = [cmp_fig("this", "ontime_share", m, "this_week", "pct")]
        if pd.notna(hit["last_week"].iloc[0]):
            figs += [
                cmp_fig("last", "ontime_share", m, "last_week", "pct"),
                cmp_fig("pp", "ontime_share", m, "change", "pp"),
            ]
            say("ontime", figs, milestone=names.get(m, m))
        else:
            say("ontime_only", figs, milestone=names.get(m, m))

    say(
        "closure",
        [
            cmp_fig("rate", "closure_rate", "", "this_week", "pct"),
            cmp_fig("backlog", "backlog_at_end", "", "this_week", "int"),
            cmp_fig("backlog_last", "backlog_at_end", "", "last_week", "int"),
        ],
    )

    reds = cmp_[(cmp_["section"] == "warnings") & (cmp_["metric"] == "red")]
    for rec in records(reds):
        if pd.isna(rec.this_week) or rec.this_week == 0:
            continue
        say(
            "red",
            [
                cmp_fig("this", "red", rec.code, "this_week", "int"),
                cmp_fig("last", "red", rec.code, "last_week", "int"),
            ],
            domain=names.get(rec.code, rec.code),
        )

    streets = tables["streets"]
    for mover in ("slipped", "improved"):
        for rec in records(streets[streets["mover"] == mover]):
            row = (("street_code", rec.street_code),)
            say(
                mover,
                [
                    Figure("last", "streets", row, "ontime_share_last_week", "pct"),
                    Figure("this", "streets", row, "ontime_share", "pct"),
                    Figure("judged", "streets", row, "judged", "int"),
                ],
                street=names.get(rec.street_code, rec.street_code),
            )
    red_streets = streets[streets["red_at_end"] > 0].nlargest(3, "red_at_end")
    for rec in records(red_streets):
        say(
            "red_street",
            [Figure("red", "streets", (("street_code", rec.street_code),), "red_at_end", "int")],
            street=names.get(rec.street_code, rec.street_code),
        )
    hot = tables["hotspots_new"]
    if len(hot):
        counts = hot.groupby("street_code").size().sort_values(ascending=False)
        top = ", ".join(names.get(c, c) for c in counts.index[:3])
        say("hotspots", [Figure("count", "hotspots_new", (), ROWS, "int")], streets=top)
    return out


__all__ = [
    "summary",
]
