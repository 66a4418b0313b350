"""审计日志 Audit log: who revealed, exported or was refused what, when, from where.

Administrators only (the ``audit`` permission). Rows come from the
app-state database (:mod:`appstate.audit`), newest first.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import streamlit as st

from appstate import audit
from ui import tables as ui_tables
from ui.audit_view import display_rows
from ui.auth import access_config, allowed, audited_download, refuse
from ui.data import appstate_engine, page_guard
from ui.i18n import current_lang, t
from ui.shell import context, footer

ctx = context()
st.title(t("nav.audit"))

if not allowed("audit"):  # Home.py keeps it out of the menu; a page run alone too
    refuse("/audit", "page_refused", page=t("nav.audit"))
    st.stop()

with page_guard():
    cfg = access_config()
    zone = ZoneInfo(ctx.cfg.timezone)
    st.caption(t("audit.retention", days=cfg.retention_days))
    # Audit rows carry the real time (never OPS_NOW, the data's clock for a
    # replayed day): the default week is the real one.
    today = datetime.now(zone).date()
    c1, c2, c3 = st.columns([2, 2, 2])
    dates = c1.date_input(
        t("audit.dates"), value=(today - timedelta(days=6), today), key="audit_dates"
    )
    start, end = (
        (dates[0], dates[-1]) if isinstance(dates, tuple | list) and dates else (today, today)
    )
    actions = c2.multiselect(
        t("audit.actions"),
        list(audit.ACTIONS),
        key="audit_actions",
        format_func=lambda a: t(f"audit.action.{a}"),
        placeholder=t("audit.all_actions"),
    )
    actor = c3.text_input(t("audit.actor"), key="audit_actor").strip() or None

    def to_utc(d: datetime) -> datetime:
        return d.replace(tzinfo=zone).astimezone(UTC).replace(tzinfo=None)

    since = to_utc(datetime.combine(start, time.min))
    until = to_utc(datetime.combine(end + timedelta(days=1), time.min))
    rows = audit.recent(
        appstate_engine(), since_utc=since, until_utc=until, actions=actions, actor=actor
    )
    shown = rows.assign(
        at=rows["at_utc"].dt.tz_localize(UTC).dt.tz_convert(zone).dt.tz_localize(None)
    )
    st.metric(t("audit.rows"), f"{len(rows):,}")
    if rows.empty:  # (an empty grid says "empty", in English)
        st.info(t("audit.no_rows"), icon=":material/search_off:")
    else:
        st.caption(t("audit.codes_note"))
        st.dataframe(
            display_rows(shown, current_lang())[["at", "actor", "role", "auth_mode", "action",
                                                 "target", "query", "reason", "client_addr",
                                                 "outcome"]],
            hide_index=True,
            column_config={
                "at": ui_tables.when(t("audit.col.at"), seconds=True),
                **{c: ui_tables.text(t(f"audit.col.{c}")) for c in ("actor", "role", "auth_mode", "action",
                                                      "target", "query", "reason", "client_addr",
                                                      "outcome")},
            }, placeholder="—"
        )  # fmt: skip
    audited_download(
        st,
        t("audit.download"),
        lambda: shown.to_csv(index=False).encode("utf-8-sig"),
        action="export",
        query=f"audit log {start}..{end} actions={','.join(actions) or 'all'} actor={actor or 'all'}",
        file_name=f"audit_{start}_{end}.csv",
        mime="text/csv",
        icon=":material/download:",
    )

footer(ctx)
