"""Entry point: page config, navigation, global filters, then the chosen page.

Run with ``streamlit run Home.py``. Without OPS_DB_URL or secrets it builds
and uses the embedded demo database.
"""

from __future__ import annotations

import streamlit as st

from data_access.config import PROJECT_ROOT
from ui.data import page_guard, site_config
from ui.i18n import DEFAULT_LANG, LANGS, t
from ui.shell import build_context

# A local image: a Material icon here would be fetched from Google by the browser.
LOGO = PROJECT_ROOT / "assets" / "logo.png"

if "lang" not in st.session_state:
    lang = st.query_params.get("lang", DEFAULT_LANG)
    st.session_state["lang"] = lang if lang in LANGS else DEFAULT_LANG

st.set_page_config(page_title=t("app.title"), page_icon=str(LOGO), layout="wide")

PAGES = {
    t("nav.section_monitor"): [
        st.Page(
            "pages/overview.py",
            title=t("nav.overview"),
            icon=":material/home:",
            url_path="overview",
            default=True,
        ),
        st.Page(
            "pages/crowd_map.py",
            title=t("nav.crowd_map"),
            icon=":material/groups:",
            url_path="crowd-map",
        ),
        st.Page(
            "pages/incident_map.py",
            title=t("nav.incident_map"),
            icon=":material/location_on:",
            url_path="incident-map",
        ),
        st.Page(
            "pages/command_screen.py",
            title=t("nav.command_screen"),
            icon=":material/tv:",
            url_path="command-screen",
        ),
    ],
    t("nav.section_review"): [
        st.Page(
            "pages/throughput.py",
            title=t("nav.throughput"),
            icon=":material/timer:",
            url_path="throughput",
        ),
        st.Page(
            "pages/warnings.py",
            title=t("nav.warnings"),
            icon=":material/traffic:",
            url_path="warnings",
        ),
        st.Page(
            "pages/weekly_review.py",
            title=t("nav.weekly_review"),
            icon=":material/event:",
            url_path="weekly-review",
        ),
        st.Page(
            "pages/data_quality.py",
            title=t("nav.data_quality"),
            icon=":material/health_and_safety:",
            url_path="data-quality",
        ),
    ],
}

page = st.navigation(PAGES)
st.sidebar.caption(t("app.title"))

ready = False
with page_guard():
    build_context()
    ready = True

if ready:
    page.run()
else:
    # The database was away when this page started: try again by itself
    # every screen.refresh_s seconds (an unattended wall must recover).
    st.session_state["_start_retry_armed"] = False

    @st.fragment(run_every=site_config().screen.refresh_s)
    def _retry_start() -> None:
        if st.session_state.get("_start_retry_armed"):
            st.rerun(scope="app")
        st.session_state["_start_retry_armed"] = True

    _retry_start()
