"""Where the operational database is, and how the dashboards connect to it.

Resolution order for the database URL:

1. the environment variable ``OPS_DB_URL``;
2. ``[connections.ops]`` in ``.streamlit/secrets.toml`` (read by ``st.connection``);
3. the embedded demo: a SQLite file built on first start (``OPS_DEMO_PATH``,
   default ``var/demo.sqlite``).

Every engine the dashboards use is *hardened*: each new DBAPI connection is
made read-only and given a statement timeout (SQLite: ``PRAGMA query_only``
plus a progress-handler deadline; PostgreSQL: read-only session,
``statement_timeout`` and no JIT; MariaDB/MySQL: read-only session and
``max_statement_time`` / ``max_execution_time``).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from data_access.config import PROJECT_ROOT, load_site_config

DEFAULT_DEMO_PATH = PROJECT_ROOT / "var" / "demo.sqlite"
_HARDENED_FLAG = "_ops_hardened"


A = TypeVar("A")
B = TypeVar("B")


class ReadOnlyViolation(RuntimeError):
    pass


def demo_path() -> Path:
    """Where the embedded demo SQLite database lives."""
    return Path(os.environ.get("OPS_DEMO_PATH") or DEFAULT_DEMO_PATH)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def env_url() -> str | None:
    """The ``OPS_DB_URL`` override, if set and not blank."""
    url = os.environ.get("OPS_DB_URL", "").strip()
    return url or None


class DatabaseUrlError(ValueError):
    """A setting that should hold a database URL holds something else."""


_URL_EXAMPLES = (
    "sqlite:///var/ops.sqlite, postgresql+psycopg://user@host:5432/db, "
    "mysql+pymysql://user@host:3306/db"
)


def parse_url(url: str, setting: str) -> URL:
    """``url`` parsed, its dialect known; else :class:`DatabaseUrlError`
    naming ``setting`` (e.g. ``"OPS_DB_URL"``), what it holds (password
    hidden) and the expected forms."""
    try:
        parsed = make_url(url)
        parsed.get_dialect()  # an unknown backend or driver fails here, not at connect
    except (ArgumentError, ValueError) as exc:  # ValueError: e.g. a port that is no number
        shown = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
        reason = str(exc).splitlines()[0] if "plugin" in str(exc) else "not a database URL"
        raise DatabaseUrlError(
            f"{setting}: {shown!r}: {reason} (expected e.g. {_URL_EXAMPLES})"
        ) from None
    return parsed


def describe_url(url: str) -> str:
    """The URL with any password hidden, for messages and the footer."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL is shown by its scheme only
        return url.split(":", 1)[0] + ":…"


def harden(engine: Engine, statement_timeout_s: float, timezone: str | None = None) -> Engine:
    """Make every connection of ``engine`` read-only with a statement timeout.

    On PostgreSQL the session's ``TimeZone`` is the site's (``timezone``,
    else the site configuration's): a ``timestamp with time zone`` column
    is then read, bucketed by day and hour and compared with the
    dashboards' naive local times in the site's zone, as the contract's
    naive local time would be. (A ``timestamp without time zone`` column
    is not affected.) MariaDB/MySQL keep the server's session zone: a
    ``TIMESTAMP`` column reads back what a client writing in the server's
    default zone wrote.

    Idempotent: a second call on the same engine does nothing. Call it before
    the engine's first connection (connections already pooled are discarded).
    """
    if getattr(engine, _HARDENED_FLAG, False):
        return engine
    timeout_ms = max(1, int(statement_timeout_s * 1000))
    dialect = engine.dialect.name
    zone = timezone or load_site_config().timezone

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        try:
            if dialect == "sqlite":
                cur.execute("PRAGMA query_only = ON")
            elif dialect == "postgresql":
                cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                cur.execute("SELECT set_config('statement_timeout', %s, false)", (str(timeout_ms),))
                # JIT compiling the dashboards' wide aggregates took 3.9 of
                # the 4.7 s of a year-long city query; they run faster without.
                cur.execute("SELECT set_config('jit', 'off', false)")
                cur.execute("SELECT set_config('TimeZone', %s, false)", (zone,))
            elif dialect == "mysql":
                cur.execute("SET SESSION TRANSACTION READ ONLY")
                cur.execute("SELECT VERSION()")
                version = str(cur.fetchone()[0])
                if "mariadb" in version.lower():
                    cur.execute("SET SESSION max_statement_time = %s", (timeout_ms / 1000,))
                else:
                    cur.execute("SET SESSION max_execution_time = %s", (timeout_ms,))
        finally:
            cur.close()
        if dialect == "postgresql":
            dbapi_conn.commit()

    if dialect == "sqlite":

        @event.listens_for(engine, "before_cursor_execute")
        def _deadline(
            conn: Any, _cursor: Any, _stmt: Any, _params: Any, _ctx: Any, _many: Any
        ) -> None:
            deadline = time.monotonic() + statement_timeout_s
            raw = conn.connection.dbapi_connection
            raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 20_000)

    engine.dispose()
    setattr(engine, _HARDENED_FLAG, True)
    return engine


def make_engine(
    url: str,
    statement_timeout_s: float = 20.0,
    *,
    setting: str = "database URL",
    timezone: str | None = None,
    **kwargs: Any,
) -> Engine:
    """A hardened engine for scripts, benchmarks and tests (pages use
    ``st.connection``). A malformed ``url`` raises :class:`DatabaseUrlError`
    naming ``setting``. ``timezone``: see :func:`harden`."""
    kwargs.setdefault("pool_pre_ping", True)
    return harden(create_engine(parse_url(url, setting), **kwargs), statement_timeout_s, timezone)


def side_by_side(
    conn: Connection, first: Callable[[Connection], A], second: Callable[[Connection], B]
) -> tuple[A, B]:
    """``(first(conn), second(other))``: ``second`` runs in a thread on a
    second connection of ``conn``'s engine (hardened like every other)
    while ``first`` runs, where the server serves connections in parallel
    (PostgreSQL, MariaDB/MySQL): one waits on the server while the other
    works here. On SQLite they run one after the other on ``conn`` (an
    in-memory database is one connection). The two may see the source a
    moment apart, as any two statements of a page do. If ``first`` fails,
    ``second`` is waited for (its connection returned) and ``first``'s
    error raised."""
    if conn.dialect.name == "sqlite":
        return first(conn), second(conn)

    def other() -> B:
        with conn.engine.connect() as own:
            return second(own)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="side-by-side") as pool:
        later = pool.submit(other)
        done = first(conn)
        return done, later.result()
