"""Channels over TLS to a site's own CA, and credentials from the environment.

An intranet mail server or webhook gateway usually has a certificate from
the site's own CA, which the system trust store does not know: the
channel's ``ca_file`` names it. Here a throwaway CA signs a certificate
for 127.0.0.1; SMTPS (465-style), STARTTLS (587-style, required by the
server) and an HTTPS webhook deliver with ``ca_file`` and, without it, end
failed at once with the certificate named (retrying cannot help).
"""

from __future__ import annotations

import tomllib
from dataclasses import replace

import pytest

from alerts import channels, dispatch, message, rules
from alerts.clock import ManualClock
from tests.alert_receivers import Receiver, SmtpReceiver, local_ca
from tests.test_alerts_channels import T0, TZ, config, outbox, queue

pytest.importorskip("aiosmtpd", reason="aiosmtpd is in the test extras")


@pytest.fixture
def site_ca(tmp_path):
    return local_ca(tmp_path)


@pytest.fixture
def engine(tmp_path):
    import appstate

    e = appstate.make_engine(f"sqlite:///{tmp_path / 'state.sqlite'}")
    yield e
    e.dispose()


@pytest.fixture
def rx():
    r = Receiver().start()
    yield r
    r.stop()


def mail_config(rx: Receiver, port: int, security: str, ca_file: str = "") -> rules.AlertConfig:
    cfg = config(rx, smtp_port=port)
    mail = replace(cfg.channels["mail"], security=security, ca_file=ca_file)
    return replace(cfg, channels={**cfg.channels, "mail": mail})


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_email_over_tls_to_the_sites_ca_is_delivered(rx, engine, site_ca, security):
    ca_file, server_tls = site_ca
    smtp = SmtpReceiver(tls=server_tls, implicit=security == "ssl").start()
    try:
        cfg = mail_config(rx, smtp.port, security, str(ca_file))
        [oid] = queue(engine, "mail")
        assert dispatch.dispatch(engine, cfg, ManualClock(T0), TZ).sent == [oid]
        [(_, rcpt, msg)] = smtp.wait_for(1)
        assert rcpt == ["duty@dash.test"] and "祥符街道" in msg.get_content()
    finally:
        smtp.stop()


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_email_to_an_unknown_ca_fails_at_once_naming_the_certificate(rx, engine, site_ca, security):
    _, server_tls = site_ca
    smtp = SmtpReceiver(tls=server_tls, implicit=security == "ssl").start()
    try:
        cfg = mail_config(rx, smtp.port, security)  # the system's CAs only
        [oid] = queue(engine, "mail")
        assert dispatch.dispatch(engine, cfg, ManualClock(T0), TZ).failed == [oid]
        row = outbox(engine)[oid]
        assert row["attempts"] == 1 and "certificate refused" in row["last_error"]
        assert "ca_file" in row["last_error"] and not smtp.messages
    finally:
        smtp.stop()


def test_starttls_to_a_server_without_it_fails_naming_the_setting(rx, engine):
    smtp = SmtpReceiver().start()  # plain SMTP, no STARTTLS offered
    try:
        cfg = mail_config(rx, smtp.port, "starttls")
        [oid] = queue(engine, "mail")
        assert dispatch.dispatch(engine, cfg, ManualClock(T0), TZ).failed == [oid]
        assert "security" in outbox(engine)[oid]["last_error"] and not smtp.messages
    finally:
        smtp.stop()


def test_https_webhook_with_the_sites_ca(site_ca):
    ca_file, server_tls = site_ca
    rx = Receiver(tls=server_tls).start()
    try:
        assert rx.webhook_url.startswith("https://127.0.0.1:")
        hook = config(rx).channels["hook"]
        msg = message.Message("标题", "正文", "http://dash.test/alerts")
        ok = channels.send(replace(hook, ca_file=str(ca_file)), msg, "k1", now_ms=lambda: 0)
        assert ok.ok and rx.accepted("/webhook")[0].body["idempotency_key"] == "k1"
        refused = channels.send(hook, msg, "k2", now_ms=lambda: 0)
        assert not refused.ok and not refused.retry
        assert refused.error.startswith("certificate refused")
        assert len(rx.accepted("/webhook")) == 1
    finally:
        rx.stop()


def channel_toml(extra: str) -> rules.AlertConfig:
    return rules.parse(
        tomllib.loads(
            f"""
[channels.ding]
type = "dingtalk"
enabled = true
{extra}
"""
        )
    )


def test_credentials_can_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("DING_URL", "https://oapi.dingtalk.com/robot/send?access_token=t0k")
    monkeypatch.setenv("DING_SECRET", "SECfromenv")
    cfg = channel_toml('url_env = "DING_URL"\nsecret_env = "DING_SECRET"')
    assert not cfg.problems
    ding = cfg.channels["ding"]
    assert ding.url.endswith("access_token=t0k") and ding.secret == "SECfromenv"


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ('url_env = "NOT_SET_ANYWHERE"', "the environment variable NOT_SET_ANYWHERE is not set"),
        (
            'url = "https://h/robot/send"\nsecret = "SEC1"\nsecret_env = "DING_SECRET"',
            "give secret or secret_env, not both",
        ),
        ('url = "https://h/robot/send"\nca_file = "/nonexistent/ca.pem"', "ca_file: cannot read"),
    ],
)
def test_a_bad_credential_or_ca_setting_is_a_clear_problem(monkeypatch, extra, problem):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    monkeypatch.setenv("DING_SECRET", "SECfromenv")
    cfg = channel_toml(extra)
    assert "ding" not in cfg.channels
    assert any(problem in p and "channels.ding" in p for p in cfg.problems), cfg.problems
