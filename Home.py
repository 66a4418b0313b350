"""Entry point: page config, navigation, global filters, then the chosen page.

Run with ``streamlit run Home.py``. Without OPS_DB_URL or secrets it builds
and uses the embedded demo database.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.i18n import DEFAULT_LANG, LANGS, t
from ui.menu import NAVIGATION, URL_PATHS, first_run_menu, hide_menu, nav_page, whole_menu

if "lang" not in st.session_state:
    lang = st.query_params.get("lang", DEFAULT_LANG)
    st.session_state["lang"] = lang if lang in LANGS else DEFAULT_LANG

# A local image, set before any menu is sent: without it the page's
# Material icon becomes the favicon, which the browser fetches from Google.
LOGO = Path(__file__).resolve().parent / "assets" / "logo.png"
st.set_page_config(page_title=t("app.title"), page_icon=str(LOGO), layout="wide")

# A server's first run: the menu in the user's language (not the pages
# folder's file names) before the imports below take their seconds.
first_run_menu()

from data_access.connection import demo_path  # noqa: E402
from ui import auth, filters  # noqa: E402
from ui.data import database_origin, page_guard, site_config  # noqa: E402
from ui.phone import phone_style  # noqa: E402
from ui.shell import build_context, open_default_for  # noqa: E402


def _first_start_navigation() -> None:
    """The very first start builds the demo database inside the sign-in
    gate (which reads the streets), before the menu below is known: while
    it builds, the sidebar names every page by its title in the user's
    language (:func:`ui.menu.whole_menu`; the menu below, the principal's
    own pages, replaces it)."""
    if database_origin() != "demo" or demo_path().exists():
        return
    sections = whole_menu()
    first = next(iter(sections.values()))[0]
    unknown = open_default_for(first, [], URL_PATHS)
    if unknown:  # said by the menu below, as on any other start
        st.session_state["_unknown_path"] = unknown
    st.navigation(sections)


_first_start_navigation()
phone_style()  # below 640 px only: metrics two to a row, smaller titles

# Who the user is, before anything else: with no principal (sign-in needed,
# unknown user, bad access.toml) the run stops here: no filters, no data.
principal = None
gate_failed = True
with page_guard():
    principal = auth.gate()
    gate_failed = False
if principal is None and not gate_failed:
    hide_menu()
    st.stop()


def _retry_soon() -> None:
    """The database was away when this page started: try again by itself
    every screen.refresh_s seconds (an unattended wall must recover). The
    filters were not drawn: the next run, the timer's or the user's, puts
    them back as they were (:func:`ui.filters.filters_not_drawn`)."""
    filters.filters_not_drawn()
    st.session_state["_start_retry_armed"] = False

    @st.fragment(run_every=site_config().screen.refresh_s)
    def _retry_start() -> None:
        if st.session_state.get("_start_retry_armed"):
            st.rerun(scope="app")
        st.session_state["_start_retry_armed"] = True

    _retry_start()


if principal is None:
    hide_menu()
    _retry_soon()
    st.stop()

# Only the principal's pages are in the menu; the first of them is at "/".
shown = [entry for entry in NAVIGATION if principal.sees_page(entry[3])]
PAGES: dict[str, list[st.Page]] = {}
refused: list[st.Page] = []
default_page: st.Page | None = None
for section, stem, icon, url_path in NAVIGATION:
    entry = nav_page(stem, icon, url_path, bool(shown) and url_path == shown[0][3])
    if principal.sees_page(url_path):
        PAGES.setdefault(t(f"nav.{section}"), []).append(entry)
        if default_page is None:  # the first page the principal sees
            default_page = entry
    else:
        refused.append(entry)

asked = auth.requested_page(refused)
if default_page is not None:
    # The default page's own path (/overview, a wall's /command-screen), a
    # refused page's (refused below) and a path that names no page run it
    # with no "Page not found" dialog.
    own = [shown[0][3], *(p.url_path for p in refused)]
    unknown = open_default_for(default_page, own, URL_PATHS)
    if unknown:  # kept for the session: the next runs ask for the default page
        st.session_state["_unknown_path"] = unknown
page = st.navigation(PAGES) if PAGES else None
if st.session_state.get("_unknown_path"):
    if page is not None and default_page is not None and page.url_path == default_page.url_path:
        # A line on the page it opened instead, not a box over a wall (the
        # wall says it in a notice row of its layout: ui.screen.notices).
        if page.url_path != "command-screen":
            path = "/" + st.session_state["_unknown_path"]
            st.caption(":material/link_off: " + t("app.unknown_path", path=path))
    else:  # the user has gone on to another page
        del st.session_state["_unknown_path"]
st.sidebar.caption(t("app.title"))
auth.sidebar_identity(principal)
auth.idle_watch(principal)
if asked is not None:
    # A direct URL to a page this role may not see: refused, not redirected.
    auth.refuse(f"/{asked.url_path}", "page_refused", page=asked.title)
    st.stop()
if page is None:
    auth.refuse("navigation", "no_pages")
    st.stop()

ready = False
with page_guard():
    build_context()
    ready = True

if ready:
    with page_guard():  # the net under a page's own guards: a message, never a traceback
        page.run()
else:
    _retry_soon()
