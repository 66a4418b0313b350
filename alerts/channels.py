"""Delivery channels: DingTalk / 浙政钉 custom robots, WeCom group robots,
a generic JSON webhook and SMTP e-mail. Standard library only (urllib,
smtplib), every call with a timeout.

Each send returns a :class:`SendResult` saying whether the receiver took
the message, and if not, whether to try again (network errors, HTTP 5xx,
rate limits) or not (signature, keyword, token and URL errors: a failed
channel). The robots answer HTTP 200 with an ``errcode``; it is read
always.

DingTalk's signature: ``timestamp`` (milliseconds) and ``sign`` =
base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}")), URL-encoded, added
to the webhook URL, fresh for every attempt (DingTalk refuses a timestamp
more than an hour old). 浙政钉 (Zhejiang's government DingTalk) speaks the
same protocol on its own host: give its robot URL as ``url``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit, urlunsplit

from alerts.message import Message
from alerts.rules import Channel

#: DingTalk errcodes: retried (rate limit, busy) and refused for good.
DINGTALK_RATE_LIMITED = {130101, 130102}
DINGTALK_RETRY = {-1}
#: 310000: keywords not matched, signature mismatch or IP not allowed;
#: 300001: token missing or invalid; 300005: token does not exist;
#: 400013: group disbanded; 410100: robot stopped.
DINGTALK_REFUSED = {310000, 300001, 300005, 400013, 410100}
#: WeCom errcodes: 45009 api freq out of limit (retried); 93000 invalid
#: webhook url, 93004 robot stopped, 40008 invalid message type (refused).
WECOM_RATE_LIMITED = {45009, 45033}
WECOM_RETRY = {-1}


@dataclass(frozen=True)
class SendResult:
    """``ok``: the receiver accepted it. Else ``retry`` (try again with
    backoff), ``rate_limited`` (the receiver said too fast), ``error``."""

    ok: bool
    retry: bool = False
    rate_limited: bool = False
    error: str = ""
    http_status: int | None = None
    errcode: int | None = None
    elapsed_ms: float = 0.0


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """The URL-encoded ``sign`` parameter for ``timestamp_ms``."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode("utf-8"), to_sign, hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode("ascii"))


def signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    """``url`` with ``timestamp`` and ``sign`` added (replacing old ones)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("timestamp", "sign")]
    extra = f"timestamp={timestamp_ms}&sign={dingtalk_sign(secret, timestamp_ms)}"
    joined = f"{urlencode(query)}&{extra}" if query else extra
    return urlunsplit(parts._replace(query=joined))


def tls_context(channel: Channel) -> ssl.SSLContext:
    """Certificate-checking TLS: the system's CAs, or the channel's
    ``ca_file`` (a site's own CA for an intranet mail server or gateway)."""
    return ssl.create_default_context(cafile=channel.ca_file or None)


def _opener(channel: Channel) -> urllib.request.OpenerDirector:
    # No proxy unless the channel names one: the environment's proxy must
    # not silently carry alerts (or a loopback test) elsewhere.
    proxies = {"http": channel.proxy, "https": channel.proxy} if channel.proxy else {}
    return urllib.request.build_opener(
        urllib.request.ProxyHandler(proxies),
        urllib.request.HTTPSHandler(context=tls_context(channel)),
    )


def _certificate_error(exc: BaseException) -> str:
    """A refused certificate, said plainly ("" if ``exc`` is not one). Not
    retried: the same certificate is refused again until someone acts."""
    # urllib wraps it in URLError.reason; smtplib raises it as it is.
    for err in (exc, getattr(exc, "reason", None)):
        if isinstance(err, ssl.SSLCertVerificationError):
            return f"certificate refused: {err.verify_message or err} (see ca_file)"[:300]
    return ""


def network_failure(error: str) -> SendResult:
    """A request that got no answer: retried, unless the certificate was refused."""
    return SendResult(False, retry=not error.startswith("certificate"), error=error)


def post_json(
    channel: Channel, url: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int | None, Any, str]:
    """POST ``body`` as JSON: ``(HTTP status, parsed JSON or None, error)``;
    a network error gives status None."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    req = urllib.request.Request(url, data=data, method="POST")
    req.add_header("Content-Type", "application/json; charset=utf-8")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with _opener(channel).open(req, timeout=channel.timeout_s) as resp:
            raw = resp.read(1_000_000)
            status = int(resp.status)
    except urllib.error.HTTPError as exc:
        raw = exc.read(100_000) if exc.fp else b""
        status = int(exc.code)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, None, _certificate_error(exc) or f"network: {reason}"[:300]
    try:
        parsed = json.loads(raw.decode("utf-8")) if raw else None
    except (ValueError, UnicodeDecodeError):
        parsed = None
    return status, parsed, ""


def _robot_result(
    status: int | None,
    reply: Any,
    error: str,
    rate_limited: set[int],
    retry_codes: set[int],
) -> SendResult:
    if status is None:
        return network_failure(error)
    if status == 429:
        return SendResult(
            False, retry=True, rate_limited=True, http_status=status, error="HTTP 429"
        )
    if status >= 500:
        return SendResult(False, retry=True, http_status=status, error=f"HTTP {status}")
    if status >= 400:
        return SendResult(False, http_status=status, error=f"HTTP {status}")
    if not isinstance(reply, dict) or "errcode" not in reply:
        return SendResult(False, retry=True, http_status=status, error="reply without errcode")
    code = int(reply.get("errcode") or 0)
    msg = str(reply.get("errmsg", ""))[:200]
    if code == 0:
        return SendResult(True, http_status=status, errcode=0)
    detail = f"errcode {code}: {msg}"
    if code in rate_limited:
        return SendResult(
            False, retry=True, rate_limited=True, http_status=status, errcode=code, error=detail
        )
    if code in retry_codes:
        return SendResult(False, retry=True, http_status=status, errcode=code, error=detail)
    return SendResult(False, http_status=status, errcode=code, error=detail)


def send_dingtalk(
    channel: Channel, msg: Message, idempotency_key: str, now_ms: Callable[[], int]
) -> SendResult:
    """DingTalk or 浙政钉 custom robot (``markdown`` or ``text``)."""
    url = signed_url(channel.url, channel.secret, now_ms()) if channel.secret else channel.url
    at = {"atMobiles": list(channel.at_mobiles), "isAtAll": False}
    if channel.format == "markdown":
        body: dict[str, Any] = {
            "msgtype": "markdown",
            "markdown": {"title": msg.title, "text": msg.text},
            "at": at,
        }
    else:
        body = {"msgtype": "text", "text": {"content": msg.text}, "at": at}
    status, reply, error = post_json(channel, url, body)
    return _robot_result(status, reply, error, DINGTALK_RATE_LIMITED, DINGTALK_RETRY)


def send_wecom(
    channel: Channel, msg: Message, idempotency_key: str, now_ms: Callable[[], int]
) -> SendResult:
    """WeCom group robot (``.../cgi-bin/webhook/send?key=...``)."""
    if channel.format == "markdown":
        body: dict[str, Any] = {"msgtype": "markdown", "markdown": {"content": msg.text}}
    else:
        body = {
            "msgtype": "text",
            "text": {"content": msg.text, "mentioned_mobile_list": list(channel.at_mobiles)},
        }
    status, reply, error = post_json(channel, channel.url, body)
    return _robot_result(status, reply, error, WECOM_RATE_LIMITED, WECOM_RETRY)


def send_webhook(
    channel: Channel,
    msg: Message,
    idempotency_key: str,
    now_ms: Callable[[], int],
    payload: dict[str, Any] | None = None,
) -> SendResult:
    """Generic JSON webhook: ``title``, ``text``, ``link``, ``alerts`` and
    the ``Idempotency-Key`` header (the same on every retry and after a
    restart, so a receiver can drop a duplicate). 2xx accepted; 429 and
    5xx retried; other 4xx refused. ``token`` is sent as a Bearer token."""
    body = {
        "title": msg.title,
        "text": msg.text,
        "link": msg.link,
        "idempotency_key": idempotency_key,
        **(payload or {}),
    }
    headers = {"Idempotency-Key": idempotency_key}
    if channel.token:
        headers["Authorization"] = f"Bearer {channel.token}"
    status, _reply, error = post_json(channel, channel.url, body, headers)
    if status is None:
        return network_failure(error)
    if 200 <= status < 300:
        return SendResult(True, http_status=status)
    if status == 429:
        return SendResult(
            False, retry=True, rate_limited=True, http_status=status, error="HTTP 429"
        )
    return SendResult(False, retry=status >= 500, http_status=status, error=f"HTTP {status}")


def send_email(
    channel: Channel, msg: Message, idempotency_key: str, now_ms: Callable[[], int]
) -> SendResult:
    """SMTP e-mail, UTF-8 subject and body; ``security`` ``starttls``
    (default, port 587), ``ssl`` (465) or ``none`` (25)."""
    mail = EmailMessage()
    mail["Subject"] = msg.title
    mail["From"] = channel.sender or channel.username or "alerts@localhost"
    mail["To"] = ", ".join(channel.recipients)
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(idstring=idempotency_key[:16])
    mail["X-Idempotency-Key"] = idempotency_key
    mail.set_content(msg.text, charset="utf-8")
    port = channel.port or {"ssl": 465, "starttls": 587}.get(channel.security, 25)
    try:
        smtp: smtplib.SMTP
        if channel.security == "ssl":
            smtp = smtplib.SMTP_SSL(
                channel.host, port, timeout=channel.timeout_s, context=tls_context(channel)
            )
        else:
            smtp = smtplib.SMTP(channel.host, port, timeout=channel.timeout_s)
        with smtp:
            if channel.security == "starttls":
                smtp.starttls(context=tls_context(channel))
            if channel.username:
                smtp.login(channel.username, channel.password)
            smtp.send_message(mail)
    except smtplib.SMTPAuthenticationError as exc:
        return SendResult(False, error=f"SMTP auth: {exc.smtp_code}", http_status=None)
    except smtplib.SMTPNotSupportedError as exc:  # e.g. no STARTTLS offered: a setting
        return SendResult(False, error=f"SMTP: {exc} (see security)"[:300])
    except smtplib.SMTPResponseException as exc:
        code = int(exc.smtp_code)
        return SendResult(
            False, retry=400 <= code < 500, error=f"SMTP {code}: {exc.smtp_error!r}"[:300]
        )
    except (smtplib.SMTPException, OSError) as exc:
        return network_failure(_certificate_error(exc) or f"SMTP: {exc}"[:300])
    return SendResult(True)


SENDERS = {
    "dingtalk": send_dingtalk,
    "zhezhengding": send_dingtalk,
    "wecom": send_wecom,
    "email": send_email,
}


def send(
    channel: Channel,
    msg: Message,
    idempotency_key: str,
    now_ms: Callable[[], int] | None = None,
    payload: dict[str, Any] | None = None,
) -> SendResult:
    """Send ``msg`` on ``channel``; never raises for a delivery problem."""
    clock_ms = now_ms or (lambda: int(time.time() * 1000))
    started = time.perf_counter()
    if channel.type == "webhook":
        result = send_webhook(channel, msg, idempotency_key, clock_ms, payload)
    else:
        result = SENDERS[channel.type](channel, msg, idempotency_key, clock_ms)
    elapsed = (time.perf_counter() - started) * 1000
    return SendResult(**{**result.__dict__, "elapsed_ms": elapsed})
