"""The alerts page under AppTest: it lists what the evaluator stored, and a
silence created from the page is stored and audited, then expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import appstate
from alerts import evaluate, rules
from alerts.clock import ManualClock
from appstate import alerts as alert_store
from appstate import audit
from data_access.config import load_site_config
from tests.conftest import FIXTURE_END
from ui.i18n import translate

CONFIG = """
[rules.backlog_high]
kind = "backlog"
threshold = 4
[rules.red]
kind = "red_warning"
severity = "critical"
"""


@pytest.fixture
def stored_alerts(monkeypatch, tmp_path, sqlite_demo):
    path = tmp_path / "alerts.toml"
    path.write_text(CONFIG, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'appstate.sqlite'}"
    monkeypatch.setenv("OPS_ALERTS_CONFIG", str(path))
    monkeypatch.setenv("OPS_APPSTATE_URL", url)
    monkeypatch.setenv("OPS_NOW", FIXTURE_END.isoformat())
    engine = appstate.make_engine(url)
    cfg = rules.load(path)
    clock = ManualClock(datetime.now(UTC))
    evaluate.evaluate_rules(sqlite_demo.engine, engine, cfg, load_site_config(), clock, FIXTURE_END)
    yield engine
    engine.dispose()


def test_page_lists_stored_alerts_and_creates_an_audited_silence(
    app_test, sqlite_demo, stored_alerts
):
    engine = stored_alerts
    firing = alert_store.instances(engine)
    district = load_site_config().default_district  # the page shows the default district
    expected = firing.loc[(firing["state"] == "firing") & (firing["district_code"] == district)]
    assert len(expected) >= 2

    at = app_test("pages/alerts.py", sqlite_demo.url)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    heads = [h.value for h in at.subheader]
    assert f"{translate('alerts.firing', 'zh')} · {len(expected)}" in heads
    tables = [df.value for df in at.dataframe]
    listed = tables[0]
    assert len(listed) == len(expected)
    assert any("积压案件" in s for s in listed.iloc[:, 4])
    # Each rule by what it watches, its id (what a silence matches) beside it.
    kinds = {"backlog_high": "积压案件过多", "red": "新红色预警"}
    assert list(listed["title"]) == [kinds[r] for r in listed["rule"]]

    at.selectbox(key="silence_rule").set_value("backlog_high")  # the street stays "any"
    at.text_input(key="silence_comment").input("道路施工，临时静默")
    at.button(key="silence_submit").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    sil = alert_store.silences(engine, datetime.now(UTC))
    assert len(sil) == 1 and sil.iloc[0]["matchers"] == {"rule": "backlog_high"}
    assert sil.iloc[0]["comment"] == "道路施工，临时静默"
    rows = audit.recent(engine, actions=["silence"])
    assert len(rows) == 1 and rows.iloc[0]["target"] == f"silence:{sil.iloc[0]['id']}"
    assert rows.iloc[0]["reason"] == "道路施工，临时静默"

    at.run()  # the expire form now lists the silence
    at.button(key="silence_expire_submit").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not alert_store.silences(engine, datetime.now(UTC)).iloc[0]["active"]
    assert audit.count(engine, "silence") == 2


def test_page_without_reason_stores_nothing(app_test, sqlite_demo, stored_alerts):
    at = app_test("pages/alerts.py", sqlite_demo.url)
    at.selectbox(key="silence_rule").set_value("red")
    at.button(key="silence_submit").click()
    at.run()
    assert [e.value for e in at.error] == [translate("alerts.silence_need_reason", "zh")]
    assert alert_store.silences(stored_alerts, datetime.now(UTC)).empty


def test_page_says_when_the_service_stopped_and_which_rule_is_unknown(
    app_test, sqlite_demo, stored_alerts, tmp_path
):
    from sqlalchemy import create_engine as plain_engine

    cfg = rules.load()
    broken = plain_engine(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    old = ManualClock(datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2))
    evaluate.evaluate_rules(broken, stored_alerts, cfg, load_site_config(), old, FIXTURE_END)
    at = app_test("pages/alerts.py", sqlite_demo.url)
    assert not at.exception, [e.value for e in at.exception]
    warnings = [w.value for w in at.warning]
    assert any("未评估规则" in w for w in warnings), warnings
    assert any("规则 backlog_high 查询失败" in w and "no such table" in w for w in warnings)


def test_page_shows_each_channels_deliveries_with_the_error(
    app_test, sqlite_demo, monkeypatch, tmp_path
):
    from alerts import dispatch
    from tests.alert_receivers import Receiver

    rx = Receiver().start()
    try:
        path = tmp_path / "alerts.toml"
        path.write_text(
            CONFIG + f'[defaults]\nchannels = ["ding"]\n[channels.ding]\ntype = "dingtalk"\n'
            f'enabled = true\nurl = "{rx.dingtalk_url}"\nsecret = "SECwrong"\n',
            encoding="utf-8",
        )
        url = f"sqlite:///{tmp_path / 'appstate.sqlite'}"
        monkeypatch.setenv("OPS_ALERTS_CONFIG", str(path))
        monkeypatch.setenv("OPS_APPSTATE_URL", url)
        engine = appstate.make_engine(url)
        cfg = rules.load(path)
        site = load_site_config()
        clock = ManualClock(datetime.now(UTC))
        evaluate.evaluate_rules(sqlite_demo.engine, engine, cfg, site, clock, FIXTURE_END)
        assert dispatch.dispatch(engine, cfg, clock, site.timezone).failed
    finally:
        rx.stop()
    at = app_test("pages/alerts.py", sqlite_demo.url)
    assert not at.exception, [e.value for e in at.exception]
    summary = next(
        df.value
        for df in at.dataframe
        if "last_error" in df.value.columns and "sent" in df.value.columns
    )
    row = summary.set_index("channel").loc["ding"]
    assert row["failed"] >= 1 and row["sent"] == 0 and "310000" in row["last_error"]
    engine.dispose()
