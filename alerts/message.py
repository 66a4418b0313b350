"""Alert messages: Chinese by default, English by a channel's ``language``;
cut to the channel's byte limit on a UTF-8 boundary.

Every line names the street, the time, the figure and the target or
threshold it is judged against; the message ends with a link to the
figure's own page for the street and window it is about (the throughput
page for a street's cases, the warnings page for a red warning, the crowd
map for a venue: what an official taps on a phone), and a link to the
alerts page (``service.base_url`` + ``/alerts``), both with the street,
district and dates in the URL's own filter parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from alerts.clock import local
from alerts.rules import Channel, Service

#: Bytes a message body may take, by (channel type, format): DingTalk's
#: text and markdown 20000; WeCom's text 2048 and markdown 4096.
BYTE_LIMITS = {
    ("dingtalk", "text"): 20000,
    ("dingtalk", "markdown"): 20000,
    ("zhezhengding", "text"): 20000,
    ("zhezhengding", "markdown"): 20000,
    ("wecom", "text"): 2048,
    ("wecom", "markdown"): 4096,
}
DEFAULT_LIMIT = 64000

SEVERITY_WORDS = {
    "zh": {"critical": "严重", "warning": "警告", "info": "提示"},
    "en": {"critical": "CRITICAL", "warning": "WARNING", "info": "INFO"},
}
KIND_TITLES = {
    "zh": {
        "venue_capacity": "场馆超容",
        "red_warning": "新红色预警",
        "late_arrival": "案件超过到场时限",
        "ontime_share": "到场按时率偏低",
        "backlog": "积压案件过多",
        "crowd_forecast": "预计人流超容",
        "test": "测试消息",
    },
    "en": {
        "venue_capacity": "Venue over capacity",
        "red_warning": "New red warning",
        "late_arrival": "Case past its on-site target",
        "ontime_share": "Low on-site on-time share",
        "backlog": "Backlog too high",
        "crowd_forecast": "Crowd forecast over capacity",
        "test": "Test message",
    },
}
WORDS = {
    "zh": {
        "firing": "告警",
        "resolved": "已恢复",
        "digest": "汇总",
        "items": "条",
        "more": "另有 {n} 条未列出",
        "link": "查看告警页",
        "view": "查看街道详情",
        "time": "时间",
        "digest_note": "发送过快，{n} 条消息合并为一条",
    },
    "en": {
        "firing": "ALERT",
        "resolved": "RESOLVED",
        "digest": "DIGEST",
        "items": "items",
        "more": "{n} more not listed",
        "link": "Open the alerts page",
        "view": "Open the street's view",
        "time": "Time",
        "digest_note": "sending too fast: {n} messages folded into one",
    },
}


@dataclass(frozen=True)
class Message:
    """``title`` (markdown title / e-mail subject), ``text`` (the body in
    the channel's format), ``link``."""

    title: str
    text: str
    link: str


def _name(values: dict[str, Any], key: str, lang: str) -> str:
    zh = values.get(f"{key}_zh") or values.get(key) or ""
    en = values.get(f"{key}_en") or ""
    return str(en if lang == "en" and en else zh)


def _fmt_time(value: Any) -> str:
    if not value:
        return ""
    try:
        return datetime.fromisoformat(str(value)).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return str(value)


def _pct(v: Any) -> str:
    try:
        return f"{float(v) * 100:.0f}%"
    except (TypeError, ValueError):
        return "-"


def _num(v: Any) -> str:
    try:
        return f"{float(v):,.0f}"
    except (TypeError, ValueError):
        return "-"


def alert_line(alert: dict[str, Any], lang: str) -> str:
    """One alert as one line: where, what figure against which target, when."""
    v = alert.get("values", {})
    kind = alert.get("kind", "")
    where = " ".join(x for x in (_name(v, "district", lang), _name(v, "street", lang)) if x)
    subject = _name(v, "subject", lang)
    at = _fmt_time(v.get("at"))
    zh = lang != "en"
    if kind == "venue_capacity":
        body = (
            f"{subject}：{_num(v.get('people'))} 人 / 容量 {_num(v.get('capacity'))} 人"
            f"（{_pct(v.get('load'))}，阈值 {_pct(v.get('threshold'))}）"
            if zh
            else f"{subject}: {_num(v.get('people'))} people / capacity "
            f"{_num(v.get('capacity'))} ({_pct(v.get('load'))}, threshold "
            f"{_pct(v.get('threshold'))})"
        )
    elif kind == "red_warning":
        body = (
            f"红色预警 {v.get('ref', '')}（{subject}）"
            if zh
            else f"red warning {v.get('ref', '')} ({subject})"
        )
    elif kind == "late_arrival":
        body = (
            f"案件 {v.get('ref', '')}（{subject}）未在 {_num(v.get('target_min'))} 分钟内到场"
            if zh
            else f"case {v.get('ref', '')} ({subject}) not on site within "
            f"{_num(v.get('target_min'))} min"
        )
    elif kind == "ontime_share":
        body = (
            f"近 {_num(v.get('hours'))} 小时到场按时率 {_pct(v.get('on_time_share'))}"
            f"（{v.get('on_time', 0)}/{v.get('judged', 0)} 件），低于 {_pct(v.get('threshold'))}"
            if zh
            else f"on-site on-time share {_pct(v.get('on_time_share'))} over the last "
            f"{_num(v.get('hours'))} h ({v.get('on_time', 0)}/{v.get('judged', 0)} cases), "
            f"below {_pct(v.get('threshold'))}"
        )
    elif kind == "backlog":
        body = (
            f"积压案件 {_num(v.get('open_backlog'))} 件，超过 {_num(v.get('threshold'))} 件"
            if zh
            else f"open backlog {_num(v.get('open_backlog'))} cases, over "
            f"{_num(v.get('threshold'))}"
        )
    elif kind == "crowd_forecast":
        body = (
            f"{subject}：预计 {_fmt_time(v.get('forecast_at'))} 达 "
            f"{_num(v.get('forecast_people'))} 人 / 容量 {_num(v.get('capacity'))} 人"
            f"（{_pct(v.get('forecast_load'))}，阈值 {_pct(v.get('threshold'))}）"
            if zh
            else f"{subject}: forecast {_num(v.get('forecast_people'))} people by "
            f"{_fmt_time(v.get('forecast_at'))} / capacity {_num(v.get('capacity'))} "
            f"({_pct(v.get('forecast_load'))}, threshold {_pct(v.get('threshold'))})"
        )
    else:
        body = str(v.get("text", ""))
    mark = "" if alert.get("status") != "resolved" else ("【已恢复】" if zh else "[resolved] ")
    sep = "：" if zh else ": "
    head = f"{where}{sep}" if where else ""
    tail = f"（{at}）" if zh and at else (f" ({at})" if at else "")
    return f"{mark}{head}{body}{tail}"


#: The page that shows an alert's figure, by the alert's kind.
VIEW_PAGES = {
    "ontime_share": "throughput",
    "backlog": "throughput",
    "late_arrival": "throughput",
    "red_warning": "warnings",
    "venue_capacity": "crowd-map",
    "crowd_forecast": "crowd-map",
}


def _day(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None


def view_params(alerts: list[dict[str, Any]], lang: str = "zh") -> dict[str, str]:
    """The dashboards' filter parameters of what ``alerts`` are about: the
    district and street when they share one street, the dates of their
    times (an on-time share from the start of its ``hours``), and the
    language when it is not the default."""
    values = [a.get("values", {}) for a in alerts]
    streets = {str(v.get("street") or "") for v in values}
    districts = {str(v.get("district") or "") for v in values}
    params: dict[str, str] = {}
    if len(streets) == 1 and "" not in streets:
        params["district"] = districts.pop() if len(districts) == 1 else ""
        params["streets"] = streets.pop()
    days = []
    for v in values:
        at = _day(v.get("at"))
        if at is None:
            continue
        days.append(at.date())
        if v.get("hours"):
            days.append((at - timedelta(hours=float(v["hours"]))).date())
    if days:
        params["start"], params["end"] = min(days).isoformat(), max(days).isoformat()
    if lang != "zh":
        params["lang"] = lang
    return {k: v for k, v in params.items() if v}


def page_link(service: Service, rule: str = "", params: dict[str, str] | None = None) -> str:
    """The alerts page, for ``rule`` when given, over ``params`` (:func:`view_params`)."""
    query = urlencode({**({"rule": rule} if rule else {}), **(params or {})})
    return f"{service.base_url}/alerts" + (f"?{query}" if query else "")


def view_link(service: Service, alerts: list[dict[str, Any]], params: dict[str, str]) -> str | None:
    """The page of the alerts' figure for their street and window
    (``params``: :func:`view_params` of ``alerts``), when they are of one
    kind and about one street (else None)."""
    kinds = {a.get("kind", "") for a in alerts}
    page = VIEW_PAGES.get(kinds.pop()) if len(kinds) == 1 else None
    if page is None or "streets" not in params:
        return None
    return f"{service.base_url}/{page}?{urlencode(params)}"


def cut_utf8(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` UTF-8 bytes, cut on a character
    boundary (with an ellipsis when cut)."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    ellipsis = "…".encode()
    return raw[: max(0, limit - len(ellipsis))].decode("utf-8", errors="ignore") + "…"


def byte_limit(channel: Channel) -> int:
    return BYTE_LIMITS.get((channel.type, channel.format), DEFAULT_LIMIT)


def render(
    payload: dict[str, Any],
    kind: str,
    rule: str,
    channel: Channel,
    service: Service,
    now_utc: datetime,
    timezone: str,
    folded: int = 0,
) -> Message:
    """The message for an outbox row's ``payload`` (its ``alerts``, each
    with ``status``, ``kind``, ``severity``, ``values``) in the channel's
    language and format, at most :func:`byte_limit` bytes."""
    lang = channel.language
    w = WORDS[lang]
    alerts = payload.get("alerts", [])
    firing = [a for a in alerts if a.get("status") == "firing"]
    severity = max(
        (a.get("severity", "info") for a in alerts),
        key=lambda s: ["info", "warning", "critical"].index(s),
        default="info",
    )
    kinds = {a.get("kind", "") for a in alerts} or {payload.get("kind", "test")}
    custom = payload.get("title_en" if lang == "en" else "title_zh") or ""
    topic = custom or (KIND_TITLES[lang].get(next(iter(kinds)), rule) if len(kinds) == 1 else rule)
    status = w["digest"] if kind == "digest" else (w["firing"] if firing else w["resolved"])
    sev = SEVERITY_WORDS[lang][severity]
    n = len(alerts)
    if kind == "test":  # neither firing nor resolved, and about no alert
        title = f"[{topic}]" if lang == "en" else f"【{topic}】"
    elif lang == "en":
        title = f"[{status} · {sev}] {topic} ({n} {w['items']})"
    else:
        title = f"【{status}·{sev}】{topic}（{n} {w['items']}）"
    stamp = local(now_utc, timezone).strftime("%Y-%m-%d %H:%M")
    about = [] if kind == "test" else alerts
    params = view_params(about, lang)
    link = page_link(service, "" if kind in ("digest", "test") else rule, params)
    view = view_link(service, about, params) if about else None
    lines = [alert_line(a, lang) for a in alerts]
    if kind == "test":
        lines = [str(payload.get("text", ""))]
    notes = [w["digest_note"].format(n=folded)] if folded else []
    limit = byte_limit(channel)
    return Message(title, _body(channel, title, stamp, w, notes, lines, link, limit, view), link)


def _body(
    channel: Channel,
    title: str,
    stamp: str,
    w: dict[str, str],
    notes: list[str],
    lines: list[str],
    link: str,
    limit: int,
    view: str | None = None,
) -> str:
    md = channel.format == "markdown" and channel.type != "email"
    sep = "：" if channel.language == "zh" else ": "
    head = (
        [f"### {title}", "", f"{w['time']}{sep}{stamp}", ""]
        if md
        else [title, f"{w['time']}{sep}{stamp}"]
    )
    head += notes
    foot = ["", f"[{w['link']}]({link})"] if md else [f"{w['link']}{sep}{link}"]
    if view:  # the figure's own page first: what a phone opens
        foot[-1:-1] = [f"[{w['view']}]({view})", ""] if md else [f"{w['view']}{sep}{view}"]
    bullet = "- " if md else "· "

    def compose(items: list[str], more: int) -> str:
        body = [bullet + x for x in items]
        if more:
            body.append(bullet + w["more"].format(n=more))
        return "\n".join([*head, *body, *foot])

    kept = list(lines)
    text = compose(kept, 0)
    while len(text.encode("utf-8")) > limit and len(kept) > 1:
        kept.pop()
        text = compose(kept, len(lines) - len(kept))
    if len(text.encode("utf-8")) > limit:  # one line alone too long: cut it
        fixed = len(compose([], len(lines) - len(kept)).encode("utf-8")) + len(bullet) + 1
        kept = [cut_utf8(kept[0], max(0, limit - fixed))] if kept else []
        text = compose(kept, len(lines) - len(kept))
    return cut_utf8(text, limit)
