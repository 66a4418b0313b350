"""Channels and the outbox worker against loopback receivers (127.0.0.1
only): the DingTalk signature and its fresh timestamp, the robots' real
error replies (310000, 300001, 130101, WeCom 45009 and 93000), webhook
retries with one idempotency key, a local SMTP server receiving UTF-8
Chinese, rate limits with a digest, byte limits on a UTF-8 boundary."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import tomllib
from collections import deque
from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace
from urllib.parse import parse_qs, unquote_plus, urlsplit

import pytest
from sqlalchemy import select

import appstate
from alerts import channels, dispatch, message, rules
from alerts.clock import ManualClock
from appstate import alerts as alert_store
from appstate.alerts import naive_utc
from tests.alert_receivers import Receiver, SmtpReceiver

TZ = "Asia/Shanghai"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
def rx():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def smtp():
    try:
        s = SmtpReceiver().start()
    except ModuleNotFoundError:
        pytest.fail("aiosmtpd is in the test extras: pip install -e '.[test]'")
    yield s
    s.stop()


@pytest.fixture
def engine(tmp_path):
    e = appstate.make_engine(f"sqlite:///{tmp_path / 'state.sqlite'}")
    yield e
    e.dispose()


def config(rx: Receiver, smtp_port: int = 0, **overrides: str) -> rules.AlertConfig:
    text = f"""
[service]
base_url = "http://dash.test"
[channels.ding]
type = "dingtalk"
enabled = true
url = "{rx.dingtalk_url}"
secret = "{overrides.get("secret", rx.secret)}"
backoff_s = 5
max_attempts = 3
[channels.zzd]
type = "zhezhengding"
enabled = true
url = "{rx.dingtalk_url}"
secret = "{rx.secret}"
format = "text"
[channels.wc]
type = "wecom"
enabled = true
url = "{overrides.get("wecom_url", rx.wecom_url)}"
format = "text"
[channels.hook]
type = "webhook"
enabled = true
url = "{rx.webhook_url}"
language = "en"
backoff_s = 5
[channels.mail]
type = "email"
enabled = true
host = "127.0.0.1"
port = {smtp_port or 1}
security = "none"
sender = "alerts@dash.test"
recipients = ["duty@dash.test"]
"""
    cfg = rules.parse(tomllib.loads(text))
    assert not cfg.problems, cfg.problems
    return cfg


ALERT = {
    "fingerprint": "f1",
    "status": "firing",
    "rule": "backlog_high",
    "kind": "backlog",
    "severity": "warning",
    "labels": {"street": "330105009", "district": "330105"},
    "values": {
        "district_zh": "拱墅区",
        "district_en": "Gongshu",
        "street_zh": "祥符街道",
        "street_en": "Xiangfu",
        "open_backlog": 37,
        "threshold": 30,
        "at": "2026-11-20T18:00:00",
    },
}


def queue(engine, channel: str, n: int = 1, alerts: list | None = None) -> list[int]:
    with appstate.begin(engine, alert_store.metadata) as conn:
        return [
            alert_store.enqueue(
                conn,
                rule="backlog_high",
                group="backlog_high/330105",
                channel=channel,
                kind="firing",
                payload={"alerts": alerts or [ALERT]},
                now=naive_utc(T0),
            )
            for _ in range(n)
        ]


def outbox(engine) -> dict[int, dict]:
    with engine.connect() as conn:
        return {r.id: dict(r._mapping) for r in conn.execute(select(alert_store.alert_outbox))}


def test_signature_is_dingtalks():
    # base64(HMAC-SHA256(secret, "ts\nsecret")), URL-encoded, computed here by hand.
    secret, ts = "SEC000", 1700000000000
    raw = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    assert unquote_plus(channels.dingtalk_sign(secret, ts)) == base64.b64encode(raw).decode()
    url = channels.signed_url("http://h/robot/send?access_token=abc&sign=old", secret, ts)
    q = parse_qs(urlsplit(url).query)
    assert q["access_token"] == ["abc"] and q["timestamp"] == [str(ts)]
    assert q["sign"] == [base64.b64encode(raw).decode()]


def test_dingtalk_and_zhezhengding_deliver_signed_chinese(rx, engine):
    cfg = config(rx)
    clock = ManualClock(T0)
    ids = queue(engine, "ding") + queue(engine, "zzd")
    result = dispatch.dispatch(engine, cfg, clock, TZ)
    assert sorted(result.sent) == ids and not rx.rejected
    md, text = rx.accepted("/dingtalk")
    assert md.body["msgtype"] == "markdown" and text.body["msgtype"] == "text"
    body = md.body["markdown"]["text"]
    assert "拱墅区 祥符街道" in body and "积压案件 37 件，超过 30 件" in body
    assert "http://dash.test/alerts?rule=backlog_high" in body
    assert "2026-11-20 18:00" in body  # the time, in the site's zone
    assert "祥符街道" in text.body["text"]["content"]
    assert {r["status"] for r in outbox(engine).values()} == {"sent"}


def test_fresh_timestamp_on_every_attempt(rx, engine, monkeypatch):
    cfg = config(rx)
    clock = ManualClock(T0)
    rx.script.append((503, {"error": "busy"}))
    start = time.time()
    ticks = iter([start, start + 5])  # the second attempt 5 s after the first
    fake = SimpleNamespace(time=lambda: next(ticks), perf_counter=time.perf_counter)
    monkeypatch.setattr(channels, "time", fake)
    monkeypatch.setattr(rx, "answer", _accept_after_script(rx))
    [oid] = queue(engine, "ding")
    assert dispatch.dispatch(engine, cfg, clock, TZ).retrying == [oid]
    clock.advance(5)
    assert dispatch.dispatch(engine, cfg, clock, TZ).sent == [oid]
    stamps = [int(q["timestamp"]) for q in rx.seen_queries]
    assert stamps == [int(start * 1000), int((start + 5) * 1000)]


def _accept_after_script(rx: Receiver):
    """Record every query (even refused ones); accept any signature that
    matches its own timestamp."""
    rx.seen_queries = []  # type: ignore[attr-defined]
    original = rx.answer

    def answer(path, query, headers, body):
        rx.seen_queries.append(query)  # type: ignore[attr-defined]
        return original(path, query, headers, body)

    return answer


def test_signature_error_310000_is_not_retried(rx, engine):
    cfg = config(rx, secret="SECwrong")
    [oid] = queue(engine, "ding")
    result = dispatch.dispatch(engine, cfg, ManualClock(T0), TZ)
    assert result.failed == [oid] and not rx.received
    row = outbox(engine)[oid]
    assert row["status"] == "failed" and row["attempts"] == 1
    assert "310000" in row["last_error"] and "sign not match" in row["last_error"]
    d = alert_store.deliveries(engine)
    assert d.iloc[0]["errcode"] == 310000 and d.iloc[0]["http_status"] == 200
    health = alert_store.channel_health(engine).set_index("channel").loc["ding"]
    assert health["failed"] == 1 and health["sent"] == 0 and health["last_outcome"] == "failed"
    assert "310000" in health["last_error"]


def test_stale_timestamp_is_refused_by_the_receiver(rx):
    ch = config(rx).channels["ding"]
    msg = message.Message("t", "x", "l")
    old = int(T0.timestamp() * 1000) - 2 * 3600_000
    res = channels.send(ch, msg, "k", now_ms=lambda: old)
    assert not res.ok and not res.retry and res.errcode == 310000


def test_bad_token_300001_fails(rx, engine):
    cfg = config(rx)
    ding = replace(cfg.channels["ding"], url=rx.dingtalk_url.replace("tok-123", "nope"))
    cfg = replace(cfg, channels={**cfg.channels, "ding": ding})
    [oid] = queue(engine, "ding")
    assert dispatch.dispatch(engine, cfg, ManualClock(T0), TZ).failed == [oid]
    assert "300001" in outbox(engine)[oid]["last_error"]


def test_send_too_fast_130101_retries_with_backoff(rx, engine):
    cfg = config(rx)
    clock = ManualClock(T0)
    rx.script.append(
        (200, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"})
    )
    [oid] = queue(engine, "ding")
    assert dispatch.dispatch(engine, cfg, clock, TZ).retrying == [oid]
    row = outbox(engine)[oid]
    assert row["status"] == "retrying" and "130101" in row["last_error"]
    wait = (row["next_attempt_at"] - naive_utc(clock.now())).total_seconds()
    assert wait == dispatch.RATE_LIMIT_WAIT_S  # a rate limit waits out the minute
    clock.advance(30)
    assert dispatch.dispatch(engine, cfg, clock, TZ).sent == []  # not due yet
    clock.advance(30)
    assert dispatch.dispatch(engine, cfg, clock, TZ).sent == [oid]
    assert len(rx.accepted("/dingtalk")) == 1


def test_retries_end_failed_after_max_attempts(rx, engine):
    cfg = config(rx)  # ding: max_attempts 3, backoff 5 s
    clock = ManualClock(T0)
    rx.script.extend([(500, {}), (502, {}), (500, {})])
    [oid] = queue(engine, "ding")
    waits = []
    for _ in range(3):
        dispatch.dispatch(engine, cfg, clock, TZ)
        row = outbox(engine)[oid]
        waits.append((row["next_attempt_at"] - naive_utc(clock.now())).total_seconds())
        clock.advance(60)
    assert row["status"] == "failed" and row["attempts"] == 3 and "HTTP 500" in row["last_error"]
    assert waits[:2] == [5.0, 10.0]  # exponential backoff
    assert list(alert_store.deliveries(engine)["outcome"])[::-1] == ["retry", "retry", "failed"]


def test_wecom_rate_limit_45009_retries_and_bad_key_93000_fails(rx, engine):
    cfg = config(rx)
    clock = ManualClock(T0)
    rx.script.append((200, {"errcode": 45009, "errmsg": "api freq out of limit"}))
    [oid] = queue(engine, "wc")
    assert dispatch.dispatch(engine, cfg, clock, TZ).retrying == [oid]
    clock.advance(61)
    assert dispatch.dispatch(engine, cfg, clock, TZ).sent == [oid]
    assert "祥符街道" in rx.accepted("/wecom")[0].body["text"]["content"]

    bad = config(rx, wecom_url=rx.wecom_url.replace("key-456", "wrong"))
    [oid2] = queue(engine, "wc")
    assert dispatch.dispatch(engine, bad, clock, TZ).failed == [oid2]
    assert "93000" in outbox(engine)[oid2]["last_error"]


def test_webhook_500_then_200_keeps_its_idempotency_key(rx, engine):
    cfg = config(rx)
    clock = ManualClock(T0)
    rx.script.append((500, {"error": "boom"}))
    [oid] = queue(engine, "hook")
    assert dispatch.dispatch(engine, cfg, clock, TZ).retrying == [oid]
    clock.advance(5)
    assert dispatch.dispatch(engine, cfg, clock, TZ).sent == [oid]
    [got] = rx.accepted("/webhook")
    key = outbox(engine)[oid]["idempotency_key"]
    assert got.headers["Idempotency-Key"] == key and got.body["idempotency_key"] == key
    assert got.body["alerts"][0]["values"]["open_backlog"] == 37
    assert "Xiangfu" in got.body["text"] and "open backlog 37 cases" in got.body["text"]  # English


def test_smtp_delivers_utf8_chinese(smtp, rx, engine):
    cfg = config(rx, smtp_port=smtp.port)
    [oid] = queue(engine, "mail")
    assert dispatch.dispatch(engine, cfg, ManualClock(T0), TZ).sent == [oid]
    [(_, rcpt, msg)] = smtp.wait_for(1)
    assert rcpt == ["duty@dash.test"]
    assert msg["Subject"] == "【告警·警告】积压案件过多（1 条）"
    body = msg.get_content()
    assert "拱墅区 祥符街道：积压案件 37 件，超过 30 件" in body
    assert msg.get_content_charset() == "utf-8"


def test_smtp_away_is_retried(rx, engine):
    cfg = config(rx, smtp_port=1)  # nothing listens on port 1
    [oid] = queue(engine, "mail")
    assert dispatch.dispatch(engine, cfg, ManualClock(T0), TZ).retrying == [oid]


def test_rate_limit_folds_the_excess_into_one_digest(rx, engine):
    cfg = config(rx)
    ding = replace(cfg.channels["ding"], rate_per_min=5)
    cfg = replace(cfg, channels={**cfg.channels, "ding": ding})
    clock = ManualClock(T0)
    ids = queue(engine, "ding", n=12)
    result = dispatch.dispatch(engine, cfg, clock, TZ)
    assert len(result.sent) == 5 and result.sent[:4] == ids[:4]
    assert result.digested == ids[4:]
    got = rx.accepted("/dingtalk")
    assert len(got) == 5 and not rx.rejected
    digest = got[-1].body["markdown"]
    assert "汇总" in digest["title"] and "8 条消息合并为一条" in digest["text"]
    rows = outbox(engine)
    assert {rows[i]["status"] for i in ids[4:]} == {"digested"}
    # The minute is used up: more waits for it, then goes.
    more = queue(engine, "ding", n=1)
    assert dispatch.dispatch(engine, cfg, clock, TZ).waiting == more
    clock.advance(61)
    assert dispatch.dispatch(engine, cfg, clock, TZ).sent == more


def test_disabled_or_unknown_channel_fails_visibly(rx, engine):
    cfg = config(rx)
    off = replace(cfg.channels["ding"], enabled=False)
    cfg = replace(cfg, channels={**cfg.channels, "ding": off})
    [a] = queue(engine, "ding")
    [b] = queue(engine, "gone")
    assert sorted(dispatch.dispatch(engine, cfg, ManualClock(T0), TZ).failed) == [a, b]
    rows = outbox(engine)
    assert rows[a]["last_error"] == "channel disabled"
    assert rows[b]["last_error"] == "channel not configured"


@pytest.mark.parametrize(
    ("kind", "fmt", "limit"),
    [("wecom", "text", 2048), ("wecom", "markdown", 4096), ("dingtalk", "markdown", 20000)],
)
def test_messages_fit_the_byte_limit_on_a_utf8_boundary(kind, fmt, limit):
    ch = rules.Channel(name="x", type=kind, format=fmt)
    many = [{**ALERT, "values": {**ALERT["values"], "open_backlog": 100 + i}} for i in range(400)]
    msg = message.render({"alerts": many}, "firing", "backlog_high", ch, rules.Service(), T0, TZ)
    raw = msg.text.encode("utf-8")
    assert len(raw) <= limit and raw.decode("utf-8") == msg.text
    assert "未列出" in msg.text and "/alerts?rule=backlog_high" in msg.text  # the link survives
    kept = msg.text.count("：积压案件")  # lines, not the title
    assert f"另有 {400 - kept} 条未列出" in msg.text
    long_line = [{**ALERT, "values": {**ALERT["values"], "street_zh": "街" * 8000}}]
    one = message.render({"alerts": long_line}, "firing", "r", ch, rules.Service(), T0, TZ)
    assert len(one.text.encode("utf-8")) <= limit and "…" in one.text


def test_cut_utf8_never_splits_a_character():
    text = "杭州" * 10
    for n in range(0, 61):
        cut = message.cut_utf8(text, n)
        assert len(cut.encode("utf-8")) <= max(n, 0) or cut == "…"
        cut.encode("utf-8").decode("utf-8")


def test_receiver_reply_is_read_even_on_http_200(rx):
    ch = config(rx).channels["ding"]
    rx.script.append((200, {"errcode": 310000, "errmsg": "keywords not in content"}))
    res = channels.send(ch, message.Message("t", "x", "l"), "k")
    assert not res.ok and res.http_status == 200 and res.errcode == 310000 and not res.retry
    rx.script = deque([(200, {"no": "errcode"})])
    res = channels.send(ch, message.Message("t", "x", "l"), "k")
    assert not res.ok and res.retry


def test_payload_json_in_outbox_is_chinese_readable(engine, rx):
    [oid] = queue(engine, "ding")
    assert "祥符街道" in outbox(engine)[oid]["payload"]
    assert json.loads(outbox(engine)[oid]["payload"])["alerts"][0]["values"]["open_backlog"] == 37
