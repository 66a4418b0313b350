"""The frame around every page: the shared context, header badge and footer."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property

import pandas as pd
import streamlit as st

from data_access import geography
from data_access.config import SiteConfig
from data_access.filters import AreaFilter
from metrics.overview import data_freshness
from ui import filters
from ui.auth import audit_denied, current_principal
from ui.data import database_origin, database_url, load, local_now, site_config
from ui.i18n import current_lang, t

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
            names = ", ".join(self.street_name(s) for s in self.area.streets[:3])
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

    if PagesManager.uses_pages_directory:
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


def freshness_badge(ctx: PageContext) -> None:
    """ "Data as of …" with a warning tint when the newest case is over an hour old."""
    fresh = load(data_freshness, ctx.now)  # the scope is stamped in by load
    latest = fresh.loc[fresh["table"] == "incident", "latest"].iloc[0]
    if pd.isna(latest):
        st.caption(":material/schedule: " + t("app.data_as_of", ts=t("app.no_data_yet")))
        return
    age = ctx.now - latest.to_pydatetime()
    label = t("app.data_as_of", ts=latest.strftime("%Y-%m-%d %H:%M"))
    if age.total_seconds() > 3600:
        hours = age.total_seconds() / 3600
        span = f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} d"
        st.warning(":material/schedule: " + label + " · " + t("app.stale", age=span))
        if latest.date() < ctx.area.start:
            jump_to_data(ctx, latest.date())
    else:
        st.caption(":material/schedule: " + label)


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


def page_header(title: str, ctx: PageContext) -> None:
    st.title(title)
    freshness_badge(ctx)
    filters.show_notices()


def footer(ctx: PageContext) -> None:
    """Where the data comes from, and any configuration problems."""
    st.divider()
    parts = [t("app.database", url=database_url())]
    if database_origin() == "demo":
        parts.append(t("app.demo_notice"))
    st.caption(" · ".join(parts))
    for problem in ctx.cfg.problems:
        st.caption(":material/settings: " + t("app.config_problem", problem=problem))
