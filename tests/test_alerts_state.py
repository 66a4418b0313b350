"""The alert state machine with an injected clock: pending duration, repeat,
resolution notice, quiet hours in the site's zone, the red bypass,
silences, unknown on a failing query, the dedup key; and the state tables
on all three backends of the app-state database."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, func, select

import appstate
from alerts import evaluate, rules, state
from alerts.clock import ManualClock
from appstate import alerts as alert_store
from data_access.config import load_site_config
from tests.conftest import BACKEND_PARAMS, scratch_database

TZ = "Asia/Shanghai"
SITE = load_site_config()
#: 10:00 UTC = 18:00 in Shanghai: outside the quiet hours below.
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)

CONFIG = """
[service]
quiet_hours = { start = "23:00", end = "07:00" }
quiet_bypass = "critical"
[rules.backlog]
kind = "backlog"
threshold = 10
pending_s = 300
repeat_s = 3600
channels = ["hook"]
[rules.red]
kind = "red_warning"
severity = "red"
channels = ["hook"]
[rules.quiet_warning]
kind = "backlog"
threshold = 4
channels = ["hook"]
[channels.hook]
type = "webhook"
enabled = true
url = "http://127.0.0.1:9/never-called"
"""


def config(text: str = CONFIG) -> rules.AlertConfig:
    cfg = rules.parse(tomllib.loads(text))
    assert not cfg.problems, cfg.problems
    return cfg


def seen(rule: str, street: str, **values: object) -> state.Observed:
    labels = {"rule": rule, "severity": "warning", "district": street[:6], "street": street,
              "subject": ""}  # fmt: skip
    return state.Observed(rule, labels, dict(values))


@pytest.fixture
def engine(tmp_path):
    e = appstate.make_engine(f"sqlite:///{tmp_path / 'state.sqlite'}")
    yield e
    e.dispose()


def outbox_rows(engine) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(alert_store.alert_outbox).order_by(alert_store.alert_outbox.c.id)
        ).all()
    return [dict(r._mapping) | {"payload": json.loads(r.payload)} for r in rows]


def instance(engine, fp: str) -> dict:
    with engine.connect() as conn:
        row = conn.execute(
            select(alert_store.alert_instance).where(alert_store.alert_instance.c.fingerprint == fp)
        ).one_or_none()
    return dict(row._mapping) if row else {}


def test_dedup_key_is_the_rule_and_labels_not_the_figures():
    a = seen("backlog", "330105009", open_backlog=12)
    b = seen("backlog", "330105009", open_backlog=40)
    assert a.fingerprint == b.fingerprint
    assert a.fingerprint != seen("backlog", "330105004", open_backlog=12).fingerprint
    assert a.fingerprint != seen("red", "330105009").fingerprint
    assert state.fingerprint("r", {"a": "1", "b": "2"}) == state.fingerprint(
        "r", {"b": "2", "a": "1"}
    )


def test_pending_then_firing_then_repeat_then_resolved_once(engine):
    cfg, clock = config(), ManualClock(T0)
    rule = cfg.rule("backlog")
    obs = [seen("backlog", "330105009", open_backlog=12)]
    fp = obs[0].fingerprint

    r = state.apply_observations(engine, cfg, rule, obs, clock.now(), TZ)
    assert r.pending == [fp] and not r.fired and not outbox_rows(engine)
    assert instance(engine, fp)["state"] == "pending"

    clock.advance(299)  # still inside pending_s = 300
    state.apply_observations(engine, cfg, rule, obs, clock.now(), TZ)
    assert instance(engine, fp)["state"] == "pending" and not outbox_rows(engine)

    clock.advance(1)
    r = state.apply_observations(engine, cfg, rule, obs, clock.now(), TZ)
    assert r.fired == [fp] and len(outbox_rows(engine)) == 1
    first = outbox_rows(engine)[0]
    assert first["kind"] == "firing" and first["channel"] == "hook"
    assert first["payload"]["alerts"][0]["values"]["open_backlog"] == 12

    # The figure changes: the same instance, no new message before repeat_s.
    obs = [seen("backlog", "330105009", open_backlog=15)]
    clock.advance(3599)
    state.apply_observations(engine, cfg, rule, obs, clock.now(), TZ)
    assert len(outbox_rows(engine)) == 1
    clock.advance(1)
    state.apply_observations(engine, cfg, rule, obs, clock.now(), TZ)
    rows = outbox_rows(engine)
    assert len(rows) == 2 and rows[1]["payload"]["alerts"][0]["values"]["open_backlog"] == 15

    clock.advance(60)
    r = state.apply_observations(engine, cfg, rule, [], clock.now(), TZ)
    assert r.resolved == [fp] and instance(engine, fp)["state"] == "resolved"
    rows = outbox_rows(engine)
    assert len(rows) == 3 and rows[2]["kind"] == "resolved"
    clock.advance(60)
    state.apply_observations(engine, cfg, rule, [], clock.now(), TZ)
    assert len(outbox_rows(engine)) == 3  # the resolution notice once


def test_pending_that_clears_before_firing_says_nothing(engine):
    cfg, clock = config(), ManualClock(T0)
    rule = cfg.rule("backlog")
    obs = [seen("backlog", "330105009", open_backlog=12)]
    state.apply_observations(engine, cfg, rule, obs, clock.now(), TZ)
    clock.advance(100)
    state.apply_observations(engine, cfg, rule, [], clock.now(), TZ)
    assert instance(engine, obs[0].fingerprint) == {} and not outbox_rows(engine)
    # Back again: pending starts anew (not the first pending's clock).
    clock.advance(100)
    state.apply_observations(engine, cfg, rule, obs, clock.now(), TZ)
    clock.advance(250)
    state.apply_observations(engine, cfg, rule, obs, clock.now(), TZ)
    assert instance(engine, obs[0].fingerprint)["state"] == "pending"


def test_grouping_batches_instances_into_one_message(engine):
    cfg, clock = config(), ManualClock(T0)
    rule = cfg.rule("quiet_warning")  # group_by = rule + district, no pending
    obs = [
        seen("quiet_warning", "330105009", open_backlog=12),
        seen("quiet_warning", "330105004", open_backlog=11),
        seen("quiet_warning", "330106001", open_backlog=20),
    ]
    state.apply_observations(engine, cfg, rule, obs, clock.now(), TZ)
    rows = outbox_rows(engine)
    assert sorted(r["group_key"] for r in rows) == ["quiet_warning/330105", "quiet_warning/330106"]
    by_group = {r["group_key"]: r for r in rows}
    assert len(by_group["quiet_warning/330105"]["payload"]["alerts"]) == 2


def test_quiet_hours_in_the_site_zone_and_the_red_bypass(engine):
    cfg = config()
    # 15:30 UTC = 23:30 in Shanghai: quiet (it would not be in UTC).
    clock = ManualClock(datetime(2026, 11, 20, 15, 30, tzinfo=UTC))
    quiet_rule, red_rule = cfg.rule("quiet_warning"), cfg.rule("red")
    assert red_rule.severity == "critical"  # "red" is accepted as critical
    warn = [seen("quiet_warning", "330105009", open_backlog=12)]
    red = [seen("red", "330105009")]
    state.apply_observations(engine, cfg, quiet_rule, warn, clock.now(), TZ)
    state.apply_observations(engine, cfg, red_rule, red, clock.now(), TZ)
    rows = outbox_rows(engine)
    assert [r["rule"] for r in rows] == ["red"]  # red bypasses the quiet hours
    assert instance(engine, warn[0].fingerprint)["muted"] == "quiet"
    assert instance(engine, warn[0].fingerprint)["state"] == "firing"

    clock.set(datetime(2026, 11, 20, 22, 59, tzinfo=UTC))  # 06:59 local: still quiet
    state.apply_observations(engine, cfg, quiet_rule, warn, clock.now(), TZ)
    assert len(outbox_rows(engine)) == 1
    clock.set(datetime(2026, 11, 20, 23, 0, tzinfo=UTC))  # 07:00 local: the owed message goes
    state.apply_observations(engine, cfg, quiet_rule, warn, clock.now(), TZ)
    rows = outbox_rows(engine)
    assert [r["rule"] for r in rows] == ["red", "quiet_warning"]
    assert instance(engine, warn[0].fingerprint)["muted"] == ""


def test_silence_drops_notifications_until_it_ends_or_is_expired(engine):
    cfg, clock = config(), ManualClock(T0)
    rule = cfg.rule("quiet_warning")
    obs = [seen("quiet_warning", "330105009", open_backlog=12)]
    other = [seen("quiet_warning", "330105004", open_backlog=12)]
    sid = alert_store.create_silence(
        engine, {"rule": "quiet_warning", "street": "330105009"}, T0 + timedelta(hours=1),
        clock.now(), created_by="tester", comment="road works",
    )  # fmt: skip
    state.apply_observations(engine, cfg, rule, obs + other, clock.now(), TZ)
    rows = outbox_rows(engine)
    assert len(rows) == 1
    assert [a["labels"]["street"] for a in rows[0]["payload"]["alerts"]] == ["330105004"]
    assert instance(engine, obs[0].fingerprint)["muted"] == f"silence:{sid}"
    listed = alert_store.silences(engine, clock.now())
    assert listed.iloc[0]["active"] and listed.iloc[0]["matchers"]["street"] == "330105009"

    clock.advance(600)
    assert alert_store.expire_silence(engine, sid, clock.now())
    assert not alert_store.expire_silence(engine, sid, clock.now())  # once
    state.apply_observations(engine, cfg, rule, obs + other, clock.now(), TZ)
    rows = outbox_rows(engine)
    assert len(rows) == 2
    assert [a["labels"]["street"] for a in rows[1]["payload"]["alerts"]] == ["330105009"]
    assert not alert_store.silences(engine, clock.now()).iloc[0]["active"]
    with pytest.raises(ValueError):
        alert_store.create_silence(engine, {"rule": " "}, T0 + timedelta(hours=1), clock.now())
    with pytest.raises(ValueError):
        alert_store.create_silence(engine, {"rule": "x"}, clock.now() - timedelta(1), clock.now())


def test_a_failing_query_is_unknown_never_firing_or_resolving(engine, tmp_path, sqlite_demo):
    cfg, clock = config(), ManualClock(T0)
    rule = cfg.rule("quiet_warning")
    ops = sqlite_demo.engine
    ev = evaluate.evaluate_rules(
        ops, engine, _only(cfg, rule), SITE, clock, datetime(2026, 11, 20, 18)
    )
    assert ev.outcomes == {"quiet_warning": "ok"}
    firing = alert_store.instances(engine)
    assert not firing.empty and set(firing["state"]) == {"firing"}
    sent_before = len(outbox_rows(engine))

    # The database goes away (an empty file: no contract tables).
    broken = create_engine(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    clock.advance(5 * 3600)  # past repeat_s: a working pass would repeat or resolve
    ev = evaluate.evaluate_rules(
        broken, engine, _only(cfg, rule), SITE, clock, datetime(2026, 11, 20, 18)
    )
    assert (
        ev.outcomes == {"quiet_warning": "unknown"}
        and "no such table" in ev.errors["quiet_warning"]
    )
    after = alert_store.instances(engine)
    assert set(after["state"]) == {"firing"} and after["unknown"].all()
    assert len(after) == len(firing) and len(outbox_rows(engine)) == sent_before
    status = alert_store.rule_status(engine).set_index("rule")
    assert status.loc["quiet_warning", "outcome"] == "unknown"

    ev = evaluate.evaluate_rules(
        ops, engine, _only(cfg, rule), SITE, clock, datetime(2026, 11, 20, 18)
    )
    assert not alert_store.instances(engine)["unknown"].any()


def _only(cfg: rules.AlertConfig, rule: rules.Rule) -> rules.AlertConfig:
    from dataclasses import replace

    return replace(cfg, rules=(rule,))


@pytest.fixture(scope="module", params=BACKEND_PARAMS)
def state_url(request, tmp_path_factory):
    url, drop = scratch_database(request.param, tmp_path_factory)
    yield url
    if drop:
        drop()


def test_state_tables_on_every_backend(state_url):
    engine = appstate.make_engine(state_url)
    cfg, clock = config(), ManualClock(T0)
    rule = cfg.rule("backlog")
    obs = [seen("backlog", "330105009", open_backlog=12, street_zh="祥符街道")]
    state.apply_observations(engine, cfg, rule, obs, clock.now(), TZ)
    clock.advance(301)
    r = state.apply_observations(engine, cfg, rule, obs, clock.now(), TZ)
    assert r.fired == [obs[0].fingerprint] and len(r.outbox_ids) == 1
    inst = alert_store.instances(engine)
    assert inst.iloc[0]["values"]["street_zh"] == "祥符街道"
    assert inst.iloc[0]["active_since"] == datetime(2026, 11, 20, 10, 0)
    sid = alert_store.create_silence(
        engine, {"street": "330105009"}, clock.now() + timedelta(hours=1), clock.now()
    )
    assert alert_store.silences(engine, clock.now()).iloc[0]["id"] == sid
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(alert_store.alert_outbox)).scalar()
    assert n == 1
    # A message of a few hundred alerts (MariaDB's plain TEXT would stop at 64 KB).
    big = {"alerts": [{"values": {"street_zh": "祥符街道" * 10, "i": i}} for i in range(2000)]}
    with appstate.begin(engine, alert_store.metadata) as conn:
        oid = alert_store.enqueue(conn, rule="r", group="g", channel="hook", kind="firing",
                            payload=big, now=datetime(2026, 11, 20, 10))  # fmt: skip
    with engine.connect() as conn:
        stored = conn.execute(
            select(alert_store.alert_outbox.c.payload).where(alert_store.alert_outbox.c.id == oid)
        ).scalar_one()
    assert len(stored.encode()) > 200_000 and json.loads(stored) == big
    engine.dispose()


def test_purge_keeps_what_is_owed_and_recent(engine):
    cfg, clock = config(), ManualClock(T0)
    rule = cfg.rule("quiet_warning")
    state.apply_observations(engine, cfg, rule, [seen("quiet_warning", "330105009")], T0, TZ)
    [old] = outbox_rows(engine)
    with engine.begin() as conn:
        conn.execute(
            alert_store.alert_outbox.update()
            .where(alert_store.alert_outbox.c.id == old["id"])
            .values(status="sent")
        )
        alert_store.enqueue(conn, rule="r", group="g", channel="hook", kind="firing", payload={},
                      now=old["created_at"])  # fmt: skip
    clock.advance(days=31)
    assert alert_store.purge(engine, clock.now(), 30) == 1
    assert [r["status"] for r in outbox_rows(engine)] == ["pending"]  # still owed: kept


def test_a_rule_broken_in_the_config_is_held_and_a_removed_one_retired(engine, sqlite_demo):
    clock = ManualClock(T0)
    now = datetime(2026, 11, 20, 18)
    good = config().rule("quiet_warning")
    cfg = _only(config(), good)
    evaluate.evaluate_rules(sqlite_demo.engine, engine, cfg, SITE, clock, now)
    firing = alert_store.instances(engine)

    def sent() -> int:
        return sum(r["rule"] == "quiet_warning" for r in outbox_rows(engine))

    before = sent()
    assert len(firing) >= 2 and before >= 1

    bad = rules.parse(tomllib.loads(CONFIG.replace("threshold = 4", 'threshold = "four"')))
    assert bad.disabled_rules == ("quiet_warning",)
    clock.advance(hours=5)
    evaluate.evaluate_rules(sqlite_demo.engine, engine, bad, SITE, clock, now)
    held = alert_store.instances(engine).set_index("fingerprint")
    mine = held.loc[firing["fingerprint"]]
    assert set(mine["state"]) == {"firing"} and mine["unknown"].all()
    assert "rules.quiet_warning.threshold" in mine["unknown_detail"].iloc[0]
    status = alert_store.rule_status(engine).set_index("rule")
    assert status.loc["quiet_warning", "outcome"] == "disabled"

    gone = rules.parse(
        tomllib.loads(
            CONFIG.split("[rules.quiet_warning]")[0]
            + CONFIG.split('threshold = 4\nchannels = ["hook"]\n')[1]
        )
    )
    assert gone.rule("quiet_warning") is None
    evaluate.evaluate_rules(sqlite_demo.engine, engine, gone, SITE, clock, now)
    after = alert_store.instances(engine).set_index("fingerprint").loc[firing["fingerprint"]]
    assert set(after["state"]) == {"resolved"} and not after["unknown"].any()
    assert "quiet_warning" not in set(alert_store.rule_status(engine)["rule"])
    assert sent() == before  # held silently, retired silently
