"""Signing in with a real OpenID Connect provider, in a real browser.

A local authorization-code provider (the PyPI package ``oidc-provider-mock``,
a Flask app) runs in a thread on loopback; ``streamlit run Home.py`` runs as
a subprocess with a ``secrets.toml`` whose ``[auth]`` points
``server_metadata_url`` at it, and an ``access.toml`` that gives the
provider's ``groups`` claim a role and a one-street scope. Headless Chromium
clicks 登录, completes the provider's form, comes back signed in, and must
see the user's name and role, only the scope's district and street in the
filters, and the sign-in row in the audit log. Nothing is mocked on
Streamlit's side: st.login, its callback, its cookie, st.user.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from sqlalchemy import text

import appstate
from appstate import audit
from tests.conftest import FIXTURE_END, Backend, skip_or_fail
from tests.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    free_port,
    running_streamlit,
    wait_until_idle,
)

pytestmark = pytest.mark.browser

USER_SUB = "analyst-1"
USER_EMAIL = "li.na@hz.gov.cn"
GROUP = "gongshu-analysts"
DISTRICT = "330105"
SERVER_START_S = 60


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """The OIDC provider's base URL (``http://localhost:PORT``)."""
    try:
        from oidc_provider_mock import User, run_server_in_thread
    except ImportError:
        skip_or_fail("oidc-provider-mock is not installed (pip install -e '.[test]')")
    user = User(sub=USER_SUB, claims={"email": USER_EMAIL, "groups": [GROUP], "name": "李娜"})
    with run_server_in_thread(port=free_port(), user_claims=[user]) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture(scope="module")
def street(sqlite_demo: Backend) -> str:
    q = text(
        "SELECT street_code FROM incident WHERE street_code LIKE :d "
        "GROUP BY street_code ORDER BY COUNT(*) DESC, street_code"
    )
    with sqlite_demo.raw_engine.connect() as conn:
        return str(conn.execute(q, {"d": DISTRICT + "%"}).first()[0])


@contextlib.contextmanager
def running_app(
    folder: Path, db_url: str, access: str, secrets: str | None = None, port: int | None = None
) -> Iterator[tuple[str, Path]]:
    """``streamlit run Home.py`` with this access.toml (and secrets.toml),
    its audit log in ``folder``: (base URL on localhost, app-state file)."""
    if not CHROMIUM.exists():
        skip_or_fail(f"{CHROMIUM} not found: install Debian's chromium")
    port = port or free_port()
    (folder / "access.toml").write_text(access, encoding="utf-8")
    secrets_file = folder / "secrets.toml"
    secrets_file.write_text(secrets or "# no [auth]\n", encoding="utf-8")
    state = folder / "appstate.sqlite"
    log = folder / "server.log"
    env = dict(
        os.environ,
        OPS_DB_URL=db_url,
        OPS_NOW=FIXTURE_END.isoformat(timespec="minutes"),
        OPS_ACCESS_CONFIG=str(folder / "access.toml"),
        OPS_APPSTATE_PATH=str(state),
        PYTHONUNBUFFERED="1",
    )
    env.pop("OPS_APPSTATE_URL", None)
    with running_streamlit(env, port, log, "--secrets.files", str(secrets_file)):
        # localhost, not 127.0.0.1: the OIDC redirect URI names localhost.
        yield f"http://localhost:{port}/", state


@pytest.fixture(scope="module")
def app(
    provider: str, sqlite_demo: Backend, street: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """The app signed in through ``provider``: (base URL, app-state file)."""
    port = free_port()
    secrets = f"""[auth]
redirect_uri = "http://localhost:{port}/oauth2callback"
cookie_secret = "a-long-random-cookie-secret-for-the-test-only"
client_id = "dashboards"
client_secret = "dashboards-secret"
server_metadata_url = "{provider}/.well-known/openid-configuration"
"""
    access = f"""[login]
mode = "oidc"
groups_claim = "groups"

[[groups]]
group = "{GROUP}"
role = "analyst"
streets = ["{street}"]
"""
    folder = tmp_path_factory.mktemp("oidc")
    with running_app(folder, sqlite_demo.url, access, secrets, port) as running:
        yield running


def test_sign_in_with_the_provider_gives_the_role_and_the_scope(app, street, sqlite_demo):
    from playwright.sync_api import sync_playwright

    with sqlite_demo.raw_engine.connect() as conn:
        street_name = conn.execute(
            text("SELECT name_zh FROM street WHERE code = :c"), {"c": street}
        ).scalar_one()

    base, state = app
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = chromium.new_context(locale="zh-CN").new_page()
            page.goto(base, wait_until="domcontentloaded")
            wait_until_idle(page)
            body = page.inner_text("body")
            assert "请先登录" in body and "总览" not in body  # no page, no data before sign-in
            page.get_by_role("button", name="登录").click()
            # The provider's own form: the predefined user's button.
            page.wait_for_selector(f'button[name="sub"][value="{USER_SUB}"]', timeout=30_000)
            assert page.url.startswith("http://localhost:") and "/oauth2/authorize" in page.url
            page.click(f'button[name="sub"][value="{USER_SUB}"]')
            page.wait_for_url(f"{base}**", timeout=30_000)
            page.wait_for_selector('[data-testid="stSidebar"]', timeout=60_000)
            wait_until_idle(page)
            sidebar = page.inner_text('[data-testid="stSidebar"]')
            assert USER_EMAIL in sidebar and "分析员" in sidebar and "1 个街道" in sidebar
            assert "退出登录" in sidebar
            # The scope applied: the page's title names the scope's street.
            title = page.inner_text('[data-testid="stMain"] h1')
            assert street_name in title, title
            # A typed address of a page the role may not open: refused.
            page.goto(f"{base}audit", wait_until="domcontentloaded")
            wait_until_idle(page)
            main = page.inner_text('[data-testid="stMain"]')
            assert "无权访问页面" in main and "审计日志" in main
        finally:
            chromium.close()
    rows = audit.recent(appstate.make_engine(f"sqlite:///{state}"))
    # One sign-in row per browser session (the typed address was a second).
    logins = rows.loc[rows["action"] == "login"]
    assert list(logins["actor"]) == [USER_EMAIL] * 2
    assert set(logins["auth_mode"]) == {"oidc"} and set(logins["role"]) == {"analyst"}
    denied = rows.loc[rows["action"] == "denied"]
    assert list(denied["target"]) == ["/audit"] and denied["actor"].iloc[0] == USER_EMAIL


def test_an_alert_link_opens_its_view_after_the_sign_in(app, street, sqlite_demo):
    """A signed-out official taps an alert's link on a phone
    (``/throughput?district=…&streets=…&start=…&end=…``): the sign-in page
    (no data); after the provider's round trip, which ends on Streamlit's
    redirect URI and then "/", the same page opens with the same street,
    district and dates in its URL, its title and its filters; the cookie
    that carried the link is gone, so "/" opens the overview again."""
    from playwright.sync_api import sync_playwright

    from tests.test_browser_phone import PHONE_CONTEXT

    with sqlite_demo.raw_engine.connect() as conn:
        street_name = conn.execute(
            text("SELECT name_zh FROM street WHERE code = :c"), {"c": street}
        ).scalar_one()
    base, _ = app
    wanted = {"district": DISTRICT, "streets": street, "start": "2026-11-14", "end": "2026-11-17"}
    link = f"{base}throughput?{urlencode(wanted)}"
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = chromium.new_context(**PHONE_CONTEXT)
            page = context.new_page()
            page.goto(link, wait_until="domcontentloaded")
            wait_until_idle(page)
            assert "请先登录" in page.inner_text("body")
            page.get_by_role("button", name="登录").tap()
            page.wait_for_selector(f'button[name="sub"][value="{USER_SUB}"]', timeout=30_000)
            page.tap(f'button[name="sub"][value="{USER_SUB}"]')
            page.wait_for_url(f"{base}throughput?**", timeout=60_000)
            wait_until_idle(page)
            got = urlsplit(page.url)
            assert got.path == "/throughput", page.url
            assert {k: v[0] for k, v in parse_qs(got.query).items() if k != "lang"} == wanted
            title = page.inner_text('[data-testid="stMain"] h1')
            assert "街道案件流转" in title and street_name in title, title
            dates = page.locator('[data-testid="stSidebar"] [data-testid="stDateInput"] input')
            shown = " ".join(dates.evaluate_all("inputs => inputs.map(i => i.value)"))
            assert [d.replace("/", "-") for d in shown.split()] == ["2026-11-14", "2026-11-17"]
            assert "ops_return" not in {c["name"] for c in context.cookies()}
            page.goto(base, wait_until="domcontentloaded")
            wait_until_idle(page)
            assert urlsplit(page.url).path == "/" and "态势总览" in page.inner_text("h1")
        finally:
            chromium.close()


def test_a_return_cookie_names_only_a_page_of_the_app():
    """The cookie that keeps the link across the sign-in opens a page of
    the menu by name, never a URL: a forged, stale, foreign or pre-sign-in
    value opens nothing."""
    from ui.auth import RETURN_MAX_AGE_S, return_cookie, return_view

    secret, now = "a-long-random-cookie-secret-for-the-test-only", 1_800_000_000.0
    good = return_cookie("throughput", "streets=330105001&start=2026-11-14&wall=x", secret, now)
    assert return_view(good, secret, now + 5) == (
        "throughput",
        {"streets": "330105001", "start": "2026-11-14"},  # never a wall token
    )
    assert return_view(good, secret, now + 5, signed_in_at=now + 3) is not None
    assert return_view(good, "another-secret", now + 5) is None  # forged
    assert return_view(good[:-1] + "0", secret, now + 5) is None
    assert return_view(good, secret, now + RETURN_MAX_AGE_S + 1) is None  # stale
    assert return_view(good, secret, now + 5, signed_in_at=now - 60) is None  # signed in before
    for page in ("//evil.example.com", "https://evil.example.com/x", "../etc", "nopage"):
        assert return_view(return_cookie(page, "", secret, now), secret, now) is None, page
    assert return_view(return_cookie("", "streets=1", secret, now), secret, now) == (
        "",
        {"streets": "1"},
    )


PROXY_USER = "zhang.wei@hz.gov.cn"


def _proxy_access(street: str, proxies: str) -> str:
    return f"""[login]
mode = "proxy"
trusted_proxies = [{proxies}]

[[users]]
name = "{PROXY_USER}"
role = "street_staff"
streets = ["{street}"]
"""


def _open(chromium, base: str, headers: dict[str, str]) -> str:
    context = chromium.new_context(locale="zh-CN", extra_http_headers=headers)
    try:
        page = context.new_page()
        page.goto(base, wait_until="domcontentloaded")
        wait_until_idle(page)
        return page.inner_text("body")
    finally:
        context.close()


def test_the_proxy_header_is_believed_only_from_a_trusted_address(
    sqlite_demo, street, tmp_path_factory
):
    """The header on the browser's own requests (as an SSO gateway on the
    same host would set it): believed from 127.0.0.1 when that is a trusted
    proxy, ignored (no access, audited) when only another address is. The
    gateway's spelling of the user does not matter: the audit log has one
    actor for both cases."""
    from playwright.sync_api import sync_playwright

    header = {"X-Forwarded-User": PROXY_USER}
    shouted = {"X-Forwarded-User": f" {PROXY_USER.upper()} "}
    trusted = tmp_path_factory.mktemp("proxy_trusted")
    untrusted = tmp_path_factory.mktemp("proxy_untrusted")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            access = _proxy_access(street, '"127.0.0.1", "::1"')
            with running_app(trusted, sqlite_demo.url, access) as (base, state):
                for sent in (header, shouted):
                    body = _open(chromium, base, sent)
                    assert PROXY_USER in body and "街道工作人员" in body
                    assert "无访问权限" not in body
                assert "无访问权限" in _open(chromium, base, {})  # no header: no access
                # An alert's link through the gateway: its own view, no detour.
                link = f"{base}throughput?district={DISTRICT}&streets={street}"
                with sqlite_demo.raw_engine.connect() as conn:
                    name = conn.execute(
                        text("SELECT name_zh FROM street WHERE code = :c"), {"c": street}
                    ).scalar_one()
                assert f"街道案件流转 · 拱墅区 · {name}" in _open(chromium, link, header)
            rows = audit.recent(appstate.make_engine(f"sqlite:///{state}"))
            assert set(rows["action"]) == {"login", "denied"}
            assert list(rows.loc[rows["action"] == "login", "actor"]) == [PROXY_USER] * 3
            access = _proxy_access(street, '"10.9.9.9"')
            with running_app(untrusted, sqlite_demo.url, access) as (base, state):
                body = _open(chromium, base, shouted)
                assert "无访问权限" in body and PROXY_USER not in body
            rows = audit.recent(appstate.make_engine(f"sqlite:///{state}"))
            assert list(rows["action"]) == ["denied"] and rows["actor"].iloc[0] == PROXY_USER
            assert "untrusted" in rows["reason"].iloc[0]
        finally:
            chromium.close()


def test_a_wall_bookmark_opens_its_command_screen_and_a_revoked_one_nothing(
    sqlite_demo, tmp_path_factory
):
    from playwright.sync_api import sync_playwright

    from data_access.access import token_sha256

    access = f"""[[walls]]
name = "room-a"
token_sha256 = "{token_sha256("wall-token-a")}"
districts = ["{DISTRICT}"]

[[walls]]
name = "room-b"
token_sha256 = "{token_sha256("wall-token-b")}"
city = true
revoked = true
"""
    folder = tmp_path_factory.mktemp("walls")
    with running_app(folder, sqlite_demo.url, access) as (base, state), sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = chromium.new_page()
            page.goto(f"{base}command-screen?playlist=default&wall=wall-token-a")
            wait_until_idle(page)
            body = page.inner_text("body")
            assert "拱墅区 · 综合指挥大屏" in body and "not found" not in body.lower()
            assert "无访问权限" not in body
            page.goto(f"{base}command-screen?wall=wall-token-b")
            wait_until_idle(page)
            assert "无访问权限" in page.inner_text("body")
        finally:
            chromium.close()
    rows = audit.recent(appstate.make_engine(f"sqlite:///{state}"))
    assert list(rows.sort_values("id")["action"]) == ["login", "denied"]
    assert "wall-token" not in rows.to_csv()
