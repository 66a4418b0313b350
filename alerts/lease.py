"""One alert service per app-state database: a lease row with an expiry.

Two evaluators on one app-state database (a second host, a unit started
twice, ``alerts once`` from cron beside ``alerts run``) would each notify
every transition. Before each pass a service takes or renews the lease
``alert_service_lease(name = "evaluator")``: it holds it when the row is
its own or the previous holder's has expired (it stopped renewing, e.g.
killed), or the holder is a process of this host that no longer runs (a
service restarted after a kill -9 resumes at once instead of waiting for
the expiry). A service that does not hold it stands by and says who does.
The lease outlives a pass by ``ttl``; a clean stop releases it.

Taking the lease is one conditional UPDATE (or the first INSERT) in one
transaction, so two services racing for it cannot both win.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    and_,
    delete,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

import appstate
from appstate.alerts import naive_utc

LEASE_NAME = "evaluator"

metadata = MetaData()

alert_service_lease = Table(
    "alert_service_lease",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", DateTime, nullable=False),
)


def new_holder() -> str:
    """This process's holder name: host, pid and a random part (a restarted
    process is a new holder, and waits for the old lease to expire)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _gone(holder: str) -> bool:
    """True when ``holder`` names a process of this host that has ended."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it runs, as another user
        return False
    return False


@dataclass(frozen=True)
class LeaseState:
    """``held``: this holder has the lease until ``expires_at`` (naive UTC);
    otherwise ``holder`` has it until then."""

    held: bool
    holder: str
    expires_at: datetime


def acquire(engine: Engine, holder: str, now_utc: datetime, ttl: timedelta) -> LeaseState:
    """Take or renew the lease for ``ttl`` from ``now_utc``."""
    now = naive_utc(now_utc)
    until = now + ttl
    c = alert_service_lease.c
    with appstate.begin(engine, metadata) as conn:
        taken = conn.execute(
            update(alert_service_lease)
            .where(c.name == LEASE_NAME, or_(c.holder == holder, c.expires_at < now))
            .values(holder=holder, expires_at=until)
        ).rowcount
        if taken:
            return LeaseState(True, holder, until)
        row = conn.execute(select(c.holder, c.expires_at).where(c.name == LEASE_NAME)).one_or_none()
        if row is not None and _gone(str(row.holder)):
            taken = conn.execute(
                update(alert_service_lease)
                .where(c.name == LEASE_NAME, c.holder == row.holder)
                .values(holder=holder, expires_at=until)
            ).rowcount
            if taken:
                return LeaseState(True, holder, until)
        if row is not None:
            return LeaseState(False, str(row.holder), row.expires_at)
    try:  # no lease row yet: the first INSERT wins, a racing one fails
        with appstate.begin(engine, metadata) as conn:
            conn.execute(
                alert_service_lease.insert().values(
                    name=LEASE_NAME, holder=holder, expires_at=until
                )
            )
        return LeaseState(True, holder, until)
    except appstate.AppStateError as exc:
        if not isinstance(exc.__cause__, IntegrityError):
            raise
        return acquire(engine, holder, now_utc, ttl)


def release(engine: Engine, holder: str) -> None:
    """Give the lease up (a clean stop), so a successor need not wait."""
    c = alert_service_lease.c
    with appstate.begin(engine, metadata) as conn:
        conn.execute(
            delete(alert_service_lease).where(and_(c.name == LEASE_NAME, c.holder == holder))
        )
