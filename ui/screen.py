"""The command-room big screen (指挥大屏): a 16:9 wall that runs unattended.

Layout: header (title, clock, "data as of"), headline figures on the left,
the playlist's current view in the centre (crowd map, incident map,
throughput ranking, warnings), street rankings on the right, the alert
strip at the bottom. Sizes are in ``vh``/``vw`` so the same page fills
1920x1080 and 3840x2160.

Every tile is an ``st.fragment`` that reruns on its own timer
(``screen.refresh_s``) and reads through :func:`screen_load`, a cache whose
TTL equals that interval, so a wall of screens reads the database once per
interval. A tile keeps its last good data in ``st.session_state``: when a
query fails it shows that data with how stale it is, retries with
exponential backoff (``refresh_s``, doubled per failure, at most
``screen.max_backoff_s``), and recovers by itself. No error text reaches the
screen; failures are logged on the server.

The pure parts (URL parsing, rotation, backoff, staleness) take plain values
and are tested without Streamlit.
"""

from __future__ import annotations

import copy
import html
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from data_access.config import SCREEN_PAGES, ScreenConfig, ScreenView
from data_access.filters import AreaFilter
from metrics import heatmap, overview, screen, throughput, warnings
from metrics.warning_rules import WarningRulesError, load_warning_rules
from ui import maps
from ui.data import (
    cache_key_url,
    local_now,
    run_query,
    scoped_arguments,
    session_scope,
    site_config,
)
from ui.filters import scoped_area
from ui.i18n import current_lang, t
from ui.palette import LEVELS, MUTED
from ui.shell import PageContext

_log = logging.getLogger(__name__)
#: Wall clock (seconds) for staleness, backoff and rotation; tests replace it.
clock: Callable[[], float] = time.time
TILE_STATE = "_screen_tiles"
#: Most seconds the playlist's view may overrun its slot before it rotates.
STAGE_TICK_S = 10
ALERTS_SHOWN = 6
RANKED_SHOWN = 5
#: The stage's map slot (a keyed container), whether a view drew its deck
#: this run, and the last deck drawn (kept mounted, hidden, between maps).
MAP_SLOT = "scr-map"
DECK_DRAWN = "_screen_deck_drawn"
LAST_DECK = "_screen_last_deck"
#: Collapses the map slot to nothing; the canvas inside keeps its size, so
#: hiding and showing it does not resize (or re-create) the deck.
#: The slot sits in a layout wrapper that sizes to its content, so the
#: wrapper is collapsed too (else the hidden deck still takes its 66 vh and
#: pushes a non-map view off the screen).
HIDE_MAP_SLOT_CSS = (
    ".st-key-scr-map, [data-testid='stLayoutWrapper']:has(> .st-key-scr-map) {"
    " height:0 !important; min-height:0 !important; flex:0 0 0px !important;"
    " overflow:hidden !important; visibility:hidden !important; }"
)

# ---------------------------------------------------------------------------
# Pure logic (no Streamlit): URL parameters, rotation, backoff, staleness


def views_from_params(
    params: Mapping[str, str], cfg: ScreenConfig
) -> tuple[tuple[ScreenView, ...], list[tuple[str, str]]]:
    """The views a screen shows, from its URL, and the rejected parameters.

    ``?playlist=NAME`` (default ``default``) picks a configured playlist;
    ``?view=crowd-map`` (or a comma list) shows those views instead (an
    unknown name in the list is reported and left out);
    ``?rotate=N`` sets every view's seconds; ``?cycle=streets`` shows every
    view once per street (see :func:`expand_views`). Bad values fall back
    and are returned as ``(name, value)`` notices.
    """
    notices: list[tuple[str, str]] = []
    default = cfg.playlist("default") or ()
    views: tuple[ScreenView, ...] = default
    wanted = (params.get("view") or "").strip()
    name = (params.get("playlist") or "").strip()
    if wanted:
        pages = [p.strip() for p in wanted.split(",") if p.strip()]
        known = [p for p in pages if p in SCREEN_PAGES]
        if known:  # a typo in one view leaves the wall on the others
            views = tuple(ScreenView(p) for p in known)
        unknown = [p for p in pages if p not in SCREEN_PAGES]
        if unknown or not pages:
            notices.append(("view", ",".join(unknown) or wanted))
    elif name:
        chosen = cfg.playlist(name)
        if chosen:
            views = chosen
        else:
            notices.append(("playlist", name))
    rotate = (params.get("rotate") or "").strip()
    if rotate:
        if rotate.isdigit() and 5 <= int(rotate) <= 86400:
            views = tuple(replace(v, seconds=int(rotate)) for v in views)
        else:
            notices.append(("rotate", rotate))
    cycle = (params.get("cycle") or "").strip()
    if cycle == "streets":
        views = tuple(replace(v, each_street=True) for v in views)
    elif cycle:
        notices.append(("cycle", cycle))
    return views, notices


def expand_views(
    views: Sequence[ScreenView], streets: pd.DataFrame, wall_district: str | None
) -> tuple[ScreenView, ...]:
    """Each ``each_street`` view replaced by one view per street (code order)
    of its district, else of the wall's district, else of the whole city;
    ``streets`` has ``code`` and ``district_code``. A district without
    streets keeps the view as it is."""
    out: list[ScreenView] = []
    for v in views:
        if not v.each_street:
            out.append(v)
            continue
        district = v.district or wall_district
        codes = list(v.streets) or sorted(
            streets.loc[streets["district_code"] == district if district else slice(None), "code"]
        )
        if not codes:
            out.append(replace(v, each_street=False))
            continue
        out += [
            ScreenView(v.page, district=code[:6], streets=(code,), seconds=v.seconds)
            for code in codes
        ]
    return tuple(out)


def views_in_scope(
    views: Sequence[ScreenView], streets: pd.DataFrame, scope: tuple[str, ...] | None
) -> tuple[ScreenView, ...]:
    """The views whose own area has a street in ``scope`` (a user's street
    codes, ``None`` = all; a view without an area of its own shows the
    wall's, which is within it): a wall scoped to one district does not
    rotate through the others' empty figures under their names. When none
    is left, the views on the wall's own area."""
    if scope is None:
        return tuple(views)
    allowed = set(scope)

    def inside(v: ScreenView) -> bool:
        if v.streets:
            return bool(allowed & set(v.streets))
        if v.district:
            return bool(allowed & set(streets.loc[streets["district_code"] == v.district, "code"]))
        return True

    kept = tuple(v for v in views if inside(v))
    return kept or tuple(replace(v, district="", streets=(), each_street=False) for v in views[:1])


#: ``?scale=`` values: how much larger than 1920x1080 the wall is (2 = 4K).
WALL_SCALES = {"1": 1.0, "1.5": 1.5, "2": 2.0}
#: Session key of the wall's scale (set by the page from its URL).
WALL_SCALE = "_screen_wall_scale"
#: Height of the stage's map at 1080 lines, pixels.
MAP_HEIGHT_PX = 680


def wall_scale(params: Mapping[str, str]) -> tuple[float, list[tuple[str, str]]]:
    """The wall's ``?scale=`` (1, 1.5 or 2; default 1) and the rejected value.

    Text and panels are sized in vh/vw and scale by themselves; the map is
    drawn in pixels, so a 4K wall (``scale=2``) gets a map twice as high and
    one zoom level closer, showing the same area at the same share of the
    screen."""
    raw = (params.get("scale") or "").strip()
    if not raw:
        return 1.0, []
    if raw in WALL_SCALES:
        return WALL_SCALES[raw], []
    return 1.0, [("scale", raw)]


def map_geometry(zoom: float, scale: float) -> tuple[float, int]:
    """``(zoom, height px)`` of the stage's map on a wall of ``scale``: the
    stage is larger than a page's map (+0.6), and each doubling of the
    wall's size is one zoom level."""
    return zoom + 0.6 + math.log2(scale), round(MAP_HEIGHT_PX * scale)


def view_seconds(views: Sequence[ScreenView], rotate_s: int) -> list[int]:
    """Seconds each view stays up (``0`` means ``rotate_s``)."""
    return [v.seconds or rotate_s for v in views]


def playlist_position(seconds: Sequence[int], elapsed_s: float) -> tuple[int, float]:
    """``(index, seconds left)`` of the view on screen ``elapsed_s`` seconds
    into a playlist that loops forever. Counting from the Unix epoch makes
    every wall with the same playlist show the same view at the same time."""
    total = sum(seconds)
    if not seconds or total <= 0:
        return 0, math.inf
    pos = elapsed_s % total
    for i, s in enumerate(seconds):
        if pos < s:
            return i, s - pos
        pos -= s
    return len(seconds) - 1, 0.0  # only reached through float rounding


@dataclass(frozen=True)
class TileState:
    """A tile's last good data and retry schedule (wall-clock seconds)."""

    data: Any = None
    ok_at: float | None = None
    failures: int = 0
    next_try_at: float = 0.0


def backoff_s(failures: int, base_s: float, cap_s: float) -> float:
    """Wait before the next try after ``failures`` failures in a row:
    ``base_s``, doubled per further failure, at most ``cap_s``."""
    if failures <= 0:
        return 0.0
    return float(min(cap_s, base_s * 2 ** min(failures - 1, 30)))


def due(state: TileState | None, now_s: float) -> bool:
    """Whether the tile should query now (always, unless backing off)."""
    return state is None or now_s >= state.next_try_at


def succeeded(data: Any, now_s: float) -> TileState:
    return TileState(data=data, ok_at=now_s, failures=0, next_try_at=now_s)


def failed(state: TileState | None, now_s: float, base_s: float, cap_s: float) -> TileState:
    """The state after a failed query: last data kept, next try backed off."""
    prev = state or TileState()
    n = prev.failures + 1
    return replace(prev, failures=n, next_try_at=now_s + backoff_s(n, base_s, cap_s))


def stale_minutes(state: TileState | None, now_s: float) -> str | None:
    """How stale the shown data is, in whole minutes (``"<1"`` under a
    minute), or ``None`` while the last query succeeded."""
    if state is None or state.failures == 0 or state.ok_at is None:
        return None
    age = max(0.0, now_s - state.ok_at)
    return "<1" if age < 60 else str(int(age // 60))


# ---------------------------------------------------------------------------
# Cached loading with the screen's TTL


@st.cache_data(ttl=site_config().screen.refresh_s, max_entries=256, show_spinner=False)
def _screen_cached(
    db_key: str, fn_path: str, args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...]
) -> Any:
    return run_query(fn_path, args, kwargs)


def screen_load(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Like ``ui.data.load`` (the session's scope stamped in), cached for
    ``screen.refresh_s`` seconds."""
    args, kw = scoped_arguments(fn, args, kwargs, session_scope())
    kwargs = kw
    path = f"{fn.__module__}:{fn.__qualname__}"
    return _screen_cached(cache_key_url(), path, args, tuple(sorted(kwargs.items())))


def red_counts(f: AreaFilter, now: datetime) -> pd.DataFrame:
    """Red items per domain, the same figure as the overview's (``domain``,
    ``red``); other systems' reds only, if the rules file is broken."""
    try:
        rules = load_warning_rules()
    except WarningRulesError:
        return screen_load(overview.active_red_warnings, f, now)  # type: ignore[no-any-return]
    return screen_load(warnings.red_counts, f, now, rules)  # type: ignore[no-any-return]


def clear_cache() -> None:
    _screen_cached.clear()


# ---------------------------------------------------------------------------
# Theme and building blocks

THEME_CSS = """
<style>
.stApp, [data-testid="stAppViewContainer"] { background: #0A1220 !important; color: #E3EAF2; }
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stHeader"], [data-testid="stToolbar"], [data-testid="stDecoration"],
[data-testid="stStatusWidget"], footer { display: none !important; }
[data-testid="stMainBlockContainer"], .block-container {
  padding: 1.2vh 1.2vw 0.6vh 1.2vw !important; max-width: 100% !important; }
[data-testid="stVerticalBlock"] { gap: 0.8vh !important; }
/* Not on icons: they are glyphs of the Material Symbols font (with the
   text font an icon shows as its name, "link"). */
.stApp *:not([data-testid$="Icon"]):not([data-testid="stIconMaterial"]) {
  font-family: "Noto Sans CJK SC", "Source Sans", sans-serif; }
h1 { font-size: 3.6vh !important; color: #E3EAF2 !important; padding: 0 !important;
     margin: 0 !important; letter-spacing: .1em; line-height: 1.2 !important; }
[data-testid="stDeckGlJsonChart"], [data-testid="stDeckGlJsonChart"] > div,
[data-testid="stElementContainer"]:has([data-testid="stDeckGlJsonChart"]),
[data-testid="stFullScreenFrame"]:has([data-testid="stDeckGlJsonChart"]) {
  height: 66vh !important; }
.scr-top { display:flex; justify-content:flex-end; align-items:baseline; gap:1.4vw;
  font-size: 2.4vh; color:#9FB3C8; white-space:nowrap; }
.scr-clock { font-size: 4.2vh; color:#E3EAF2; font-variant-numeric: tabular-nums; }
.scr-panel { background:#111C2E; border:1px solid #1F3350; border-radius:.6vh;
  padding: 1.0vh 0.9vw; }
.scr-fig { margin: 0 0 1.1vh 0; }
.scr-label { font-size: 2.3vh; color:#9FB3C8; }
.scr-value { font-size: 7.4vh; line-height:1.05; font-weight:700; color:#FFFFFF;
  font-variant-numeric: tabular-nums; }
.scr-sub { font-size: 1.9vh; color:#9FB3C8; }
.scr-red { color:#FF6B6B !important; }
.scr-h { font-size: 2.6vh; color:#E3EAF2; margin: 0 0 .6vh 0; font-weight:600; }
.scr-row { display:flex; align-items:center; gap:.5vw; font-size:2.3vh; margin:.45vh 0; }
.scr-name { flex: 0 0 38%; overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
.scr-bar { flex: 1 1 auto; height: var(--bar, 2.0vh); background:#1B2A40; border-radius:.3vh; }
.scr-bar > span { display:block; height:100%; border-radius:.3vh; }
.scr-pct { flex: 0 0 18%; text-align:right; font-variant-numeric: tabular-nums; }
.scr-stage-title { display:flex; justify-content:space-between; align-items:baseline;
  font-size: 2.8vh; margin: 0 0 .6vh 0; }
.scr-stage-title small { font-size: 1.9vh; color:#9FB3C8; }
.scr-big-row { display:flex; gap:2vw; margin: 1vh 0 2vh 0; }
.scr-alerts { display:flex; gap:.8vw; align-items:stretch; overflow:hidden; height: 9.5vh; }
.scr-alert { flex: 1 1 0; background:#2A1216; border-left:.5vw solid #C62828;
  border-radius:.4vh; padding:.6vh .6vw; font-size:2.0vh; overflow:hidden; }
.scr-alert b { font-size: 2.2vh; }
.scr-alert .when { color:#FFB4B4; font-variant-numeric: tabular-nums; }
.scr-ok { background:#11261A; border-left:.5vw solid #2E7D32; }
.scr-note { flex: 0 1 auto; background:#111C2E; border-left:.5vw solid #546E7A; color:#9FB3C8; }
.scr-stale { font-size: 1.9vh; color:#FFD54F; margin-top:.3vh; }
.scr-wait { font-size: 2.4vh; color:#9FB3C8; padding: 2vh 0; }
.scr-legend { font-size: 1.8vh; color:#9FB3C8; }
</style>
"""


def inject_theme() -> None:
    """The dark, full-bleed theme (this page only: the CSS goes with the page)."""
    st.html(THEME_CSS)


def _e(value: Any) -> str:
    return html.escape(str(value))


def _pct(share: float) -> str:
    return "—" if share is None or pd.isna(share) else f"{share:.0%}"


def _bar_rows(rows: list[tuple[str, float, str]], fit_vh: float = 0.0) -> str:
    """Bars of shares (0-1); with ``fit_vh`` the rows shrink to fit that height."""
    out = []
    style = ""
    if fit_vh and rows:
        row_vh = min(3.6, fit_vh / len(rows))
        style = (
            f' style="font-size:{row_vh * 0.62:.2f}vh;height:{row_vh * 0.9:.2f}vh;'
            f'margin:{row_vh * 0.05:.2f}vh 0;--bar:{row_vh * 0.55:.2f}vh"'
        )
    for name, share, colour in rows:
        width = 0 if pd.isna(share) else max(0.0, min(1.0, share)) * 100
        out.append(
            f'<div class="scr-row"{style}><span class="scr-name">{_e(name)}</span>'
            f'<span class="scr-bar"><span style="width:{width:.1f}%;background:{colour}">'
            f'</span></span><span class="scr-pct">{_pct(share)}</span></div>'
        )
    return "".join(out)


def fig_html(key: str, label: str, value: str, sub: str = "", red: bool = False) -> str:
    """One headline figure (``data-key`` lets tests find it)."""
    cls = "scr-value scr-red" if red else "scr-value"
    return (
        f'<div class="scr-fig" data-key="{_e(key)}"><div class="scr-label">{_e(label)}</div>'
        f'<div class="{cls}">{_e(value)}</div><div class="scr-sub">{_e(sub)}</div></div>'
    )


# ---------------------------------------------------------------------------
# Areas and names


def screen_area(ctx: PageContext, view: ScreenView | None = None, days: int = 1) -> AreaFilter:
    """The screen's area (the view's own district/streets, else the wall's
    global filter) for the last ``days`` local days ending today, within the
    session's scope (:func:`ui.filters.scoped_area`)."""
    today = local_now(ctx.cfg).date()
    district = ctx.area.district
    streets = ctx.area.streets
    if view is not None and (view.district or view.streets):
        district = view.district or None
        streets = view.streets
    area = AreaFilter(
        start=today - timedelta(days=max(days, 1) - 1),
        end=today,
        district=district,
        streets=streets,
    )
    # Within the user's scope, naming its streets where it is part of the area.
    return scoped_area(area, ctx.streets, session_scope())


def area_label(ctx: PageContext, f: AreaFilter) -> str:
    if f.streets:
        return ", ".join(ctx.street_name(s) for s in f.streets[:3])
    if f.district:
        return ctx.district_name(f.district)
    return ctx.cfg.name_en if ctx.lang == "en" else ctx.cfg.name_zh


def _hhmm(ts: Any) -> str:
    return "—" if ts is None or pd.isna(ts) else pd.Timestamp(ts).strftime("%H:%M")


# ---------------------------------------------------------------------------
# The tile runner


def run_tile(
    key: str,
    fetch: Callable[[], Any],
    draw: Callable[[Any], None],
    now_s: float | None = None,
) -> TileState:
    """Fetch (unless backing off), remember good data, draw the last good data,
    and say how stale it is. Never raises and never shows error text."""
    cfg = site_config().screen
    now_s = clock() if now_s is None else now_s
    states: dict[str, TileState] = st.session_state.setdefault(TILE_STATE, {})
    state = states.get(key)
    if due(state, now_s):
        try:
            state = succeeded(fetch(), now_s)
        except Exception as exc:  # the database is down or slow, or a bad row
            _log.warning("screen tile %s failed: %s: %s", key, type(exc).__name__, exc)
            state = failed(state, now_s, cfg.refresh_s, cfg.max_backoff_s)
        states[key] = state
    assert state is not None
    if state.data is None:
        st.html(f'<div class="scr-wait">{_e(t("screen.waiting"))}</div>')
    else:
        try:
            draw(state.data)
        except Exception:
            _log.exception("screen tile %s could not draw", key)
            st.html(f'<div class="scr-wait">{_e(t("screen.waiting"))}</div>')
    minutes = stale_minutes(state, now_s)
    if minutes is not None:
        st.html(
            f'<div class="scr-stale" data-tile-stale="{_e(key)}">'
            f"{_e(t('screen.stale', minutes=minutes))}</div>"
        )
    return state


# ---------------------------------------------------------------------------
# Tiles


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


def domain_name(code: str) -> str:
    key = f"screen.domain_{code}"
    name = t(key)
    return code if name == key else name


# ---------------------------------------------------------------------------
# The centre: the playlist's current view


def stage_tile(ctx: PageContext, views: tuple[ScreenView, ...]) -> None:
    sc = ctx.cfg.screen
    views = views_in_scope(
        expand_views(views, ctx.streets, ctx.area.district), ctx.streets, session_scope()
    )
    seconds = view_seconds(views, sc.rotate_s)
    index, left = playlist_position(seconds, clock())
    view = views[index]
    nxt = views[(index + 1) % len(views)]
    title = t(f"screen.view_{view.page.replace('-', '_')}")
    f = screen_area(ctx, view, days=ctx.cfg.default_window_days if view.page == "throughput" else 1)
    progress = (
        t(
            "screen.next",
            i=index + 1,
            n=len(views),
            next=t(f"screen.view_{nxt.page.replace('-', '_')}"),
            seconds=f"{left:.0f}",
        )
        if len(views) > 1
        else ""
    )
    st.html(
        f'<div class="scr-stage-title" data-key="stage" data-view="{_e(view.page)}">'
        f"<span>{_e(title)} · {_e(area_label(ctx, f))}</span><small>{_e(progress)}</small></div>"
    )
    draw = {
        "crowd-map": _crowd_view,
        "incident-map": _incident_view,
        "throughput": _throughput_view,
        "warnings": _warnings_view,
    }[view.page]
    # The map slot comes first and always holds a deck. Unmounting a deck.gl
    # canvas and mounting a new one on every rotation leaked ~22 MB of
    # browser heap an hour (WebGL contexts are not freed at once); a deck
    # that stays mounted, hidden behind the non-map views, keeps it flat.
    slot = st.container(key=MAP_SLOT)
    st.session_state[DECK_DRAWN] = False
    with st.container(key="scr-stage-body"):
        draw(ctx, f, f"stage:{index}", slot)
    if not st.session_state[DECK_DRAWN]:
        with slot:
            _hidden_deck(ctx, f)
        st.html(f"<style>{HIDE_MAP_SLOT_CSS}</style>")


def _crowd_view(ctx: PageContext, f: AreaFilter, key: str, slot: Any) -> None:
    now = local_now(ctx.cfg)

    def fetch() -> dict[str, Any]:
        latest = screen_load(heatmap.crowd_span, f, now)["latest"].iloc[0]
        if pd.isna(latest):
            return {"ts": None, "cells": None, "venues": None}
        ts = pd.Timestamp(latest).to_pydatetime()
        return {
            "ts": ts,
            "cells": screen_load(heatmap.crowd_cells, f, ts, ctx.cfg),
            "venues": screen_load(heatmap.venue_load, f, ts, ctx.cfg),
        }

    def draw(d: dict[str, Any]) -> None:
        if d["cells"] is None:
            st.html(f'<div class="scr-wait">{_e(t("screen.no_crowd"))}</div>')
            return
        cells, venues = d["cells"], d["venues"]
        top = ctx.cfg.map.crowd_max_people_per_cell
        cell_m = float(cells["cell_m"].iloc[0]) if len(cells) else ctx.cfg.map.crowd_cell_m
        rows = maps.cell_rows(ctx.cfg, cells, cells["people"] / cells["cells"], top, [])
        layers, view = _basemap(ctx, f)
        layers = [layers[0], maps.cell_layer(rows, "crowd-cells", cell_m / 2)]
        layers += [maps.venue_layer(ctx.cfg, venues), _basemap(ctx, f)[0][1]]
        _deck(ctx, layers, view, slot)
        st.html(
            f'<div class="scr-legend">{_e(t("screen.crowd_at", ts=_hhmm(d["ts"])))}'
            f"{maps.legend_html(top, t('maps.legend_crowd', cell=f'{ctx.cfg.map.crowd_cell_m:g}'))}</div>"
        )

    run_tile(key, fetch, draw)


def _incident_view(ctx: PageContext, f: AreaFilter, key: str, slot: Any) -> None:
    now = local_now(ctx.cfg)

    def fetch() -> pd.DataFrame:
        return screen_load(heatmap.incident_cells, f, now, ctx.cfg)

    def draw(cells: pd.DataFrame) -> None:
        top = ctx.cfg.map.incident_max_cases_per_cell
        cell_m = float(cells["cell_m"].iloc[0]) if len(cells) else ctx.cfg.map.incident_cell_m
        scale = (ctx.cfg.map.incident_cell_m / cell_m) ** 2
        rows = maps.cell_rows(ctx.cfg, cells, cells["cases"] * scale, top, [])
        layers, view = _basemap(ctx, f)
        _deck(
            ctx,
            [layers[0], maps.cell_layer(rows, "incident-cells", cell_m / 2), layers[1]],
            view,
            slot,
        )
        legend = maps.legend_html(
            top, t("maps.legend_cases", cell=f"{ctx.cfg.map.incident_cell_m:g}")
        )
        total = t("screen.incidents_today", n=f"{int(cells['cases'].sum()):,}")
        st.html(f'<div class="scr-legend">{_e(total)}{legend}</div>')

    run_tile(key, fetch, draw)


def _basemap(ctx: PageContext, f: AreaFilter) -> tuple[list[Any], Any]:
    codes = {
        c
        for c, dc in zip(ctx.streets["code"], ctx.streets["district_code"], strict=True)
        if (not f.district or dc == f.district) and (not f.streets or c in f.streets)
    }
    names = {c: ctx.street_name(c) for c in codes}
    return maps.area_basemap(ctx.cfg, codes, names)


def _deck(ctx: PageContext, layers: list[Any], view: Any, slot: Any) -> None:
    """Draw a map view's deck in the stage's map slot (see :func:`stage_tile`)."""
    scale = float(st.session_state.get(WALL_SCALE, 1.0))
    view.zoom, height = map_geometry(float(view.zoom), scale)
    layers = [_scaled_labels(layer, scale) for layer in layers]
    deck = maps.offline_deck(layers, view, None, theme="dark", cfg=ctx.cfg)
    with slot:
        st.pydeck_chart(deck, height=height)
    st.session_state[LAST_DECK] = deck
    st.session_state[DECK_DRAWN] = True


def _scaled_labels(layer: Any, scale: float) -> Any:
    """Text layers are sized in pixels: a copy with labels ``scale`` times
    larger (other layers as they are)."""
    if scale == 1.0 or getattr(layer, "type", "") != "TextLayer":
        return layer
    grown = copy.copy(layer)
    grown.get_size = float(layer.get_size) * scale
    return grown


def _hidden_deck(ctx: PageContext, f: AreaFilter) -> None:
    """Keep the map slot's deck mounted while a non-map view (or a "waiting"
    notice) is on the stage: the last map shown, else the bare basemap."""
    scale = float(st.session_state.get(WALL_SCALE, 1.0))
    deck = st.session_state.get(LAST_DECK)
    if deck is None:
        layers, view = _basemap(ctx, f)
        view.zoom, _ = map_geometry(float(view.zoom), scale)
        deck = maps.offline_deck(layers, view, None, theme="dark", cfg=ctx.cfg)
    st.pydeck_chart(deck, height=map_geometry(0.0, scale)[1])


def _throughput_view(ctx: PageContext, f: AreaFilter, key: str, slot: Any = None) -> None:
    now = local_now(ctx.cfg)

    def fetch() -> pd.DataFrame:
        return screen_load(screen.street_ranking, f, now, ctx.cfg)

    def draw(ranked: pd.DataFrame) -> None:
        colour = {"top": LEVELS["green"].hex, "bottom": LEVELS["red"].hex, "": MUTED}
        rows = [
            (ctx.street_name(c), s, colour[str(k)])
            for c, s, k in zip(
                ranked["street_code"], ranked["on_time_share"], ranked["callout"], strict=True
            )
        ][:30]
        days = ctx.cfg.default_window_days
        bars = _bar_rows(rows, fit_vh=63.0)
        if not ctx.cfg.judges(screen.ON_SITE):
            bars = f'<div class="scr-sub" data-key="not-judged">{_e(t("screen.not_judged"))}</div>'
        st.html(
            f'<div class="scr-panel" data-key="throughput" style="height:70vh;overflow:hidden">'
            f'<div class="scr-h">{_e(t("screen.throughput_title", days=days))}</div>'
            f"{bars}</div>"
        )

    run_tile(key, fetch, draw)


def _warnings_view(ctx: PageContext, f: AreaFilter, key: str, slot: Any = None) -> None:
    now = local_now(ctx.cfg)
    hours = ctx.cfg.screen.warning_alert_hours

    def fetch() -> dict[str, pd.DataFrame]:
        return {
            "reds": red_counts(f, now),
            "new": screen_load(screen.new_red_warnings, f, now, ctx.cfg, hours),
        }

    def draw(d: dict[str, pd.DataFrame]) -> None:
        figs = "".join(
            fig_html(f"red_{dom}", domain_name(str(dom)), f"{int(n):,}", red=int(n) > 0)
            for dom, n in zip(d["reds"]["domain"], d["reds"]["red"], strict=True)
        ) or fig_html("red_none", t("screen.red"), "0")
        rows = (
            "".join(
                f'<div class="scr-row"><span class="when" style="flex:0 0 12%">{_hhmm(w.raised_at)}</span>'
                f'<span style="flex:0 0 30%">{_e(ctx.street_name(str(w.street_code)))}</span>'
                f"<span>{_e(domain_name(str(w.domain)))} · {_e(w.id)}</span></div>"
                for w in d["new"].head(10).itertuples()
            )
            or f'<div class="scr-sub">{_e(t("screen.no_new_red", hours=hours))}</div>'
        )
        st.html(
            f'<div class="scr-panel" data-key="warnings" style="height:70vh;overflow:hidden">'
            f'<div class="scr-h">{_e(t("screen.red_by_domain"))}</div>'
            f'<div class="scr-big-row">{figs}</div>'
            f'<div class="scr-h">{_e(t("screen.new_red", hours=hours))}</div>{rows}</div>'
        )

    run_tile(key, fetch, draw)


# ---------------------------------------------------------------------------


def live(fn: Callable[..., None], seconds: float) -> Callable[..., None]:
    """``fn`` as a fragment that reruns by itself every ``seconds``."""
    return st.fragment(fn, run_every=seconds)


def stage_every(cfg: ScreenConfig) -> float:
    """The centre's rerun interval: often enough to rotate on time."""
    return float(min(cfg.refresh_s, STAGE_TICK_S))
