"""The session's user: identity, role, scope (interim: no login modes yet).

Pages call :func:`current_principal` and :func:`allowed`; writes to the
audit log go through :func:`audit_event`.
"""

from __future__ import annotations

import streamlit as st

from data_access import audit
from data_access.access import PERMISSIONS, Principal
from ui.data import appstate_engine


def current_principal() -> Principal:
    """The session's principal. Interim: no login is configured, everyone
    is an administrator of the whole site."""
    return Principal(name="", role="admin", scope=None, permissions=frozenset(PERMISSIONS))


def allowed(permission: str) -> bool:
    return current_principal().can(permission)


def client_address() -> str:
    try:
        return str(st.context.ip_address or "")
    except Exception:
        return ""


def audit_event(
    action: str, target: str = "", query: str = "", reason: str = "", outcome: str = "ok"
) -> int:
    """Write one audit row for the session's principal (raises
    :class:`~data_access.appstate.AppStateError` when it cannot)."""
    p = current_principal()
    return audit.record(
        appstate_engine(),
        actor=p.name or "anonymous",
        role=p.role,
        auth_mode=p.mode,
        action=action,
        target=target,
        query=query,
        reason=reason,
        client_addr=client_address(),
        outcome=outcome,
    )
