"""The audit log: who saw or took which personal data, and who changed what.

Written to the app-state database (:mod:`appstate`), never the
operational one. One row per event:

- ``at_utc``: when, UTC (naive; the page shows it in the site's zone);
- ``actor``: the user (OIDC e-mail or subject, the proxy's user header,
  each lower-cased but a subject; or ``wall:<name>``), ``role`` and
  ``auth_mode`` (``oidc``, ``proxy``, ``wall``, ``none``);
- ``action``: ``unmask`` (one case's personal data revealed), ``export``
  (a download), ``pack`` (a weekly pack download), ``denied`` (a refused
  attempt: a URL, export or page outside the user's rights), ``silence``
  (an alert silence created or expired), ``import`` (an upload loaded), or
  ``login``/``logout``;
- ``target``: what (a case id, a file name, a page);
- ``query``: the filter behind it (district, streets, dates, as text);
- ``reason``: the user's stated reason (required for ``unmask``);
- ``client_addr``: the browser's address as the server saw it;
- ``outcome``: ``ok`` or ``refused``.

:func:`purge` deletes rows older than the retention (``access.toml``
``audit.retention_days``, default 180).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    func,
    select,
)

import appstate

ACTIONS = ("unmask", "export", "pack", "denied", "silence", "import", "login", "logout")
DEFAULT_RETENTION_DAYS = 180

metadata = MetaData()

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at_utc", DateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("role", String(32), nullable=False),
    Column("auth_mode", String(16), nullable=False),
    Column("action", String(16), nullable=False),
    Column("target", String(300), nullable=False, default=""),
    Column("query", String(1000), nullable=False, default=""),
    Column("reason", String(500), nullable=False, default=""),
    Column("client_addr", String(64), nullable=False, default=""),
    Column("outcome", String(16), nullable=False, default="ok"),
    Index("ix_audit_at", "at_utc"),
    Index("ix_audit_actor_at", "actor", "at_utc"),
)

AUDIT_COLUMNS = [c.name for c in audit_log.c]


def utc_now() -> datetime:
    """Now in UTC, naive (the column's convention)."""
    return datetime.now(UTC).replace(tzinfo=None)


def record(
    engine: Engine,
    *,
    actor: str,
    role: str,
    auth_mode: str,
    action: str,
    target: str = "",
    query: str = "",
    reason: str = "",
    client_addr: str = "",
    outcome: str = "ok",
    at_utc: datetime | None = None,
) -> int:
    """Write one audit row and return its id. Raises
    :class:`~appstate.AppStateError` when the app-state
    database cannot take it: callers that guard personal data must then
    refuse (no audit row, no reveal)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    row = {
        "at_utc": at_utc or utc_now(),
        "actor": actor[:200],
        "role": role[:32],
        "auth_mode": auth_mode[:16],
        "action": action,
        "target": target[:300],
        "query": query[:1000],
        "reason": reason[:500],
        "client_addr": (client_addr or "")[:64],
        "outcome": outcome[:16],
    }
    with appstate.begin(engine, metadata) as conn:
        result = conn.execute(audit_log.insert().values(**row))
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def recent(
    engine: Engine,
    *,
    since_utc: datetime | None = None,
    until_utc: datetime | None = None,
    actions: Sequence[str] = (),
    actor: str | None = None,
    limit: int = 5000,
) -> pd.DataFrame:
    """Audit rows, newest first, at most ``limit``; columns
    :data:`AUDIT_COLUMNS`. ``actor`` matches whatever the case (the
    actor is stored normalised, see :class:`~data_access.access.Identity`;
    rows from before that keep the spelling the login sent)."""
    c = audit_log.c
    q = select(audit_log).order_by(c.at_utc.desc(), c.id.desc()).limit(limit)
    if since_utc is not None:
        q = q.where(c.at_utc >= since_utc)
    if until_utc is not None:
        q = q.where(c.at_utc < until_utc)
    if actions:
        q = q.where(c.action.in_(list(actions)))
    if actor:
        q = q.where(func.lower(c.actor) == actor.strip().lower())
    with appstate.begin(engine, metadata) as conn:
        rows = conn.execute(q).all()
    frame = pd.DataFrame(rows, columns=AUDIT_COLUMNS)
    frame["at_utc"] = pd.to_datetime(frame["at_utc"])
    return frame


def count(engine: Engine, action: str | None = None) -> int:
    """Rows in the log (of one action)."""
    q = select(func.count()).select_from(audit_log)
    if action:
        q = q.where(audit_log.c.action == action)
    with appstate.begin(engine, metadata) as conn:
        return int(conn.execute(q).scalar_one())


def purge(engine: Engine, retention_days: int, now_utc: datetime | None = None) -> int:
    """Delete rows older than ``retention_days`` days; returns how many."""
    if retention_days <= 0:
        raise ValueError("retention_days must be positive")
    cutoff = (now_utc or utc_now()) - timedelta(days=retention_days)
    with appstate.begin(engine, metadata) as conn:
        return int(conn.execute(delete(audit_log).where(audit_log.c.at_utc < cutoff)).rowcount)
