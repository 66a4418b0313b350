"""What the alerts page shows, as frames (no Streamlit here).

The page passes the principal's scope (street codes, or None for every
street) and the area of the global filter; instances outside either are
left out, and so are their deliveries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from alerts import message
from alerts.clock import local
from alerts.rules import AlertConfig
from appstate import alerts as alert_store

#: Columns of :func:`instance_rows`: the rule, state and its flags, where,
#: the line a message would carry, and the times in the site's zone.
INSTANCE_VIEW_COLUMNS = [
    "fingerprint",
    "rule",
    "title",
    "severity",
    "state",
    "unknown",
    "muted",
    "district_code",
    "street_code",
    "summary",
    "active_since",
    "firing_since",
    "resolved_at",
    "notified_at",
    "detail",
]

DELIVERY_VIEW_COLUMNS = [
    "outbox_id",
    "channel",
    "kind",
    "status",
    "attempts",
    "last_error",
    "created_at",
    "sent_at",
    "next_attempt_at",
]


@dataclass(frozen=True)
class PageData:
    """``instances`` (:data:`INSTANCE_VIEW_COLUMNS`), ``deliveries``
    (:data:`DELIVERY_VIEW_COLUMNS`), ``silences``
    (:data:`appstate.alerts.SILENCE_COLUMNS`, times local), ``rules``
    (``alert_rule_status``)."""

    instances: pd.DataFrame
    deliveries: pd.DataFrame
    silences: pd.DataFrame
    rules: pd.DataFrame


def _local(value: Any, timezone: str) -> Any:
    if value is None or (isinstance(value, float) and pd.isna(value)) or pd.isna(value):
        return pd.NaT
    return pd.Timestamp(local(pd.Timestamp(value).to_pydatetime(), timezone))


def in_area(
    frame: pd.DataFrame,
    scope: Sequence[str] | None,
    district: str | None = None,
    streets: Sequence[str] = (),
) -> pd.DataFrame:
    """Rows whose ``street_code`` the principal may see and the filter selects."""
    keep = pd.Series(True, index=frame.index)
    if scope is not None:
        keep &= frame["street_code"].isin(list(scope))
    if streets:
        keep &= frame["street_code"].isin(list(streets))
    elif district:
        keep &= frame["district_code"] == district
    return frame.loc[keep]


def rule_title(cfg: AlertConfig | None, rule: str, kind: str, lang: str) -> str:
    """What a duty officer reads for a rule: its configured title, else
    its kind's name (新红色预警), else its name."""
    found = next((r for r in cfg.rules if r.name == rule), None) if cfg else None
    custom = (found.title_en if lang == "en" else found.title_zh) if found else ""
    return custom or message.KIND_TITLES[lang].get(kind, rule)


def page_data(
    engine: Engine,
    now_utc: datetime,
    timezone: str,
    lang: str,
    scope: Sequence[str] | None,
    district: str | None = None,
    streets: Sequence[str] = (),
    cfg: AlertConfig | None = None,
) -> PageData:
    """Everything the page lists, filtered to what the principal may see
    (rules titled from ``cfg`` when given)."""
    raw = alert_store.instances(engine, scope=scope)
    raw = in_area(raw, scope, district, streets)
    rows = []
    for r in raw.to_dict("records"):
        alert = {
            "kind": r["kind"],
            "status": r["state"],
            "values": r["values"],
        }
        rows.append(
            {
                **{k: r[k] for k in INSTANCE_VIEW_COLUMNS if k in r},
                "title": rule_title(cfg, str(r["rule"]), str(r["kind"]), lang),
                "summary": message.alert_line(alert, lang),
                "detail": r["unknown_detail"],
                **{
                    k: _local(r[k], timezone)
                    for k in ("active_since", "firing_since", "resolved_at", "notified_at")
                },
            }
        )
    instances = pd.DataFrame(rows, columns=INSTANCE_VIEW_COLUMNS)
    shown = set(instances["fingerprint"])
    out = alert_store.outbox(engine)
    mine = out.loc[[bool(shown & set(fps)) for fps in out["fingerprints"]]] if len(out) else out
    deliveries = mine.rename(columns={"id": "outbox_id"}).copy()
    for col in ("created_at", "sent_at", "next_attempt_at"):
        deliveries[col] = [_local(v, timezone) for v in deliveries[col]]
    settled = ~deliveries["status"].isin(["pending", "retrying"])
    deliveries.loc[settled, "next_attempt_at"] = pd.NaT  # nothing more will be tried
    silences = alert_store.silences(engine, now_utc)
    for col in ("created_at", "starts_at", "ends_at", "expired_at"):
        silences[col] = [_local(v, timezone) for v in silences[col]]
    return PageData(
        instances=instances,
        deliveries=deliveries[DELIVERY_VIEW_COLUMNS].reset_index(drop=True),
        silences=silences,
        rules=alert_store.rule_status(engine),
    )


def channel_summary(deliveries: pd.DataFrame) -> pd.DataFrame:
    """Per channel, of the listed deliveries: how many are ``sent``,
    ``retrying``, ``failed``, queued (``pending``), and the newest error.
    Columns: ``channel``, ``sent``, ``retrying``, ``failed``, ``pending``,
    ``last_error``."""
    cols = ["channel", "sent", "retrying", "failed", "pending", "last_error"]
    if deliveries.empty:
        return pd.DataFrame(columns=cols)
    counts = pd.crosstab(deliveries["channel"], deliveries["status"])
    for status in ("sent", "retrying", "failed", "pending"):
        if status not in counts:
            counts[status] = 0
    errors = (
        deliveries.loc[deliveries["last_error"] != ""]
        .sort_values("outbox_id", ascending=False)
        .drop_duplicates("channel")
        .set_index("channel")["last_error"]
    )
    out = counts[["sent", "retrying", "failed", "pending"]].join(errors).fillna({"last_error": ""})
    return out.reset_index()[cols]


def last_evaluation(rule_status: pd.DataFrame) -> datetime:
    """The newest ``evaluated_at`` of ``alert_rule_status`` rows, aware UTC."""
    return pd.Timestamp(rule_status["evaluated_at"].max()).to_pydatetime().replace(tzinfo=UTC)


def silence_end(now_utc: datetime, hours: float) -> datetime:
    """When a silence of ``hours`` hours created now ends (UTC)."""
    if not 0 < hours <= 24 * 30:
        raise ValueError("a silence lasts between a minute and 30 days")
    return now_utc + timedelta(hours=hours)


def matcher_text(matchers: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(matchers.items()))
