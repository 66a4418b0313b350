"""The alert configuration: ``config/alerts.toml`` (``OPS_ALERTS_CONFIG``).

Parsed into frozen objects. A bad value names its key (``rules.backlog_high.threshold:
expected a number``) in :attr:`AlertConfig.problems`; the rule it belongs to
is disabled and every other rule keeps running (a bad channel likewise).
Durations are seconds, times of day ``HH:MM`` in the site's time zone.
"""

from __future__ import annotations

import os
import re
import ssl
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data_access.config import PROJECT_ROOT

DEFAULT_PATH = PROJECT_ROOT / "config" / "alerts.toml"

#: Rule kinds: the three checks of the command screen's strip, then the
#: configurable ones.
KINDS = (
    "venue_capacity",
    "red_warning",
    "late_arrival",
    "ontime_share",
    "backlog",
    "crowd_forecast",
)
#: Severities, mildest first; ``red``/``yellow`` are accepted as
#: ``critical``/``warning``.
SEVERITIES = ("info", "warning", "critical")
SEVERITY_ALIASES = {"red": "critical", "yellow": "warning", "green": "info"}
CHANNEL_TYPES = ("dingtalk", "zhezhengding", "wecom", "webhook", "email")
#: Default sends per minute: the robots' documented limit is 20.
DEFAULT_RATE = {"dingtalk": 20, "zhezhengding": 20, "wecom": 20, "webhook": 60, "email": 30}
LABELS = ("rule", "severity", "district", "street", "subject")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


@dataclass(frozen=True)
class QuietHours:
    """Notifications below ``critical`` wait from ``start`` to ``end``
    (minutes after local midnight; ``end`` < ``start`` spans midnight)."""

    start_min: int
    end_min: int

    def contains(self, minute_of_day: int) -> bool:
        if self.start_min == self.end_min:
            return False
        if self.start_min < self.end_min:
            return self.start_min <= minute_of_day < self.end_min
        return minute_of_day >= self.start_min or minute_of_day < self.end_min


@dataclass(frozen=True)
class Route:
    """Extra channels for instances in ``districts`` or ``streets`` (empty
    = everywhere) of at least ``min_severity``."""

    channels: tuple[str, ...]
    districts: tuple[str, ...] = ()
    streets: tuple[str, ...] = ()
    min_severity: str = "info"

    def matches(self, labels: dict[str, str]) -> bool:
        if SEVERITIES.index(labels.get("severity", "info")) < SEVERITIES.index(self.min_severity):
            return False
        if not self.districts and not self.streets:
            return True
        return labels.get("district") in self.districts or labels.get("street") in self.streets


@dataclass(frozen=True)
class Rule:
    """One alert rule. ``kind``: one of :data:`KINDS`; ``threshold``: the
    kind's figure (share 0-1 for ``ontime_share``, ``venue_capacity`` and
    ``crowd_forecast``; cases for ``backlog``); ``hours``: the look-back
    window; ``pending_s``: how long the condition must hold before it
    fires; ``repeat_s``: re-notify while firing; ``send_resolved``: one
    resolution notice; ``group_by``: labels that batch instances into one
    message; ``channels``: where it goes (plus matching routes)."""

    name: str
    kind: str
    severity: str = "warning"
    enabled: bool = True
    district: str | None = None
    streets: tuple[str, ...] = ()
    threshold: float | None = None
    hours: float | None = None
    min_judged: int = 5
    horizon_min: float = 60.0
    milestone: str = "arrived"
    pending_s: float = 0.0
    repeat_s: float = 4 * 3600.0
    send_resolved: bool = True
    group_by: tuple[str, ...] = ("rule", "district")
    channels: tuple[str, ...] = ()
    title_zh: str = ""
    title_en: str = ""


@dataclass(frozen=True)
class Channel:
    """One delivery channel (see docs/alerts.md for each type's keys)."""

    name: str
    type: str
    enabled: bool = False
    url: str = ""
    secret: str = ""
    token: str = ""
    language: str = "zh"
    format: str = "markdown"
    rate_per_min: int = 20
    timeout_s: float = 10.0
    max_attempts: int = 6
    backoff_s: float = 10.0
    max_backoff_s: float = 600.0
    proxy: str = ""
    host: str = ""
    port: int = 0
    security: str = "starttls"
    username: str = ""
    password: str = ""
    sender: str = ""
    recipients: tuple[str, ...] = ()
    at_mobiles: tuple[str, ...] = ()
    ca_file: str = ""


@dataclass(frozen=True)
class Service:
    """``[service]``: the evaluator's loop and what every message shares."""

    interval_s: float = 60.0
    base_url: str = "http://localhost:8501"
    language: str = "zh"
    quiet_hours: QuietHours | None = None
    quiet_bypass: str = "critical"
    resolved_retention_h: float = 72.0
    history_days: float = 30.0


@dataclass(frozen=True)
class AlertConfig:
    service: Service
    rules: tuple[Rule, ...]
    channels: dict[str, Channel]
    routes: tuple[Route, ...]
    problems: tuple[str, ...] = ()
    disabled_rules: tuple[str, ...] = ()
    source_path: str = ""

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)

    def channels_for(self, rule: Rule, labels: dict[str, str]) -> tuple[str, ...]:
        """The rule's channels and those of every matching route, enabled
        ones only, in order, once each."""
        names = list(rule.channels)
        for route in self.routes:
            if route.matches(labels):
                names += route.channels
        out: list[str] = []
        for n in names:
            ch = self.channels.get(n)
            if ch is not None and ch.enabled and n not in out:
                out.append(n)
        return tuple(out)


class _Bad(ValueError):
    pass


@dataclass
class _Reader:
    problems: list[str] = field(default_factory=list)

    def get(self, table: dict[str, Any], key: str, where: str, kind: Any, default: Any) -> Any:
        if key not in table:
            return default
        value = table[key]
        kinds = (int, float) if kind is float else (kind,)
        if kind in (int, float) and isinstance(value, bool) or not isinstance(value, kinds):
            raise _Bad(f"{where}.{key}: expected {_kind_name(kind)}, got {value!r}")
        return float(value) if kind is float else value


def _kind_name(kind: Any) -> str:
    return {
        float: "a number",
        int: "an integer",
        str: "a string",
        bool: "true or false",
        list: "a list",
    }.get(kind, str(kind))


def config_path() -> Path:
    """``OPS_ALERTS_CONFIG``, else ``config/alerts.toml``."""
    return Path(os.environ.get("OPS_ALERTS_CONFIG") or DEFAULT_PATH)


def _severity(value: str, where: str) -> str:
    s = SEVERITY_ALIASES.get(value, value)
    if s not in SEVERITIES:
        raise _Bad(f"{where}: unknown severity {value!r} (one of {', '.join(SEVERITIES)})")
    return s


def _hhmm(value: str, where: str) -> int:
    m = _HHMM.match(value)
    if not m:
        raise _Bad(f"{where}: expected HH:MM, got {value!r}")
    return int(m.group(1)) * 60 + int(m.group(2))


def _strings(r: _Reader, table: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = r.get(table, key, where, list, [])
    if not all(isinstance(v, str) for v in value):
        raise _Bad(f"{where}.{key}: expected a list of strings")
    return tuple(value)


def _positive(value: float | None, where: str, allow_zero: bool = False) -> None:
    if value is not None and (value < 0 or (value == 0 and not allow_zero)):
        raise _Bad(f"{where}: must be {'zero or more' if allow_zero else 'positive'}")


def _service(r: _Reader, table: dict[str, Any]) -> Service:
    d = Service()
    w = "service"
    quiet = None
    q = r.get(table, "quiet_hours", w, dict, None)
    if q is not None:
        quiet = QuietHours(
            _hhmm(r.get(q, "start", f"{w}.quiet_hours", str, "22:00"), f"{w}.quiet_hours.start"),
            _hhmm(r.get(q, "end", f"{w}.quiet_hours", str, "07:00"), f"{w}.quiet_hours.end"),
        )
    interval = r.get(table, "interval_s", w, float, d.interval_s)
    _positive(interval, f"{w}.interval_s")
    language = r.get(table, "language", w, str, d.language)
    if language not in ("zh", "en"):
        raise _Bad(f"{w}.language: expected zh or en, got {language!r}")
    return Service(
        interval_s=interval,
        base_url=r.get(table, "base_url", w, str, d.base_url).rstrip("/"),
        language=language,
        quiet_hours=quiet,
        quiet_bypass=_severity(
            r.get(table, "quiet_bypass", w, str, d.quiet_bypass), f"{w}.quiet_bypass"
        ),
        resolved_retention_h=r.get(table, "resolved_retention_h", w, float, d.resolved_retention_h),
    )


def _rule(r: _Reader, name: str, t: dict[str, Any], defaults: dict[str, Any]) -> Rule:
    w = f"rules.{name}"
    if not _NAME.match(name):
        raise _Bad(f"{w}: a rule name is letters, digits, _ and - (at most 64)")
    merged = {**defaults, **t}
    kind = r.get(merged, "kind", w, str, "")
    if kind not in KINDS:
        raise _Bad(f"{w}.kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    district = r.get(merged, "district", w, str, "") or None
    if district is not None and not re.match(r"^\d{6}$", district):
        raise _Bad(f"{w}.district: expected a 6-digit code, got {district!r}")
    streets = _strings(r, merged, "streets", w)
    for s in streets:
        if not re.match(r"^\d{9}$", s):
            raise _Bad(f"{w}.streets: expected 9-digit codes, got {s!r}")
    threshold = r.get(merged, "threshold", w, float, None)
    hours = r.get(merged, "hours", w, float, None)
    needs = {
        "ontime_share": ("threshold", "hours"),
        "backlog": ("threshold",),
        "crowd_forecast": ("threshold",),
    }.get(kind, ())
    for key in needs:
        if merged.get(key) is None:
            raise _Bad(f"{w}.{key}: required for kind {kind}")
    if kind == "ontime_share" and threshold is not None and not 0 < threshold <= 1:
        raise _Bad(f"{w}.threshold: an on-time share between 0 and 1, got {threshold!r}")
    _positive(threshold, f"{w}.threshold")
    _positive(hours, f"{w}.hours")
    pending = r.get(merged, "pending_s", w, float, 0.0)
    _positive(pending, f"{w}.pending_s", allow_zero=True)
    repeat = r.get(merged, "repeat_s", w, float, 4 * 3600.0)
    _positive(repeat, f"{w}.repeat_s")
    group_by = _strings(r, merged, "group_by", w) or ("rule", "district")
    for label in group_by:
        if label not in LABELS:
            raise _Bad(f"{w}.group_by: unknown label {label!r} (one of {', '.join(LABELS)})")
    min_judged = r.get(merged, "min_judged", w, int, 5)
    _positive(float(min_judged), f"{w}.min_judged", allow_zero=True)
    horizon = r.get(merged, "horizon_min", w, float, 60.0)
    _positive(horizon, f"{w}.horizon_min")
    return Rule(
        name=name,
        kind=kind,
        severity=_severity(r.get(merged, "severity", w, str, "warning"), f"{w}.severity"),
        enabled=r.get(merged, "enabled", w, bool, True),
        district=district,
        streets=streets,
        threshold=threshold,
        hours=hours,
        min_judged=min_judged,
        horizon_min=horizon,
        milestone=r.get(merged, "milestone", w, str, "arrived"),
        pending_s=pending,
        repeat_s=repeat,
        send_resolved=r.get(merged, "send_resolved", w, bool, True),
        group_by=group_by,
        channels=_strings(r, merged, "channels", w),
        title_zh=r.get(merged, "title_zh", w, str, ""),
        title_en=r.get(merged, "title_en", w, str, ""),
    )


#: Channel keys that carry a credential (the robots' URLs hold their access
#: token): each may instead be read from the environment, ``<key>_env``.
SECRET_KEYS = ("url", "secret", "token", "password")


def _secret(r: _Reader, t: dict[str, Any], key: str, w: str, enabled: bool) -> str:
    """``key``'s value, or that of the environment variable ``<key>_env``
    names (so a credential need not sit in the config file)."""
    var = r.get(t, f"{key}_env", w, str, "")
    if not var:
        return str(r.get(t, key, w, str, ""))
    if t.get(key):
        raise _Bad(f"{w}: give {key} or {key}_env, not both")
    value = os.environ.get(var, "")
    if enabled and not value:
        raise _Bad(f"{w}.{key}_env: the environment variable {var} is not set")
    return value


def _channel(r: _Reader, name: str, t: dict[str, Any]) -> Channel:
    w = f"channels.{name}"
    kind = r.get(t, "type", w, str, "")
    if kind not in CHANNEL_TYPES:
        raise _Bad(f"{w}.type: expected one of {', '.join(CHANNEL_TYPES)}, got {kind!r}")
    enabled = r.get(t, "enabled", w, bool, False)
    url = _secret(r, t, "url", w, enabled)
    if enabled and kind != "email" and not url.startswith(("http://", "https://")):
        raise _Bad(f"{w}.url: an http(s) URL is required when enabled")
    language = r.get(t, "language", w, str, "zh")
    if language not in ("zh", "en"):
        raise _Bad(f"{w}.language: expected zh or en, got {language!r}")
    fmt = r.get(t, "format", w, str, "markdown")
    if fmt not in ("markdown", "text"):
        raise _Bad(f"{w}.format: expected markdown or text, got {fmt!r}")
    security = r.get(t, "security", w, str, "starttls")
    if security not in ("starttls", "ssl", "none"):
        raise _Bad(f"{w}.security: expected starttls, ssl or none, got {security!r}")
    rate = r.get(t, "rate_per_min", w, int, DEFAULT_RATE[kind])
    _positive(float(rate), f"{w}.rate_per_min")
    attempts = r.get(t, "max_attempts", w, int, 6)
    _positive(float(attempts), f"{w}.max_attempts")
    recipients = _strings(r, t, "recipients", w)
    if enabled and kind == "email" and (not recipients or not r.get(t, "host", w, str, "")):
        raise _Bad(f"{w}: host and recipients are required for e-mail when enabled")
    timeout = r.get(t, "timeout_s", w, float, 10.0)
    _positive(timeout, f"{w}.timeout_s")
    ca_file = r.get(t, "ca_file", w, str, "")
    if ca_file and enabled:
        try:
            ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise _Bad(f"{w}.ca_file: cannot read certificates from {ca_file!r} ({exc})") from None
    return Channel(
        name=name,
        type=kind,
        enabled=enabled,
        url=url,
        secret=_secret(r, t, "secret", w, enabled),
        token=_secret(r, t, "token", w, enabled),
        language=language,
        format=fmt,
        rate_per_min=rate,
        timeout_s=timeout,
        max_attempts=attempts,
        backoff_s=r.get(t, "backoff_s", w, float, 10.0),
        max_backoff_s=r.get(t, "max_backoff_s", w, float, 600.0),
        proxy=r.get(t, "proxy", w, str, ""),
        host=r.get(t, "host", w, str, ""),
        port=r.get(t, "port", w, int, 0),
        security=security,
        username=r.get(t, "username", w, str, ""),
        password=_secret(r, t, "password", w, enabled),
        sender=r.get(t, "sender", w, str, ""),
        recipients=recipients,
        at_mobiles=_strings(r, t, "at_mobiles", w),
        ca_file=ca_file,
    )


def _route(r: _Reader, i: int, t: dict[str, Any]) -> Route:
    w = f"routes[{i}]"
    return Route(
        channels=_strings(r, t, "channels", w),
        districts=_strings(r, t, "districts", w),
        streets=_strings(r, t, "streets", w),
        min_severity=_severity(r.get(t, "min_severity", w, str, "info"), f"{w}.min_severity"),
    )


_SECTION_FORMS = {
    "service": "[service]",
    "defaults": "[defaults]",
    "channels": "[channels.NAME]",
    "rules": "[rules.NAME]",
    "routes": "[[routes]]",
}


def _section(r: _Reader, data: dict[str, Any], key: str) -> Any:
    """The top-level section ``key`` in its TOML form (a table, or for
    routes an array of tables); another form is a problem and the section
    is left out, instead of an exception on the first ``.items()``."""
    value = data.get(key)
    if value is None:
        return [] if key == "routes" else {}
    if key == "routes":
        if isinstance(value, list) and all(isinstance(t, dict) for t in value):
            return value
    elif isinstance(value, dict):
        return value
    r.problems.append(f"{key}: expected {_SECTION_FORMS[key]} tables; section left out")
    return [] if key == "routes" else {}


def parse(data: dict[str, Any], source_path: str = "") -> AlertConfig:
    """An :class:`AlertConfig` from the TOML's tables; never raises over a
    value (it becomes a problem, its rule or channel left out)."""
    r = _Reader()
    try:
        service = _service(r, _section(r, data, "service"))
    except _Bad as exc:
        r.problems.append(f"{exc}; using the service defaults")
        service = Service()
    channels: dict[str, Channel] = {}
    for name, t in _section(r, data, "channels").items():
        if not isinstance(t, dict):
            r.problems.append(f"channels.{name}: expected a [channels.{name}] table; left out")
            continue
        try:
            channels[name] = _channel(r, name, t)
        except _Bad as exc:
            r.problems.append(f"{exc}; channel {name} disabled")
    routes: list[Route] = []
    for i, t in enumerate(_section(r, data, "routes")):
        try:
            routes.append(_route(r, i, t))
        except _Bad as exc:
            r.problems.append(f"{exc}; route left out")
    defaults = _section(r, data, "defaults")
    rules: list[Rule] = []
    disabled: list[str] = []
    for name, t in _section(r, data, "rules").items():
        if not isinstance(t, dict):
            r.problems.append(
                f"rules.{name}: expected a [rules.{name}] table; rule {name} disabled"
            )
            disabled.append(name)
            continue
        try:
            rule = _rule(r, name, t, defaults)
        except _Bad as exc:
            r.problems.append(f"{exc}; rule {name} disabled")
            disabled.append(name)
            continue
        for ch in rule.channels:
            if ch not in channels:
                r.problems.append(f"rules.{name}.channels: no channel named {ch!r}")
        rules.append(rule)
    return AlertConfig(
        service=service,
        rules=tuple(rules),
        channels=channels,
        routes=tuple(routes),
        problems=tuple(r.problems),
        disabled_rules=tuple(disabled),
        source_path=source_path,
    )


def load(path: str | os.PathLike[str] | None = None) -> AlertConfig:
    """Read ``path`` (default :func:`config_path`). A missing or unreadable
    file is a problem, not an exception: no rules run."""
    p = Path(path) if path else config_path()
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        empty = parse({}, str(p))
        return AlertConfig(
            service=empty.service,
            rules=(),
            channels={},
            routes=(),
            problems=(f"{p}: {exc}",),
            source_path=str(p),
        )
    return parse(data, str(p))
