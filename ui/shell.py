"""The frame around every page: the shared context, header badge and footer."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy.engine import make_url

from data_access import geography
from data_access.config import FEEDS, SiteConfig
from data_access.filters import AreaFilter
from metrics.overview import feed_status
from ui import filters
from ui.auth import audit_denied, current_principal
from ui.data import database_origin, database_url, load, local_now, site_config
from ui.i18n import current_lang, t
from ui.menu import in_pages_folder_run

_CTX = "_page_context"


@dataclass(frozen=True)
class PageContext:
    """What every page needs: config, the global filter, the time, the names."""

    cfg: SiteConfig
    area: AreaFilter
    now: datetime
    districts: pd.DataFrame
    streets: pd.DataFrame

    @property
    def lang(self) -> str:
        return current_lang()

    def street_name(self, code: str) -> str:
        return self._street_names.get(code, str(code))

    def district_name(self, code: str) -> str:
        return self._district_names.get(code, str(code))

    @cached_property
    def _street_names(self) -> dict[str, str]:
        return self._names(self.streets)

    @cached_property
    def _district_names(self) -> dict[str, str]:
        return self._names(self.districts)

    def _names(self, frame: pd.DataFrame) -> dict[str, str]:
        """Code -> name in the page's language (Chinese where English is missing).
        A dict, not a frame lookup per call: lists of a few thousand rows
        name their streets on every rerun."""
        names: dict[str, str] = {}
        for code, zh, en in zip(frame["code"], frame["name_zh"], frame["name_en"], strict=True):
            if code in names:
                continue
            use_en = self.lang == "en" and isinstance(en, str) and en
            names[code] = str(en) if use_en else str(zh)
        return names

    def area_name(self) -> str:
        """ "拱墅区", "拱墅区 · 武林街道, 天水街道" or the site name for all districts."""
        if self.area.streets:
            names = t("app.list_sep").join(self.street_name(s) for s in self.area.streets[:3])
            more = "…" if len(self.area.streets) > 3 else ""
            base = self.district_name(self.area.district) if self.area.district else ""
            return f"{base} · {names}{more}" if base else names + more
        if self.area.district:
            return self.district_name(self.area.district)
        return self.cfg.name_en if self.lang == "en" else self.cfg.name_zh


def build_context(with_sidebar: bool = True) -> PageContext:
    """Read the hierarchy, seed/draw the global filters, and store the context."""
    cfg = site_config()
    now = local_now(cfg)
    districts = load(geography.districts)
    streets = load(geography.streets)
    scope = current_principal().scope
    # The filters offer only the districts and streets of the user's scope.
    own_streets = streets if scope is None else streets.loc[streets["code"].isin(scope)]
    own_districts = (
        districts
        if scope is None
        else districts.loc[districts["code"].isin(own_streets["district_code"])]
    )
    filters.seed_from_url(cfg, own_districts, own_streets, now.date(), all_streets=streets)
    for name, value in st.session_state.get(filters.SCOPE_REFUSED, []):
        audit_denied(f"?{name}={value}", "outside_scope_param", query=f"{name}={value}")
    if with_sidebar:
        filters.language_switch()
        area = filters.area_filter_widgets(cfg, own_districts, own_streets, now.date())
    else:
        dates = st.session_state.get("f_dates") or filters.default_window(cfg, now.date())
        start, end = filters._date_pair(dates, filters.default_window(cfg, now.date()))
        area = AreaFilter(
            start=start,
            end=end,
            district=st.session_state.get("f_district") or None,
            streets=tuple(st.session_state.get("f_streets", [])),
        )
    filters.write_url(area)
    area = filters.scoped_area(area, streets, scope)
    ctx = PageContext(cfg=cfg, area=area, now=now, districts=districts, streets=streets)
    st.session_state[_CTX] = ctx
    return ctx


def leave_pages_folder_mode() -> None:
    """Run the app through ``st.navigation`` even on a server's first run.

    Streamlit sees ``pages/`` beside Home.py and runs each server's first
    script run in its legacy pages-folder mode, where URL paths are file
    names: a deep link such as ``/command-screen`` (an unattended wall
    reconnecting after a restart) was "not found" and ``/throughput`` ran
    without Home.py. The first time that happens, switch the process to
    ``st.navigation`` mode and run again before anything is drawn.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory or in_pages_folder_run():
        PagesManager.uses_pages_directory = False
        st.rerun()


def open_default_for(
    default: st.Page, url_paths: Iterable[str], known: Iterable[str]
) -> str | None:
    """Run the default page, with no "Page not found" dialog, when this
    run's URL names one of ``url_paths``, or no page at all (none of
    ``known``). Call before ``st.navigation``. Returns the unknown path
    (for the page to say in its own words), else ``None``.

    ``st.navigation`` serves its default page at "/" only (its URL path is
    ""), so ``/overview``, or a wall's bookmark ``/command-screen?wall=…``
    (the wall's one page is its default), matched no page: Streamlit ran
    the default anyway but put its English "Page not found" dialog over it,
    there until someone clicked ×; so did a typo in a bookmark
    (``/comand-screen``). The server's first session never showed it
    (:func:`leave_pages_folder_mode`'s rerun asks by page hash, not by
    name). Such a run now asks for the default page by its hash.
    """
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    manager = getattr(get_script_run_ctx(), "pages_manager", None)
    name = getattr(manager, "intended_page_name", None)
    if manager is None or not name:
        return None
    unknown = name not in set(known)
    if unknown or name in set(url_paths):
        manager.set_script_intent(default._script_hash, "")
    return str(name) if unknown else None


def context() -> PageContext:
    """The context Home.py built for this run (pages call this first)."""
    leave_pages_folder_mode()
    ctx = st.session_state.get(_CTX)
    if ctx is None:  # a page run on its own, e.g. in a test: build it here
        ctx = build_context()
    return ctx  # type: ignore[no-any-return]


def age_text(seconds: float) -> str:
    """A span in words: "2 小时 35 分", "3 天 4 小时", "12 分钟" ("2 h 35 min")."""
    minutes = int(max(seconds, 0.0) // 60)
    if minutes < 1:
        return t("feed.age_under_min")
    if minutes < 60:
        return t("feed.age_min", m=minutes)
    hours, m = divmod(minutes, 60)
    if hours < 48:
        return t("feed.age_hm", h=hours, m=m) if m else t("feed.age_h", h=hours)
    days, h = divmod(hours, 24)
    return t("feed.age_dh", d=days, h=h) if h else t("feed.age_d", d=days)


def when_text(ts: Any, now: datetime) -> str:
    """A time as short as it can be read: "08:15" today, "11-19 21:34" this
    year, else with the year."""
    stamp = pd.Timestamp(ts)
    if stamp.date() == now.date():
        return stamp.strftime("%H:%M")
    return stamp.strftime("%m-%d %H:%M" if stamp.year == now.year else "%Y-%m-%d %H:%M")


def stale_as_of(feed: str, ts: Any, now: datetime, cfg: SiteConfig) -> str | None:
    """For a "now" figure read at ``ts`` from ``feed``: its real time and
    age ("截至 08:15（2 小时 35 分前）") when ``ts`` is older than the feed's
    ``[freshness]`` interval, else ``None`` (the figure is current)."""
    if ts is None or pd.isna(ts):
        return None
    age = (pd.Timestamp(now) - pd.Timestamp(ts)).total_seconds()
    if not cfg.freshness.stale(feed, age):
        return None
    return t("feed.as_of", ts=when_text(ts, now), age=age_text(age))


def _feed_words(row: Any, now: datetime, key: str) -> str:
    return t(
        key,
        feed=t(f"feed.{row.feed}"),
        ts=when_text(row.latest, now),
        age=age_text(row.age_s),
        expected=age_text(row.expected_s),
    )


def feed_lines(status: pd.DataFrame, now: datetime) -> list[str]:
    """One line per feed of ``status`` (:func:`metrics.overview.feed_status`):
    its newest time, age and expected interval, or "no data yet"."""
    lines = []
    for row in status.itertuples():
        latest: Any = row.latest
        if pd.isna(latest):
            lines.append(t("feed.empty", feed=t(f"feed.{row.feed}")))
        else:
            lines.append(_feed_words(row, now, "feed.line_stale" if row.stale else "feed.line"))
    return lines


def stalest(status: pd.DataFrame) -> pd.DataFrame:
    """The stale feeds of ``status``, the most overdue (age over expected
    interval) first."""
    stale = status.loc[status["stale"]]
    order = (stale["age_s"] / stale["expected_s"]).sort_values(ascending=False, kind="stable")
    return stale.loc[order.index]


def freshness_badge(ctx: PageContext, feeds: Sequence[str] = FEEDS) -> None:
    """ "Data as of …" (the page's first feed) with every feed's time on
    hover; a warning naming each of the page's feeds that is older than its
    ``[freshness]`` interval, the stalest first."""
    status = load(feed_status, ctx.now, ctx.cfg)  # the scope is stamped in by load
    status = status.set_index("feed").loc[list(feeds)].reset_index()
    lines = feed_lines(status, ctx.now)
    tip = "  \n".join([t("feed.help_title"), *lines])
    latest = status["latest"].iloc[0]
    if pd.isna(latest):
        label = t("app.data_as_of", ts=t("app.no_data_yet"))
    else:
        label = t("app.data_as_of", ts=pd.Timestamp(latest).strftime("%Y-%m-%d %H:%M"))
    st.caption(":material/schedule: " + label, help=tip)
    stale = stalest(status)
    if len(stale):
        words = [_feed_words(row, ctx.now, "feed.stale") for row in stale.itertuples()]
        st.warning("  \n".join(words), icon=":material/update_disabled:")
    cases = status.loc[status["feed"] == "incident", "latest"]
    if len(cases) and pd.notna(cases.iloc[0]) and cases.iloc[0].date() < ctx.area.start:
        jump_to_data(ctx, cases.iloc[0].date())


def jump_to_data(ctx: PageContext, last: date) -> None:
    """The chosen window starts after the newest case (an old export, a
    feed that stopped): say so, and offer the data's own last window."""
    span = (ctx.area.end - ctx.area.start).days + 1
    start = last - timedelta(days=span - 1)

    def jump() -> None:  # a callback: runs before the date widget is drawn again
        st.session_state["f_dates"] = (start, last)

    st.caption(t("app.after_data", start=ctx.area.start.isoformat()))
    st.button(
        t("app.jump_to_data", days=span, start=start.isoformat(), end=last.isoformat()),
        icon=":material/history:",
        key="jump_to_data",
        on_click=jump,
    )


def page_header(title: str, ctx: PageContext, feeds: Sequence[str] = FEEDS) -> None:
    """The page's title, its data's freshness (``feeds``: the feeds the page
    shows, the first one's time as "data as of"; default every feed) and
    the filter notices."""
    st.title(title)
    freshness_badge(ctx, feeds)
    filters.show_notices()


#: Display names of SQLAlchemy backends.
BACKEND_NAMES = {
    "sqlite": "SQLite",
    "postgresql": "PostgreSQL",
    "mysql": "MySQL/MariaDB",
    "mariadb": "MariaDB",
    "mssql": "SQL Server",
    "oracle": "Oracle",
}


def source_name(cfg: SiteConfig, url: str, origin: str) -> str:
    """The data source as users are told it: ``site.source_name_zh`` /
    ``_en``, else the database's name and backend from ``url`` with no
    host, user, password or path ("ops (PostgreSQL)", "演示数据库 (SQLite)")."""
    own = cfg.source_name_en if current_lang() == "en" else cfg.source_name_zh
    if own:
        return own
    try:
        parsed = make_url(url)
    except Exception:  # not a URL: say no more than that it is a database
        return t("feed.source_named", database="?", backend=url.split(":", 1)[0] or "?")
    backend = parsed.get_backend_name()
    label = BACKEND_NAMES.get(backend, backend)
    if origin == "demo":
        return t("feed.source_demo", backend=label)
    database = parsed.database or ""
    if backend == "sqlite":  # a file: its name, not where it is
        database = Path(database).stem if database and database != ":memory:" else ""
    return t("feed.source_named", database=database, backend=label) if database else label


def is_administrator() -> bool:
    """The session's role is ``admin`` (see ``config/access.toml``; without
    a login, ``login.no_login_role`` decides: ``auto`` is admin on the demo)."""
    return current_principal().role == "admin"


def footer(ctx: PageContext) -> None:
    """Where the data comes from (its name; its URL, password hidden, on
    hover for administrators only), and any configuration problems."""
    st.divider()
    url = database_url()
    parts = [t("feed.source", name=source_name(ctx.cfg, url, database_origin()))]
    if database_origin() == "demo":
        parts.append(t("app.demo_notice"))
    tip = t("feed.source_url", url=f"`{url}`") if is_administrator() else None
    st.caption(":material/database: " + " · ".join(parts), help=tip)
    for problem in ctx.cfg.problems:
        st.caption(":material/settings: " + t("app.config_problem", problem=problem))
