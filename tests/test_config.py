"""Site configuration: defaults, overrides, and clear messages for bad values."""

from __future__ import annotations

import tomllib

from data_access.config import DEFAULT_CONFIG_PATH, load_site_config, parse_site_config


def test_shipped_config_is_clean_and_has_the_domain_targets():
    cfg = load_site_config(DEFAULT_CONFIG_PATH)
    assert cfg.problems == ()
    sjq = cfg.targets_for("330102014", "330102")
    assert dict(sjq.minutes) == {"accepted": 1, "dispatched": 3, "arrived": 5, "closed": 1440}
    hz = cfg.targets_for("330114003", "330114")
    assert dict(hz.minutes)["arrived"] == 8 and dict(hz.minutes)["dispatched"] == 3
    std = cfg.targets_for("330105013", "330105")
    assert dict(std.minutes) == {"accepted": 1, "arrived": 8, "closed": 1440}
    assert cfg.display_name("category", "renovation_noise") == "装修噪音"
    assert cfg.display_name("source", "camera_ai", "en") == "Camera AI detection"
    assert cfg.display_name("source", "unknown_code") == "unknown_code"


def test_street_override_beats_district_override():
    cfg = parse_site_config(
        {
            "targets": {
                "default": {"arrived": 8},
                "overrides": {"330102": {"arrived": 10}, "330102014": {"arrived": 5}},
            }
        }
    )
    assert cfg.targets_for("330102014", "330102").get("arrived") == 5
    assert cfg.targets_for("330102003", "330102").get("arrived") == 10
    assert cfg.targets_for("330105003", "330105").get("arrived") == 8


def test_bad_values_fall_back_and_name_their_key():
    cfg = parse_site_config(
        {
            "site": {"timezone": "Mars/Olympus", "coord_system": "utm", "default_window_days": -3},
            "database": {"statement_timeout_s": "fast", "row_cap": True},
            "targets": {"default": {"arrived": -1, "teleported": 2, "closed": 60}},
            "categories": {"noise": "噪音"},
        }
    )
    text = "\n".join(cfg.problems)
    for key in (
        "site.timezone",
        "site.coord_system",
        "site.default_window_days",
        "database.statement_timeout_s",
        "database.row_cap",
        "targets.default.arrived",
        "targets.default.teleported",
        "categories.noise",
    ):
        assert key in text, key
    assert cfg.timezone == "Asia/Shanghai" and cfg.coord_system == "gcj02"
    assert cfg.statement_timeout_s == 20.0 and cfg.row_cap == 5000
    assert dict(cfg.default_targets.minutes) == {"closed": 60.0}


def test_unreadable_file_gives_defaults_and_a_problem(tmp_path):
    broken = tmp_path / "site.toml"
    broken.write_text("[site\ntimezone = ")
    cfg = load_site_config(broken)
    assert cfg.timezone == "Asia/Shanghai"
    assert any("not valid TOML" in p for p in cfg.problems)
    missing = load_site_config(tmp_path / "nope.toml")
    assert any("file not found" in p for p in missing.problems)


def test_env_var_points_at_another_file(tmp_path, monkeypatch):
    own = tmp_path / "site.toml"
    own.write_text('[site]\nname_zh = "测试市"\ncoord_system = "wgs84"\n')
    monkeypatch.setenv("OPS_SITE_CONFIG", str(own))
    cfg = load_site_config()
    assert cfg.name_zh == "测试市" and cfg.coord_system == "wgs84" and cfg.problems == ()


def test_every_shipped_key_is_read():
    """No key in the shipped file is silently ignored (typos would be)."""
    with DEFAULT_CONFIG_PATH.open("rb") as fh:
        data = tomllib.load(fh)
    cfg = parse_site_config(data)
    assert cfg.problems == ()
    sections = "site database geo targets ranking categories sources map hotspots screen freshness"
    assert set(data) == set(sections.split())


def test_the_figure_clock_steps_and_a_bad_step_names_its_key(monkeypatch):
    """``database.clock_step_s`` floors the pages' "now" (sessions asking
    within one step share the cached figures); 0, 61 or text fall back to
    2 s with the key named."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from ui.data import local_now

    for bad in (0, 61, "fast"):
        cfg = parse_site_config({"database": {"clock_step_s": bad}})
        assert cfg.clock_step_s == 2
        assert any("database.clock_step_s" in p for p in cfg.problems), bad
    monkeypatch.delenv("OPS_NOW", raising=False)
    for step in (1, 2, 5, 60):
        cfg = parse_site_config({"database": {"clock_step_s": step}})
        before = datetime.now(ZoneInfo(cfg.timezone)).replace(tzinfo=None, microsecond=0)
        got = local_now(cfg)
        after = datetime.now(ZoneInfo(cfg.timezone)).replace(tzinfo=None)
        assert got.microsecond == 0 and (got.hour * 3600 + got.minute * 60 + got.second) % step == 0
        assert before - timedelta(seconds=step) < got <= after, (step, before, got)
    monkeypatch.setenv("OPS_NOW", "2026-11-20T18:00:07")  # a pinned clock is kept as given
    assert local_now(parse_site_config({"database": {"clock_step_s": 5}})) == datetime(
        2026, 11, 20, 18, 0, 7
    )
