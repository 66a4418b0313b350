"""config/alerts.toml: the shipped file parses clean and calls no outside
host; a bad value names its key and disables only its rule; routes."""

from __future__ import annotations

import tomllib
from pathlib import Path
from urllib.parse import urlsplit

from alerts import rules
from tests.conftest import ROOT

SHIPPED = ROOT / "config" / "alerts.toml"


def test_shipped_config_parses_clean_with_every_channel_disabled_and_no_outside_host():
    cfg = rules.load(SHIPPED)
    assert cfg.problems == ()
    kinds = {r.kind for r in cfg.rules}
    assert kinds == set(rules.KINDS)  # the three strip checks and the three configurable ones
    assert cfg.channels and not any(ch.enabled for ch in cfg.channels.values())
    for ch in cfg.channels.values():
        host = urlsplit(ch.url).hostname if ch.url else None
        assert host in (None, "localhost", "127.0.0.1"), (ch.name, ch.url)
        assert ch.host in ("", "localhost", "127.0.0.1"), ch.name
    types = {ch.type for ch in cfg.channels.values()}
    assert types == set(rules.CHANNEL_TYPES)
    assert cfg.service.quiet_hours is not None and cfg.service.quiet_bypass == "critical"


def test_env_var_names_the_config(monkeypatch, tmp_path):
    path = tmp_path / "a.toml"
    path.write_text('[rules.x]\nkind = "backlog"\nthreshold = 3\n', encoding="utf-8")
    monkeypatch.setenv("OPS_ALERTS_CONFIG", str(path))
    assert rules.config_path() == path
    assert [r.name for r in rules.load().rules] == ["x"]


def parse(text: str) -> rules.AlertConfig:
    return rules.parse(tomllib.loads(text))


def test_a_bad_value_names_the_key_and_disables_only_its_rule():
    cfg = parse(
        """
[rules.good]
kind = "backlog"
threshold = 10
[rules.bad_threshold]
kind = "backlog"
threshold = "many"
[rules.bad_share]
kind = "ontime_share"
threshold = 80
hours = 6
[rules.missing_hours]
kind = "ontime_share"
threshold = 0.8
[rules.bad_kind]
kind = "weather"
[rules.bad_group]
kind = "red_warning"
group_by = ["colour"]
[rules.bad_severity]
kind = "red_warning"
severity = "purple"
"""
    )
    assert [r.name for r in cfg.rules] == ["good"]
    assert set(cfg.disabled_rules) == {
        "bad_threshold", "bad_share", "missing_hours", "bad_kind", "bad_group", "bad_severity",
    }  # fmt: skip
    text = "\n".join(cfg.problems)
    assert "rules.bad_threshold.threshold: expected a number, got 'many'" in text
    assert "rules.bad_share.threshold: an on-time share between 0 and 1" in text
    assert "rules.missing_hours.hours: required for kind ontime_share" in text
    assert "rules.bad_kind.kind: expected one of" in text
    assert "rules.bad_group.group_by: unknown label 'colour'" in text
    assert "rules.bad_severity.severity: unknown severity 'purple'" in text
    assert all("disabled" in p for p in cfg.problems)


def test_bad_channel_and_service_values_are_reported():
    cfg = parse(
        """
[service]
quiet_hours = { start = "25:00", end = "07:00" }
[rules.r]
kind = "backlog"
threshold = 3
channels = ["ok", "broken", "ghost"]
[channels.ok]
type = "webhook"
enabled = true
url = "http://127.0.0.1:1/x"
[channels.broken]
type = "dingtalk"
enabled = true
url = "ftp://nope"
"""
    )
    text = "\n".join(cfg.problems)
    assert "service.quiet_hours.start: expected HH:MM, got '25:00'" in text
    assert "channels.broken.url: an http(s) URL is required when enabled" in text
    assert "rules.r.channels: no channel named 'ghost'" in text
    assert cfg.service.quiet_hours is None  # the service defaults
    rule = cfg.rules[0]
    assert cfg.channels_for(rule, {"district": "330105"}) == ("ok",)


def test_routes_add_channels_by_district_street_and_severity():
    cfg = parse(
        """
[rules.r]
kind = "backlog"
threshold = 3
severity = "warning"
channels = ["a"]
[[routes]]
districts = ["330105"]
channels = ["b"]
[[routes]]
streets = ["330102014"]
channels = ["c"]
[[routes]]
channels = ["d"]
min_severity = "critical"
[channels.a]
type = "webhook"
enabled = true
url = "http://127.0.0.1:1/a"
[channels.b]
type = "webhook"
enabled = true
url = "http://127.0.0.1:1/b"
[channels.c]
type = "webhook"
enabled = true
url = "http://127.0.0.1:1/c"
[channels.d]
type = "webhook"
enabled = true
url = "http://127.0.0.1:1/d"
"""
    )
    r = cfg.rules[0]
    lab = {"severity": "warning"}
    assert cfg.channels_for(r, {**lab, "district": "330105", "street": "330105009"}) == ("a", "b")
    assert cfg.channels_for(r, {**lab, "district": "330102", "street": "330102014"}) == ("a", "c")
    assert cfg.channels_for(r, {"severity": "critical", "district": "330106"}) == ("a", "d")


def test_quiet_hours_across_midnight():
    q = rules.QuietHours(23 * 60, 7 * 60)
    assert q.contains(23 * 60) and q.contains(3 * 60) and q.contains(6 * 60 + 59)
    assert not q.contains(7 * 60) and not q.contains(12 * 60)
    day = rules.QuietHours(12 * 60, 14 * 60)
    assert day.contains(13 * 60) and not day.contains(14 * 60)


def test_a_section_in_the_wrong_form_is_a_problem_not_a_crash():
    """[[rules]] written for [rules.NAME] (an array where a table is due),
    a rule that is a number, routes as one table: each named and left out,
    the rest of the file still read."""
    cfg = parse(
        """
service = "fast"
routes = { channels = ["ok"] }
[[rules]]
kind = "backlog"
[channels]
ok = { type = "webhook", enabled = true, url = "http://127.0.0.1:1/x" }
bare = 5
"""
    )
    text = "\n".join(cfg.problems)
    assert "rules: expected [rules.NAME] tables; section left out" in text
    assert "routes: expected [[routes]] tables; section left out" in text
    assert "service: expected [service] tables" in text
    assert "channels.bare: expected a [channels.bare] table" in text
    assert cfg.rules == () and list(cfg.channels) == ["ok"]
    cfg = parse('[rules]\nlate = 5\n[rules.backlog]\nkind = "backlog"\nthreshold = 3\n')
    assert [r.name for r in cfg.rules] == ["backlog"] and cfg.disabled_rules == ("late",)
    assert "rules.late: expected a [rules.late] table" in cfg.problems[0]


def test_missing_file_is_a_problem_not_a_crash(tmp_path: Path):
    cfg = rules.load(tmp_path / "none.toml")
    assert cfg.rules == () and "none.toml" in cfg.problems[0]


def test_every_alerts_setting_is_in_the_readme():
    from dataclasses import fields

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "## Alert delivery" in readme and "`OPS_ALERTS_CONFIG`" in readme
    assert "deploy/alerts.service" in readme and (ROOT / "deploy" / "alerts.service").is_file()
    keys = [f"service.{f.name}" for f in fields(rules.Service)]
    keys += [f"rules.<name>.{f.name}" for f in fields(rules.Rule) if f.name != "name"]
    keys += [f"channels.<name>.{f.name}" for f in fields(rules.Channel) if f.name != "name"]
    keys += [f"routes[].{f.name}" for f in fields(rules.Route)]
    with SHIPPED.open("rb") as fh:
        shipped = tomllib.load(fh)
    keys += [f"service.{k}" for k in shipped["service"]]
    for rule in shipped["rules"].values():
        keys += [f"rules.<name>.{k}" for k in rule]
    for ch in shipped["channels"].values():
        keys += [f"channels.<name>.{k}" for k in ch]
    missing = sorted({k for k in keys if f"`{k}`" not in readme})
    assert not missing, missing
