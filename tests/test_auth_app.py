"""Roles and scopes under AppTest: the identity is injected at the one
function that reads it (ui.auth.read_identity); everything after it (the
rules, the gate, the scope in every query, the audit log) is the real code."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

import appstate
from appstate import audit
from data_access.access import Identity, token_sha256
from data_access.config import SCREEN_PAGES
from tests.conftest import FIXTURE_END, export_buttons
from ui.i18n import translate

NOW = FIXTURE_END
DISTRICT = "330105"
OTHER_DISTRICT = "330102"
WALL_TOKEN = "wall-token-for-room-a-7f3c"
OLD_TOKEN = "revoked-token-b"


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch):
    monkeypatch.setenv("OPS_NOW", NOW.isoformat())


@pytest.fixture(scope="module")
def street(sqlite_demo) -> str:
    q = text(
        "SELECT street_code FROM incident WHERE street_code LIKE :d "
        "GROUP BY street_code ORDER BY COUNT(*) DESC, street_code"
    )
    with sqlite_demo.raw_engine.connect() as conn:
        return str(conn.execute(q, {"d": DISTRICT + "%"}).first()[0])


@pytest.fixture
def signed_in(monkeypatch, tmp_path, request):
    """``signed_in(name)``: write an access.toml and make the login say
    ``name`` (None: no identity, the sign-in page); returns the audit log's
    engine."""

    def setup(
        name: str | None,
        mode: str = "proxy",
        groups: tuple[str, ...] = (),
        street: str | None = None,
    ) -> object:
        street = street or request.getfixturevalue("street")
        config = tmp_path / "access-test.toml"
        config.write_text(
            f"""
[login]
mode = "proxy"
trusted_proxies = ["127.0.0.1"]
idle_timeout_min = 30

[[users]]
name = "staff@hz.gov.cn"
role = "street_staff"
streets = ["{street}"]

[[users]]
name = "analyst@hz.gov.cn"
role = "analyst"
districts = ["{DISTRICT}"]

[[users]]
name = "leader@hz.gov.cn"
role = "leader"
city = true

[[groups]]
group = "admins"
role = "admin"
city = true

[[walls]]
name = "room-a"
token_sha256 = "{token_sha256(WALL_TOKEN)}"
streets = ["{street}"]

[[walls]]
name = "room-b"
token_sha256 = "{token_sha256(OLD_TOKEN)}"
city = true
revoked = true
""",
            encoding="utf-8",
        )
        monkeypatch.setenv("OPS_ACCESS_CONFIG", str(config))
        identity = None if name is None else Identity(mode, name, groups=groups)
        monkeypatch.setattr("ui.auth.read_identity", lambda cfg: identity)
        return appstate.make_engine(f"sqlite:///{tmp_path / 'appstate.sqlite'}")

    return setup


def tr(key: str, **kwargs) -> str:
    return translate(key, "zh", **kwargs)


def no_errors(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def audit_rows(engine) -> pd.DataFrame:
    return audit.recent(engine)


def test_an_unknown_user_sees_nothing_but_a_message(app_test, sqlite_demo, signed_in):
    log = signed_in("stranger@hz.gov.cn")
    at = app_test("Home.py", sqlite_demo.url)
    assert not at.exception
    assert [t.value for t in at.title] == [tr("auth.no_access_title")]
    assert not at.metric and not at.sidebar.selectbox and not at.dataframe
    rows = audit_rows(log)
    assert list(rows["action"]) == ["denied"] and rows["actor"].iloc[0] == "stranger@hz.gov.cn"


def test_no_identity_shows_the_sign_in_page_only(app_test, sqlite_demo, signed_in):
    signed_in(None)
    at = app_test("Home.py", sqlite_demo.url)
    assert not at.exception
    assert [b.label for b in at.button] == [tr("auth.sign_in")]
    assert not at.metric and not at.sidebar.selectbox


def test_a_street_scoped_user_sees_the_figures_of_that_street_alone(
    app_test, sqlite_demo, signed_in, street
):
    signed_in("staff@hz.gov.cn")
    mine = app_test("Home.py", sqlite_demo.url)
    no_errors(mine)
    assert mine.session_state["_principal"].scope == (street,)
    # The filters offer only the scope: the street's district, its one street.
    district = mine.sidebar.selectbox(key="f_district")
    assert (district.value, len(district.options)) == (DISTRICT, 1)
    assert len(mine.sidebar.multiselect(key="f_streets").options) == 1
    signed_in("leader@hz.gov.cn")
    alone = app_test(
        "Home.py", sqlite_demo.url, query_params={"district": DISTRICT, "streets": street}
    )
    no_errors(alone)
    assert metrics(mine) == metrics(alone)
    whole = app_test("Home.py", sqlite_demo.url, query_params={"district": DISTRICT})
    assert metrics(whole) != metrics(mine)  # the comparison can fail


def test_two_spellings_of_a_user_are_one_person_in_the_scope_and_the_audit_log(
    app_test, sqlite_demo, signed_in, street
):
    """The proxy sent the same user in two cases (and with a space): one
    principal, the same scope, one actor in the audit log, found by the
    audit log's user filter in either spelling."""
    seen = []
    for spelling in ("STAFF@HZ.GOV.CN ", "staff@hz.gov.cn"):
        log = signed_in(spelling)
        at = app_test("Home.py", sqlite_demo.url)
        no_errors(at)
        principal = at.session_state["_principal"]
        seen.append((principal.name, principal.scope))
    assert seen == [("staff@hz.gov.cn", (street,))] * 2
    rows = audit_rows(log)
    assert list(rows.loc[rows["action"] == "login", "actor"]) == ["staff@hz.gov.cn"] * 2
    for asked in ("Staff@HZ.gov.cn", "staff@hz.gov.cn"):
        assert len(audit.recent(log, actor=asked, actions=["login"])) == 2


def test_a_url_outside_the_scope_is_refused_and_audited(app_test, sqlite_demo, signed_in, street):
    log = signed_in("staff@hz.gov.cn")
    at = app_test("Home.py", sqlite_demo.url, query_params={"district": OTHER_DISTRICT})
    assert not at.exception
    refused = tr("auth.outside_scope_param", name="district", value=OTHER_DISTRICT)
    assert refused in [e.value for e in at.error]
    assert at.session_state["_principal"].scope == (street,)
    rows = audit_rows(log)
    denied = rows.loc[rows["action"] == "denied"]
    assert list(denied["target"]) == [f"?district={OTHER_DISTRICT}"]
    assert denied["outcome"].iloc[0] == "refused"


def open_path(at, url_path: str):
    """Ask for a page by its URL path, as a bookmark or typed address does
    (the page is not in this role's menu, so AppTest.switch_page cannot)."""
    from streamlit.navigation.page import calc_hash

    at._page_hash = calc_hash(url_path)
    return at.run(timeout=60)


def test_a_page_the_role_may_not_see_is_refused(app_test, sqlite_demo, signed_in):
    log = signed_in("leader@hz.gov.cn")
    at = open_path(app_test("Home.py", sqlite_demo.url), "audit")
    assert not at.exception
    assert tr("auth.page_refused", page=tr("nav.audit")) in [e.value for e in at.error]
    assert not at.dataframe
    assert "denied" in set(audit_rows(log)["action"])


def test_an_admin_group_reads_the_audit_page(app_test, sqlite_demo, signed_in):
    signed_in("ops@hz.gov.cn", groups=("admins",))
    at = app_test("pages/audit.py", sqlite_demo.url)
    no_errors(at)
    assert at.title[0].value == tr("nav.audit")
    assert at.dataframe  # the rows (the sign-in row at least)
    assert len(export_buttons(at)) == 1


def test_a_wall_token_gives_the_command_screen_only(app_test, sqlite_demo, signed_in, street):
    log = signed_in(None)
    at = app_test("Home.py", sqlite_demo.url, query_params={"wall": WALL_TOKEN})
    assert not at.exception
    p = at.session_state["_principal"]
    assert (p.name, p.role, p.scope, p.permissions) == ("wall:room-a", "wall", (street,), set())
    rows = audit_rows(log)
    assert list(rows["action"]) == ["login"] and WALL_TOKEN not in rows.to_csv()
    over = open_path(at, "overview")
    assert tr("auth.page_refused", page=tr("nav.overview")) in [e.value for e in over.error]
    assert not over.metric


def test_a_revoked_or_unknown_wall_token_sees_nothing(app_test, sqlite_demo, signed_in):
    log = signed_in(None)
    for token in (OLD_TOKEN, "guessed"):
        at = app_test("Home.py", sqlite_demo.url, query_params={"wall": token})
        assert [t.value for t in at.title] == [tr("auth.no_access_title")]
        assert not at.metric
    rows = audit_rows(log)
    assert set(rows["action"]) == {"denied"} and "guessed" not in rows.to_csv()


def test_exports_and_packs_follow_the_role(app_test, sqlite_demo, signed_in):
    signed_in("staff@hz.gov.cn")  # street_staff: export, no pack
    weekly = app_test("pages/weekly-review.py", sqlite_demo.url)
    no_errors(weekly)
    assert not export_buttons(weekly) and not weekly.download_button
    assert ":material/lock: " + tr("auth.no_pack") in [c.value for c in weekly.caption]
    throughput = app_test("pages/throughput.py", sqlite_demo.url)
    no_errors(throughput)
    assert len(export_buttons(throughput)) == 2
    signed_in("analyst@hz.gov.cn")
    weekly = app_test("pages/weekly-review.py", sqlite_demo.url)
    no_errors(weekly)
    assert len(export_buttons(weekly)) == 2


def _reveal(at, case_id: str, reason: str):
    at.selectbox(key="tp_reveal_case").set_value(case_id)
    at.text_area(key="tp_reveal_reason").input(reason)
    [submit] = [b for b in at.button if b.label == tr("reveal.submit")]
    submit.click()
    return at.run(timeout=60)


def test_unmask_writes_exactly_one_audit_row_then_shows(app_test, sqlite_demo, signed_in, street):
    log = signed_in("analyst@hz.gov.cn")
    at = app_test("pages/throughput.py", sqlite_demo.url)
    no_errors(at)
    at.selectbox(key="tp_drill").set_value(street)
    at.run(timeout=60)
    no_errors(at)
    ids = at.selectbox(key="tp_reveal_case").options
    assert ids
    case_id = ids[0]
    with sqlite_demo.raw_engine.connect() as conn:
        name, phone = conn.execute(
            text(
                "SELECT reporter_name, reporter_phone FROM incident WHERE id = :i "
                "ORDER BY reported_at LIMIT 1"
            ),
            {"i": case_id},
        ).one()
    before = audit.count(log, "unmask")
    at = _reveal(at, case_id, "短")  # too short: refused, nothing written
    assert audit.count(log, "unmask") == before
    assert not any(str(phone) in m.value for m in at.markdown if phone)
    at = _reveal(at, case_id, "回访报事人核实处置结果")
    no_errors(at)
    rows = audit_rows(log)
    unmasks = rows.loc[rows["action"] == "unmask"]
    assert len(unmasks) == before + 1
    row = unmasks.iloc[0]
    assert (row["actor"], row["target"], row["reason"]) == (
        "analyst@hz.gov.cn",
        f"case {case_id}",
        "回访报事人核实处置结果",
    )
    shown = "\n".join(m.value for m in at.markdown)
    if name:
        assert str(name) in shown
    if phone:
        assert str(phone) in shown


def test_a_role_without_unmask_gets_no_reveal_form(app_test, sqlite_demo, signed_in, street):
    signed_in("staff@hz.gov.cn")
    at = app_test("pages/throughput.py", sqlite_demo.url)
    at.selectbox(key="tp_drill").set_value(street)
    at.run(timeout=60)
    no_errors(at)
    assert not [b for b in at.button if b.label == tr("reveal.submit")]
    assert ":material/lock: " + tr("reveal.masked_note") in [c.value for c in at.caption]


def test_a_proxy_header_from_an_untrusted_address_is_refused(
    app_test, sqlite_demo, signed_in, monkeypatch
):
    """The real read_identity: AppTest has no connection, so no peer address."""
    log = signed_in("ignored")
    import ui.auth

    monkeypatch.setattr("ui.auth.read_identity", ui.auth.__dict__["_real_read_identity"])
    at = app_test("Home.py", sqlite_demo.url)
    assert [t.value for t in at.title] == [tr("auth.no_access_title")]
    assert not at.metric
    assert list(audit_rows(log)["action"]) == ["denied"]


def test_no_login_on_a_real_database_is_a_leader_with_the_notice(
    app_test, sqlite_demo, monkeypatch, tmp_path: Path
):
    config = tmp_path / "none.toml"
    config.write_text("[login]\nmode = 'none'\n")
    monkeypatch.setenv("OPS_ACCESS_CONFIG", str(config))
    at = app_test("Home.py", sqlite_demo.url)
    no_errors(at)
    role = tr("auth.role.leader")
    assert tr("auth.no_login_notice", role=role) in [w.value for w in at.sidebar.warning]
    assert not at.session_state["_principal"].can("unmask")


#: The pages whose every figure a street-scoped user must see exactly as
#: for that street alone (the audit page is the administrators').
SCOPED_PAGES = [
    "Home.py",
    "pages/crowd-map.py",
    "pages/incident-map.py",
    "pages/throughput.py",
    "pages/warnings.py",
    "pages/weekly-review.py",
    "pages/data-quality.py",
    # The screen rotates its views on the wall clock, so that two runs a few
    # seconds apart may show different views: each view is pinned and checked.
    *(f"pages/command-screen.py?view={v}" for v in SCREEN_PAGES),
]


def page_figures(at) -> dict[str, list[str]]:
    """What the page showed as data: titles, metrics, tables, chart and map
    specs (the sidebar, with the signed-in user, left out)."""
    import json
    import re

    # "Data as of" is the newest row the user may see (their scope's for a
    # scope, the whole database's otherwise): not a figure of the street.
    # The screen's countdown to its next view runs on the wall clock.
    as_of = re.compile(r'data-key="as_of">[^<]*<|（\d+ 秒）')

    def specs(kind: str) -> list[str]:
        out = []
        for el in at.main.get(kind):
            proto = getattr(el, "proto", None)
            raw = getattr(proto, "spec", None) or getattr(proto, "json", None) or ""
            try:  # element ids differ between runs: drop them
                data = json.loads(raw)
                data.pop("id", None)
                raw = json.dumps(data, sort_keys=True)
            except (TypeError, ValueError):
                pass
            out.append(str(raw))
        return out

    return {
        "titles": [t.value for t in at.main.title] + [h.value for h in at.main.subheader],
        "metrics": [f"{m.label}={m.value}" for m in at.main.metric],
        "tables": [d.value.to_csv() for d in at.main.dataframe],
        "charts": specs("plotly_chart"),
        "maps": specs("deck_gl_json_chart"),
        "text": [as_of.sub("", m.value) for m in [*at.main.markdown, *at.main.get("html")]],
    }


@pytest.mark.parametrize("page", SCOPED_PAGES)
def test_every_page_for_a_street_scope_equals_that_street_alone(
    app_test, backend, signed_in, monkeypatch, page
):
    """On every backend: the page as a street-scoped user sees it, and as
    a city-wide user sees it with a link to that street alone."""
    q = text(
        "SELECT street_code FROM incident WHERE street_code LIKE :d "
        "GROUP BY street_code ORDER BY COUNT(*) DESC, street_code"
    )
    with backend.raw_engine.connect() as conn:
        street = str(conn.execute(q, {"d": DISTRICT + "%"}).first()[0])
    page, _, pinned = page.partition("?")
    params = dict(p.split("=", 1) for p in pinned.split("&") if p)
    signed_in("staff@hz.gov.cn", street=street)
    mine = app_test(page, backend.url, query_params=params or None)
    no_errors(mine)
    signed_in("leader@hz.gov.cn", street=street)
    alone = app_test(
        page, backend.url, query_params={**params, "district": DISTRICT, "streets": street}
    )
    no_errors(alone)
    got, expected = page_figures(mine), page_figures(alone)
    if page == "pages/data-quality.py":
        # The whole database's unknown-street counts are withheld from a scope.
        withheld = translate("quality.scope_withheld", "zh")
        assert withheld in got["tables"][0] and withheld not in expected["tables"][0]
        got.pop("tables"), expected.pop("tables")
    for kind in expected:
        for i, (a, b) in enumerate(zip(got[kind], expected[kind], strict=True)):
            assert a == b, f"{kind}[{i}]"
    assert any(got.values())


def test_an_idle_session_is_signed_out_and_a_wall_is_not(app_test, sqlite_demo, signed_in):
    import time as clock

    log = signed_in("analyst@hz.gov.cn")
    at = app_test("Home.py", sqlite_demo.url)
    no_errors(at)
    assert at.metric
    at.session_state["_auth_last_active"] = clock.time() - 31 * 60  # idle_timeout_min = 30
    at.run(timeout=60)
    assert not at.metric and "_principal" not in at.session_state
    assert tr("auth.expired_notice") in [w.value for w in at.warning]
    logouts = audit_rows(log).query("action == 'logout'")
    assert list(logouts["target"]) == ["idle timeout"]
    at.run(timeout=60)  # behind the proxy the gateway still vouches: carrying on works
    assert at.metric

    signed_in(None)
    wall = app_test("Home.py", sqlite_demo.url, query_params={"wall": WALL_TOKEN})
    wall.session_state["_auth_last_active"] = clock.time() - 24 * 3600
    wall.run(timeout=60)
    assert wall.session_state["_principal"].role == "wall"


def test_a_reveal_on_the_incident_map_cell_cases(app_test, sqlite_demo, signed_in):
    from datetime import timedelta

    from data_access.config import load_site_config
    from data_access.filters import AreaFilter
    from metrics import heatmap

    log = signed_in("analyst@hz.gov.cn")  # 拱墅区
    f = AreaFilter(start=NOW.date() - timedelta(days=6), end=NOW.date(), district=DISTRICT)
    with sqlite_demo.engine.connect() as conn:
        cells = heatmap.incident_cells(conn, f, NOW, load_site_config())
    top = cells.sort_values("cases", ascending=False).iloc[0]
    at = app_test("pages/incident-map.py", sqlite_demo.url)
    at.session_state["im_cell"] = (int(top["gx"]), int(top["gy"]))
    at.run(timeout=60)
    no_errors(at)
    ids = at.selectbox(key="im_reveal_case").options
    assert len(ids) == int(top["cases"])
    at.selectbox(key="im_reveal_case").set_value(ids[0])
    at.text_area(key="im_reveal_reason").input("核实报事人联系方式以便回访")
    [submit] = [b for b in at.button if b.label == tr("reveal.submit")]
    submit.click()
    at.run(timeout=60)
    no_errors(at)
    assert list(audit_rows(log).query("action == 'unmask'")["target"]) == [f"case {ids[0]}"]


def test_without_an_audit_log_there_is_no_reveal_and_no_download(
    app_test, sqlite_demo, signed_in, monkeypatch, street
):
    """The app-state URL names the operational database: refused
    (appstate), so nothing that must be audited happens."""
    signed_in("analyst@hz.gov.cn")
    monkeypatch.setenv("OPS_APPSTATE_URL", sqlite_demo.url)
    at = app_test("pages/throughput.py", sqlite_demo.url)
    assert not at.exception
    assert not export_buttons(at) and not at.download_button
    assert any(tr("auth.no_audit_no_download", detail="")[:8] in c.value for c in at.caption)
    at.selectbox(key="tp_drill").set_value(street)
    at.run(timeout=60)
    case_id = at.selectbox(key="tp_reveal_case").options[0]
    with sqlite_demo.raw_engine.connect() as conn:
        phone = conn.execute(
            text(
                "SELECT reporter_phone FROM incident WHERE id = :i AND reporter_phone IS NOT NULL"
            ),
            {"i": case_id},
        ).scalar()
    at = _reveal(at, case_id, "回访报事人核实处置结果")
    assert not at.exception
    assert any(tr("reveal.audit_failed", detail="")[:8] in e.value for e in at.error)
    assert not any(str(phone) in m.value for m in at.markdown) if phone else True


def test_the_retention_purges_old_rows_at_most_once_an_hour(
    app_test, sqlite_demo, signed_in, monkeypatch
):
    from datetime import timedelta

    import ui.auth

    log = signed_in("analyst@hz.gov.cn")  # access.toml: retention_days default 180
    old = audit.utc_now() - timedelta(days=181)
    kept = audit.utc_now() - timedelta(days=179)
    for at_utc in (old, kept):
        audit.record(log, actor="x", role="analyst", auth_mode="proxy", action="export",
                     at_utc=at_utc)  # fmt: skip
    monkeypatch.setattr(ui.auth, "_last_purge", [0.0])
    app_test("Home.py", sqlite_demo.url)  # the sign-in row is written: purge
    rows = audit_rows(log)
    assert old not in set(rows["at_utc"]) and kept in set(rows["at_utc"])
    audit.record(log, actor="y", role="analyst", auth_mode="proxy", action="export", at_utc=old)
    signed_in("leader@hz.gov.cn")
    app_test("Home.py", sqlite_demo.url)  # within the hour: no second purge
    assert audit.count(log, "login") == 2 and old in set(audit_rows(log)["at_utc"])


def _save_buttons(at) -> list:
    return [
        d
        for d in at.get("download_button")
        if d.proto.label.startswith(tr("auth.save_file", name="")[:2])
    ]


def test_an_export_is_audited_then_made_and_stays_for_its_filter(app_test, sqlite_demo, signed_in):
    """The two steps of an export: the first press writes one audit row and
    then makes the file, held in the session (so that Streamlit's sweep of
    unreferenced downloads cannot take it before the browser fetches it:
    the deferred button's 404 under load); the file keeps its button over
    reruns without another row or another make, and a changed filter asks
    for a new file."""
    log = signed_in("analyst@hz.gov.cn")
    at = app_test("pages/throughput.py", sqlite_demo.url)
    no_errors(at)
    assert not at.download_button  # nothing is made before it is asked for
    csv_button = export_buttons(at)[0]
    assert csv_button.label == tr("throughput.download_csv")
    before = len(audit_rows(log).query("action == 'export'"))
    csv_button.click()
    at.run(timeout=60)
    no_errors(at)
    exports = audit_rows(log).query("action == 'export'")
    assert len(exports) == before + 1
    row = exports.iloc[0]
    assert row["target"].endswith(".csv") and "district=" in row["query"]
    [save] = _save_buttons(at)
    assert save.proto.label == tr("auth.save_file", name=row["target"])
    query, name, body, _ = at.session_state[csv_button.key.removesuffix(":prepare")]
    assert (query, name) == (row["query"], row["target"])
    table = pd.read_csv(io.BytesIO(body), encoding="utf-8-sig")
    assert len(table) > 0 and table.columns[0]
    assert len(export_buttons(at)) == 1  # the workbook is still only offered

    at.run(timeout=60)  # a rerun (a tile's tick, a click elsewhere): same file, no new row
    no_errors(at)
    assert len(_save_buttons(at)) == 1
    assert len(audit_rows(log).query("action == 'export'")) == before + 1

    streets = at.multiselect(key="f_streets")
    streets.select(streets.options[0]).run(timeout=60)  # one street of the district
    no_errors(at)
    assert not _save_buttons(at), "a file made for another filter is not offered"
    assert len(export_buttons(at)) == 2


def test_an_export_whose_audit_row_fails_makes_no_file(
    app_test, sqlite_demo, signed_in, monkeypatch
):
    """No audit row, no file: the app-state database refusing the row at the
    press leaves a message, not a traceback, and nothing to download; the
    file's maker is never called."""
    from appstate import AppStateError
    from ui import auth

    signed_in("analyst@hz.gov.cn")
    at = app_test("pages/throughput.py", sqlite_demo.url)
    no_errors(at)

    def refuse(*args, **kwargs):
        raise AppStateError("the app-state database is read-only")

    monkeypatch.setattr(auth.audit, "record", refuse)
    button = export_buttons(at)[0]
    button.click()
    at.run(timeout=60)
    assert not at.exception
    said = [e.value for e in at.error]
    assert said == [tr("auth.no_audit_no_download", detail="the app-state database is read-only")]
    assert not at.download_button
    assert button.key.removesuffix(":prepare") not in at.session_state
