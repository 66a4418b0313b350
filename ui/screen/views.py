"""The stage's two views that are not maps: the stages table (throughput)
and the red warnings.

Neither repeats the right panel (best and worst streets on site): the
stages view shows every judged stage of every street (or district, or day
of one street) against its target, with the change since the window
before; the warnings view lists as many of the active red items as fit its
panel, with how many more there are. Both size their rows from the
panel's height (:func:`ui.screen.theme.stage_panel_vh`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pandas as pd
import streamlit as st

from data_access.filters import AreaFilter
from data_access.schema import MILESTONES
from metrics import screen, throughput, warnings
from metrics.warning_rules import WarningRules, WarningRulesError, load_warning_rules
from metrics.weekly_compare import proportion_z, significant
from ui.data import local_now
from ui.i18n import current_lang, t
from ui.screen.blocks import _e, _pct, dated_when, domain_name
from ui.screen.loading import red_counts, screen_load
from ui.screen.runner import run_tile
from ui.screen.theme import stage_notices, stage_panel_vh
from ui.shell import PageContext
from ui.warning_charts import reason_words

#: Vertical budget of the stages table (vh): the panel's padding, its title
#: and the notes under the table; the table's rows (its header, one per
#: street or day, the total), between ``ROW_MIN_VH`` and ``ROW_MAX_VH``
#: high, share the rest.
TABLE_CHROME_VH = 14.5
ROW_MIN_VH, ROW_MAX_VH = 2.8, 4.6
#: The warnings view: the figures' row and the list's title, and a row.
WARN_CHROME_VH = 25.0
WARN_ROW_VH = 3.9


# ---------------------------------------------------------------------------
# Stages (the throughput view)


@dataclass(frozen=True)
class _Cell:
    on_time: int
    judged: int
    prev_on_time: int = 0
    prev_judged: int = 0


def _minutes(value: float) -> str:
    if value >= 60 and value % 60 == 0:
        return t("screen.target_hours", hours=f"{value / 60:g}")
    return t("milestone.target_minutes", minutes=float(value))


def stage_rows_fit(rows: int, notices: int) -> tuple[int, float]:
    """How many of ``rows`` (streets, districts or days) the stages table
    lists in the stage panel, and the height of each of its rows (vh; the
    header and the total row are as high)."""
    room = stage_panel_vh(notices) - TABLE_CHROME_VH
    fit = max(0, min(rows, int(room // ROW_MIN_VH) - 2))
    return fit, max(ROW_MIN_VH, min(ROW_MAX_VH, room / (fit + 2)))


def _sums(frame: pd.DataFrame, key: str) -> dict[tuple[str, str], tuple[int, int]]:
    """``(row key, milestone) -> (on_time, judged)`` of an ontime frame."""
    if frame.empty:
        return {}
    summed = frame.groupby([key, "milestone"], as_index=False)[["on_time", "judged"]].sum()
    return {
        (str(k), str(m)): (int(o), int(j))
        for k, m, o, j in zip(
            summed[key], summed["milestone"], summed["on_time"], summed["judged"], strict=True
        )
    }


def throughput_view(ctx: PageContext, f: AreaFilter, key: str, slot: Any = None) -> None:
    now = local_now(ctx.cfg)
    days = ctx.cfg.default_window_days
    judged_ms = [m for m in MILESTONES if ctx.cfg.judges(m)]
    one_street = len(f.streets) == 1
    before = replace(f, start=f.start - timedelta(days=days), end=f.start - timedelta(days=1))

    def fetch() -> dict[str, pd.DataFrame]:
        if one_street:  # one street: its days
            return {m: screen_load(throughput.ontime_trend, f, now, ctx.cfg, m) for m in judged_ms}
        return {
            "now": screen_load(throughput.ontime_by_milestone, f, now, ctx.cfg, by="street"),
            "before": screen_load(
                throughput.ontime_by_milestone, before, now, ctx.cfg, by="street"
            ),
        }

    def draw(d: dict[str, pd.DataFrame]) -> None:
        body = (
            _stages_table(ctx, f, d, judged_ms, one_street)
            if judged_ms
            else f'<div class="scr-sub">{_e(t("screen.no_stage_judged"))}</div>'
        )
        note = ""
        if not ctx.cfg.judges(screen.ON_SITE):
            note = f'<div class="scr-sub" data-key="not-judged">{_e(t("screen.not_judged"))}</div>'
        title = t("screen.stages_days" if one_street else "screen.stages_title", days=days)
        st.html(
            f'<div class="scr-panel" data-key="throughput">'
            f'<div class="scr-h">{_e(title)}</div>{body}{note}</div>'
        )

    run_tile(key, fetch, draw)


def _stages_table(
    ctx: PageContext,
    f: AreaFilter,
    d: dict[str, pd.DataFrame],
    milestones: list[str],
    one_street: bool,
) -> str:
    """Rows (streets, districts of the city, or days of one street) by
    judged stage: each cell the on-time share, red below the goal, with a
    ▲/▼ when it changed beyond chance since the window before."""
    district_of = dict(zip(ctx.streets["code"], ctx.streets["district_code"], strict=True))
    if one_street:
        code = f.streets[0]
        streets = [code]
        day_list = [
            (f.start + timedelta(days=i)).isoformat() for i in range((f.end - f.start).days + 1)
        ]
        now_sums = {
            (str(p), m): (int(o), int(j))
            for m, frame in d.items()
            for p, o, j in zip(frame["period"], frame["on_time"], frame["judged"], strict=True)
        }
        keys = day_list
        labels = {p: p[5:] for p in day_list}
        before: dict[tuple[str, str], tuple[int, int]] = {}
    else:
        by_district = not f.district and not f.streets
        frames = {}
        for part in ("now", "before"):
            frame = d[part].copy()
            frame["row"] = (
                frame["street_code"].map(district_of) if by_district else frame["street_code"]
            )
            frames[part] = frame
        now_sums, before = _sums(frames["now"], "row"), _sums(frames["before"], "row")
        if by_district:
            keys = sorted({k for k, _ in now_sums})
            labels = {k: ctx.district_name(k) for k in keys}
            streets = [c for c in ctx.streets["code"] if district_of.get(c) in set(keys)]
        else:
            keys = sorted({k for k, _ in now_sums})
            labels = {k: ctx.street_name(k) for k in keys}
            streets = keys
    targets: dict[str, set[float]] = {
        m: {
            v
            for c in streets
            if (v := ctx.cfg.targets_for(c, district_of.get(c, "")).get(m)) is not None
        }
        for m in milestones
    }
    unjudged = [m for m in milestones if not targets[m]]
    milestones = [m for m in milestones if targets[m]]
    if not milestones:
        notes = [t("screen.stage_no_target", stage=t(f"milestone.{m}")) for m in unjudged]
        return f'<div class="scr-sub">{_e(" · ".join(notes))}</div>'
    goals = {float(ctx.cfg.targets_for(c, district_of.get(c, "")).on_time_goal) for c in streets}
    goal = next(iter(goals)) if len(goals) == 1 else None
    fit, row_vh = stage_rows_fit(len(keys), stage_notices())
    shown = keys[:fit]
    font = row_vh * 0.56
    cols = f"minmax(0, max-content) repeat({len(milestones)}, minmax(0, 1fr))"
    head = [
        f'<div class="scr-th scr-first">'
        f"{_e(t('screen.col_day' if one_street else 'screen.col_area'))}</div>"
    ]
    for m in milestones:
        shared = targets[m]
        target = _minutes(next(iter(shared))) if len(shared) == 1 else t("screen.target_varies")
        head.append(
            f'<div class="scr-th scr-num">{_e(t(f"milestone.{m}"))}<br>'
            f"{_e(t('screen.within', target=target))}</div>"
        )

    def target_set(code: str) -> Any:
        return ctx.cfg.targets_for(code, district_of.get(code, ""))

    by_street = not one_street and set(keys) <= set(district_of)
    rows: list[tuple[str, str, list[_Cell | None], float | None]] = []
    for k in shown:
        own = target_set(k) if by_street else None
        row_cells: list[_Cell | None] = [
            None
            if own is not None and own.get(m) is None
            else _Cell(*now_sums.get((k, m), (0, 0)), *before.get((k, m), (0, 0)))
            for m in milestones
        ]
        rows.append((k, labels[k], row_cells, float(own.on_time_goal) if own else goal))
    totals: list[_Cell | None] = [
        _Cell(*_total(now_sums, m), *_total(before, m)) for m in milestones
    ]
    rows.append(("", t("screen.total"), totals, goal))
    cells = []
    small = False
    for k, name, row_cells, row_goal in rows:
        extra = "" if k else " scr-total"
        cells.append(
            f'<div class="scr-first{extra}" data-row="{_e(k)}" title="{_e(name)}">{_e(name)}</div>'
        )
        for m, cell in zip(milestones, row_cells, strict=True):
            if cell is None:  # this street sets no target for the stage
                text = f'<span class="scr-muted">{_e(t("screen.no_target"))}</span>'
            else:
                text, few = _cell_html(ctx, cell, row_goal)
                small = small or few
            cells.append(f'<div class="scr-num{extra}" data-m="{m}">{text}</div>')
    notes = [t("screen.stage_no_target", stage=t(f"milestone.{m}")) for m in unjudged]
    if goal is not None:
        notes.append(t("screen.stages_goal", goal=_pct(goal)))
    elif goals:
        notes.append(t("screen.stages_goals"))
    if not one_street:
        notes.append(t("screen.stages_change", days=ctx.cfg.default_window_days))
    if small:
        notes.append(t("screen.stages_few", n=ctx.cfg.ranking_min_judged))
    if len(keys) > fit:
        notes.append(t("screen.more_rows", n=len(keys) - fit))
    return (
        f'<div class="scr-grid" style="grid-template-columns:{cols};grid-auto-rows:{row_vh:.2f}vh;'
        f'font-size:{font:.2f}vh">{"".join(head + cells)}</div>'
        f'<div class="scr-sub" style="margin-top:.6vh">{_e(" · ".join(notes))}</div>'
    )


def _total(sums: dict[tuple[str, str], tuple[int, int]], m: str) -> tuple[int, int]:
    pairs = [v for (_, mm), v in sums.items() if mm == m]
    return sum(o for o, _ in pairs), sum(j for _, j in pairs)


def _cell_html(ctx: PageContext, c: _Cell, goal: float | None) -> tuple[str, bool]:
    """A stage cell: the share (muted when too few cases are judged, red
    below the goal), the ▲/▼ change in points when significant."""
    if not c.judged:
        return f'<span class="scr-muted">{_e(t("screen.none_judged"))}</span>', False
    share = c.on_time / c.judged
    few = c.judged < ctx.cfg.ranking_min_judged
    cls = "scr-muted" if few else ("scr-red" if goal is not None and share < goal else "")
    mark = ""
    if c.prev_judged:
        z = proportion_z(c.on_time, c.judged, c.prev_on_time, c.prev_judged)
        if significant(z):
            points = (share - c.prev_on_time / c.prev_judged) * 100
            arrow, tone = ("▲", "scr-green") if points > 0 else ("▼", "scr-red")
            mark = f'<small class="{tone}">{arrow}{abs(points):.0f}</small>'
    return f'<span class="{cls}">{_pct(share)}</span>{mark}', few


# ---------------------------------------------------------------------------
# Red warnings


def warn_rows_fit(notices: int) -> int:
    """How many rows of the red list fit the stage panel."""
    return max(1, int((stage_panel_vh(notices) - WARN_CHROME_VH) // WARN_ROW_VH))


def _rules() -> WarningRules | None:
    try:
        return load_warning_rules()
    except WarningRulesError:
        return None


def warnings_view(ctx: PageContext, f: AreaFilter, key: str, slot: Any = None) -> None:
    now = local_now(ctx.cfg)
    hours = ctx.cfg.screen.warning_alert_hours
    fit = warn_rows_fit(stage_notices())

    def fetch() -> dict[str, Any]:
        rules = _rules()
        lists = (
            {d: screen_load(warnings.red_list, f, now, rules, d, fit) for d in rules.domains}
            if rules is not None
            else {}
        )
        return {
            "reds": red_counts(f, now),
            "lists": lists,
            "rules": rules,
            "new": screen_load(screen.new_red_warnings, f, now, ctx.cfg, hours),
        }

    def draw(d: dict[str, Any]) -> None:
        reds = d["reds"]
        figs = "".join(
            f'<div class="scr-fig" data-key="red_{_e(dom)}"><div class="scr-label">'
            f"{_e(domain_name(str(dom)))}</div>"
            f'<div class="scr-value{" scr-red" if int(n) else ""}">{int(n):,}</div></div>'
            for dom, n in zip(reds["domain"], reds["red"], strict=True)
        ) or (
            f'<div class="scr-fig" data-key="red_none"><div class="scr-label">'
            f'{_e(t("screen.red"))}</div><div class="scr-value">0</div></div>'
        )
        items = _red_items(ctx, d, now, hours)[:fit]
        total = int(reds["red"].sum())
        rows = "".join(items)
        more = total - len(items)
        if not items:
            rows = f'<div class="scr-sub">{_e(t("screen.no_red"))}</div>'
        tail = (
            f'<div class="scr-more" data-key="more-red">{_e(t("screen.more_red", n=f"{more:,}"))}</div>'
            if more > 0
            else ""
        )
        st.html(
            f'<div class="scr-panel" data-key="warnings">'
            f'<div class="scr-h">{_e(t("screen.red_by_domain"))}</div>'
            f'<div class="scr-big-row">{figs}</div>'
            f'<div class="scr-h">{_e(t("screen.red_list"))}</div>'
            f'<div class="scr-redlist" data-n="{len(items)}" style="grid-auto-rows:{WARN_ROW_VH}vh">'
            f"{rows}</div>{tail}</div>"
        )

    run_tile(key, fetch, draw)


def _red_items(ctx: PageContext, d: dict[str, Any], now: Any, hours: float) -> list[str]:
    """The red list's rows, taking each domain's most urgent in turn (its
    own order: most overdue, then the oldest)."""
    lang = current_lang()
    rules: WarningRules | None = d["rules"]
    per_domain: list[list[str]] = []
    if rules is not None:
        for dom, frame in d["lists"].items():
            rows = []
            for r in frame.to_dict("records"):
                if dom in ("petition", "housing"):
                    why = reason_words(r, rules, dom, lang)
                else:
                    why = t("screen.raised", when=dated_when(r["since"], now, False)[0])
                rows.append(_red_row(ctx, dom, str(r["street_code"]), why, str(r["id"])))
            per_domain.append(rows)
    else:  # no rules file: the other systems' new reds
        for dom, frame in d["new"].groupby("domain", sort=False):
            per_domain.append(
                [
                    _red_row(
                        ctx,
                        str(dom),
                        str(w.street_code),
                        t("screen.raised", when=dated_when(w.raised_at, now, False)[0]),
                        str(w.id),
                    )
                    for w in frame.itertuples()
                ]
            )
    out = []
    for i in range(max((len(rows) for rows in per_domain), default=0)):
        out += [rows[i] for rows in per_domain if i < len(rows)]
    return out


def _red_row(ctx: PageContext, domain: str, street: str, why: str, ref: str) -> str:
    return (
        f'<div class="scr-item"><span class="scr-dom">{_e(domain_name(domain))}</span>'
        f"<b>{_e(ctx.street_name(street))}</b><span>{_e(why)}</span>"
        f'<span class="scr-ref">{_e(ref)}</span></div>'
    )
