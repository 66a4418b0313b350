"""A Chinese page speaks Chinese: the catalogue's punctuation, the audit
log's codes in words, the link notices saying what became of a bad
parameter, the import page's upload box and mapping titles, and the very
first start's menu and progress steps (those in ``tests/test_first_start.py``)."""

from __future__ import annotations

import functools
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import text

from tests.conftest import FIXTURE_END, Backend
from ui.i18n import CATALOGUE_DIR, translate

HAN = "\u3400-\u9fff"
#: ASCII punctuation in a Chinese sentence: ", " anywhere, ":" or ";" with
#: a Chinese character beside it, "(" after one and ")" before one (a space
#: between allowed). A formula's parentheses (``2(√本周 - √上周)``) open
#: after a digit and close before punctuation: left alone.
ASCII_IN_CHINESE = re.compile(rf", |[{HAN}] ?[:;(]|[:;)] ?[{HAN}]")


def zh_strings() -> list[tuple[str, str, str]]:
    """``(file, key, zh)`` of every catalogue entry with Chinese text."""
    out = []

    def walk(table: dict[str, Any], path: str, name: str) -> None:
        for key, value in table.items():
            if isinstance(value, dict) and isinstance(value.get("zh"), str):
                if re.search(f"[{HAN}]", value["zh"]):
                    out.append((name, f"{path}{key}", value["zh"]))
            elif isinstance(value, dict):
                walk(value, f"{path}{key}.", name)

    for path in sorted(Path(CATALOGUE_DIR).glob("*.toml")):
        walk(tomllib.loads(path.read_text(encoding="utf-8")), "", path.name)
    return out


def test_the_pattern_finds_ascii_punctuation_in_chinese():
    for bad in ("街道, 社区", "评估于 (UTC)", "数据源: 演示", "甲; 乙", "（{a}）或(b)"):
        assert ASCII_IN_CHINESE.search(bad), bad
    for good in ("街道，社区", "评估于（UTC）", "z = 2(√本周 - √上周)，|z| > 2", "OPS_DB_URL=x"):
        assert not ASCII_IN_CHINESE.search(good), good


def test_chinese_strings_use_full_width_punctuation():
    found = zh_strings()
    assert len(found) > 300  # the whole catalogue was read
    bad = [f"{f} {k}: {zh!r}" for f, k, zh in found if ASCII_IN_CHINESE.search(zh)]
    assert not bad, "ASCII punctuation in Chinese sentences:\n" + "\n".join(bad)


# --- The audit log ---------------------------------------------------------


def _audit_rows(path: Path) -> None:
    from appstate import audit, make_engine

    engine = make_engine(f"sqlite:///{path}")
    rows = [
        ("anonymous", "admin", "none", "export", "throughput.csv", "", "ok"),
        ("wall:room-a", "wall", "wall", "denied", "/audit", "page_refused", "refused"),
        ("li@example.gov.cn", "leader", "oidc", "pack", "weekly.pdf", "", "ok"),
        ("li@example.gov.cn", "leader", "oidc", "logout", "idle timeout", "", "ok"),
    ]
    for actor, role, mode, action, target, reason, outcome in rows:
        audit.record(
            engine, actor=actor, role=role, auth_mode=mode, action=action,
            target=target, reason=reason, outcome=outcome,
        )  # fmt: skip


def test_the_audit_log_shows_its_codes_in_words(app_test, sqlite_demo, tmp_path, monkeypatch):
    state = tmp_path / "state.sqlite"
    monkeypatch.setenv("OPS_APPSTATE_PATH", str(state))
    _audit_rows(state)
    at = app_test("pages/audit.py", sqlite_demo.url)
    assert not at.exception and not at.error
    (table,) = [d.value for d in at.dataframe]
    cells = {str(v) for c in ("actor", "role", "auth_mode", "action", "target", "reason",
                              "outcome") for v in table[c]}  # fmt: skip
    codes = {"anonymous", "admin", "leader", "wall", "none", "oidc", "export", "pack",
             "denied", "logout", "ok", "refused", "page_refused", "idle timeout"}  # fmt: skip
    assert not cells & codes, cells & codes
    zh = functools.partial(translate, lang="zh")
    for words in (
        zh("audit.actor_anonymous"),
        zh("audit.actor_wall", name="room-a"),
        zh("auth.role.admin"),
        zh("audit.mode.none"),
        zh("audit.mode.oidc"),
        zh("audit.action.export"),
        zh("audit.action.pack"),
        zh("audit.outcome.ok"),
        zh("audit.outcome.refused"),
        zh("audit.reason.page_refused"),
        zh("audit.target.idle_timeout"),
    ):
        assert words in cells, (words, cells)
    assert "li@example.gov.cn" in cells and "/audit" in cells  # names and paths as they are
    # No row in the chosen dates: said in words (an empty grid says "empty").
    at.session_state["audit_dates"] = (date(2020, 1, 1), date(2020, 1, 2))
    at.run()
    assert not at.dataframe and [i.value for i in at.info] == [zh("audit.no_rows")]


# --- Link notices ------------------------------------------------------------


def _street(backend: Backend) -> str:
    with backend.raw_engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT code FROM street WHERE district_code = '330105' ORDER BY code")
            ).scalar()
        )


def test_a_notice_says_what_became_of_each_bad_parameter(app_test, sqlite_demo, monkeypatch):
    monkeypatch.setenv("OPS_NOW", FIXTURE_END.isoformat())
    zh = functools.partial(translate, lang="zh")
    ignored = zh("filter.ignored_param", name="\0", value="\0").split("\0")[-1]
    defaulted = zh("filter.invalid_param", name="\0", value="\0").split("\0")[-1]
    # A typo among good street codes is left out, not "replaced by a default".
    good = _street(sqlite_demo)
    at = app_test("Home.py", sqlite_demo.url,
                  query_params={"district": "330105", "streets": f"{good},33010599x"})  # fmt: skip
    notes = [w.value for w in at.warning]
    assert any(ignored in n and "33010599x" in n for n in notes), notes
    assert not any(defaulted in n for n in notes), notes
    # A district that is none: the default district is used, and said so.
    at = app_test("Home.py", sqlite_demo.url, query_params={"district": "999999"})
    notes = [w.value for w in at.warning]
    assert any(defaulted in n and "999999" in n for n in notes), notes
    # The wall: a typo among good views is left out; only typos, the default playlist.
    screen = "pages/command-screen.py"
    at = app_test(screen, sqlite_demo.url, query_params={"view": "throughput,crowdmap"})
    notes = [w.value for w in at.warning if "crowdmap" in w.value]
    assert notes == [zh("filter.ignored_param", name="view", value="crowdmap")], notes
    at = app_test(screen, sqlite_demo.url, query_params={"view": "crowdmap", "cycle": "x"})
    (both,) = [w.value for w in at.warning if "crowdmap" in w.value]
    assert zh("filter.ignored_param", name="cycle", value="x") in both
    assert zh("filter.invalid_param", name="view", value="crowdmap") in both


# --- The import page -----------------------------------------------------------


def test_the_import_page_names_mappings_and_its_upload_box_in_chinese(
    app_test, sqlite_demo, monkeypatch, tmp_path
):
    from importer.mapping import load_mapping, shipped_mappings

    monkeypatch.setenv("OPS_IMPORT_DB_URL", f"sqlite:///{tmp_path / 'import.sqlite'}")
    at = app_test("pages/import.py", sqlite_demo.url)
    assert not at.exception and not at.error
    box = at.selectbox(key="imp_mapping")
    titles = [load_mapping(n).description_zh for n in shipped_mappings()]
    assert box.options[: len(titles)] == titles  # titles, not file names
    assert translate("import.mapping_code", "zh", code=box.value) in [c.value for c in at.caption]
    css = " ".join(h.proto.body for h in at.get("html"))
    assert ".st-key-imp_files" in css and translate("import.upload_button", "zh") in css
    from streamlit import config as st_config

    limit = st_config.get_option("server.maxUploadSize")
    limits = translate("import.upload_limits", "zh", mb=limit, types="CSV、TXT、XLSX、XLSM")
    assert limits in css, css[:500]


# --- The wall's alert strip ------------------------------------------------


def test_the_walls_strip_dates_what_is_from_before_today(app_test, sqlite_demo, monkeypatch):
    """Just after midnight yesterday's red warning is still on the strip:
    with its date and its age, not a bare time beside today's clock."""
    from datetime import datetime, timedelta

    from ui.screen import loading as ui_loading

    with sqlite_demo.raw_engine.connect() as conn:
        raised, street = conn.execute(
            text(
                "SELECT raised_at, street_code FROM warning WHERE colour = 'red'"
                " ORDER BY raised_at DESC LIMIT 1"
            )
        ).one()
    raised = datetime.fromisoformat(str(raised))
    now = datetime.combine(raised.date() + timedelta(days=1), datetime.min.time())
    now += timedelta(minutes=30)
    assert now - raised < timedelta(hours=24)  # still within the strip's window
    monkeypatch.setenv("OPS_NOW", now.isoformat())
    ui_loading.clear_cache()
    try:
        at = app_test("pages/command-screen.py", sqlite_demo.url,
                      query_params={"district": str(street)[:6]})  # fmt: skip
    finally:
        ui_loading.clear_cache()
    strip = next(h.proto.body for h in at.get("html") if 'data-key="alerts"' in h.proto.body)
    dated = translate(
        "screen.dated", "zh", date=f"{raised:%m-%d %H:%M}", age=translate("screen.yesterday", "zh")
    )
    assert dated in strip, strip[:1500]
    times = re.findall(r'<span class="when[^"]*">([^<]*)</span>', strip)
    today_or_dated = re.compile(r"^\d\d:\d\d$|^\d\d-\d\d \d\d:\d\d（(昨天|\d+ 天前)）$")
    assert times and all(today_or_dated.match(w) for w in times), times
