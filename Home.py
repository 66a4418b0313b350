"""Entry point: page config, navigation, global filters, then the chosen page.

Run with ``streamlit run Home.py``. Without OPS_DB_URL or secrets it builds
and uses the embedded demo database.
"""

from __future__ import annotations

import streamlit as st

from data_access.config import PROJECT_ROOT
from ui.data import page_guard, site_config
from ui.i18n import DEFAULT_LANG, LANGS, t
from ui.shell import build_context, leave_pages_folder_mode

# A local image: a Material icon here would be fetched from Google by the browser.
LOGO = PROJECT_ROOT / "assets" / "logo.png"

leave_pages_folder_mode()

if "lang" not in st.session_state:
    lang = st.query_params.get("lang", DEFAULT_LANG)
    st.session_state["lang"] = lang if lang in LANGS else DEFAULT_LANG

st.set_page_config(page_title=t("app.title"), page_icon=str(LOGO), layout="wide")

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
    ("section_review", "throughput", "timer", "throughput"),
    ("section_review", "warnings", "traffic", "warnings"),
    ("section_review", "weekly_review", "event", "weekly-review"),
    ("section_review", "data_quality", "health_and_safety", "data-quality"),
    ("section_review", "import", "upload_file", "import"),
)

PAGES: dict[str, list[st.Page]] = {}
for section, stem, icon, url_path in NAVIGATION:
    PAGES.setdefault(t(f"nav.{section}"), []).append(
        st.Page(
            f"pages/{url_path}.py",
            title=t(f"nav.{stem}"),
            icon=f":material/{icon}:",
            url_path=url_path,
            default=stem == NAVIGATION[0][1],
        )
    )

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
