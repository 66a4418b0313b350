"""The alert state machine: rule instances moved on by each evaluation.

Its tables and their listings are :mod:`appstate.alerts` (in the
app-state database).

Transitions of one rule and the outbox rows they cause are written in one
transaction (:func:`apply_observations`): a crash loses neither, and a
restart does not notify again what was already owed.

All times are naive UTC.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, select, update

import appstate
from alerts.clock import local
from alerts.rules import SEVERITIES, AlertConfig, Rule
from appstate.alerts import (
    active_silences,
    alert_instance,
    alert_rule_status,
    enqueue,
    metadata,
    naive_utc,
    row_dict,
    save_instance,
    set_rule_status,
)


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
            for r in map(row_dict, conn.execute(select(alert_instance).where(c.rule == rule.name)))
        }
        silences = active_silences(conn, now)
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
            save_instance(conn, row, insert=prev is None)
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
            save_instance(conn, row, insert=False)
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
        set_rule_status(conn, rule.name, now, "ok", "", len(seen))
    return result


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
        set_rule_status(conn, rule.name, now, "unknown", detail, 0)


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
            set_rule_status(conn, name, now, outcome, detail, 0)


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
