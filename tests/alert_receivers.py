"""Loopback receivers for the alert tests and benchmark: DingTalk, WeCom
and webhook endpoints on 127.0.0.1 that check what the real ones check and
answer with their real error replies, and a local SMTP server.

- DingTalk (``/dingtalk/robot/send``, also the 浙政钉 stand-in): the
  ``access_token`` (else ``300001``), ``timestamp`` within an hour of now
  and ``sign`` = base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}"))
  (else ``310000``), at most ``rate_per_min`` messages a minute (else
  ``130101``), all with HTTP 200.
- WeCom (``/wecom/cgi-bin/webhook/send``): the ``key`` (else ``93000``),
  the rate (else ``45009``).
- Webhook (``/webhook``): 200, or the scripted statuses first.

``script``: replies to give first, in order, before the normal checks:
``(http_status, json_body)``. ``hold``: when set, a request is recorded
and then left unanswered until ``release`` is set (the kill -9 test).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    at: float


@dataclass
class Receiver:
    token: str = "tok-123"
    secret: str = "SECtest-secret"
    wecom_key: str = "key-456"
    rate_per_min: int = 20
    script: deque[tuple[int, Any]] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)
    rejected: list[tuple[str, Any]] = field(default_factory=list)
    hold: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    _times: dict[str, deque[float]] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def dingtalk_url(self) -> str:
        return f"{self.base}/dingtalk/robot/send?access_token={self.token}"

    @property
    def wecom_url(self) -> str:
        return f"{self.base}/wecom/cgi-bin/webhook/send?key={self.wecom_key}"

    @property
    def webhook_url(self) -> str:
        return f"{self.base}/webhook"

    def accepted(self, prefix: str = "") -> list[Received]:
        return [r for r in self.received if r.path.startswith(prefix)]

    def wait_for(self, n: int, prefix: str = "", timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.accepted(prefix)) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.arrived.wait(left)
        return self.accepted(prefix)

    def _rate_ok(self, channel: str) -> bool:
        now = time.time()
        times = self._times.setdefault(channel, deque())
        while times and now - times[0] > 60:
            times.popleft()
        if len(times) >= self.rate_per_min:
            return False
        times.append(now)
        return True

    def answer(
        self, path: str, query: dict[str, str], headers: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        if self.script:
            return self.script.popleft()
        if path.startswith("/dingtalk/"):
            if query.get("access_token") != self.token:
                return 200, {"errcode": 300001, "errmsg": "token is not exist"}
            ts, sign = query.get("timestamp", ""), query.get("sign", "")
            if not ts.isdigit() or abs(time.time() * 1000 - int(ts)) > 3600_000:
                return 200, {"errcode": 310000, "errmsg": "sign not match, more: timestamp invalid"}
            want = base64.b64encode(
                hmac.new(
                    self.secret.encode(), f"{ts}\n{self.secret}".encode(), hashlib.sha256
                ).digest()
            ).decode()
            if not hmac.compare_digest(want, sign):
                return 200, {"errcode": 310000, "errmsg": "sign not match"}
            if not self._rate_ok("dingtalk"):
                return 200, {
                    "errcode": 130101,
                    "errmsg": "send too fast, exceed 20 times per minute",
                }
            return 200, {"errcode": 0, "errmsg": "ok"}
        if path.startswith("/wecom/"):
            if query.get("key") != self.wecom_key:
                return 200, {"errcode": 93000, "errmsg": "invalid webhook url, hint: [x]"}
            if not self._rate_ok("wecom"):
                return 200, {"errcode": 45009, "errmsg": "api freq out of limit"}
            return 200, {"errcode": 0, "errmsg": "ok"}
        if path.startswith("/webhook"):
            return 200, {"ok": True}
        return 404, {"error": "no such path"}

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw.decode("utf-8"))
                except ValueError:
                    body = raw
                headers = {k: v for k, v in self.headers.items()}
                status, reply = receiver.answer(parts.path, query, headers, body)
                ok = status == 200 and (not isinstance(reply, dict) or reply.get("errcode", 0) == 0)
                with receiver.arrived:
                    if ok:
                        receiver.received.append(
                            Received(parts.path, query, headers, body, time.time())
                        )
                    else:
                        receiver.rejected.append((parts.path, reply))
                    receiver.arrived.notify_all()
                if ok and receiver.hold.is_set():
                    receiver.release.wait(30)
                data = json.dumps(reply).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the sender was killed meanwhile
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpReceiver:
    """An aiosmtpd server on 127.0.0.1 keeping every message it gets
    (parsed as :class:`email.message.EmailMessage`)."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Any] = []
        self.arrived = threading.Condition()
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                msg = message_from_bytes(
                    envelope.original_content or envelope.content, policy=policy.default
                )
                with outer.arrived:
                    outer.messages.append((time.time(), envelope.rcpt_tos, msg))
                    outer.arrived.notify_all()
                return "250 Message accepted for delivery"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpReceiver:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def wait_for(self, n: int, timeout: float = 20.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.messages) < n and time.monotonic() < deadline:
                self.arrived.wait(max(0.0, deadline - time.monotonic()))
        return self.messages
