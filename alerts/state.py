"""Alert state in the app-state database (:mod:`appstate`).

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

Transitions of one rule and the outbox rows they cause are written in one
transaction (:func:`apply_observations`): a crash loses neither, and a
restart does not notify again what was already owed.

All times are naive UTC.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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
from alerts.clock import local, naive_utc
from alerts.rules import SEVERITIES, AlertConfig, Rule

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


@dataclass(frozen=True)
class Observed:
    """One instance a rule found true now: ``labels`` (identity: rule,
    severity, district, street, subject) and ``values`` (figures and names
    for the message; never part of the identity)."""

    rule: str
    labels: dict[str, str]
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule, self.labels)


def fingerprint(rule: str, labels: dict[str, str]) -> str:
    """The dedup key: a hash of the rule and its sorted labels (64 hex)."""
    text = rule + "\x1f" + "\x1f".join(f"{k}={labels[k]}" for k in sorted(labels))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def group_key(rule: Rule, labels: dict[str, str]) -> str:
    """Instances of a rule with the same ``group_by`` labels share a message."""
    parts = [rule.name if k == "rule" else labels.get(k, "") for k in rule.group_by]
    return "/".join(parts)[:300]


def silence_matches(matchers: dict[str, str], labels: dict[str, str]) -> bool:
    """Every matcher equals the label (``*`` matches any value)."""
    return all(v == "*" or labels.get(k) == v for k, v in matchers.items())


def _active_silences(conn: Connection, now: datetime) -> list[tuple[int, dict[str, str]]]:
    s = alert_silence.c
    rows = conn.execute(
        select(s.id, s.matchers).where(s.starts_at <= now, s.ends_at > now, s.expired_at.is_(None))
    ).all()
    return [(int(i), json.loads(m)) for i, m in rows]


def _muted(
    rule: Rule,
    labels: dict[str, str],
    now: datetime,
    cfg: AlertConfig,
    timezone: str,
    silences: Sequence[tuple[int, dict[str, str]]],
) -> str:
    """``silence:<id>``, ``quiet`` or ``""``."""
    for sid, matchers in silences:
        if silence_matches(matchers, {**labels, "rule": rule.name}):
            return f"silence:{sid}"
    quiet = cfg.service.quiet_hours
    bypass = SEVERITIES.index(cfg.service.quiet_bypass)
    if quiet is not None and SEVERITIES.index(rule.severity) < bypass:
        t = local(now, timezone)
        if quiet.contains(t.hour * 60 + t.minute):
            return "quiet"
    return ""


def _row(r: Any) -> dict[str, Any]:
    return dict(r._mapping)


@dataclass
class PassResult:
    """What one rule's evaluation changed."""

    fired: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    outbox_ids: list[int] = field(default_factory=list)


def apply_observations(
    engine: Engine,
    cfg: AlertConfig,
    rule: Rule,
    observed: Iterable[Observed],
    now_utc: datetime,
    timezone: str,
) -> PassResult:
    """Move the rule's instances on, in one transaction with the outbox rows
    it owes: inactive -> pending (held ``pending_s``) -> firing (notified,
    again every ``repeat_s``) -> resolved (one notice when it had been
    notified and ``send_resolved``). Quiet hours (below
    ``service.quiet_bypass``) postpone a notification, a silence drops it."""
    now = naive_utc(now_utc)
    seen = {o.fingerprint: o for o in observed}
    result = PassResult()
    c = alert_instance.c
    with appstate.begin(engine, metadata) as conn:
        existing = {
            r["fingerprint"]: r
            for r in map(_row, conn.execute(select(alert_instance).where(c.rule == rule.name)))
        }
        silences = _active_silences(conn, now)
        due: list[tuple[dict[str, Any], str]] = []  # (row, firing|resolved)
        for fp, o in seen.items():
            prev = existing.get(fp)
            labels = o.labels
            snapshot = json.dumps(
                {"labels": labels, "kind": rule.kind, "values": o.values}, default=str
            )
            if prev is None or prev["state"] == "resolved":
                row: dict[str, Any] = {
                    "fingerprint": fp,
                    "rule": rule.name,
                    "labels": json.dumps(labels, sort_keys=True),
                    "severity": rule.severity,
                    "district_code": labels.get("district", ""),
                    "street_code": labels.get("street", ""),
                    "state": "pending",
                    "unknown": False,
                    "unknown_detail": "",
                    "active_since": now,
                    "firing_since": None,
                    "resolved_at": None,
                    "last_seen_at": now,
                    "notified_at": None,
                    "resolved_notified": False,
                    "muted": "",
                    "snapshot": snapshot,
                }
            else:
                row = {
                    **prev,
                    "last_seen_at": now,
                    "snapshot": snapshot,
                    "unknown": False,
                    "unknown_detail": "",
                }
            if row["state"] == "pending" and now - row["active_since"] >= timedelta(
                seconds=rule.pending_s
            ):
                row["state"] = "firing"
                row["firing_since"] = now
                result.fired.append(fp)
            elif row["state"] == "pending":
                result.pending.append(fp)
            row["muted"] = _muted(rule, labels, now_utc, cfg, timezone, silences)
            if row["state"] == "firing" and not row["muted"]:
                last = row["notified_at"]
                if last is None or now - last >= timedelta(seconds=rule.repeat_s):
                    due.append((row, "firing"))
            _save(conn, row, insert=prev is None)
        for fp, prev in existing.items():
            if fp in seen or (prev["state"] == "resolved" and prev["resolved_notified"]):
                continue  # settled: nothing to write
            row = {**prev, "unknown": False, "unknown_detail": ""}
            if prev["state"] == "pending":  # never fired: forgotten
                conn.execute(delete(alert_instance).where(c.fingerprint == fp))
                continue
            if prev["state"] == "firing":
                row["state"] = "resolved"
                row["resolved_at"] = now
                result.resolved.append(fp)
            if row["state"] == "resolved" and not row["resolved_notified"]:
                labels = json.loads(row["labels"])
                row["muted"] = _muted(rule, labels, now_utc, cfg, timezone, silences)
                if row["notified_at"] is None or not rule.send_resolved:
                    row["resolved_notified"] = True  # nothing was said, nothing to take back
                elif row["muted"].startswith("silence"):
                    row["resolved_notified"] = True
                elif not row["muted"]:
                    due.append((row, "resolved"))
            _save(conn, row, insert=False)
        result.outbox_ids = _enqueue(conn, cfg, rule, due, now)
        for row, what in due:
            values = {"notified_at": now} if what == "firing" else {"resolved_notified": True}
            conn.execute(
                update(alert_instance).where(c.fingerprint == row["fingerprint"]).values(**values)
            )
        retention = timedelta(hours=cfg.service.resolved_retention_h)
        conn.execute(
            delete(alert_instance).where(
                c.rule == rule.name, c.state == "resolved", c.resolved_at < now - retention
            )
        )
        _rule_status(conn, rule.name, now, "ok", "", len(seen))
    return result


def _save(conn: Connection, row: dict[str, Any], insert: bool) -> None:
    if insert:
        conn.execute(alert_instance.insert().values(**row))
    else:
        fp = row["fingerprint"]
        values = {k: v for k, v in row.items() if k != "fingerprint"}
        conn.execute(
            update(alert_instance).where(alert_instance.c.fingerprint == fp).values(**values)
        )


def _enqueue(
    conn: Connection,
    cfg: AlertConfig,
    rule: Rule,
    due: list[tuple[dict[str, Any], str]],
    now: datetime,
) -> list[int]:
    """One outbox row per (group, channel) of the due instances."""
    batches: dict[tuple[str, str], list[tuple[dict[str, Any], str]]] = {}
    for row, what in due:
        labels = json.loads(row["labels"])
        for ch in cfg.channels_for(rule, labels):
            batches.setdefault((group_key(rule, labels), ch), []).append((row, what))
    ids = []
    for (gkey, ch), items in sorted(batches.items()):
        alerts = [
            {
                "fingerprint": row["fingerprint"],
                "status": what,
                "rule": rule.name,
                "kind": rule.kind,
                "severity": rule.severity,
                "active_since": row["active_since"].isoformat(),
                "resolved_at": row["resolved_at"].isoformat() if row["resolved_at"] else None,
                **json.loads(row["snapshot"]),
            }
            for row, what in items
        ]
        firing = any(a["status"] == "firing" for a in alerts)
        ids.append(
            enqueue(
                conn,
                rule=rule.name,
                group=gkey,
                channel=ch,
                kind="firing" if firing else "resolved",
                payload={"title_zh": rule.title_zh, "title_en": rule.title_en, "alerts": alerts},
                now=now,
                condition_at=min(row["active_since"] for row, _ in items),
            )
        )
    return ids


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


def _rule_status(
    conn: Connection, rule: str, now: datetime, outcome: str, detail: str, instances: int
) -> None:
    s = alert_rule_status.c
    values: dict[str, Any] = {"evaluated_at": now, "outcome": outcome, "detail": detail[:500]}
    if outcome == "ok":
        values["instances"] = instances
    updated = conn.execute(update(alert_rule_status).where(s.rule == rule).values(**values))
    if updated.rowcount == 0:
        conn.execute(alert_rule_status.insert().values(**{"instances": 0, **values, "rule": rule}))


def mark_unknown(engine: Engine, rule: Rule, detail: str, now_utc: datetime) -> None:
    """The rule's query failed: its instances keep their state (no firing,
    no resolving), marked unknown with the error."""
    now = naive_utc(now_utc)
    with appstate.begin(engine, metadata) as conn:
        conn.execute(
            update(alert_instance)
            .where(alert_instance.c.rule == rule.name, alert_instance.c.state != "resolved")
            .values(unknown=True, unknown_detail=detail[:300])
        )
        _rule_status(conn, rule.name, now, "unknown", detail, 0)


def mark_disabled(
    engine: Engine,
    names: Iterable[str],
    detail: str,
    now_utc: datetime,
    outcome: str = "disabled",
) -> None:
    """Rules switched off or refused by the configuration (``disabled``),
    or with nothing to judge at this site (``not_judged``: no target for
    their milestone): not evaluated, so their open instances are unknown
    (kept, neither firing on nor resolving)."""
    now = naive_utc(now_utc)
    c = alert_instance.c
    prefix = "rule disabled" if outcome == "disabled" else "rule not evaluated"
    with appstate.begin(engine, metadata) as conn:
        for name in names:
            conn.execute(
                update(alert_instance)
                .where(c.rule == name, c.state != "resolved")
                .values(unknown=True, unknown_detail=f"{prefix}: {detail}"[:300])
            )
            _rule_status(conn, name, now, outcome, detail, 0)


def retire_rules(engine: Engine, keep: Iterable[str], now_utc: datetime) -> int:
    """Rules no longer in the configuration: their pending instances are
    dropped, firing ones resolved without a notice, their status row
    removed. Returns the instances touched."""
    now = naive_utc(now_utc)
    names = list(keep) or [""]
    c = alert_instance.c
    gone = c.rule.not_in(names)
    with appstate.begin(engine, metadata) as conn:
        n = conn.execute(delete(alert_instance).where(gone, c.state == "pending")).rowcount
        n += conn.execute(
            update(alert_instance)
            .where(gone, c.state == "firing")
            .values(state="resolved", resolved_at=now, resolved_notified=True, unknown=False)
        ).rowcount
        conn.execute(delete(alert_rule_status).where(alert_rule_status.c.rule.not_in(names)))
    return int(n)


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
        rows = [_row(r) for r in conn.execute(q)]
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
            _row(r) for r in conn.execute(select(alert_outbox).order_by(o.id.desc()).limit(limit))
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
            _row(r) for r in conn.execute(select(alert_silence).order_by(s.id.desc()).limit(limit))
        ]
    out = []
    for r in rows:
        active = r["expired_at"] is None and r["starts_at"] <= now < r["ends_at"]
        out.append({**r, "matchers": json.loads(r["matchers"]), "active": active})
    return pd.DataFrame(out, columns=SILENCE_COLUMNS)
