"""Axes every bar chart shares: counts and shares from 0, whole-number
ticks for counts, a title on every axis (no Streamlit, no data)."""

from __future__ import annotations

from typing import Any

#: How a bar chart marks a value axis that does not start at 0 (say, a
#: ranking zoomed on 80-100 %): ``layout.meta["axis_break"]`` lists the
#: axis (``"xaxis"``) and a visible annotation of this name draws the break
#: where the axis starts. Without both, a bar axis
#: must run from 0 (tests/test_browser_pages_quality.py reads every drawn
#: figure). No chart of the app truncates today.
AXIS_BREAK = "axis-break"


def count_axis(title: str, top: float, **extra: Any) -> dict[str, Any]:
    """A count axis from 0 with whole-number ticks: 1 apart up to 10 (plotly
    put ticks at 0.5 cases), thousands separated above."""
    axis: dict[str, Any] = {"title": {"text": title}, "rangemode": "tozero", "tickformat": ",d"}
    if top <= 10:
        axis["dtick"] = 1
    return {**axis, **extra}


def share_axis(title: str, **extra: Any) -> dict[str, Any]:
    """A 0-100 % axis."""
    return {"title": {"text": title}, "tickformat": ".0%", "range": [0, 1], **extra}


def category_axis(title: str, **extra: Any) -> dict[str, Any]:
    """The names axis of horizontal bars (its labels need room: automargin)."""
    return {"title": {"text": title}, "automargin": True, "type": "category", **extra}
