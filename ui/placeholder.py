"""An honest page for a capability that is not built yet: it shows no data."""

from __future__ import annotations

import streamlit as st

from ui.i18n import t


def placeholder_page(key: str, issue: int) -> None:
    st.title(t("placeholder.heading", page=t(f"nav.{key}")))
    st.info(
        t("placeholder.body") + "\n\n" + t(f"placeholder.{key}"), icon=":material/construction:"
    )
    st.caption(t("placeholder.issue", n=issue))
