"""The tiles around the stage: the header (title, clock, "data as of"),
the headline figures on the left, the street rankings on the right and the
alert strip at the bottom."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from metrics import overview, screen, throughput
from ui.data import local_now, site_config
from ui.i18n import current_lang, t
from ui.screen.blocks import (
    _bar_rows,
    _e,
    _hhmm,
    _pct,
    area_label,
    dated_when,
    domain_name,
    fig_html,
    goal_colour,
    screen_area,
    street_goals,
)
from ui.screen.loading import red_counts, screen_load
from ui.screen.runner import live, run_tile
from ui.screen.theme import RANKED_ROWS
from ui.shell import PageContext, stale_as_of, stalest, when_text

#: Alerts the strip shows (the rest counted): each keeps two lines of text.
ALERTS_SHOWN = 4
RANKED_SHOWN = RANKED_ROWS


#: Stale feeds named in the header's mark (the rest counted): the mark
#: sits above "data as of", beside the clock, in the header's one row.
STALE_NAMED = 2
#: The marks of data older than its feed's ``[freshness]`` interval: amber,
#: bold, on a dark amber ground, readable from the back of the room.
FEED_STALE_CSS = """
<style>
.scr-feed-col { display: inline-flex; flex-direction: column; align-items: flex-end;
  align-self: center; gap: .3vh; line-height: 1.15; }
.scr-feed-stale { font-size: 2.5vh; font-weight: 700; color: #FFD54F; background: #4A3300;
  border: .15vh solid #FFB300; border-radius: .4vh; padding: 0 .5vw; }
.scr-feed-stale-fig .scr-value { color: #FFD54F; }
.scr-feed-stale-fig .scr-sub { color: #FFD54F; font-weight: 700; font-size: 2.1vh; }
</style>
"""


def header(ctx: PageContext) -> None:
    st.html(FEED_STALE_CSS)
    left, right = st.columns([1, 1.6], vertical_alignment="center")
    with left:
        st.title(t("screen.title", area=area_label(ctx, screen_area(ctx))))
    with right:
        live(_header_tile, site_config().screen.refresh_s)(ctx)


def _header_tile(ctx: PageContext) -> None:
    now = local_now(ctx.cfg)
    # The wall's own area: the feeds of what it shows (a district whose
    # crowd readings stopped is stale there even while others' run).
    area = screen_area(ctx)

    def fetch() -> pd.DataFrame:
        return screen_load(overview.feed_status, now, ctx.cfg, area=area)

    def draw(status: pd.DataFrame) -> None:
        latest = status.loc[status["feed"].isin(["incident", "crowd_reading"]), "latest"].max()
        as_of = (
            t("app.no_data_yet")
            if pd.isna(latest)
            else pd.Timestamp(latest).strftime("%m-%d %H:%M")
        )
        as_of_html = f'<span data-key="as_of">{_e(t("app.data_as_of", ts=as_of))}</span>'
        stale = stale_feeds_html(status, now)
        if stale:  # the stale feeds above "data as of"
            as_of_html = f'<span class="scr-feed-col">{stale}{as_of_html}</span>'
        st.html(
            f'<div class="scr-top">{as_of_html}'
            f'<span class="scr-clock" data-key="clock">{now:%Y-%m-%d %H:%M}</span></div>'
        )

    run_tile("header", fetch, draw)


def stale_feeds_html(status: pd.DataFrame, now: datetime) -> str:
    """The header's mark of the feeds older than their interval, the
    stalest first, each with its newest time ("人流 08:15 · 案件 09:40 数据未更新");
    empty while every feed is current."""
    stale = stalest(status)
    if stale.empty:
        return ""
    named = [
        t("feed.wall_feed", feed=t(f"feed.{row.feed}"), ts=when_text(row.latest, now))
        for row in stale.head(STALE_NAMED).itertuples()
    ]
    if len(stale) > STALE_NAMED:
        named.append(t("feed.wall_more", n=len(stale) - STALE_NAMED))
    feeds = " ".join(stale["feed"])
    return (
        f'<span class="scr-feed-stale" data-feed-stale="{_e(feeds)}">'
        f"⚠ {_e(t('feed.wall_stale', feeds=' · '.join(named)))}</span>"
    )


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
            # "Now" only while the reading is: an older one says its real time.
            stale = stale_as_of("crowd_reading", top["ts"], now, ctx.cfg)
            fig = fig_html(
                "crowd",
                t("screen.crowd"),
                f"{int(top['people']):,}",
                f"{ctx.street_name(top['street_code'])} · {stale or _hhmm(top['ts'])}",
            )
            if stale:
                fig = f'<div class="scr-feed-stale-fig" data-feed-stale="crowd_reading">{fig}</div>'
            parts.append(fig)
        st.html(f'<div class="scr-panel">{"".join(parts)}</div>')

    run_tile("headline", fetch, draw)


def ranking_tile(ctx: PageContext) -> None:
    """The right panel: the best and the worst streets by on-site on-time
    share over the site's window (streets with too few judged cases left
    out), each bar coloured against its street's on-time goal (the tick)."""
    now = local_now(ctx.cfg)
    f = screen_area(ctx, days=ctx.cfg.default_window_days)

    def fetch() -> pd.DataFrame:
        return screen_load(screen.street_ranking, f, now, ctx.cfg)

    def draw(ranked: pd.DataFrame) -> None:
        ranked = ranked.loc[ranked["judged"] >= ctx.cfg.ranking_min_judged]
        n = min(RANKED_SHOWN, len(ranked) // 2) if len(ranked) > 1 else len(ranked)
        best = ranked.head(n)
        worst = ranked.iloc[len(ranked) - n :].iloc[::-1] if len(ranked) > 1 else ranked.iloc[0:0]

        def rows(frame: pd.DataFrame) -> str:
            codes, shares = list(frame["street_code"]), list(frame["on_time_share"])
            goals = street_goals(ctx, codes)
            return _bar_rows(
                [
                    (ctx.street_name(c), s, goal_colour(s, g))
                    for c, s, g in zip(codes, shares, goals, strict=True)
                ],
                goals,
                [t("screen.judged_n", n=f"{int(j):,}") for j in frame["judged"]],
            )

        days = ctx.cfg.default_window_days
        if ctx.cfg.judges(screen.ON_SITE):
            note = t("screen.rank_note", n=ctx.cfg.ranking_min_judged)
        else:
            note = t("screen.not_judged")
        st.html(
            f'<div class="scr-panel scr-rank" data-key="ranking">'
            f'<div class="scr-h">{_e(t("screen.rank_top", days=days))}</div>{rows(best)}'
            f'<div class="scr-h" style="margin-top:1.5vh">{_e(t("screen.rank_bottom", days=days))}'
            f"</div>{rows(worst)}"
            f'<div class="scr-sub" style="margin-top:1vh">{_e(note)}</div></div>'
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
            shown = frame.head(ALERTS_SHOWN).to_dict("records")
            body = "".join(alert_html(ctx, a, now) for a in shown)
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


def alert_html(ctx: PageContext, a: Mapping[Any, Any], now: datetime) -> str:
    """One alert: when (with its date and age when before today), the
    street, what happened."""
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
    when, old = dated_when(a["at"], now)
    return (
        f'<div class="scr-alert"><span class="when{" old" if old else ""}">{_e(when)}</span> '
        f"<b>{_e(street)}</b><br>{_e(text)}</div>"
    )
