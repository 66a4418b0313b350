"""Rule checks: what each rule finds true now, as labelled instances.

Every figure comes from a documented ``data_access`` query on the
operational database (read-only, hardened engine):

- ``venue_capacity``: :func:`metrics.heatmap.venue_load` at the latest
  reading, venues at or over ``threshold`` (default
  ``map.venue_alert_share``) of capacity; one instance per venue;
- ``red_warning``: :func:`metrics.screen.new_red_warnings` of the last
  ``hours`` (default 24); one per warning;
- ``late_arrival``: :func:`metrics.screen.late_arrivals` of the last
  ``hours`` (default 1); one per case;
- ``ontime_share``: :func:`metrics.alerting.recent_ontime`, streets under
  ``threshold`` with at least ``min_judged`` judged cases; one per street;
- ``backlog``: :func:`metrics.alerting.backlog_by_street` over
  ``threshold``; one per street;
- ``crowd_forecast``: :func:`metrics.alerting.venue_forecast`
  ``horizon_min`` ahead at or over ``threshold``; one per venue.

:func:`evaluate_rules` runs every rule and hands each result to
:func:`alerts.state.apply_observations`; a rule whose query fails is
marked unknown (:func:`alerts.state.mark_unknown`) and never fires or
resolves on that pass.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine

from alerts import state
from alerts.clock import Clock, local
from alerts.rules import AlertConfig, Rule
from data_access import geography
from data_access.config import SiteConfig
from data_access.filters import AreaFilter
from metrics import alerting, heatmap, screen
from metrics.warning_rules import WarningRules, WarningRulesError, load_warning_rules

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Names:
    """Street and district names by code (``zh``, ``en``)."""

    streets: dict[str, tuple[str, str, str]]  # code -> (zh, en, district code)
    districts: dict[str, tuple[str, str]]
    #: Warning domains' names (``config/warning_rules.toml``); without the
    #: file (or with a bad one) a domain is named by its code.
    domains: WarningRules = WarningRules()

    @classmethod
    def read(cls, conn: Connection) -> Names:
        s = geography.streets(conn)
        d = geography.districts(conn)
        try:
            domains = load_warning_rules()
        except WarningRulesError as exc:
            _log.warning("warning domains named by code: %s", exc)
            domains = WarningRules()
        return cls(
            {
                str(c): (str(zh), str(en or zh), str(dc))
                for c, zh, en, dc in zip(
                    s["code"], s["name_zh"], s["name_en"], s["district_code"], strict=True
                )
            },
            {
                str(c): (str(zh), str(en or zh))
                for c, zh, en in zip(d["code"], d["name_zh"], d["name_en"], strict=True)
            },
            domains,
        )

    def where(self, street_code: str) -> dict[str, str]:
        """Labels and name values of a street (its district from the street
        table, else the code's first six digits)."""
        zh, en, dc = self.streets.get(street_code, (street_code, street_code, street_code[:6]))
        dzh, den = self.districts.get(dc, (dc, dc))
        return {
            "district": dc,
            "street": street_code,
            "district_zh": dzh,
            "district_en": den,
            "street_zh": zh,
            "street_en": en,
        }


def _area(rule: Rule, now: datetime) -> AreaFilter:
    return AreaFilter(
        start=now.date(), end=now.date(), district=rule.district, streets=rule.streets
    )


def _instance(rule: Rule, names: Names, street: str, subject: str, **values: Any) -> state.Observed:
    where = names.where(str(street))
    labels = {
        "rule": rule.name,
        "severity": rule.severity,
        "district": where["district"],
        "street": where["street"],
        "subject": subject,
    }
    clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in values.items()}
    return state.Observed(rule.name, labels, {**where, **clean})


def _rows(frame: pd.DataFrame) -> list[Any]:
    """A frame's rows as objects with one attribute per column."""
    return [SimpleNamespace(**{str(k): v for k, v in r.items()}) for r in frame.to_dict("records")]


def _iso(value: Any) -> str:
    return pd.Timestamp(value).isoformat() if value is not None and pd.notna(value) else ""


def judged_milestone(rule: Rule) -> str | None:
    """The milestone whose target ``rule`` judges against (``None``: the
    rule's kind judges no handling target)."""
    if rule.kind == "late_arrival":
        return screen.ON_SITE
    if rule.kind == "ontime_share":
        return rule.milestone
    return None


def unjudged_milestone(rule: Rule, site: SiteConfig) -> str | None:
    """The milestone ``rule`` judges when the site sets no target for it
    anywhere (then the rule is not judged: nothing can be late), else ``None``."""
    milestone = judged_milestone(rule)
    return milestone if milestone is not None and not site.judges(milestone) else None


def observe(
    conn: Connection, rule: Rule, now: datetime, site: SiteConfig, names: Names
) -> list[state.Observed]:
    """The instances of ``rule`` true at ``now`` (naive local time)."""
    f = _area(rule, now)
    out: list[state.Observed] = []
    if rule.kind == "venue_capacity":
        threshold = rule.threshold if rule.threshold is not None else site.map.venue_alert_share
        latest = heatmap.crowd_span(conn, f, now)["latest"].iloc[0]
        if pd.isna(latest):
            return []
        venues = heatmap.venue_load(conn, f, latest.to_pydatetime(), site)
        for v in _rows(venues):
            load = float(v.load)
            if not math.isnan(load) and load >= threshold:
                out.append(
                    _instance(
                        rule, names, str(v.street_code), str(v.id),
                        subject_zh=v.name_zh, subject_en=v.name_en or v.name_zh,
                        people=int(v.people), capacity=int(v.capacity),
                        load=load, threshold=threshold, at=_iso(latest), ref=str(v.id),
                    )
                )  # fmt: skip
    elif rule.kind == "red_warning":
        hours = rule.hours or 24.0
        for w in _rows(screen.new_red_warnings(conn, f, now, site, hours)):
            zh, en = names.domains.domain_names(str(w.domain))
            out.append(
                _instance(
                    rule, names, str(w.street_code), str(w.id),
                    subject_zh=zh, subject_en=en, ref=str(w.id),
                    at=_iso(w.raised_at), hours=hours,
                )
            )  # fmt: skip
    elif rule.kind == "late_arrival":
        hours = rule.hours or 1.0
        for c in _rows(screen.late_arrivals(conn, f, now, site, hours)):
            out.append(
                _instance(
                    rule, names, str(c.street_code), str(c.id),
                    subject_zh=site.display_name("category", str(c.category), "zh"),
                    subject_en=site.display_name("category", str(c.category), "en"),
                    ref=str(c.id), at=_iso(c.breached_at),
                    target_min=float(c.target_min), arrived_min=float(c.arrived_min),
                )
            )  # fmt: skip
    elif rule.kind == "ontime_share":
        assert rule.threshold is not None and rule.hours is not None
        shares = alerting.recent_ontime(conn, f, now, site, rule.hours, rule.milestone)
        for r in _rows(shares):
            share = float(r.on_time_share)
            if int(r.judged) >= rule.min_judged and share < rule.threshold:
                out.append(
                    _instance(
                        rule, names, str(r.street_code), "",
                        on_time_share=share, on_time=int(r.on_time), judged=int(r.judged),
                        threshold=rule.threshold, hours=rule.hours, at=now.isoformat(),
                    )
                )  # fmt: skip
    elif rule.kind == "backlog":
        assert rule.threshold is not None
        for r in _rows(alerting.backlog_by_street(conn, f, now)):
            if int(r.open_backlog) > rule.threshold:
                out.append(
                    _instance(
                        rule, names, str(r.street_code), "",
                        open_backlog=int(r.open_backlog), threshold=rule.threshold,
                        at=now.isoformat(),
                    )
                )  # fmt: skip
    elif rule.kind == "crowd_forecast":
        assert rule.threshold is not None
        forecast = alerting.venue_forecast(conn, f, now, site, rule.horizon_min)
        for v in _rows(forecast):
            load = float(v.forecast_load)
            if not math.isnan(load) and load >= rule.threshold:
                out.append(
                    _instance(
                        rule, names, str(v.street_code), str(v.id),
                        subject_zh=v.name_zh, subject_en=v.name_en or v.name_zh,
                        forecast_people=float(v.forecast_people), capacity=int(v.capacity),
                        forecast_load=load, threshold=rule.threshold, at=_iso(v.at),
                        forecast_at=_iso(v.forecast_at), ref=str(v.id),
                    )
                )  # fmt: skip
    else:  # rules.py admits only KINDS
        raise ValueError(f"unknown rule kind {rule.kind!r}")
    return out


@dataclass
class EvaluationResult:
    """One pass: per rule, ``ok`` / ``unknown`` / ``disabled`` /
    ``not_judged`` (the site sets no target for its milestone; the reason
    in ``notes``) and what changed."""

    outcomes: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    fired: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    outbox_ids: list[int] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def evaluate_rules(
    ops_engine: Engine,
    state_engine: Engine,
    cfg: AlertConfig,
    site: SiteConfig,
    clock: Clock,
    data_now: datetime | None = None,
) -> EvaluationResult:
    """Evaluate every enabled rule once. ``data_now``: the naive local
    "now" the queries use (default: the clock in ``site.timezone``; the
    CLI pins it with ``OPS_NOW``)."""
    now_utc = clock.now()
    now = data_now or local(now_utc, site.timezone)
    result = EvaluationResult()
    names: Names | None = None
    state.retire_rules(state_engine, [*(r.name for r in cfg.rules), *cfg.disabled_rules], now_utc)
    for name in cfg.disabled_rules:
        problem = next((p for p in cfg.problems if p.startswith(f"rules.{name}")), "")
        state.mark_disabled(state_engine, [name], problem or "configuration problem", now_utc)
    for rule in cfg.rules:
        if not rule.enabled:
            state.mark_disabled(state_engine, [rule.name], "enabled = false", now_utc)
            result.outcomes[rule.name] = "disabled"
            continue
        milestone = unjudged_milestone(rule, site)
        if milestone is not None:
            note = f"the site sets no {milestone} target"
            state.mark_disabled(state_engine, [rule.name], note, now_utc, outcome="not_judged")
            result.outcomes[rule.name] = "not_judged"
            result.notes[rule.name] = note
            continue
        try:
            with ops_engine.connect() as conn:
                if names is None:
                    names = Names.read(conn)
                observed = observe(conn, rule, now, site, names)
        except Exception as exc:  # database away, timeout, bad data: unknown, not resolved
            detail = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            _log.warning("rule %s: query failed, state unknown: %s", rule.name, detail)
            state.mark_unknown(state_engine, rule, detail[:300], now_utc)
            result.outcomes[rule.name] = "unknown"
            result.errors[rule.name] = detail
            continue
        changed = state.apply_observations(
            state_engine, cfg, rule, observed, now_utc, site.timezone
        )
        result.outcomes[rule.name] = "ok"
        result.fired += changed.fired
        result.resolved += changed.resolved
        result.pending += changed.pending
        result.outbox_ids += changed.outbox_ids
    return result
