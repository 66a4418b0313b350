"""Reveal one case's personal data, with a stated reason, audited.

Shown under a case list for a role with ``unmask``
(``config/access.toml``). On submit: the case is read within the user's
scope (a case outside it is refused and audited ``denied``); then the
``unmask`` audit row is written, and only if that succeeds are the name,
phone and address shown. Exactly one audit row per reveal.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

import streamlit as st

from appstate import AppStateError
from data_access.filters import AreaFilter
from data_access.privacy import RevealRefused, reveal_case
from ui.auth import access_config, allowed, audit_event, describe_filter
from ui.data import load_uncached
from ui.i18n import t


def reveal_form(case_ids: Iterable[Any], area: AreaFilter, key: str) -> None:
    """The reveal form for the listed cases (``case_ids``) of ``area``;
    nothing for a role without ``unmask``."""
    if not allowed("unmask"):
        st.caption(":material/lock: " + t("reveal.masked_note"))
        return
    ids = sorted({str(i) for i in case_ids})
    minimum = access_config().reason_min_chars
    with st.expander(t("reveal.title"), icon=":material/visibility:"):
        with st.form(key):
            case_id = st.selectbox(t("reveal.case"), ids, key=f"{key}_case")
            reason = st.text_area(
                t("reveal.reason"), key=f"{key}_reason", help=t("reveal.reason_help", n=minimum)
            )
            submitted = st.form_submit_button(t("reveal.submit"), icon=":material/visibility:")
        if submitted:
            reveal(case_id, reason, area, minimum)


def reveal(case_id: str | None, reason: str, area: AreaFilter, minimum: int) -> None:
    """Check, read, audit, then show (see the module docstring)."""
    reason = (reason or "").strip()
    if not case_id:
        st.warning(t("reveal.pick_case"), icon=":material/warning:")
        return
    if len(reason) < minimum:
        st.warning(t("reveal.reason_short", n=minimum), icon=":material/edit_note:")
        return
    query = describe_filter(area)
    try:
        row = load_uncached(reveal_case, case_id)
    except RevealRefused:
        with contextlib.suppress(AppStateError):  # the refusal stands either way
            audit_event(
                "denied", target=f"case {case_id}", query=query, reason=reason, outcome="refused"
            )
        st.error(t("reveal.refused", case=case_id), icon=":material/block:")
        return
    try:
        audit_event("unmask", target=f"case {case_id}", query=query, reason=reason)
    except AppStateError as exc:
        st.error(t("reveal.audit_failed", detail=str(exc)), icon=":material/database:")
        return
    first = row.iloc[0]
    st.success(t("reveal.shown", case=case_id), icon=":material/visibility:")
    st.markdown(
        "\n".join(
            f"- **{t(f'reveal.col_{c}')}**: {first[c] if first[c] is not None else '—'}"
            for c in ("reporter_name", "reporter_phone", "address")
        )
    )
