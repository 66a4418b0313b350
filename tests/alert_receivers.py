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

``tls``: an ``ssl.SSLContext`` to serve HTTPS (and SMTPS or STARTTLS for
:class:`SmtpReceiver`), with a certificate from :func:`local_ca`.

``script``: replies to give first, in order, before the normal checks:
``(http_status, json_body)``. ``hold``: when set, a request is recorded
and then left unanswered until ``release`` is set (the kill -9 test).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import socket
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
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
    tls: ssl.SSLContext | None = None

    @property
    def base(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

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
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
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


def local_ca(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A throwaway CA and a server certificate it signed for 127.0.0.1 and
    localhost: ``(the CA's PEM file, a server context using the certificate)``.
    As a site's own CA would be: unknown to the system's trust store."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("Test site CA"))
        .issuer_name(name("Test site CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = folder / "site-ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain = folder / "server.pem"
    chain.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(chain)
    return ca_file, server


class SmtpReceiver:
    """An aiosmtpd server on 127.0.0.1 keeping every message it gets
    (parsed as :class:`email.message.EmailMessage`). ``tls`` with
    ``implicit``: SMTPS (TLS from the first byte); else STARTTLS, required."""

    def __init__(self, tls: ssl.SSLContext | None = None, implicit: bool = False) -> None:
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
        if tls is None:
            kwargs: dict[str, Any] = {}
        elif implicit:
            kwargs = {"ssl_context": tls}
        else:
            kwargs = {"tls_context": tls, "require_starttls": True}
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kwargs)

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
