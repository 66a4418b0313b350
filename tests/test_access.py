"""access.toml parsing and principal resolution (pure functions, no Streamlit)."""

from __future__ import annotations

import hashlib
from datetime import date

import pandas as pd
import pytest

from data_access.access import (
    DEFAULT_PERMISSIONS,
    AccessConfigError,
    AccessDenied,
    Identity,
    effective_mode,
    find_wall,
    load_access_config,
    parse_access_config,
    parse_groups,
    resolve_principal,
    resolve_wall,
    scope_streets,
    token_sha256,
    trusted_proxy,
)
from data_access.filters import AreaFilter, FilterError

STREETS = pd.DataFrame(
    {
        "code": ["330105001", "330105002", "330105003", "330106001", "330106002"],
        "district_code": ["330105", "330105", "330105", "330106", "330106"],
    }
)
WALL_TOKEN = "wall-secret-token-1"

CONFIG = {
    "login": {"mode": "proxy", "trusted_proxies": ["10.0.0.5", "192.168.1.0/24"]},
    "users": [
        {"name": "Li.Na@hz.gov.cn", "role": "analyst", "city": True},
        {"email": "wang@hz.gov.cn", "role": "street_staff", "streets": ["330105002"]},
    ],
    "groups": [
        {"group": "gongshu", "role": "street_staff", "districts": ["330105"]},
        {"group": "leaders", "role": "leader", "districts": ["330106"]},
        {"group": "leaders-b", "role": "leader", "streets": ["330105001"]},
    ],
    "walls": [
        {"name": "room-a", "token_sha256": token_sha256(WALL_TOKEN), "districts": ["330106"]},
        {
            "name": "room-b",
            "token_sha256": token_sha256("old-token"),
            "city": True,
            "revoked": True,
        },
    ],
    "audit": {"retention_days": 90},
}


def cfg():
    return parse_access_config(CONFIG)


def test_parsing_keeps_every_entry_and_the_audit_retention():
    c = cfg()
    assert [u.match for u in c.users] == ["li.na@hz.gov.cn", "wang@hz.gov.cn"]
    assert [g.role for g in c.groups] == ["street_staff", "leader", "leader"]
    assert c.retention_days == 90
    assert c.login.mode == "proxy" and len(c.login.trusted_proxies) == 2
    assert parse_access_config({}).retention_days == 180


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"login": {"mode": "ldap"}}, "login.mode"),
        ({"login": {"mode": "proxy"}}, "login.trusted_proxies"),
        ({"login": {"trusted_proxies": ["10.0.0.300"]}}, "login.trusted_proxies"),
        ({"login": {"idle_timeout_min": -1}}, "login.idle_timeout_min"),
        ({"login": {"no_login_role": "wall"}}, "login.no_login_role"),
        ({"login": {"colour": "red"}}, "login.colour"),
        ({"users": [{"name": "a", "role": "boss", "city": True}]}, "users[0].role"),
        ({"users": [{"name": "a", "role": "analyst"}]}, "users[0]: no scope"),
        ({"users": [{"name": "a", "role": "analyst", "streets": ["3301"]}]}, "users[0].streets"),
        ({"users": [{"role": "analyst", "city": True}]}, "users[0].name"),
        ({"groups": [{"group": "g", "role": "wall", "city": True}]}, "groups[0].role"),
        ({"walls": [{"name": "w", "token_sha256": "abc", "city": True}]}, "walls[0].token_sha256"),
        ({"roles": {"leader": {"permissions": ["fly"]}}}, "roles.leader.permissions"),
        ({"roles": {"wall": {"permissions": ["export"]}}}, "roles.wall.permissions"),
        ({"roles": {"wall": {"pages": ["overview"]}}}, "roles.wall.pages"),
        ({"audit": {"retention_days": 0}}, "audit.retention_days"),
        ({"extra": {}}, "extra"),
    ],
)
def test_a_bad_value_is_refused_naming_the_key(data, key):
    with pytest.raises(AccessConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        parse_access_config(data)


def test_a_bad_file_names_the_file_and_a_missing_one_is_the_defaults(tmp_path):
    bad = tmp_path / "access.toml"
    bad.write_text("[login\nmode=1")
    with pytest.raises(AccessConfigError, match="not valid TOML"):
        load_access_config(bad)
    bad.write_text('[login]\nmode = "sso"\n')
    with pytest.raises(AccessConfigError, match=r"access.toml: login.mode"):
        load_access_config(bad)
    missing = load_access_config(tmp_path / "none.toml")
    assert missing.users == () and missing.walls == ()


def test_a_user_entry_wins_over_groups_and_names_match_case_insensitively():
    p = resolve_principal(cfg(), Identity("proxy", "LI.NA@HZ.GOV.CN", groups=("gongshu",)), STREETS)
    assert (p.role, p.scope, p.mode) == ("analyst", None, "proxy")
    assert p.can("unmask") and not p.can("audit")
    p = resolve_principal(cfg(), Identity("oidc", "sub-1", email="wang@hz.gov.cn"), STREETS)
    assert (p.role, p.scope, p.name) == ("street_staff", ("330105002",), "wang@hz.gov.cn")


def test_an_identity_is_one_spelling_of_the_user_whatever_the_login_sent():
    """The name and e-mail stripped and lower-cased where the identity is
    made, so the principal (scope, audit actor, sidebar) is one person; an
    OIDC subject keeps its case (case-sensitive by the OIDC spec) but still
    matches its entry case-insensitively."""
    spellings = [
        Identity("proxy", " LI.NA@HZ.GOV.CN "),
        Identity("proxy", "li.na@hz.gov.cn"),
        Identity("oidc", "Li.Na@Hz.Gov.Cn", email="Li.Na@Hz.Gov.Cn"),
    ]
    assert {(i.name, i.email or i.name) for i in spellings} == {("li.na@hz.gov.cn",) * 2}
    principals = {resolve_principal(cfg(), i, STREETS) for i in spellings}
    assert {(p.name, p.role, p.scope) for p in principals} == {("li.na@hz.gov.cn", "analyst", None)}
    wang = resolve_principal(cfg(), Identity("proxy", "WANG@hz.gov.cn\t"), STREETS)
    assert (wang.name, wang.scope) == ("wang@hz.gov.cn", ("330105002",))
    subject = Identity("oidc", " Sub-AbC ", groups=(" gongshu ", ""))
    assert (subject.name, subject.groups) == ("Sub-AbC", ("gongshu",))
    mixed = parse_access_config(
        {"users": [{"name": "SUB-abc", "role": "leader", "streets": ["330105001"]}]}
    )
    assert resolve_principal(mixed, subject, STREETS).name == "Sub-AbC"
    with pytest.raises(AccessDenied) as denied:
        resolve_principal(cfg(), Identity("proxy", " Stranger@X.cn"), STREETS)
    assert denied.value.name == "stranger@x.cn"


def test_several_groups_give_the_widest_role_and_its_scopes_union():
    ident = Identity("oidc", "x@hz.gov.cn", groups=("gongshu", "leaders", "leaders-b"))
    p = resolve_principal(cfg(), ident, STREETS)
    assert p.role == "leader"
    # leader's two entries: district 330106 plus street 330105001; not gongshu's streets
    assert p.scope == ("330105001", "330106001", "330106002")
    assert p.permissions == DEFAULT_PERMISSIONS["leader"]


def test_deny_by_default():
    for ident in (
        Identity("oidc", "stranger@x.cn"),
        Identity("proxy", "someone", groups=("unknown-group",)),
        Identity("proxy", ""),
    ):
        with pytest.raises(AccessDenied):
            resolve_principal(cfg(), ident, STREETS)


def test_a_scope_naming_no_street_of_the_database_is_denied():
    data = {"users": [{"name": "a", "role": "analyst", "districts": ["330199"]}]}
    with pytest.raises(AccessDenied, match="no street"):
        resolve_principal(parse_access_config(data), Identity("oidc", "a"), STREETS)


def test_no_login_role_demo_admin_real_database_leader_or_deny():
    none = Identity("none", "")
    c = parse_access_config({})
    assert resolve_principal(c, none, STREETS, demo=True).role == "admin"
    real = resolve_principal(c, none, STREETS, demo=False)
    assert real.role == "leader" and not real.can("unmask") and real.scope is None
    with pytest.raises(AccessDenied):
        resolve_principal(
            parse_access_config({"login": {"no_login_role": "deny"}}), none, STREETS, demo=True
        )


def test_scope_resolution_districts_and_listed_streets():
    from data_access.access import Scope

    assert scope_streets(Scope(city=True), STREETS) is None
    assert scope_streets(Scope(districts=("330106",)), STREETS) == ("330106001", "330106002")
    assert scope_streets(Scope(streets=("330105003", "330199999")), STREETS) == ("330105003",)


def test_wall_tokens_are_compared_by_hash_and_revocable():
    c = cfg()
    assert token_sha256(WALL_TOKEN) == hashlib.sha256(WALL_TOKEN.encode()).hexdigest()
    p = resolve_wall(c, WALL_TOKEN, STREETS)
    assert (p.name, p.role, p.mode) == ("wall:room-a", "wall", "wall")
    assert p.scope == ("330106001", "330106002")
    assert p.permissions == frozenset() and p.sees_page("command-screen")
    assert not p.sees_page("overview") and not p.sees_page("audit")
    with pytest.raises(AccessDenied, match="revoked"):
        resolve_wall(c, "old-token", STREETS)
    with pytest.raises(AccessDenied, match="unknown") as exc:
        resolve_wall(c, "guess", STREETS)
    assert "guess" not in str(exc.value)
    assert find_wall(c, "") is None


def test_proxy_trust_by_address():
    c = cfg()
    assert trusted_proxy(c, "10.0.0.5")
    assert trusted_proxy(c, "192.168.1.77")
    assert trusted_proxy(c, "::ffff:10.0.0.5")
    for addr in ("10.0.0.6", "192.168.2.1", "", None, "not-an-ip"):
        assert not trusted_proxy(c, addr)


def test_effective_mode():
    auto = parse_access_config({})
    assert effective_mode(auto, oidc_configured=True) == "oidc"
    assert effective_mode(auto, oidc_configured=False) == "none"
    proxied = parse_access_config({"login": {"trusted_proxies": ["127.0.0.1"]}})
    assert effective_mode(proxied, oidc_configured=False) == "proxy"
    with pytest.raises(AccessConfigError, match=r"\[auth\]"):
        effective_mode(parse_access_config({"login": {"mode": "oidc"}}), oidc_configured=False)


def test_groups_from_a_claim_or_a_header():
    assert parse_groups(["b", "a", " "]) == ("a", "b")
    assert parse_groups("a, b;c") == ("a", "b", "c")
    assert parse_groups(None) == () and parse_groups(5) == ()


def test_the_audit_page_needs_the_audit_permission():
    c = cfg()
    admin = resolve_principal(parse_access_config({}), Identity("none", ""), STREETS, demo=True)
    analyst = resolve_principal(c, Identity("proxy", "li.na@hz.gov.cn"), STREETS)
    assert admin.sees_page("audit") and not analyst.sees_page("audit")
    assert analyst.sees_page("overview")


def test_an_area_filter_scope_cuts_its_known_streets():
    f = AreaFilter(
        start=date(2026, 11, 1),
        end=date(2026, 11, 2),
        known_streets=("330105001", "330105002"),
        scope=("330105002", "330106001"),
    )
    assert f.known_streets == ("330105002",)
    with pytest.raises(FilterError, match="scope"):
        AreaFilter(start=date(2026, 11, 1), end=date(2026, 11, 2), scope=("33",))


def test_every_denial_has_a_message_in_both_languages():
    import re
    from pathlib import Path

    from ui.i18n import catalogue

    root = Path(__file__).resolve().parent.parent
    source = (root / "data_access/access.py").read_text() + (root / "ui/auth.py").read_text()
    documented = re.search(r"\(``unknown_user``[^)]*\)", AccessDenied.__doc__ or "")
    assert documented
    codes = set(re.findall(r"``(\w+)``", documented.group(0)))
    raised = set(re.findall(r'"(\w+)"\s*\)', source)) | set(re.findall(r'code="(\w+)"', source))
    assert codes - {"unknown_user"} <= raised  # each documented code is raised somewhere
    assert len(codes) >= 8, codes
    for code in codes | {"unknown_user"}:
        entry = catalogue()[f"auth.denied.{code}"]
        assert entry["zh"] and entry["en"], code


def test_a_walls_playlist_keeps_only_the_views_within_its_scope():
    from data_access.config import ScreenView
    from ui.screen.params import views_in_scope

    views = (
        ScreenView("crowd-map"),
        ScreenView("incident-map", district="330106"),
        ScreenView("throughput", district="330105"),
        ScreenView("warnings", streets=("330106002",)),
    )
    assert views_in_scope(views, STREETS, None) == views
    kept = views_in_scope(views, STREETS, ("330105001",))
    assert [v.page for v in kept] == ["crowd-map", "throughput"]
    only_elsewhere = views_in_scope(views[1:2], STREETS, ("330105001",))
    assert only_elsewhere == (ScreenView("incident-map"),)
