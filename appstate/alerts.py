"""The alert service's tables in the app-state database (:mod:`appstate`).

Tables, on their own ``MetaData``:

- ``alert_instance``: one row per rule instance (fingerprint of the rule and
  its labels, never of measured values): ``state`` pending / firing /
  resolved, ``unknown`` when the last evaluation could not tell, when it
  became active, fired, resolved, was last notified;
- ``alert_outbox``: one row per notification owed to a channel, with its
  idempotency key, status (``pending``, ``retrying``, ``sent``, ``failed``,
  ``digested`` into a digest row) and next attempt;
- ``alert_delivery``: one row per delivery attempt (outcome, HTTP status,
  ``errcode``, error, milliseconds);
- ``alert_silence``: label matchers with an end time, created and expired
  from the alerts page;
- ``alert_rule_status``: each rule's last evaluation (``ok``, ``unknown``
  with the error, ``disabled``).

Here are the rows' storage and listings; the state machine that moves the
instances on (and knows the rules) is :mod:`alerts.state`.

All times are naive UTC (:func:`naive_utc`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.mysql import MEDIUMTEXT

import appstate


def naive_utc(when: datetime) -> datetime:
    """``when`` in UTC without tzinfo, whole seconds (the tables' convention;
    MariaDB's DATETIME keeps no fraction)."""
    return when.astimezone(UTC).replace(tzinfo=None, microsecond=0)


metadata = MetaData()

#: Up to 16 MB: MySQL/MariaDB make it MEDIUMTEXT (plain TEXT stops at 64 KB,
#: a few hundred alerts in one message).
BigText = Text().with_variant(MEDIUMTEXT(), "mysql", "mariadb")

alert_instance = Table(
    "alert_instance",
    metadata,
    Column("fingerprint", String(64), primary_key=True),
    Column("rule", String(64), nullable=False),
    Column("labels", BigText, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("district_code", String(16), nullable=False, default=""),
    Column("street_code", String(16), nullable=False, default=""),
    Column("state", String(16), nullable=False),
    Column("unknown", Boolean, nullable=False, default=False),
    Column("unknown_detail", String(300), nullable=False, default=""),
    Column("active_since", DateTime, nullable=False),
    Column("firing_since", DateTime),
    Column("resolved_at", DateTime),
    Column("last_seen_at", DateTime, nullable=False),
    Column("notified_at", DateTime),
    Column("resolved_notified", Boolean, nullable=False, default=False),
    Column("muted", String(32), nullable=False, default=""),
    Column("snapshot", BigText, nullable=False),
    Index("ix_alert_instance_rule", "rule", "state"),
)

alert_outbox = Table(
    "alert_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime, nullable=False),
    Column("condition_at", DateTime),
    Column("rule", String(64), nullable=False),
    Column("group_key", String(300), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("payload", BigText, nullable=False),
    Column("idempotency_key", String(64), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime, nullable=False),
    Column("last_error", String(500), nullable=False, default=""),
    Column("sent_at", DateTime),
    Column("digest_id", Integer),
    Index("ix_alert_outbox_due", "status", "next_attempt_at"),
)

alert_delivery = Table(
    "alert_delivery",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("outbox_id", Integer, nullable=False),
    Column("channel", String(64), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", DateTime, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("http_status", Integer),
    Column("errcode", Integer),
    Column("error", String(500), nullable=False, default=""),
    Column("elapsed_ms", Float, nullable=False, default=0.0),
    Index("ix_alert_delivery_channel_at", "channel", "at"),
    Index("ix_alert_delivery_outbox", "outbox_id"),
)

alert_silence = Table(
    "alert_silence",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("matchers", BigText, nullable=False),
    Column("comment", String(500), nullable=False, default=""),
    Column("created_by", String(200), nullable=False, default=""),
    Column("created_at", DateTime, nullable=False),
    Column("starts_at", DateTime, nullable=False),
    Column("ends_at", DateTime, nullable=False),
    Column("expired_at", DateTime),
)

alert_rule_status = Table(
    "alert_rule_status",
    metadata,
    Column("rule", String(64), primary_key=True),
    Column("evaluated_at", DateTime, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("detail", String(500), nullable=False, default=""),
    Column("instances", Integer, nullable=False, default=0),
)

STATES = ("pending", "firing", "resolved")
OUTBOX_STATUSES = ("pending", "retrying", "sent", "failed", "digested")


def row_dict(r: Any) -> dict[str, Any]:
    return dict(r._mapping)


def active_silences(conn: Connection, now: datetime) -> list[tuple[int, dict[str, str]]]:
    s = alert_silence.c
    rows = conn.execute(
        select(s.id, s.matchers).where(s.starts_at <= now, s.ends_at > now, s.expired_at.is_(None))
    ).all()
    return [(int(i), json.loads(m)) for i, m in rows]


def save_instance(conn: Connection, row: dict[str, Any], insert: bool) -> None:
    if insert:
        conn.execute(alert_instance.insert().values(**row))
    else:
        fp = row["fingerprint"]
        values = {k: v for k, v in row.items() if k != "fingerprint"}
        conn.execute(
            update(alert_instance).where(alert_instance.c.fingerprint == fp).values(**values)
        )


def enqueue(
    conn: Connection,
    *,
    rule: str,
    group: str,
    channel: str,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
    condition_at: datetime | None = None,
) -> int:
    """Insert one outbox row (due now) and return its id."""
    res = conn.execute(
        alert_outbox.insert().values(
            created_at=now,
            condition_at=condition_at,
            rule=rule,
            group_key=group,
            channel=channel,
            kind=kind,
            payload=json.dumps(payload, ensure_ascii=False, default=str),
            idempotency_key=uuid.uuid4().hex,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            last_error="",
        )
    )
    return int(res.inserted_primary_key[0])  # type: ignore[index]


def set_rule_status(
    conn: Connection, rule: str, now: datetime, outcome: str, detail: str, instances: int
) -> None:
    s = alert_rule_status.c
    values: dict[str, Any] = {"evaluated_at": now, "outcome": outcome, "detail": detail[:500]}
    if outcome == "ok":
        values["instances"] = instances
    updated = conn.execute(update(alert_rule_status).where(s.rule == rule).values(**values))
    if updated.rowcount == 0:
        conn.execute(alert_rule_status.insert().values(**{"instances": 0, **values, "rule": rule}))


def purge(engine: Engine, now_utc: datetime, days: float) -> int:
    """Delete settled outbox rows (sent, failed, digested) created more than
    ``days`` days ago with their deliveries, and silences ended as long
    ago; returns the outbox rows deleted."""
    cutoff = naive_utc(now_utc) - timedelta(days=days)
    o, d, s = alert_outbox.c, alert_delivery.c, alert_silence.c
    old = select(o.id).where(o.status.in_(("sent", "failed", "digested")), o.created_at < cutoff)
    with appstate.begin(engine, metadata) as conn:
        ids = [int(i) for i in conn.execute(old).scalars()]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            conn.execute(delete(alert_delivery).where(d.outbox_id.in_(chunk)))
            conn.execute(delete(alert_outbox).where(o.id.in_(chunk)))
        conn.execute(delete(alert_silence).where(s.ends_at < cutoff))
    return len(ids)


# ---------------------------------------------------------------------------
# Reading, for the page and `status`

INSTANCE_COLUMNS = [
    "fingerprint",
    "rule",
    "kind",
    "severity",
    "state",
    "unknown",
    "unknown_detail",
    "district_code",
    "street_code",
    "subject",
    "active_since",
    "firing_since",
    "resolved_at",
    "notified_at",
    "muted",
    "values",
]


def instances(
    engine: Engine, scope: Sequence[str] | None = None, limit: int = 1000
) -> pd.DataFrame:
    """Alert instances, firing first, then pending, then resolved (newest
    first within each); only streets in ``scope`` when given (instances of
    no street are then left out). Columns :data:`INSTANCE_COLUMNS`
    (``values``: the figures, a dict; times naive UTC)."""
    c = alert_instance.c
    q = select(alert_instance).order_by(c.last_seen_at.desc()).limit(limit)
    if scope is not None:
        q = q.where(c.street_code.in_(list(scope) or [""]), c.street_code != "")
    with appstate.begin(engine, metadata) as conn:
        rows = [row_dict(r) for r in conn.execute(q)]
    out = []
    for r in rows:
        snap = json.loads(r["snapshot"])
        out.append(
            {
                **{k: r.get(k) for k in INSTANCE_COLUMNS if k in r},
                "subject": snap["labels"].get("subject", ""),
                "kind": snap.get("kind", ""),
                "values": snap.get("values", {}),
            }
        )
    frame = pd.DataFrame(out, columns=INSTANCE_COLUMNS)
    order = {"firing": 0, "pending": 1, "resolved": 2}
    frame["_o"] = frame["state"].map(order)
    frame = frame.sort_values(["_o", "active_since"], ascending=[True, False], kind="stable")
    return frame.drop(columns="_o").reset_index(drop=True)


OUTBOX_COLUMNS = [
    "id",
    "created_at",
    "rule",
    "group_key",
    "channel",
    "kind",
    "status",
    "attempts",
    "next_attempt_at",
    "last_error",
    "sent_at",
    "fingerprints",
]


def outbox(engine: Engine, limit: int = 500) -> pd.DataFrame:
    """Outbox rows, newest first; ``fingerprints``: the instances each
    carries (a list)."""
    o = alert_outbox.c
    with appstate.begin(engine, metadata) as conn:
        rows = [
            row_dict(r)
            for r in conn.execute(select(alert_outbox).order_by(o.id.desc()).limit(limit))
        ]
    out = []
    for r in rows:
        payload = json.loads(r["payload"])
        fps = [a.get("fingerprint", "") for a in payload.get("alerts", [])]
        out.append({**{k: r[k] for k in OUTBOX_COLUMNS if k in r}, "fingerprints": fps})
    return pd.DataFrame(out, columns=OUTBOX_COLUMNS)


def deliveries(engine: Engine, limit: int = 1000) -> pd.DataFrame:
    """Delivery attempts, newest first (every ``alert_delivery`` column)."""
    d = alert_delivery.c
    with appstate.begin(engine, metadata) as conn:
        rows = conn.execute(select(alert_delivery).order_by(d.id.desc()).limit(limit)).all()
    return pd.DataFrame(rows, columns=[c.name for c in alert_delivery.c])


def rule_status(engine: Engine) -> pd.DataFrame:
    """Each rule's last evaluation (every ``alert_rule_status`` column)."""
    s = alert_rule_status.c
    with appstate.begin(engine, metadata) as conn:
        rows = conn.execute(select(alert_rule_status).order_by(s.rule)).all()
    return pd.DataFrame(rows, columns=[c.name for c in alert_rule_status.c])


CHANNEL_HEALTH_COLUMNS = [
    "channel", "pending", "retrying", "sent", "failed", "digested",
    "last_at", "last_outcome", "last_error",
]  # fmt: skip


def channel_health(engine: Engine) -> pd.DataFrame:
    """Per channel: outbox rows by status, and its last attempt (``at``
    naive UTC, ``outcome`` sent/retry/failed, ``error``). Columns
    :data:`CHANNEL_HEALTH_COLUMNS`; channels by name."""
    o, d = alert_outbox.c, alert_delivery.c
    with appstate.begin(engine, metadata) as conn:
        counts = conn.execute(
            select(o.channel, o.status, func.count()).group_by(o.channel, o.status)
        ).all()
        last_id = select(func.max(d.id)).group_by(d.channel).scalar_subquery()
        last = conn.execute(
            select(d.channel, d.at, d.outcome, d.error).where(d.id.in_(last_id))
        ).all()
    table: dict[str, dict[str, Any]] = {}
    for ch, status, n in counts:
        table.setdefault(ch, {})[status] = int(n)
    for ch, at, outcome, error in last:
        table.setdefault(ch, {}).update(last_at=at, last_outcome=outcome, last_error=error)
    rows = [
        {"channel": ch, **{s: v.get(s, 0) for s in OUTBOX_STATUSES},
         "last_at": v.get("last_at"), "last_outcome": v.get("last_outcome", ""),
         "last_error": v.get("last_error", "")}
        for ch, v in sorted(table.items())
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=CHANNEL_HEALTH_COLUMNS)


def outbox_counts(engine: Engine) -> dict[str, int]:
    o = alert_outbox.c
    with appstate.begin(engine, metadata) as conn:
        rows = conn.execute(select(o.status, func.count()).group_by(o.status)).all()
    return {str(s): int(n) for s, n in rows}


# ---------------------------------------------------------------------------
# Silences

SILENCE_COLUMNS = [
    "id",
    "matchers",
    "comment",
    "created_by",
    "created_at",
    "starts_at",
    "ends_at",
    "expired_at",
    "active",
]


def create_silence(
    engine: Engine,
    matchers: dict[str, str],
    ends_at_utc: datetime,
    now_utc: datetime,
    created_by: str = "",
    comment: str = "",
) -> int:
    """Store a silence (``matchers``: label -> value, at least one) until
    ``ends_at_utc``; returns its id."""
    clean = {k: str(v).strip() for k, v in matchers.items() if str(v).strip()}
    if not clean:
        raise ValueError("a silence needs at least one matcher")
    now = naive_utc(now_utc)
    ends = naive_utc(ends_at_utc)
    if ends <= now:
        raise ValueError("a silence must end in the future")
    with appstate.begin(engine, metadata) as conn:
        res = conn.execute(
            alert_silence.insert().values(
                matchers=json.dumps(clean, sort_keys=True, ensure_ascii=False),
                comment=comment[:500],
                created_by=created_by[:200],
                created_at=now,
                starts_at=now,
                ends_at=ends,
                expired_at=None,
            )
        )
        return int(res.inserted_primary_key[0])  # type: ignore[index]


def expire_silence(engine: Engine, silence_id: int, now_utc: datetime) -> bool:
    """End a silence now; False when it was not active."""
    now = naive_utc(now_utc)
    s = alert_silence.c
    with appstate.begin(engine, metadata) as conn:
        res = conn.execute(
            update(alert_silence)
            .where(s.id == silence_id, s.expired_at.is_(None), s.ends_at > now)
            .values(expired_at=now)
        )
        return bool(res.rowcount)


def silences(engine: Engine, now_utc: datetime, limit: int = 200) -> pd.DataFrame:
    """Silences, newest first; ``matchers`` a dict, ``active`` now."""
    now = naive_utc(now_utc)
    s = alert_silence.c
    with appstate.begin(engine, metadata) as conn:
        rows = [
            row_dict(r)
            for r in conn.execute(select(alert_silence).order_by(s.id.desc()).limit(limit))
        ]
    out = []
    for r in rows:
        active = r["expired_at"] is None and r["starts_at"] <= now < r["ends_at"]
        out.append({**r, "matchers": json.loads(r["matchers"]), "active": active})
    return pd.DataFrame(out, columns=SILENCE_COLUMNS)
