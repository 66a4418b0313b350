"""The app's menu: its pages, their titles and icons, and the menu the
sidebar shows before the user is known.

Light on purpose (Streamlit and the catalogue only): :func:`first_run_menu`
runs at the top of ``Home.py``, before the seconds the data and UI modules
take to import on a server's first run. Until a script run sends a
navigation, Streamlit's sidebar lists the ``pages/`` folder's file names
(Home, alerts, audit, command-screen ...), in English; the menu sent here
names every page by its title in the user's language instead, until
``Home.py`` sends the principal's own menu.
"""

from __future__ import annotations

import sys
from types import FrameType

import streamlit as st

from ui.i18n import t

#: (sidebar section, page key, Material icon, URL path). Titles come from
#: the catalogue as nav.<key>; the page file is pages/<URL path>.py (the
#: same name Streamlit's pages-folder mode gives it, so a deep link on a
#: server's first run finds its page; see ui.shell.leave_pages_folder_mode).
#: The first page is the default, at "/".
NAVIGATION = (
    ("section_monitor", "overview", "home", "overview"),
    ("section_monitor", "crowd_map", "groups", "crowd-map"),
    ("section_monitor", "incident_map", "location_on", "incident-map"),
    ("section_monitor", "command_screen", "tv", "command-screen"),
    ("section_monitor", "alerts", "notifications", "alerts"),
    ("section_review", "throughput", "timer", "throughput"),
    ("section_review", "warnings", "traffic", "warnings"),
    ("section_review", "weekly_review", "event", "weekly-review"),
    ("section_review", "data_quality", "health_and_safety", "data-quality"),
    ("section_review", "import", "upload_file", "import"),
    ("section_admin", "audit", "policy", "audit"),
)
URL_PATHS = tuple(entry[3] for entry in NAVIGATION)


def nav_page(stem: str, icon: str, url_path: str, default: bool) -> st.Page:
    """One page of the menu, titled in the session's language."""
    return st.Page(
        f"pages/{url_path}.py",
        title=t(f"nav.{stem}"),
        icon=f":material/{icon}:",
        url_path=url_path,
        default=default,
    )


def whole_menu() -> dict[str, list[st.Page]]:
    """Every page, by section, the first the default (the menu before the
    user is known: it shows titles, and the principal's menu replaces it
    before any page runs)."""
    sections: dict[str, list[st.Page]] = {}
    for section, stem, icon, url_path in NAVIGATION:
        page = nav_page(stem, icon, url_path, url_path == URL_PATHS[0])
        sections.setdefault(t(f"nav.{section}"), []).append(page)
    return sections


def _asked_page() -> str:
    """The page name this run's URL asks for ("" for "/")."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    manager = getattr(get_script_run_ctx(), "pages_manager", None)
    return getattr(manager, "intended_page_name", None) or ""


def _known_url() -> bool:
    """Whether this run's URL names a page of the menu (or "/")."""
    asked = _asked_page()
    return not asked or asked in URL_PATHS


def hide_menu() -> None:
    """No menu, for a run that stops before the user is known (the sign-in
    page, no access, the database away): the pages are named to Streamlit,
    so a deep link raises no "Page not found", but none is listed (the
    first run's menu, or the pages folder's file names, would stay)."""
    if _known_url():
        st.navigation(whole_menu(), position="hidden")


def first_run_menu() -> None:
    """On a server's first run (Streamlit's pages-folder mode, see
    :func:`ui.shell.leave_pages_folder_mode`): leave that mode, send the
    whole menu with the pages' titles, and run again. A URL naming no page
    gets no menu here (it would open Streamlit's "Page not found" dialog;
    ``Home.py`` says it in its own words)."""
    from streamlit.runtime.pages_manager import PagesManager

    if not (PagesManager.uses_pages_directory or in_pages_folder_run()):
        return
    PagesManager.uses_pages_directory = False
    if _known_url():
        st.navigation(whole_menu())
    st.rerun()


def in_pages_folder_run() -> bool:
    """Whether this script run is one of Streamlit's pages-folder mode.

    The mode is a class attribute (``PagesManager.uses_pages_directory``)
    read at the start of every run: on a fresh server, sessions that start
    together all begin in that mode, and the first to flip the attribute
    hid the mode from the others, whose deep link then ran its page file
    directly, without Home.py and its sign-in (the deploy test's walls
    after a replica restart). The run itself says it: Streamlit's
    ``_mpa_v1`` is on the stack."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "_mpa_v1":
            return True
        frame = frame.f_back
    return False
