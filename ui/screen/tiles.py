"""The tiles around the stage: the header (title, clock, "data as of"),
the headline figures on the left, the street rankings on the right and the
alert strip at the bottom."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

from metrics import overview, screen, throughput
from ui.data import local_now, site_config
from ui.i18n import current_lang, t
from ui.palette import LEVELS
from ui.screen.blocks import (
    _bar_rows,
    _e,
    _hhmm,
    _pct,
    area_label,
    domain_name,
    fig_html,
    screen_area,
)
from ui.screen.loading import red_counts, screen_load
from ui.screen.runner import live, run_tile
from ui.shell import PageContext

ALERTS_SHOWN = 6
RANKED_SHOWN = 5


def header(ctx: PageContext) -> None:
    left, right = st.columns([1, 1.6], vertical_alignment="center")
    with left:
        st.title(t("screen.title", area=area_label(ctx, screen_area(ctx))))
    with right:
        live(_header_tile, site_config().screen.refresh_s)(ctx)


def _header_tile(ctx: PageContext) -> None:
    now = local_now(ctx.cfg)

    def fetch() -> pd.DataFrame:
        return screen_load(overview.data_freshness, now)

    def draw(fresh: pd.DataFrame) -> None:
        latest = fresh.loc[fresh["table"].isin(["incident", "crowd_reading"]), "latest"].max()
        as_of = (
            t("app.no_data_yet")
            if pd.isna(latest)
            else pd.Timestamp(latest).strftime("%m-%d %H:%M")
        )
        st.html(
            f'<div class="scr-top"><span data-key="as_of">{_e(t("app.data_as_of", ts=as_of))}'
            f'</span><span class="scr-clock" data-key="clock">{now:%Y-%m-%d %H:%M}</span></div>'
        )

    run_tile("header", fetch, draw)


def headline_tile(ctx: PageContext) -> None:
    now = local_now(ctx.cfg)
    f = screen_area(ctx)

    def fetch() -> dict[str, pd.DataFrame]:
        return {
            "counts": screen_load(overview.case_counts, f, now),
            "ontime": screen_load(throughput.ontime_by_milestone, f, now, ctx.cfg),
            "reds": red_counts(f, now),
            "crowd": screen_load(overview.largest_crowd, f, now),
        }

    def draw(d: dict[str, pd.DataFrame]) -> None:
        counts = d["counts"].iloc[0]
        arrived = d["ontime"].loc[d["ontime"]["milestone"] == screen.ON_SITE]
        share = float(arrived["on_time_share"].iloc[0]) if len(arrived) else math.nan
        judged = int(arrived["judged"].iloc[0]) if len(arrived) else 0
        targets = {
            ctx.cfg.targets_for(c, dc).get(screen.ON_SITE)
            for c, dc in zip(ctx.streets["code"], ctx.streets["district_code"], strict=True)
            if (not f.district or dc == f.district) and (not f.streets or c in f.streets)
        } - {None}
        if not targets:  # the site judges other milestones only (e.g. closure)
            target = t("screen.not_judged")
        elif len(targets) == 1:
            target = t("screen.target_one", minutes=f"{next(iter(targets)):g}")
        else:
            target = t("screen.target_many")
        reds = int(d["reds"]["red"].sum())
        crowd = d["crowd"]
        parts = [
            fig_html("today", t("screen.today"), f"{int(counts['today']):,}"),
            fig_html("open", t("screen.open"), f"{int(counts['open_backlog']):,}"),
            fig_html(
                "ontime",
                t("screen.ontime"),
                _pct(share),
                t("screen.ontime_sub", target=target, judged=judged),
            ),
            fig_html("red", t("screen.red"), f"{reds:,}", t("screen.red_sub"), red=reds > 0),
        ]
        if crowd.empty:
            parts.append(fig_html("crowd", t("screen.crowd"), "—"))
        else:
            top = crowd.iloc[0]
            parts.append(
                fig_html(
                    "crowd",
                    t("screen.crowd"),
                    f"{int(top['people']):,}",
                    f"{ctx.street_name(top['street_code'])} · {_hhmm(top['ts'])}",
                )
            )
        st.html(f'<div class="scr-panel">{"".join(parts)}</div>')

    run_tile("headline", fetch, draw)


def ranking_tile(ctx: PageContext) -> None:
    now = local_now(ctx.cfg)
    f = screen_area(ctx, days=ctx.cfg.default_window_days)

    def fetch() -> pd.DataFrame:
        return screen_load(screen.street_ranking, f, now, ctx.cfg)

    def draw(ranked: pd.DataFrame) -> None:
        n = min(RANKED_SHOWN, len(ranked) // 2) if len(ranked) > 1 else len(ranked)
        best = ranked.head(n)
        worst = ranked.iloc[len(ranked) - n :].iloc[::-1] if len(ranked) > 1 else ranked.iloc[0:0]
        green, red = LEVELS["green"].hex, LEVELS["red"].hex

        def rows(frame: pd.DataFrame, colour: str) -> str:
            return _bar_rows(
                [
                    (ctx.street_name(c), s, colour)
                    for c, s in zip(frame["street_code"], frame["on_time_share"], strict=True)
                ]
            )

        days = ctx.cfg.default_window_days
        note = t("screen.rank_note") if ctx.cfg.judges(screen.ON_SITE) else t("screen.not_judged")
        st.html(
            f'<div class="scr-panel" data-key="ranking">'
            f'<div class="scr-h">{_e(t("screen.rank_top", days=days))}</div>{rows(best, green)}'
            f'<div class="scr-h" style="margin-top:2vh">{_e(t("screen.rank_bottom", days=days))}'
            f"</div>{rows(worst, red)}"
            f'<div class="scr-sub" style="margin-top:1.2vh">{_e(note)}</div></div>'
        )

    run_tile("ranking", fetch, draw)


def alert_tile(ctx: PageContext) -> None:
    now = local_now(ctx.cfg)
    f = screen_area(ctx)
    sc = ctx.cfg.screen

    def fetch() -> pd.DataFrame:
        return screen_load(
            screen.alerts, f, now, ctx.cfg, sc.case_alert_hours, sc.warning_alert_hours
        )

    def draw(frame: pd.DataFrame) -> None:
        if frame.empty:
            body = f'<div class="scr-alert scr-ok"><b>{_e(t("screen.no_alerts"))}</b></div>'
        else:
            body = "".join(alert_html(ctx, a) for a in frame.head(ALERTS_SHOWN).to_dict("records"))
            if len(frame) > ALERTS_SHOWN:
                more = t("screen.more_alerts", n=len(frame) - ALERTS_SHOWN)
                body += f'<div class="scr-alert" style="flex:0 0 8vw"><b>{_e(more)}</b></div>'
        if not ctx.cfg.judges(screen.ON_SITE):  # the strip's case check has nothing to judge
            body += (
                f'<div class="scr-alert scr-note" data-key="alerts-not-judged">'
                f"{_e(t('screen.alerts_not_judged'))}</div>"
            )
        st.html(f'<div class="scr-alerts" data-key="alerts" data-n="{len(frame)}">{body}</div>')

    run_tile("alerts", fetch, draw)


def alert_html(ctx: PageContext, a: Mapping[Any, Any]) -> str:
    lang = current_lang()
    street = ctx.street_name(str(a["street_code"]))
    if a["kind"] == "venue":
        name = a["subject_en"] if lang == "en" else a["subject"]
        text = t(
            "screen.alert_venue",
            venue=name,
            people=f"{int(a['people']):,}",
            capacity=f"{int(a['capacity']):,}",
            load=_pct(a["load"]),
        )
    elif a["kind"] == "warning":
        text = t("screen.alert_warning", domain=domain_name(str(a["subject"])))
    else:
        text = t(
            "screen.alert_case",
            category=ctx.cfg.display_name("category", a["subject"], lang),
            target=f"{a['target_min']:g}",
            ref=a["ref"],
        )
    return (
        f'<div class="scr-alert"><span class="when">{_hhmm(a["at"])}</span> '
        f"<b>{_e(street)}</b><br>{_e(text)}</div>"
    )
