"""Who may see what: roles, permissions, street scopes, walls and login modes.

A :class:`Principal` is the signed-in user as the dashboards know them:
their name, role, the streets they may see (``scope``; ``None`` = the whole
site) and what they may do (``permissions``). Pages ask
``principal.can("unmask")``; query functions get the scope inside their
:class:`~data_access.filters.AreaFilter`, so a page cannot forget it.

The rules come from ``config/access.toml`` (``OPS_ACCESS_CONFIG``), parsed
by :func:`load_access_config` into an :class:`AccessConfig`; who an
:class:`Identity` is, by :func:`resolve_principal`. Deny by default: a user
who matches no ``[[users]]`` or ``[[groups]]`` entry gets no principal
(:class:`AccessDenied`), and a bad value in the file denies everyone with a
message naming the key (:class:`AccessConfigError`), never allows more.

Several entries match a user: the ``[[users]]`` entry (by name or e-mail,
case-insensitive) wins; otherwise, of the matching ``[[groups]]`` entries,
the widest role (:data:`ROLE_RANK`), and the union of the scopes of that
role's matching entries.

Pure Python, no Streamlit: the UI (:mod:`ui.auth`) reads the raw identity.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from data_access.config import PROJECT_ROOT

ROLES = ("admin", "leader", "analyst", "street_staff", "wall")

#: The widest role first: which of several matching groups' roles applies.
ROLE_RANK = {"admin": 0, "leader": 1, "analyst": 2, "street_staff": 3, "wall": 4}

#: What a role may do beyond viewing its pages:
#: ``export`` (CSV/Excel downloads), ``pack`` (the weekly PDF/Excel pack),
#: ``unmask`` (reveal one case's personal data with a reason), ``audit``
#: (read the audit log), ``silence`` (create or expire alert silences),
#: ``import`` (upload exports into the staging database).
PERMISSIONS = ("export", "pack", "unmask", "audit", "silence", "import")

#: Auth modes: OIDC via st.login, a trusted proxy header, a wall token, none.
AUTH_MODES = ("oidc", "proxy", "wall", "none")

#: ``[login] mode`` values: ``auto`` = OIDC when secrets.toml has ``[auth]``,
#: else the proxy header when ``trusted_proxies`` is set, else none.
LOGIN_MODES = ("auto", "oidc", "proxy", "none")

DEFAULT_ACCESS_PATH = PROJECT_ROOT / "config" / "access.toml"
DEFAULT_RETENTION_DAYS = 180
DEFAULT_IDLE_TIMEOUT_MIN = 30
DEFAULT_REASON_MIN_CHARS = 10

#: Pages only a role with the matching permission sees (URL path -> permission).
PERMISSION_PAGES = {"audit": "audit", "import": "import"}

#: The command screen: the one page of a wall.
WALL_PAGE = "command-screen"

DEFAULT_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(PERMISSIONS),
    "leader": frozenset({"export", "pack"}),
    "analyst": frozenset({"export", "pack", "unmask"}),
    "street_staff": frozenset({"export"}),
    "wall": frozenset(),
}

#: ``None`` = every page (less :data:`PERMISSION_PAGES` without the permission).
DEFAULT_PAGES: dict[str, frozenset[str] | None] = {
    "admin": None,
    "leader": None,
    "analyst": None,
    "street_staff": None,
    "wall": frozenset({WALL_PAGE}),
}


@dataclass(frozen=True)
class Principal:
    """The user of a session.

    ``name``: OIDC e-mail (else subject), the proxy's user header, or
    ``wall:<name>``. ``role``: one of :data:`ROLES`. ``scope``: street
    codes the user may see, ``None`` for every street. ``permissions``:
    a subset of :data:`PERMISSIONS`. ``pages``: URL paths of the pages
    shown (``None`` = all). ``mode``: one of :data:`AUTH_MODES`.
    """

    name: str
    role: str
    scope: tuple[str, ...] | None
    permissions: frozenset[str]
    pages: frozenset[str] | None = None
    mode: str = "none"

    def can(self, permission: str) -> bool:
        if permission not in PERMISSIONS:
            raise ValueError(f"unknown permission {permission!r}")
        return permission in self.permissions

    def sees_page(self, url_path: str) -> bool:
        needed = PERMISSION_PAGES.get(url_path)
        if needed is not None and needed not in self.permissions:
            return False
        return self.pages is None or url_path in self.pages


class AccessConfigError(ValueError):
    """``access.toml`` has a bad value; the message names the key. Nobody is
    let in until it is fixed."""


class AccessDenied(PermissionError):
    """This identity gets no principal; ``reason`` says why (for the audit
    log), ``code`` the same as a word for the no-access page
    (``unknown_user``, ``empty_scope``, ``no_login``, ``no_name``,
    ``bad_mode``, ``unknown_wall``, ``revoked_wall``, ``untrusted_proxy``,
    ``no_header``), ``name`` who asked."""

    def __init__(self, reason: str, name: str = "", code: str = "unknown_user") -> None:
        super().__init__(reason)
        self.reason = reason
        self.name = name
        self.code = code


@dataclass(frozen=True)
class Scope:
    """Where a user may look: the whole city, or districts and/or streets."""

    city: bool = False
    districts: tuple[str, ...] = ()
    streets: tuple[str, ...] = ()

    def union(self, other: Scope) -> Scope:
        if self.city or other.city:
            return Scope(city=True)
        return Scope(
            districts=tuple(sorted({*self.districts, *other.districts})),
            streets=tuple(sorted({*self.streets, *other.streets})),
        )

    def describe(self) -> str:
        if self.city:
            return "city"
        parts = [f"districts={','.join(self.districts)}"] if self.districts else []
        parts += [f"streets={','.join(self.streets)}"] if self.streets else []
        return " ".join(parts) or "nothing"


@dataclass(frozen=True)
class Grant:
    """One ``[[users]]`` (``match`` = a name or e-mail, lower-cased) or
    ``[[groups]]`` (``match`` = an IdP group) entry."""

    match: str
    role: str
    scope: Scope


@dataclass(frozen=True)
class Wall:
    """One ``[[walls]]`` entry: the wall's name, the SHA-256 (hex) of its
    token, its scope, and whether the token is revoked."""

    name: str
    token_sha256: str
    scope: Scope
    revoked: bool = False


@dataclass(frozen=True)
class RoleSpec:
    permissions: frozenset[str]
    pages: frozenset[str] | None


@dataclass(frozen=True)
class LoginConfig:
    """``[login]``: the mode, the proxy's headers and addresses, the idle
    timeout (minutes, 0 = none), the OIDC claim with the user's groups, and
    the role of everyone when no login is configured (``auto``: ``admin``
    on the embedded demo, ``leader`` on a real database; ``deny``: nobody)."""

    mode: str = "auto"
    header: str = "X-Forwarded-User"
    groups_header: str = ""
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    idle_timeout_min: float = DEFAULT_IDLE_TIMEOUT_MIN
    groups_claim: str = "groups"
    no_login_role: str = "auto"


@dataclass(frozen=True)
class AccessConfig:
    """The parsed ``access.toml``. ``source``: the file it came from."""

    login: LoginConfig = field(default_factory=LoginConfig)
    roles: Mapping[str, RoleSpec] = field(default_factory=dict)
    users: tuple[Grant, ...] = ()
    groups: tuple[Grant, ...] = ()
    walls: tuple[Wall, ...] = ()
    retention_days: int = DEFAULT_RETENTION_DAYS
    reason_min_chars: int = DEFAULT_REASON_MIN_CHARS
    source: str = ""

    def role(self, name: str) -> RoleSpec:
        return self.roles.get(name) or RoleSpec(DEFAULT_PERMISSIONS[name], DEFAULT_PAGES[name])


def user_key(name: str) -> str:
    """A user's name or e-mail as ``[[users]]`` matches it and the audit log
    records it: stripped and lower-cased (``STAFF.ONE@example.org`` and
    ``staff.one@example.org `` are one person)."""
    return name.strip().lower()


@dataclass(frozen=True)
class Identity:
    """Who the login said the user is, before any rule: ``mode`` (one of
    :data:`AUTH_MODES`), ``name`` (e-mail, subject or header value),
    ``email`` (may be empty), ``groups`` (from the IdP claim or header).

    Normalised when made, the one place for every login: the name and the
    e-mail by :func:`user_key`, so that the scope, the audit log and the
    sidebar see one spelling of a user whatever the header or claim
    sent. An OIDC subject (the name when there is no e-mail) is only
    stripped: the OIDC spec makes it case-sensitive. Groups are stripped."""

    mode: str
    name: str
    email: str = ""
    groups: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        email = user_key(self.email)
        subject = self.mode == "oidc" and not email
        object.__setattr__(self, "email", email)
        object.__setattr__(self, "name", self.name.strip() if subject else user_key(self.name))
        object.__setattr__(self, "groups", tuple(g.strip() for g in self.groups if g.strip()))


# ---------------------------------------------------------------------------
# Parsing


def _strings(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AccessConfigError(f"{key}: expected a list of strings, got {value!r}")
    return tuple(v.strip() for v in value if v.strip())


def _codes(value: Any, key: str, digits: int) -> tuple[str, ...]:
    codes = _strings(value, key)
    for c in codes:
        if not (c.isdigit() and len(c) == digits):
            raise AccessConfigError(f"{key}: expected {digits}-digit codes, got {c!r}")
    return tuple(sorted(set(codes)))


def _scope(entry: Mapping[str, Any], key: str) -> Scope:
    """``city = true``, or ``districts``/``streets`` lists; none of them
    is an error (a scope must be stated, not guessed)."""
    city = entry.get("city", False)
    if not isinstance(city, bool):
        raise AccessConfigError(f"{key}.city: expected true or false, got {city!r}")
    districts = _codes(entry.get("districts", []), f"{key}.districts", 6)
    streets = _codes(entry.get("streets", []), f"{key}.streets", 9)
    if city and (districts or streets):
        raise AccessConfigError(f"{key}: city = true and a districts/streets list: choose one")
    if not (city or districts or streets):
        raise AccessConfigError(f"{key}: no scope (set city = true, districts or streets)")
    return Scope(city=city, districts=districts, streets=streets)


def _role_name(value: Any, key: str, allow_wall: bool = False) -> str:
    roles = ROLES if allow_wall else tuple(r for r in ROLES if r != "wall")
    if value not in roles:
        raise AccessConfigError(f"{key}: expected one of {', '.join(roles)}, got {value!r}")
    return str(value)


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise AccessConfigError(f"{key}: expected a table")
    return value


def _entries(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise AccessConfigError(f"{key}: expected [[{key}]] entries")
    return value


def _number(value: Any, key: str, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise AccessConfigError(f"{key}: expected a number >= {minimum:g}, got {value!r}")
    return float(value)


def _login(data: Mapping[str, Any]) -> LoginConfig:
    sec = _table(data, "login")
    known = {
        "mode",
        "header",
        "groups_header",
        "trusted_proxies",
        "idle_timeout_min",
        "groups_claim",
        "no_login_role",
    }
    for k in sec:
        if k not in known:
            raise AccessConfigError(f"login.{k}: unknown key")
    mode = sec.get("mode", "auto")
    if mode not in LOGIN_MODES:
        raise AccessConfigError(
            f"login.mode: expected one of {', '.join(LOGIN_MODES)}, got {mode!r}"
        )
    proxies = []
    for p in _strings(sec.get("trusted_proxies", []), "login.trusted_proxies"):
        try:
            proxies.append(ipaddress.ip_network(p, strict=False))
        except ValueError as exc:
            raise AccessConfigError(f"login.trusted_proxies: {p!r} is not an IP or CIDR") from exc
    for k in ("header", "groups_header", "groups_claim"):
        if not isinstance(sec.get(k, ""), str):
            raise AccessConfigError(f"login.{k}: expected a string")
    header = str(sec.get("header", "X-Forwarded-User")).strip()
    if not header:
        raise AccessConfigError("login.header: must not be empty")
    if mode == "proxy" and not proxies:
        raise AccessConfigError("login.trusted_proxies: mode = 'proxy' needs the proxy's addresses")
    no_login = sec.get("no_login_role", "auto")
    if no_login not in ("auto", "deny", *ROLES) or no_login == "wall":
        raise AccessConfigError(
            f"login.no_login_role: expected auto, deny or a role other than wall, got {no_login!r}"
        )
    return LoginConfig(
        mode=str(mode),
        header=header,
        groups_header=str(sec.get("groups_header", "")).strip(),
        trusted_proxies=tuple(proxies),
        idle_timeout_min=_number(
            sec.get("idle_timeout_min", DEFAULT_IDLE_TIMEOUT_MIN), "login.idle_timeout_min", 0
        ),
        groups_claim=str(sec.get("groups_claim", "groups")).strip() or "groups",
        no_login_role=str(no_login),
    )


def _roles(data: Mapping[str, Any]) -> dict[str, RoleSpec]:
    out: dict[str, RoleSpec] = {}
    for name, spec in _table(data, "roles").items():
        key = f"roles.{name}"
        if name not in ROLES:
            raise AccessConfigError(f"{key}: unknown role (expected one of {', '.join(ROLES)})")
        if not isinstance(spec, dict):
            raise AccessConfigError(f"{key}: expected a table")
        perms = DEFAULT_PERMISSIONS[name]
        if "permissions" in spec:
            perms = frozenset(_strings(spec["permissions"], f"{key}.permissions"))
            bad = sorted(perms - set(PERMISSIONS))
            if bad:
                raise AccessConfigError(f"{key}.permissions: unknown {', '.join(bad)}")
            if name == "wall" and perms:
                raise AccessConfigError(f"{key}.permissions: a wall has no permissions")
        pages = DEFAULT_PAGES[name]
        if "pages" in spec:
            pages = frozenset(_strings(spec["pages"], f"{key}.pages"))
            if name == "wall" and pages - {WALL_PAGE}:
                raise AccessConfigError(f"{key}.pages: a wall sees the command screen only")
        out[name] = RoleSpec(perms, pages)
    return out


def parse_access_config(data: Mapping[str, Any], source: str = "") -> AccessConfig:
    """An :class:`AccessConfig` from the TOML data; :class:`AccessConfigError`
    naming the key on the first bad value."""
    for k in data:
        if k not in ("login", "roles", "users", "groups", "walls", "audit"):
            raise AccessConfigError(f"{k}: unknown section")
    users, groups, walls = [], [], []
    for i, e in enumerate(_entries(data, "users")):
        key = f"users[{i}]"
        match = e.get("name") or e.get("email")
        if not isinstance(match, str) or not match.strip():
            raise AccessConfigError(f"{key}.name: a user entry needs a name or email")
        users.append(
            Grant(user_key(match), _role_name(e.get("role"), f"{key}.role"), _scope(e, key))
        )
    for i, e in enumerate(_entries(data, "groups")):
        key = f"groups[{i}]"
        match = e.get("group")
        if not isinstance(match, str) or not match.strip():
            raise AccessConfigError(f"{key}.group: a group entry needs the group's name")
        groups.append(
            Grant(match.strip(), _role_name(e.get("role"), f"{key}.role"), _scope(e, key))
        )
    names = set()
    for i, e in enumerate(_entries(data, "walls")):
        key = f"walls[{i}]"
        name = e.get("name")
        if not isinstance(name, str) or not name.strip() or name in names:
            raise AccessConfigError(f"{key}.name: a wall needs a unique name")
        names.add(name)
        digest = e.get("token_sha256", "")
        if not (isinstance(digest, str) and len(digest) == 64 and _is_hex(digest)):
            raise AccessConfigError(
                f"{key}.token_sha256: expected 64 hex digits (sha256 of the token)"
            )
        revoked = e.get("revoked", False)
        if not isinstance(revoked, bool):
            raise AccessConfigError(f"{key}.revoked: expected true or false")
        walls.append(Wall(name.strip(), digest.lower(), _scope(e, key), revoked))
    audit_sec = _table(data, "audit")
    retention = _number(
        audit_sec.get("retention_days", DEFAULT_RETENTION_DAYS), "audit.retention_days", 1
    )
    reason_min = _number(
        audit_sec.get("reason_min_chars", DEFAULT_REASON_MIN_CHARS), "audit.reason_min_chars", 1
    )
    return AccessConfig(
        login=_login(data),
        roles=_roles(data),
        users=tuple(users),
        groups=tuple(groups),
        walls=tuple(walls),
        retention_days=int(retention),
        reason_min_chars=int(reason_min),
        source=source,
    )


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True


def access_config_path() -> Path:
    return Path(os.environ.get("OPS_ACCESS_CONFIG") or DEFAULT_ACCESS_PATH)


def load_access_config(path: str | os.PathLike[str] | None = None) -> AccessConfig:
    """Read ``access.toml`` (``OPS_ACCESS_CONFIG``). A missing file is the
    defaults (no users, no walls: with a login configured nobody gets in);
    a file that is not valid TOML or has a bad value raises
    :class:`AccessConfigError`."""
    chosen = Path(path) if path else access_config_path()
    try:
        with chosen.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return AccessConfig(source=f"{chosen} (not found: defaults)")
    except tomllib.TOMLDecodeError as exc:
        raise AccessConfigError(f"{chosen}: not valid TOML ({exc})") from exc
    try:
        return parse_access_config(data, str(chosen))
    except AccessConfigError as exc:
        raise AccessConfigError(f"{chosen}: {exc}") from exc


# ---------------------------------------------------------------------------
# Resolution


def effective_mode(cfg: AccessConfig, oidc_configured: bool) -> str:
    """``oidc``, ``proxy`` or ``none`` for ``[login] mode`` (``auto``: OIDC
    when secrets.toml has ``[auth]``, else the proxy when its addresses are
    set, else none). ``oidc`` without ``[auth]`` raises."""
    mode = cfg.login.mode
    if mode == "auto":
        if oidc_configured:
            return "oidc"
        return "proxy" if cfg.login.trusted_proxies else "none"
    if mode == "oidc" and not oidc_configured:
        raise AccessConfigError("login.mode: 'oidc' needs an [auth] section in secrets.toml")
    return mode


def trusted_proxy(cfg: AccessConfig, address: str | None) -> bool:
    """True when ``address`` (the peer the request came from) is one of
    ``login.trusted_proxies``; a header from any other address is ignored."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in net for net in cfg.login.trusted_proxies)


def token_sha256(token: str) -> str:
    """The hex SHA-256 of a wall token, as ``[[walls]] token_sha256`` holds it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def find_wall(cfg: AccessConfig, token: str) -> Wall | None:
    """The wall whose token this is, revoked or not (compared in constant
    time against every wall), or None."""
    if not token:
        return None
    digest = token_sha256(token)
    found = None
    for wall in cfg.walls:
        if hmac.compare_digest(digest, wall.token_sha256):
            found = wall
    return found


def scope_streets(scope: Scope, streets: pd.DataFrame) -> tuple[str, ...] | None:
    """The street codes of ``scope`` (``None`` for the whole city), from the
    ``street`` table's frame (``code``, ``district_code``): a district's
    streets, plus listed streets that exist."""
    if scope.city:
        return None
    codes = set(streets.loc[streets["district_code"].isin(scope.districts), "code"])
    codes |= set(streets["code"]) & set(scope.streets)
    return tuple(sorted(codes))


def _principal(
    cfg: AccessConfig, name: str, role: str, scope: Scope, mode: str, streets: pd.DataFrame
) -> Principal:
    codes = scope_streets(scope, streets)
    if codes is not None and not codes:
        raise AccessDenied(
            f"scope {scope.describe()} names no street of the database", name, "empty_scope"
        )
    spec = cfg.role(role)
    return Principal(name, role, codes, spec.permissions, spec.pages, mode)


def match_grant(cfg: AccessConfig, identity: Identity) -> Grant | None:
    """The rule that applies to ``identity`` (the module docstring's rule), or None."""
    keys = {user_key(identity.name), identity.email} - {""}
    for grant in cfg.users:
        if grant.match in keys:
            return grant
    matching = [g for g in cfg.groups if g.match in set(identity.groups)]
    if not matching:
        return None
    role = min((g.role for g in matching), key=ROLE_RANK.__getitem__)
    scope = Scope()
    for g in matching:
        if g.role == role:
            scope = g.scope if scope == Scope() else scope.union(g.scope)
    return Grant(match="", role=role, scope=scope)


def no_login_role(cfg: AccessConfig, demo: bool) -> str | None:
    """The role everyone gets when no login is configured: ``no_login_role``,
    ``auto`` = ``admin`` on the embedded demo (every feature reachable) and
    ``leader`` on a real database (figures, exports, packs; no personal
    data, no audit log); None for ``deny``."""
    role = cfg.login.no_login_role
    if role == "deny":
        return None
    if role == "auto":
        return "admin" if demo else "leader"
    return role


def resolve_principal(
    cfg: AccessConfig, identity: Identity, streets: pd.DataFrame, demo: bool = False
) -> Principal:
    """The principal of ``identity`` (mode ``oidc``/``proxy``/``none``), the
    scope resolved to street codes from ``streets`` (:func:`data_access.
    geography.streets`' frame). :class:`AccessDenied` for an unknown user or
    a scope with no street. Walls: :func:`resolve_wall`."""
    if identity.mode == "none":
        role = no_login_role(cfg, demo)
        if role is None:
            raise AccessDenied(
                "no login configured and login.no_login_role = 'deny'", code="no_login"
            )
        return _principal(cfg, "", role, Scope(city=True), "none", streets)
    if identity.mode not in ("oidc", "proxy"):
        raise AccessDenied(f"unknown login mode {identity.mode!r}", identity.name, "bad_mode")
    if not identity.name.strip():
        raise AccessDenied("no user name from the login", "", "no_name")
    grant = match_grant(cfg, identity)
    if grant is None:
        raise AccessDenied("user not in access.toml (users or groups)", identity.name)
    name = identity.email or identity.name
    return _principal(cfg, name, grant.role, grant.scope, identity.mode, streets)


def resolve_wall(cfg: AccessConfig, token: str, streets: pd.DataFrame) -> Principal:
    """The ``wall`` principal of a wall token; :class:`AccessDenied` for an
    unknown or revoked token (the token itself is never in the message)."""
    wall = find_wall(cfg, token)
    if wall is None:
        raise AccessDenied("unknown wall token", "wall:?", "unknown_wall")
    if wall.revoked:
        raise AccessDenied("revoked wall token", f"wall:{wall.name}", "revoked_wall")
    return _principal(cfg, f"wall:{wall.name}", "wall", wall.scope, "wall", streets)


def parse_groups(value: Any) -> tuple[str, ...]:
    """Groups from an OIDC claim (a list, or a comma/space-separated string)
    or a proxy header (comma-separated)."""
    if value is None:
        return ()
    items: Iterable[Any]
    if isinstance(value, str):
        items = value.replace(";", ",").split(",")
    elif isinstance(value, Sequence):
        items = value
    else:
        return ()
    return tuple(sorted({str(g).strip() for g in items if str(g).strip()}))
