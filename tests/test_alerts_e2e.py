"""End to end on loopback: ``python -m alerts once`` on the demo fixture
database (clock pinned at FIXTURE_END) delivers to local DingTalk, WeCom,
webhook and SMTP receivers, with the streets and figures the data_access
queries give; a second run (a restart) sends nothing again; a service
killed with SIGKILL between send and mark sends at most one duplicate,
with the same idempotency key. The recent on-time, backlog and forecast
queries are checked against independent computations on every backend."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select, text

import appstate
from alerts import state
from appstate import alerts as alert_store
from data_access import geography
from data_access.config import load_site_config
from data_access.filters import AreaFilter
from metrics import alerting, heatmap, overview, screen, throughput
from tests.alert_receivers import Receiver, SmtpReceiver
from tests.conftest import BACKEND_PARAMS, FIXTURE_END, ROOT, scratch_database

NOW = FIXTURE_END
SITE = load_site_config()
DISTRICT = "330105"
TODAY = AreaFilter(start=NOW.date(), end=NOW.date(), district=DISTRICT)
SUBPROCESS_TIMEOUT_S = 120


@pytest.fixture
def receivers():
    rx = Receiver().start()
    smtp = SmtpReceiver().start()
    yield rx, smtp
    rx.stop()
    smtp.stop()


RULES = """
[rules.backlog_high]
kind = "backlog"
threshold = 4
[rules.new_red_warning]
kind = "red_warning"
severity = "red"
[rules.venue_busy]
kind = "venue_capacity"
severity = "critical"
threshold = 0.3
group_by = ["rule", "subject"]
"""


def write_config(
    path: Path, rx: Receiver, smtp_port: int, channels: list[str], rules: str = RULES
) -> Path:
    path.write_text(
        f"""
[service]
base_url = "http://dash.test"
[defaults]
channels = {json.dumps(channels)}
district = "{DISTRICT}"
{rules}
[channels.ding]
type = "dingtalk"
enabled = true
url = "{rx.dingtalk_url}"
secret = "{rx.secret}"
[channels.wc]
type = "wecom"
enabled = true
url = "{rx.wecom_url}"
[channels.hook]
type = "webhook"
enabled = true
url = "{rx.webhook_url}"
timeout_s = 30
[channels.mail]
type = "email"
enabled = true
host = "127.0.0.1"
port = {smtp_port}
security = "none"
recipients = ["duty@dash.test"]
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture(params=BACKEND_PARAMS)
def state_url(request, tmp_path_factory):
    """A new, empty app-state database on each backend."""
    url, drop = scratch_database(request.param, tmp_path_factory)
    yield url
    if drop:
        drop()


def service_env(
    tmp_path: Path, db_url: str, config: Path, state_url: str | None = None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPS_")}
    env.update(
        OPS_DB_URL=db_url,
        OPS_NOW=NOW.isoformat(),
        OPS_ALERTS_CONFIG=str(config),
        OPS_APPSTATE_URL=state_url or f"sqlite:///{tmp_path / 'appstate.sqlite'}",
        PYTHONPATH=str(ROOT),
    )
    return env


def alerts_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alerts", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
    )


@contextmanager
def running_service(env: dict[str, str], interval: str, **popen: Any) -> Iterator[Any]:
    """``python -m alerts run --interval N`` as a subprocess (output
    discarded unless ``popen`` says otherwise); killed if still running
    when the block ends."""
    popen.setdefault("stdout", subprocess.DEVNULL)
    popen.setdefault("stderr", subprocess.DEVNULL)
    proc = subprocess.Popen(
        [sys.executable, "-m", "alerts", "run", "--interval", interval], cwd=ROOT, env=env, **popen
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def street_names(conn) -> dict[str, str]:
    s = geography.streets(conn)
    return dict(zip(s["code"], s["name_zh"], strict=True))


def test_once_delivers_the_right_streets_and_figures_then_a_restart_sends_nothing(
    receivers, tmp_path, sqlite_demo, state_url
):
    """The app-state database on each backend; the operational one SQLite."""
    rx, smtp = receivers
    config = write_config(tmp_path / "alerts.toml", rx, smtp.port, ["ding", "wc", "hook", "mail"])
    env = service_env(tmp_path, sqlite_demo.url, config, state_url)
    run = alerts_cli(env, "once")
    assert run.returncode == 0, run.stderr
    assert "rule backlog_high: ok" in run.stdout

    with sqlite_demo.engine.connect() as conn:
        backlog = alerting.backlog_by_street(conn, TODAY, NOW)
        reds = screen.new_red_warnings(conn, TODAY, NOW, SITE, 24.0)
        latest = heatmap.crowd_span(conn, TODAY, NOW)["latest"].iloc[0].to_pydatetime()
        venues = heatmap.venue_load(conn, TODAY, latest, SITE)
        names = street_names(conn)
    busy = backlog.loc[backlog["open_backlog"] > 4]
    busy_venues = venues.loc[venues["load"] >= 0.3]
    assert len(busy) >= 2 and len(reds) >= 1 and len(busy_venues) >= 1  # the fixture has them
    groups = 1 + 1 + len(busy_venues)  # backlog and red by district, venues one each

    ding = rx.wait_for(groups, "/dingtalk")
    wecom = rx.wait_for(groups, "/wecom")
    hooks = rx.wait_for(groups, "/webhook")
    mails = smtp.wait_for(groups)
    assert (len(ding), len(wecom), len(hooks), len(mails)) == (groups,) * 4
    assert not rx.rejected  # every DingTalk request carried a valid, fresh signature

    texts = [r.body["markdown"]["text"] for r in ding]
    [backlog_text] = [x for x in texts if "积压案件" in x]
    for code, n in zip(busy["street_code"], busy["open_backlog"], strict=True):
        assert f"{names[code]}：积压案件 {n} 件，超过 4 件" in backlog_text
    quiet_streets = backlog.loc[backlog["open_backlog"] <= 4, "street_code"]
    assert not any(f"{names[c]}：积压案件" in backlog_text for c in quiet_streets)
    assert "http://dash.test/alerts?rule=backlog_high" in backlog_text
    [red_text] = [x for x in texts if "红色预警" in x]
    from metrics.warning_rules import load_warning_rules

    domains = load_warning_rules()
    for wid, code, dom in zip(reds["id"], reds["street_code"], reds["domain"], strict=True):
        # The domain by its name (分类执法…), not its code (enforcement).
        assert f"{names[code]}：红色预警 {wid}（{domains.domain_names(dom)[0]}）" in red_text
    assert not any(f"（{dom}）" in red_text for dom in reds["domain"])
    for v in busy_venues.itertuples():
        [vt] = [x for x in texts if v.name_zh in x]
        assert f"{v.people:,} 人 / 容量 {v.capacity:,} 人" in vt

    backlog_hook = next(h for h in hooks if h.body["rule"] == "backlog_high")
    figures = {
        a["labels"]["street"]: a["values"]["open_backlog"] for a in backlog_hook.body["alerts"]
    }
    assert figures == dict(zip(busy["street_code"], busy["open_backlog"], strict=True))
    assert any("积压案件" in m.get_content() for _, _, m in mails)

    # A restart: the state is in the app-state database, nothing is owed.
    again = alerts_cli(env, "once")
    assert again.returncode == 0, again.stderr
    assert "queued 0; sent 0" in again.stdout
    time.sleep(0.5)
    assert len(rx.accepted("/dingtalk")) == groups and len(smtp.messages) == groups

    status = alerts_cli(env, "status")
    assert (
        status.returncode == 0
        and f"firing: {len(busy) + len(reds) + len(busy_venues)}" in status.stdout
    )
    assert "outbox: sent " in status.stdout


def test_test_channel_reports_what_the_receiver_said(receivers, tmp_path, sqlite_demo):
    rx, smtp = receivers
    config = write_config(tmp_path / "alerts.toml", rx, smtp.port, ["ding"])
    env = service_env(tmp_path, sqlite_demo.url, config)
    ok = alerts_cli(env, "test-channel", "ding")
    assert ok.returncode == 0 and "channel ding (dingtalk): sent" in ok.stdout, (
        ok.stdout + ok.stderr
    )
    sent = rx.accepted("/dingtalk")[0].body["markdown"]["text"]
    # Its own title: not "resolved", not "0 items", the page not filtered to a rule.
    assert sent.startswith("### 【测试消息】\n") and "已恢复" not in sent
    assert "这是来自区域态势感知告警服务的测试消息" in sent and "rule=" not in sent
    bad = config.read_text(encoding="utf-8").replace(rx.secret, "SECwrong")
    config.write_text(bad, encoding="utf-8")
    refused = alerts_cli(env, "test-channel", "ding")
    assert refused.returncode == 1 and "failed - errcode 310000" in refused.stdout
    missing = alerts_cli(env, "test-channel", "nope")
    assert missing.returncode == 2 and "no channel named 'nope'" in missing.stderr


def test_test_channel_sends_its_test_message_and_nothing_queued(receivers, tmp_path, sqlite_demo):
    """A channel test beside a running service: the alerts waiting in the
    outbox are the service's to send (sending them from the test too could
    deliver them twice); the test sends its own message alone."""
    from datetime import UTC, datetime

    rx, smtp = receivers
    config = write_config(tmp_path / "alerts.toml", rx, smtp.port, ["ding"])
    env = service_env(tmp_path, sqlite_demo.url, config)
    engine = appstate.make_engine(env["OPS_APPSTATE_URL"])
    now = datetime.now(UTC).replace(tzinfo=None)
    with appstate.begin(engine, alert_store.metadata) as conn:
        queued = alert_store.enqueue(
            conn,
            rule="backlog_high",
            group="backlog_high|330105001",
            channel="ding",
            kind="test",
            payload={"kind": "test", "text": "queued for the service", "alerts": []},
            now=now,
        )
    ok = alerts_cli(env, "test-channel", "ding")
    assert ok.returncode == 0 and "sent" in ok.stdout, ok.stdout + ok.stderr
    texts = [m.body["markdown"]["text"] for m in rx.accepted("/dingtalk")]
    assert len(texts) == 1 and "这是来自区域态势感知告警服务的测试消息" in texts[0], texts
    with engine.connect() as conn:
        status = conn.execute(
            select(alert_store.alert_outbox.c.status).where(alert_store.alert_outbox.c.id == queued)
        ).scalar_one()
    engine.dispose()
    assert status == "pending"


def test_kill_9_between_send_and_mark_sends_at_most_one_duplicate(
    receivers, tmp_path, sqlite_demo, state_url
):
    rx, smtp = receivers
    # One rule, one message: the district's red warnings.
    one_rule = '[rules.new_red_warning]\nkind = "red_warning"\n'
    config = write_config(tmp_path / "alerts.toml", rx, smtp.port, ["hook"], one_rule)
    env = service_env(tmp_path, sqlite_demo.url, config, state_url)
    rx.hold.set()  # take the message, do not answer: the sender cannot mark it sent
    with running_service(env, "3600") as proc:
        got = rx.wait_for(1, "/webhook", timeout=60)
        assert len(got) == 1, "the service did not deliver within 60 s"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    rx.hold.clear()
    rx.release.set()

    st_engine = appstate.make_engine(env["OPS_APPSTATE_URL"])
    rows = alert_store.outbox(st_engine)
    assert list(rows["status"]) == ["pending"]  # received, but never marked sent

    again = alerts_cli(env, "once")  # the restart
    assert again.returncode == 0, again.stderr
    third = alerts_cli(env, "once")
    assert third.returncode == 0, third.stderr
    time.sleep(0.5)
    got = rx.accepted("/webhook")
    assert len(got) == 2  # the one duplicate, and no more
    keys = {r.headers["Idempotency-Key"] for r in got}
    assert len(keys) == 1  # the receiver can drop it
    assert got[0].body["alerts"] == got[1].body["alerts"]
    assert list(alert_store.outbox(st_engine)["status"]) == ["sent"]
    st_engine.dispose()


def test_run_delivers_reloads_on_sighup_and_stops_cleanly_on_sigterm(
    receivers, tmp_path, sqlite_demo
):
    rx, smtp = receivers
    one_rule = '[rules.new_red_warning]\nkind = "red_warning"\n'
    config = write_config(tmp_path / "alerts.toml", rx, smtp.port, ["ding"], one_rule)
    env = service_env(tmp_path, sqlite_demo.url, config)
    with running_service(env, "1", stderr=subprocess.PIPE, text=True) as proc:
        assert len(rx.wait_for(1, "/dingtalk", timeout=60)) == 1
        time.sleep(3)  # three more evaluations: nothing new is owed
        # Reload with a second rule (SIGHUP): its alerts go, the first rule's are not repeated.
        config.write_text(
            config.read_text(encoding="utf-8").replace(
                one_rule, one_rule + '[rules.backlog_high]\nkind = "backlog"\nthreshold = 4\n'
            ),
            encoding="utf-8",
        )
        proc.send_signal(signal.SIGHUP)
        assert len(rx.wait_for(2, "/dingtalk", timeout=60)) == 2
        time.sleep(2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopping after this pass" in err and "configuration reloaded: 2 rules" in err
    got = rx.accepted("/dingtalk")
    assert len(got) == 2 and not rx.rejected
    assert "红色预警" in got[0].body["markdown"]["text"]
    assert "积压案件" in got[1].body["markdown"]["text"]


def test_a_second_service_stands_by_while_one_runs(receivers, tmp_path, sqlite_demo):
    """Two evaluators on one app-state database would notify every
    transition twice: ``once`` beside a running service does nothing and
    says who holds the lease; after a clean stop the lease is free."""
    rx, smtp = receivers
    one_rule = '[rules.new_red_warning]\nkind = "red_warning"\n'
    config = write_config(tmp_path / "alerts.toml", rx, smtp.port, ["hook"], one_rule)
    env = service_env(tmp_path, sqlite_demo.url, config)
    with running_service(env, "3600") as proc:
        assert len(rx.wait_for(1, "/webhook", timeout=60)) == 1
        beside = alerts_cli(env, "once")
        assert beside.returncode == 3, beside.stderr
        assert "holds the lease" in beside.stderr and f":{proc.pid}:" in beside.stderr
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0
    after = alerts_cli(env, "once")  # released on the clean stop: no wait
    assert after.returncode == 0, after.stderr
    time.sleep(0.5)
    assert len(rx.accepted("/webhook")) == 1  # nothing sent twice


# ---------------------------------------------------------------------------
# The new data_access queries against independent computations


def test_recent_ontime_matches_the_throughput_judgement(backend):
    # 18 hours before 18:00 is midnight: the same cases as today's window.
    with backend.engine.connect() as conn:
        recent = alerting.recent_ontime(conn, TODAY, NOW, SITE, 18.0, "arrived")
        day = throughput.ontime_by_milestone(conn, TODAY, NOW, SITE, by="street")
        shorter = alerting.recent_ontime(conn, TODAY, NOW, SITE, 3.0, "arrived")
    day = day.loc[(day["milestone"] == "arrived") & (day["judged"] + day["pending"] > 0)]
    merged = recent.merge(day, on="street_code", suffixes=("", "_day"))
    assert len(merged) == len(recent) and len(recent) > 3
    for col in ("judged", "on_time", "late"):
        assert (merged[col] == merged[f"{col}_day"]).all(), col
    assert shorter["judged"].sum() < recent["judged"].sum()


def test_backlog_by_street_matches_the_overview_and_pandas(backend):
    with backend.engine.connect() as conn:
        per_street = alerting.backlog_by_street(conn, TODAY, NOW)
        total = overview.case_counts(conn, TODAY, NOW)["open_backlog"].iloc[0]
    assert per_street["open_backlog"].sum() == total
    with backend.raw_engine.connect() as conn:
        raw = pd.read_sql(text("SELECT id, street_code, status, reported_at FROM incident"), conn)
        streets = pd.read_sql(text("SELECT code, district_code FROM street"), conn)
    raw["reported_at"] = pd.to_datetime(raw["reported_at"])
    raw = raw.loc[raw["reported_at"] <= NOW]
    first = raw.sort_values(["id", "reported_at"], kind="stable").drop_duplicates("id")
    first = first.merge(streets, left_on="street_code", right_on="code")
    open_ = first.loc[
        first["status"].isin(["open", "dispatched", "on_site"])
        & (first["district_code"] == DISTRICT)
    ]
    expected = open_.groupby("street_code").size()
    got = per_street.set_index("street_code")["open_backlog"]
    assert got.sort_index().to_dict() == expected.sort_index().to_dict()


def test_venue_forecast_extends_the_last_hours_trend(backend):
    with backend.engine.connect() as conn:
        fc = alerting.venue_forecast(conn, TODAY, NOW, SITE, horizon_min=30, lookback_min=60)
        latest = heatmap.crowd_span(conn, TODAY, NOW)["latest"].iloc[0].to_pydatetime()
        now_load = heatmap.venue_load(conn, TODAY, latest, SITE).set_index("id")
        hour_ago = heatmap.venue_load(
            conn, TODAY, latest - pd.Timedelta(minutes=60), SITE
        ).set_index("id")
    assert len(fc) == len(now_load) > 0
    for r in fc.itertuples():
        p1, p0 = now_load.loc[r.id, "people"], hour_ago.loc[r.id, "people"]
        expect = max(0.0, p1 + (p1 - p0) / 60 * 30)
        assert r.forecast_people == pytest.approx(expect)
        assert r.forecast_load == pytest.approx(expect / now_load.loc[r.id, "capacity"])
    assert list(fc["forecast_load"]) == sorted(fc["forecast_load"], reverse=True)


def test_state_and_outbox_are_written_in_one_transaction(tmp_path):
    """A failure after the transition's rows are written leaves neither."""
    from datetime import UTC, datetime

    from alerts import rules

    cfg = rules.parse(
        {
            "rules": {"b": {"kind": "backlog", "threshold": 1, "channels": ["h"]}},
            "channels": {"h": {"type": "webhook", "enabled": True, "url": "http://127.0.0.1:9/"}},
        }
    )
    engine = appstate.make_engine(f"sqlite:///{tmp_path / 's.sqlite'}")
    obs = [state.Observed("b", {"rule": "b", "street": "330105009", "district": "330105"}, {})]
    original = state._enqueue

    def broken(*args, **kwargs):
        original(*args, **kwargs)
        raise RuntimeError("crash after the outbox insert")

    state._enqueue = broken
    try:
        with pytest.raises(RuntimeError):
            state.apply_observations(
                engine, cfg, cfg.rules[0], obs, datetime.now(UTC), "Asia/Shanghai"
            )
    finally:
        state._enqueue = original
    with engine.connect() as conn:
        assert conn.execute(select(alert_store.alert_instance)).all() == []
        assert conn.execute(select(alert_store.alert_outbox)).all() == []
    engine.dispose()
