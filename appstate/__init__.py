"""The app-state database: what the dashboards themselves write.

The operational database is read-only to the dashboards (the data
contract's rule, enforced by :func:`data_access.connection.harden`). What
the dashboards must write goes to a separate, writable app-state database:

- the audit log (:mod:`appstate.audit`: who unmasked which case, who
  exported what);
- the alert service's rule states, outbox and deliveries, rule status and
  silences (:mod:`appstate.alerts`), and its evaluator's lease
  (:mod:`alerts.lease`);
- the audit rows of uploads made from the dashboards (the importer's
  batch ledger lives beside the cases it loads, in the staging database).

Where it is, in this order:

1. an explicit URL (a CLI's ``--state-db``);
2. the environment variable ``OPS_APPSTATE_URL``;
3. ``[connections.appstate] url`` in ``.streamlit/secrets.toml`` (the
   dashboards pass it in; scripts read the environment only);
4. otherwise an embedded SQLite file (``OPS_APPSTATE_PATH``, default
   ``var/appstate.sqlite``), created on first use.

``OPS_APPSTATE_SCHEMA`` (or ``schema`` beside the secrets' ``url``) puts
the tables in a named schema on PostgreSQL (created if missing).

It is never the operational database: :func:`make_engine` refuses a URL
that names the same database as the operational one (same backend, host,
port and database; for SQLite the same file), so a configuration slip
cannot turn the read-only source into a written one.

Each component declares its tables on its own ``MetaData`` and calls
:func:`ensure` before its first statement; tables are created if missing
(``CREATE TABLE IF NOT EXISTS`` semantics), never altered or dropped.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.schema import CreateSchema

from data_access.config import PROJECT_ROOT
from data_access.connection import DatabaseUrlError, parse_url

DEFAULT_APPSTATE_PATH = PROJECT_ROOT / "var" / "appstate.sqlite"

#: Engine -> ids of the MetaData ensured on it. Keyed by the engine itself
#: (weakly), not its id(): a new engine can get a disposed one's id, and was
#: then taken as ensured with no tables created on its database.
_ensured: weakref.WeakKeyDictionary[Any, set[int]] = weakref.WeakKeyDictionary()
_ensure_lock = threading.Lock()


class AppStateError(RuntimeError):
    """The app-state database is misconfigured (e.g. it is the operational one)."""


@dataclass(frozen=True)
class AppStateTarget:
    """Where the app state lives: a SQLAlchemy URL and an optional schema."""

    url: str
    schema: str | None = None


def default_path() -> Path:
    """The embedded SQLite file used when nothing else is configured."""
    return Path(os.environ.get("OPS_APPSTATE_PATH") or DEFAULT_APPSTATE_PATH)


def resolve(
    explicit: str | None = None,
    secrets_url: str | None = None,
    secrets_schema: str | None = None,
) -> AppStateTarget:
    """The app-state target by the precedence in the module docstring."""
    schema = (os.environ.get("OPS_APPSTATE_SCHEMA") or "").strip() or secrets_schema or None
    for candidate in (explicit, os.environ.get("OPS_APPSTATE_URL"), secrets_url):
        if candidate and candidate.strip():
            return AppStateTarget(candidate.strip(), schema)
    return AppStateTarget(f"sqlite:///{default_path()}", schema)


def _identity(url: str) -> tuple[object, ...]:
    """What names a database: backend + host + port + database, or the
    resolved file of a SQLite URL (an in-memory one is never shared)."""
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        db = u.database or ""
        if db in ("", ":memory:") or db.startswith("file::memory:"):
            return ("sqlite-memory", object())  # equal to nothing else
        return ("sqlite", str(Path(db).expanduser().resolve()))
    family = "mysql" if backend in ("mysql", "mariadb") else backend
    host = (u.host or "localhost").lower()
    if host in ("127.0.0.1", "::1"):
        host = "localhost"
    default_port = {"postgresql": 5432, "mysql": 3306}.get(family)
    return (family, host, str(u.port or default_port), u.database or "")


def same_database(a: str, b: str) -> bool:
    """True when the two URLs name the same database (passwords, drivers
    and query options aside)."""
    try:
        return _identity(a) == _identity(b)
    except Exception:  # an unparseable URL names nothing we can compare
        return False


def make_engine(
    target: AppStateTarget | str,
    *,
    operational_url: str | None = None,
    **kwargs: Any,
) -> Engine:
    """A writable engine on the app-state database.

    Refuses (:class:`AppStateError`) when ``operational_url`` names the
    same database. SQLite: the file's folder is created, WAL journal and a
    5 s busy timeout (the alert service and the dashboards write from
    separate processes). Servers: a 5 s connect timeout, pre-ping.
    """
    if isinstance(target, str):
        target = AppStateTarget(target)
    try:
        u = parse_url(target.url, "OPS_APPSTATE_URL (or --state-db, [connections.appstate] url)")
    except DatabaseUrlError as exc:
        raise AppStateError(str(exc)) from None
    if operational_url and same_database(target.url, operational_url):
        raise AppStateError(
            "the app-state database must not be the operational database "
            f"({u.render_as_string(hide_password=True)}): "
            "set OPS_APPSTATE_URL to a database of its own"
        )
    backend = u.get_backend_name()
    kwargs.setdefault("pool_pre_ping", True)
    if backend == "sqlite":
        db = u.database or ""
        if db and db != ":memory:" and not db.startswith("file:"):
            Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": 5})
    else:
        kwargs.setdefault("connect_args", {"connect_timeout": 5})
        kwargs.setdefault("pool_recycle", 1800)
    engine = create_engine(u, **kwargs)
    if backend == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            try:
                cur.execute("PRAGMA journal_mode = WAL")
                cur.execute("PRAGMA synchronous = NORMAL")
                cur.execute("PRAGMA foreign_keys = ON")
            finally:
                cur.close()

    if target.schema:
        if backend != "postgresql":
            raise AppStateError(f"an app-state schema needs PostgreSQL, not {backend}")
        engine = engine.execution_options(schema_translate_map={None: target.schema})
        with engine.begin() as conn:
            conn.execute(CreateSchema(_safe_schema(target.schema), if_not_exists=True))
    return engine


def _safe_schema(name: str) -> str:
    if not name.replace("_", "").isalnum() or not name[0].isalpha():
        raise AppStateError(f"not a valid schema name: {name!r}")
    return name


def ensure(engine: Engine, metadata: MetaData) -> None:
    """Create ``metadata``'s tables on ``engine`` if they are missing (once
    per engine and metadata in this process)."""
    if id(metadata) in _ensured.get(engine, ()):
        return
    with _ensure_lock:
        if id(metadata) in _ensured.get(engine, ()):
            return
        with engine.begin() as conn:
            metadata.create_all(conn, checkfirst=True)
        _ensured.setdefault(engine, set()).add(id(metadata))


@contextmanager
def begin(engine: Engine, metadata: MetaData | None = None) -> Iterator[Connection]:
    """One transaction on the app-state database (tables of ``metadata``
    ensured first). A database error leaves as :class:`AppStateError`
    naming the app-state database, so a page says which database failed
    (not the operational one) and that nothing was written."""
    try:
        if metadata is not None:
            ensure(engine, metadata)
        with engine.begin() as conn:
            yield conn
    except SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", exc)).strip().splitlines()
        detail = first[0][:200] if first else type(exc).__name__
        raise AppStateError(f"{describe(engine)}: {detail}") from exc


def describe(engine: Engine) -> str:
    """The engine's URL with the password hidden, for messages."""
    return engine.url.render_as_string(hide_password=True)
