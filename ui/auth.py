"""The session's user: login, role, scope, idle timeout and the audit trail.

Who the user is comes from one of (``config/access.toml`` ``[login]``, see
:mod:`data_access.access`):

- OIDC: Streamlit's ``st.login`` with ``[auth]`` in ``secrets.toml``; the
  name is the ``email`` claim (else ``sub``), the groups the
  ``login.groups_claim`` claim;
- a trusted proxy: the ``login.header`` (``X-Forwarded-User``) set by the
  site's SSO gateway, accepted only when the connection comes from one of
  ``login.trusted_proxies`` (a header from any other address is ignored and
  audited ``denied``);
- a wall token: ``?wall=TOKEN`` in an unattended wall's bookmark, compared
  by SHA-256 with ``[[walls]]``; the ``wall`` role, no personal data, the
  command screen only; never logged;
- none: the embedded demo (and a site that configured no login) runs
  without one, with a visible notice.

:func:`gate` runs in Home.py before any page: it resolves the principal,
draws the no-access or sign-in page and stops the run when there is none,
and expires idle interactive sessions. Pages call :func:`current_principal`
and :func:`allowed`; audit rows go through :func:`audit_event`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pandas as pd
import streamlit as st

from appstate import AppStateError, audit
from data_access import geography
from data_access.access import (
    AccessConfig,
    AccessConfigError,
    AccessDenied,
    Identity,
    Principal,
    access_config_path,
    effective_mode,
    load_access_config,
    parse_groups,
    resolve_principal,
    resolve_wall,
    trusted_proxy,
)
from ui.data import (
    PRINCIPAL_KEY,
    TIMER_RUN,
    appstate_engine,
    database_origin,
    load,
    local_now,
    site_config,
)
from ui.i18n import t

_log = logging.getLogger(__name__)

#: Session keys: the last full rerun of an interactive user (epoch s), the
#: denials already audited this session, whether the sign-in was audited.
_LAST_ACTIVE = "_auth_last_active"
_DENIED_SEEN = "_auth_denied_seen"
_LOGIN_AUDITED = "_auth_login_audited"
_WALL_TOKEN = "_auth_wall_token"
_RETURN_CHECKED = "_auth_return_checked"

#: The view a signed-out user opened (an alert's link: its page, street and
#: dates), kept across the identity provider's round trip, which ends on
#: Streamlit's redirect URI and then "/" with no query: a cookie signed with
#: ``[auth] cookie_secret``, good for :data:`RETURN_MAX_AGE_S`.
RETURN_COOKIE = "ops_return"
RETURN_MAX_AGE_S = 600

#: Purge the audit log at most this often per process (seconds).
PURGE_EVERY_S = 3600.0
_last_purge = [0.0]

#: Principal of a run outside a gated session (a page in a test on its own).
NOBODY = Principal(name="", role="wall", scope=(), permissions=frozenset(), pages=frozenset())


@st.cache_resource(show_spinner=False, max_entries=8)
def _access_config(path: str, mtime: float) -> AccessConfig:
    return load_access_config(path)


def access_config() -> AccessConfig:
    """``access.toml`` as parsed (read again when the file changes);
    :class:`AccessConfigError` when it has a bad value."""
    path = access_config_path()
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = 0.0
    return _access_config(str(path), mtime)


def oidc_configured() -> bool:
    """True when ``secrets.toml`` has an ``[auth]`` section (``st.login``)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file, or an unreadable one
        return False


def _client_context() -> Any:
    from streamlit.runtime.context import _get_client_context

    try:
        return _get_client_context()
    except Exception:
        return None


def peer_address() -> str:
    """The address the connection came from (the proxy's, behind a
    proxy), loopback included (``st.context.ip_address`` hides it)."""
    client = _client_context()
    ip = getattr(client, "remote_ip", None) if client is not None else None
    if ip:
        return str(ip)
    try:
        return str(st.context.ip_address or "")
    except Exception:
        return ""


def client_address() -> str:
    """The browser's address for the audit log: the peer, or behind a
    trusted proxy the first ``X-Forwarded-For`` address and the proxy."""
    peer = peer_address()
    try:
        cfg = access_config()
        forwarded = st.context.headers.get("X-Forwarded-For", "")
    except Exception:
        return peer
    if forwarded and trusted_proxy(cfg, peer):
        return f"{forwarded.split(',')[0].strip()} via {peer}"[:64]
    return peer


def read_identity(cfg: AccessConfig) -> Identity | None:
    """Who the login says the user is (the one place that reads it; tests
    replace this function): an :class:`Identity`, ``None`` when OIDC is
    configured and the user has not signed in; :class:`AccessDenied` for a
    proxy request that cannot be trusted."""
    mode = effective_mode(cfg, oidc_configured())
    if mode == "oidc":
        if not st.user.is_logged_in:
            return None
        info = st.user.to_dict()
        email = str(info.get("email") or "")
        name = email or str(info.get("sub") or "")
        return Identity("oidc", name, email, parse_groups(info.get(cfg.login.groups_claim)))
    if mode == "proxy":
        headers = st.context.headers
        groups = (
            parse_groups(headers.get(cfg.login.groups_header)) if cfg.login.groups_header else ()
        )
        # Made first so that even a refusal names the user in one spelling.
        identity = Identity("proxy", headers.get(cfg.login.header) or "", groups=groups)
        if not trusted_proxy(cfg, peer_address()):
            raise AccessDenied(
                f"{cfg.login.header} from an untrusted address", identity.name, "untrusted_proxy"
            )
        if not identity.name:
            raise AccessDenied(f"no {cfg.login.header} header from the proxy", code="no_header")
        return identity
    return Identity("none", "")


_real_read_identity = read_identity


def current_principal() -> Principal:
    """The session's principal, as :func:`gate` resolved it this run (a
    principal that may see nothing outside a gated run)."""
    principal = st.session_state.get(PRINCIPAL_KEY)
    return principal if isinstance(principal, Principal) else NOBODY


def allowed(permission: str) -> bool:
    return current_principal().can(permission)


def audit_event(
    action: str, target: str = "", query: str = "", reason: str = "", outcome: str = "ok"
) -> int:
    """Write one audit row for the session's principal (raises
    :class:`~appstate.AppStateError` when it cannot)."""
    p = current_principal()
    row_id = audit.record(
        appstate_engine(),
        actor=p.name or "anonymous",
        role=p.role,
        auth_mode=p.mode,
        action=action,
        target=target,
        query=query,
        reason=reason,
        client_addr=client_address(),
        outcome=outcome,
    )
    _purge_now_and_then()
    return row_id


def _purge_now_and_then() -> None:
    """Apply the retention at most once per :data:`PURGE_EVERY_S` per process."""
    now = time.monotonic()
    if now - _last_purge[0] < PURGE_EVERY_S and _last_purge[0]:
        return
    _last_purge[0] = now
    try:
        audit.purge(appstate_engine(), access_config().retention_days)
    except (AppStateError, AccessConfigError) as exc:
        _log.warning("audit retention purge failed: %s", exc)


def audit_denied(target: str, reason: str, name: str = "", query: str = "") -> None:
    """Audit a refused attempt once per session and target (a page rerun
    does not write it again); a failing audit database is logged only."""
    seen = st.session_state.setdefault(_DENIED_SEEN, set())
    key = (target, reason)
    if key in seen:
        return
    seen.add(key)
    p = current_principal()
    try:
        audit.record(
            appstate_engine(),
            actor=(name or p.name or "anonymous"),
            role=p.role if p is not NOBODY else "",
            auth_mode=p.mode,
            action="denied",
            target=target,
            query=query,
            reason=reason,
            client_addr=client_address(),
            outcome="refused",
        )
    except AppStateError as exc:
        _log.warning("could not audit a denial (%s): %s", target, exc)


def _wall_token() -> str:
    """The wall token of this session: from ``?wall=`` (kept for the session)."""
    token = st.query_params.get("wall", "")
    if token:
        st.session_state[_WALL_TOKEN] = token
    return str(st.session_state.get(_WALL_TOKEN, ""))


def _streets() -> pd.DataFrame:
    return load(geography.streets)  # type: ignore[no-any-return]


def resolve_session(cfg: AccessConfig) -> Principal | None:
    """This run's principal (None: the sign-in page is needed);
    :class:`AccessDenied` when this user gets none."""
    token = _wall_token()
    if token:
        return resolve_wall(cfg, token, _streets())
    identity = read_identity(cfg)
    if identity is None:
        return None
    return resolve_principal(cfg, identity, _streets(), demo=database_origin() == "demo")


def _no_access(reason: str) -> None:
    st.title(t("auth.no_access_title"))
    st.error(t("auth.no_access", reason=reason), icon=":material/block:")
    st.caption(t("auth.no_access_help"))


def _sign_in_page(mode: str = "oidc") -> None:
    """OIDC: the sign-in button (``st.login``). Behind a proxy (after an
    idle timeout) a button to carry on: the gateway has authenticated the
    user, the dashboards only stopped showing data until they are back."""
    st.title(t("app.title"))
    if st.session_state.pop("_auth_expired", False):
        st.warning(t("auth.expired_notice"), icon=":material/timer_off:")
    if mode != "oidc":
        st.button(t("auth.resume"), type="primary", key="auth_resume")
        return
    st.info(t("auth.sign_in_needed"), icon=":material/login:")
    _remember_view()
    if st.button(t("auth.sign_in"), type="primary", key="auth_login"):
        st.login()


def _cookie_secret() -> str:
    try:
        return str(st.secrets["auth"].get("cookie_secret") or "")
    except Exception:  # no [auth]: no OIDC, nothing to come back from
        return ""


def _signature(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def return_cookie(page: str, query: str, secret: str, now: float) -> str:
    """The cookie value that names the view ``page`` (a URL path of the
    menu, "" for "/") with ``query`` (a URL query string), signed."""
    body = json.dumps({"p": page, "q": query, "t": int(now)}, separators=(",", ":"))
    payload = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
    return f"{payload}.{_signature(secret, payload)}"


def return_view(
    value: str, secret: str, now: float, signed_in_at: float | None = None
) -> tuple[str, dict[str, str]] | None:
    """The page and query parameters of a :func:`return_cookie` value; None
    when it is not one (a bad signature, older than
    :data:`RETURN_MAX_AGE_S`, or a page that is none of the app's: only a
    page of the menu is ever opened, by name, so the cookie cannot send
    anyone to another site or path), or one from before the sign-in began
    when ``signed_in_at`` (the ID token's ``iat``) is known: a link opened
    and left signed out is not opened by a later sign-in. A ``wall`` token
    is never taken."""
    from ui.menu import URL_PATHS

    payload, _, sig = value.partition(".")
    if not secret or not hmac.compare_digest(sig, _signature(secret, payload)):
        return None
    try:
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        page, query, issued = str(body["p"]), str(body["q"]), float(body["t"])
    except (ValueError, KeyError, TypeError):
        return None
    if not 0 <= now - issued <= RETURN_MAX_AGE_S or (page and page not in URL_PATHS):
        return None
    if signed_in_at is not None and issued > signed_in_at + 5:  # 5 s for the clocks
        return None
    return page, {k: v for k, v in parse_qsl(query) if k != "wall"}


def _set_cookie_js(value: str, max_age: int) -> None:
    """Set (or, with ``max_age`` 0, remove) the return cookie in the browser."""
    cookie = f"{RETURN_COOKIE}={value}; Path=/; Max-Age={max_age}; SameSite=Lax"
    st.html(
        f"<script>document.cookie = {json.dumps(cookie)};</script>", unsafe_allow_javascript=True
    )


def _asked_view() -> tuple[str, str]:
    """This run's page (its URL path, "" for "/") and query string."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    from streamlit.util import calc_hash

    from ui.menu import URL_PATHS

    manager = getattr(get_script_run_ctx(), "pages_manager", None)
    page = getattr(manager, "intended_page_name", None) or ""
    wanted = getattr(manager, "intended_page_script_hash", None)
    if not page and wanted:  # a rerun asks by hash (a server's first run, a page link)
        page = next((p for p in URL_PATHS if calc_hash(p) == wanted), "")
    if page == URL_PATHS[0]:  # the default page is "/"
        page = ""
    params = [(k, v) for k in st.query_params for v in st.query_params.get_all(k) if k != "wall"]
    return str(page), urlencode(params)


def _remember_view() -> None:
    """On the sign-in page of a link (a page or a query), keep the link
    for after the sign-in (:func:`_restore_view`)."""
    secret = _cookie_secret()
    page, query = _asked_view()
    if secret and (page or query):
        _set_cookie_js(return_cookie(page, query, secret, time.time()), RETURN_MAX_AGE_S)


def _restore_view(principal: Principal) -> None:
    """Just back from the identity provider (the session's first run, at
    "/" with no query): open the link the sign-in began on, as if it had
    been opened again (a page or street outside the role or scope is then
    refused there as on any link). The browser is sent to a relative
    address built here from the page's name and the parameters, never to
    anything the cookie says verbatim. The cookie is removed either way."""
    if principal.mode != "oidc" or st.session_state.get(_RETURN_CHECKED):
        return
    st.session_state[_RETURN_CHECKED] = True
    try:
        value = st.context.cookies.get(RETURN_COOKIE)
    except Exception:  # no session context
        value = None
    if not value:
        return
    try:
        signed_in_at: float | None = float(str(st.user.to_dict()["iat"]))
    except (KeyError, TypeError, ValueError):
        signed_in_at = None
    view = return_view(value, _cookie_secret(), time.time(), signed_in_at)
    if view is None or view == ("", {}) or _asked_view() != ("", ""):
        _set_cookie_js("", 0)  # a forged or stale cookie, or another link opened meanwhile
        return
    page, params = view
    target = "./" + page + (f"?{urlencode(params)}" if params else "")
    cookie = f"{RETURN_COOKIE}=; Path=/; Max-Age=0; SameSite=Lax"
    st.html(
        f"<script>document.cookie = {json.dumps(cookie)};"
        f"window.location.replace({json.dumps(target)});</script>",
        unsafe_allow_javascript=True,
    )
    st.stop()


def _idle_expired(principal: Principal, cfg: AccessConfig) -> bool:
    """True when an interactive user's last full rerun is older than
    ``login.idle_timeout_min`` (walls and no-login sessions never expire);
    otherwise marks this run as activity."""
    now = time.time()
    if principal.mode in ("wall", "none") or cfg.login.idle_timeout_min <= 0:
        return False
    last = st.session_state.get(_LAST_ACTIVE)
    if not st.session_state.pop(TIMER_RUN, False):  # a page's own refresh is no activity
        st.session_state[_LAST_ACTIVE] = now
    return last is not None and now - float(last) > cfg.login.idle_timeout_min * 60


def _expire(principal: Principal) -> None:
    """End an idle session: audit ``logout``, forget the principal, and for
    OIDC remove the login cookie (the sign-in page follows)."""
    try:
        audit_event("logout", target="idle timeout")
    except AppStateError as exc:
        _log.warning("could not audit an idle logout: %s", exc)
    for key in (PRINCIPAL_KEY, _LAST_ACTIVE, _LOGIN_AUDITED):
        st.session_state.pop(key, None)
    st.session_state["_auth_expired"] = True
    if principal.mode == "oidc":
        st.logout()


def _audit_sign_in(principal: Principal) -> None:
    if principal.mode not in ("oidc", "proxy", "wall") or st.session_state.get(_LOGIN_AUDITED):
        return
    st.session_state[_LOGIN_AUDITED] = True
    try:
        audit_event("login", target=principal.mode)
    except AppStateError as exc:
        _log.warning("could not audit a sign-in: %s", exc)


def gate() -> Principal | None:
    """Resolve the session's principal before any page runs; draw the
    sign-in or no-access page and return None when there is none (the
    caller then stops: no sidebar filters, no data)."""
    st.session_state.pop(PRINCIPAL_KEY, None)
    try:
        cfg = access_config()
        principal = resolve_session(cfg)
    except AccessConfigError as exc:
        _log.warning("access configuration refused: %s", exc)
        _no_access(t("auth.config_error", detail=str(exc)))
        return None
    except AccessDenied as exc:
        audit_denied("login", exc.reason, name=exc.name)
        _no_access(t(f"auth.denied.{exc.code}"))
        return None
    if principal is None:
        _sign_in_page()
        return None
    if _idle_expired(principal, cfg):
        _expire(principal)
        _sign_in_page(principal.mode)
        return None
    st.session_state[PRINCIPAL_KEY] = principal
    _audit_sign_in(principal)
    _restore_view(principal)
    return principal


def sidebar_identity(principal: Principal) -> None:
    """Who is signed in, the role and scope; sign-out for OIDC; the notice
    when no login is configured."""
    role = t(f"auth.role.{principal.role}")
    if principal.mode == "none":
        st.sidebar.warning(t("auth.no_login_notice", role=role), icon=":material/no_accounts:")
        return
    scope = (
        t("auth.scope_city")
        if principal.scope is None
        else t("auth.scope_streets", n=len(principal.scope))
    )
    st.sidebar.caption(
        ":material/account_circle: "
        + t("auth.signed_in_as", name=principal.name, role=role, scope=scope)
    )
    if principal.mode == "oidc":
        st.sidebar.button(t("auth.sign_out"), on_click=_sign_out, key="auth_logout")


def _sign_out() -> None:
    try:
        audit_event("logout", target="button")
    except AppStateError as exc:
        _log.warning("could not audit a sign-out: %s", exc)
    st.logout()


def idle_watch(principal: Principal) -> None:
    """For an interactive user with an idle timeout, a check every minute
    that starts a full run once the timeout has passed (which signs out);
    its own runs are not activity."""
    try:
        minutes = access_config().login.idle_timeout_min
    except AccessConfigError:
        return
    if principal.mode in ("wall", "none") or minutes <= 0:
        return

    @st.fragment(run_every=60)
    def _idle_check() -> None:
        last = st.session_state.get(_LAST_ACTIVE)
        if last is not None and time.time() - float(last) > minutes * 60:
            st.rerun(scope="app")

    with st.sidebar:
        _idle_check()


def requested_page(pages: list[Any]) -> Any:
    """The one of ``pages`` (``st.Page`` objects left out of the menu) that
    this run's URL or page link asks for, or None (call before
    ``st.navigation``, which would quietly run the default page instead)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None:
        return None
    manager = ctx.pages_manager
    wanted_hash = getattr(manager, "intended_page_script_hash", None)
    wanted_name = getattr(manager, "intended_page_name", None)
    for page in pages:
        if (wanted_hash and page._script_hash == wanted_hash) or (
            wanted_name and page.url_path == wanted_name
        ):
            return page
    return None


def refuse(target: str, reason_key: str, query: str = "", **kwargs: Any) -> None:
    """Show a refusal (``auth.<reason_key>``) and audit it ``denied``."""
    message = t(f"auth.{reason_key}", **kwargs)
    st.error(message, icon=":material/block:")
    audit_denied(target, reason_key, query=query)


def describe_filter(f: Any) -> str:
    """The filter behind an export or reveal, as the audit log's ``query``."""
    parts = [f"district={f.district or 'all'}"]
    if f.streets:
        parts.append(f"streets={','.join(f.streets)}")
    parts.append(f"dates={f.start.isoformat()}..{f.end.isoformat()}")
    for name in ("categories", "sources", "statuses"):
        if getattr(f, name):
            parts.append(f"{name}={','.join(getattr(f, name))}")
    if f.scope is not None:
        parts.append(f"scope={len(f.scope)} streets")
    return " ".join(parts)


#: Session key prefix of a prepared export: ``(query, file_name, bytes, made_at)``.
PREPARED_PREFIX = "_prepared:"


def audited_download(
    container: Any,
    label: str,
    data: Any,
    *,
    action: str,
    file_name: str,
    query: str,
    key: str | None = None,
    **kwargs: Any,
) -> None:
    """An export in two steps, for a role with ``export`` (or ``pack`` for
    ``action="pack"``) only: a button that writes the audit row and then
    makes the file (``data``: bytes, or a function making them, called only
    after the row is written), and, once made, a download button holding
    those bytes.

    A file handed to the browser is referenced by this session while its
    button is drawn. Streamlit's deferred ``download_button(data=callable)``
    stores the file it makes without any session's reference, and every
    script run's end, in any session, sweeps such files (the first sweep
    marks, the second deletes): with ten busy sessions the browser's fetch
    came after the second sweep and got a 404. The prepared bytes stay in
    the session, under the name they were made with, until the export's
    filter (``query``) changes; a failing audit write leaves no file, and a
    failure either way is a message, not a traceback."""
    permission = "pack" if action == "pack" else "export"
    if not allowed(permission):
        container.caption(":material/lock: " + t(f"auth.no_{permission}"))
        return
    try:
        appstate_engine()
    except AppStateError as exc:  # no audit log, no download
        container.caption(":material/database: " + t("auth.no_audit_no_download", detail=str(exc)))
        return

    slot = PREPARED_PREFIX + (key or f"{action}:{label}")
    error_slot = slot + ":error"

    def prepare() -> None:
        st.session_state.pop(slot, None)
        try:
            audit_event(action, target=file_name, query=query)  # runs in the session
        except AppStateError as exc:
            st.session_state[error_slot] = t("auth.no_audit_no_download", detail=str(exc))
            return
        try:
            made = data() if callable(data) else data
            body = made.encode("utf-8") if isinstance(made, str) else bytes(made)
        except Exception as exc:  # noqa: BLE001 - any failure making the file is a message
            _log.exception("export %s failed", file_name)
            st.session_state[error_slot] = t("auth.export_failed", name=file_name, detail=str(exc))
            return
        st.session_state.pop(error_slot, None)
        st.session_state[slot] = (query, file_name, body, local_now(site_config()))

    prepared = st.session_state.get(slot)
    if prepared is not None and prepared[0] != query:
        del st.session_state[slot]  # made for another filter: not this view's file
        prepared = None
    error = st.session_state.pop(error_slot, None)
    icon = kwargs.pop("icon", None)
    kwargs.setdefault("on_click", "ignore")  # saving a file needs no rerun
    if prepared is None:
        container.button(
            label,
            key=slot + ":prepare",
            icon=icon,
            on_click=prepare,
            help=t("auth.prepare_help"),
        )
        if error:
            container.error(error, icon=":material/error:")
        return
    _, made_name, body, made_at = prepared
    container.download_button(
        t("auth.save_file", name=made_name),
        body,
        file_name=made_name,
        key=slot + ":save",
        icon=":material/save:",
        type="primary",
        **kwargs,
    )
    container.caption(
        t(
            "auth.prepared_note",
            at=f"{made_at:%H:%M:%S}",
            size=_size(len(body)),
        )
    )
    container.button(
        t("auth.prepare_again"), key=slot + ":again", on_click=prepare, type="tertiary"
    )


def _size(n: int) -> str:
    """``n`` bytes as a reader says it: 812 B, 14.2 KB, 3.1 MB."""
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / 1024 / 1024:.1f} MB"
