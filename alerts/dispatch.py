"""The outbox worker: sends what :mod:`alerts.state` enqueued in the outbox
(:mod:`appstate.alerts`).

- A row is marked ``sent`` only after the receiver accepted it, in the
  same transaction as its delivery row. Killed between the two, the row is
  sent again on restart: at most one duplicate, carrying the same
  idempotency key.
- Per channel at most ``rate_per_min`` attempts in any 60 s (counted from
  ``alert_delivery``, so a restart keeps the count). When more are due
  than the minute allows, the excess is folded into one digest message.
- A refused message (signature, keyword, token, URL) fails at once; a
  network error, HTTP 5xx or a rate-limit reply is retried after
  ``backoff_s * 2**(attempt-1)`` seconds (at most ``max_backoff_s``; a
  rate limit waits at least a minute) until ``max_attempts``, then fails.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, update

import appstate
from alerts import channels, message
from alerts.clock import Clock
from alerts.rules import AlertConfig, Channel
from appstate.alerts import alert_delivery, alert_outbox, enqueue, metadata, naive_utc

_log = logging.getLogger(__name__)

RATE_WINDOW = timedelta(seconds=60)
RATE_LIMIT_WAIT_S = 60.0

Sender = Callable[..., channels.SendResult]


@dataclass
class DispatchResult:
    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    digested: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)


def _due(
    engine: Engine, now: datetime, only: Sequence[int] | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    o = alert_outbox.c
    q = (
        select(alert_outbox)
        .where(o.status.in_(("pending", "retrying")), o.next_attempt_at <= now)
        .order_by(o.id)
        .limit(limit)
    )
    if only is not None:
        q = q.where(o.id.in_(list(only)))
    with appstate.begin(engine, metadata) as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def _recent_attempts(engine: Engine, channel: str, now: datetime) -> tuple[int, datetime | None]:
    d = alert_delivery.c
    q = select(func.count(), func.min(d.at)).where(d.channel == channel, d.at > now - RATE_WINDOW)
    with appstate.begin(engine, metadata) as conn:
        n, oldest = conn.execute(q).one()
    return int(n), oldest


def _fold(engine: Engine, rows: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """One digest row carrying every alert of ``rows``; the rows are marked
    ``digested`` (pointing at it) in the same transaction."""
    alerts: list[Any] = []
    for r in rows:
        alerts += json.loads(r["payload"]).get("alerts", [])
    payload = {"alerts": alerts, "folded": len(rows)}
    o = alert_outbox.c
    with appstate.begin(engine, metadata) as conn:
        new_id = enqueue(
            conn,
            rule=rows[0]["rule"] if len({r["rule"] for r in rows}) == 1 else "digest",
            group="digest",
            channel=rows[0]["channel"],
            kind="digest",
            payload=payload,
            now=now,
            condition_at=min((r["condition_at"] for r in rows if r["condition_at"]), default=None),
        )
        conn.execute(
            update(alert_outbox)
            .where(o.id.in_([r["id"] for r in rows]))
            .values(status="digested", digest_id=new_id)
        )
        row = conn.execute(select(alert_outbox).where(o.id == new_id)).one()
    return dict(row._mapping)


def _record(
    engine: Engine,
    row: dict[str, Any],
    channel: Channel | None,
    result: channels.SendResult,
    now: datetime,
) -> str:
    """Store the attempt and the row's new status; returns the status."""
    attempt = int(row["attempts"]) + 1
    values: dict[str, Any] = {"attempts": attempt, "last_error": result.error[:500]}
    if result.ok:
        status, outcome = "sent", "sent"
        values["sent_at"] = now
    elif result.retry and channel is not None and attempt < channel.max_attempts:
        status, outcome = "retrying", "retry"
        delay = min(channel.backoff_s * 2 ** (attempt - 1), channel.max_backoff_s)
        if result.rate_limited:
            delay = max(delay, RATE_LIMIT_WAIT_S)
        values["next_attempt_at"] = now + timedelta(seconds=delay)
    else:
        status, outcome = "failed", "failed"
    values["status"] = status
    with appstate.begin(engine, metadata) as conn:
        conn.execute(
            alert_delivery.insert().values(
                outbox_id=row["id"],
                channel=row["channel"],
                attempt=attempt,
                at=now,
                outcome=outcome,
                http_status=result.http_status,
                errcode=result.errcode,
                error=result.error[:500],
                elapsed_ms=round(result.elapsed_ms, 2),
            )
        )
        conn.execute(update(alert_outbox).where(alert_outbox.c.id == row["id"]).values(**values))
    return status


def dispatch(
    engine: Engine,
    cfg: AlertConfig,
    clock: Clock,
    timezone: str,
    sender: Sender = channels.send,
    only: Sequence[int] | None = None,
) -> DispatchResult:
    """One pass over the due outbox rows, oldest first; with ``only``, over
    those rows alone (a channel test: the alerts queued are the running
    service's to send, and sending them from here too could send twice)."""
    now = naive_utc(clock.now())
    out = DispatchResult()
    by_channel: dict[str, list[dict[str, Any]]] = {}
    for row in _due(engine, now, only):
        by_channel.setdefault(row["channel"], []).append(row)
    for name, rows in by_channel.items():
        ch = cfg.channels.get(name)
        if ch is None or not ch.enabled:
            why = "channel not configured" if ch is None else "channel disabled"
            for row in rows:
                _record(engine, row, None, channels.SendResult(False, error=why), now)
                out.failed.append(row["id"])
            continue
        used, oldest = _recent_attempts(engine, name, now)
        budget = ch.rate_per_min - used
        if budget <= 0:
            wake = (oldest or now) + RATE_WINDOW
            with appstate.begin(engine, metadata) as conn:
                conn.execute(
                    update(alert_outbox)
                    .where(alert_outbox.c.id.in_([r["id"] for r in rows]))
                    .values(next_attempt_at=wake)
                )
            out.waiting += [r["id"] for r in rows]
            continue
        if len(rows) > budget:
            keep, extra = rows[: budget - 1], rows[budget - 1 :]
            digest = _fold(engine, extra, now)
            out.digested += [r["id"] for r in extra]
            rows = [*keep, digest]
        for row in rows:
            status = _send_one(engine, cfg, ch, row, clock, timezone, sender)
            {"sent": out.sent, "retrying": out.retrying, "failed": out.failed}[status].append(
                row["id"]
            )
    return out


def _send_one(
    engine: Engine,
    cfg: AlertConfig,
    ch: Channel,
    row: dict[str, Any],
    clock: Clock,
    timezone: str,
    sender: Sender,
) -> str:
    payload = json.loads(row["payload"])
    msg = message.render(
        payload,
        row["kind"],
        row["rule"],
        ch,
        cfg.service,
        clock.now(),
        timezone,
        folded=int(payload.get("folded", 0)),
    )
    try:
        result = sender(ch, msg, row["idempotency_key"], payload=_webhook_payload(row, payload))
    except Exception as exc:  # a bug in a sender must not stop the others
        _log.exception("sending outbox row %s on %s", row["id"], ch.name)
        result = channels.SendResult(False, retry=True, error=f"{type(exc).__name__}: {exc}")
    return _record(engine, row, ch, result, naive_utc(clock.now()))


def _webhook_payload(row: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": row["kind"],
        "rule": row["rule"],
        "group_key": row["group_key"],
        "alerts": payload.get("alerts", []),
    }
