"""The dashboards' engine is read-only, times out slow statements and fails fast.

These are the limits the data contract promises the database's owner: the
dashboards never write, and no query of theirs runs for long.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from data_access.connection import make_engine, side_by_side
from tests.conftest import FIXTURE_END, Backend

#: The statement timeout the slow-statement tests give their engine, in seconds.
SHORT_TIMEOUT_S = 1.0

#: What each backend says when a write meets a read-only session.
READ_ONLY_MESSAGE = {
    "sqlite": r"readonly|read-only|read only",
    "postgresql": r"read-only transaction",
    "mysql": r"READ ONLY transaction",
}

#: A statement that runs far longer than ``SHORT_TIMEOUT_S`` (but ends on its own,
#: within about a minute, if the timeout is broken).
SLOW_STATEMENT = {
    "sqlite": (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000000) "
        "SELECT count(*) FROM c"
    ),
    "postgresql": "SELECT pg_sleep(30)",
    "mysql": (
        "SELECT COUNT(*) FROM information_schema.columns a, "
        "information_schema.columns b, information_schema.columns c"
    ),
}

#: What each backend says when the statement timeout cancels a statement.
TIMEOUT_MESSAGE = {
    "sqlite": r"interrupted",
    "postgresql": r"statement timeout",
    "mysql": r"max_statement_time|max_execution_time|interrupted",
}


def count_incidents(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT COUNT(*) FROM incident")).scalar_one())


@pytest.fixture
def short_timeout_engine(backend: Backend) -> Iterator[Engine]:
    engine = make_engine(backend.url, statement_timeout_s=SHORT_TIMEOUT_S)
    yield engine
    engine.dispose()


def test_hardened_engine_reads(backend: Backend) -> None:
    assert count_incidents(backend.engine) == count_incidents(backend.raw_engine) > 0


def test_insert_is_refused(backend: Backend) -> None:
    before = count_incidents(backend.raw_engine)
    with pytest.raises(DBAPIError) as caught, backend.engine.connect() as conn:
        conn.execute(
            text("INSERT INTO incident (id, reported_at, status) VALUES (:id, :ts, 'open')"),
            {"id": "write-probe", "ts": FIXTURE_END},
        )
        conn.commit()
    assert re.search(READ_ONLY_MESSAGE[backend.dialect], str(caught.value.orig), re.I), caught.value
    assert count_incidents(backend.raw_engine) == before


def test_create_table_is_refused(backend: Backend) -> None:
    with pytest.raises(DBAPIError) as caught, backend.engine.connect() as conn:
        conn.execute(text("CREATE TABLE write_probe (x INTEGER)"))
        conn.commit()
    assert re.search(READ_ONLY_MESSAGE[backend.dialect], str(caught.value.orig), re.I), caught.value
    with backend.raw_engine.connect() as conn:
        assert not backend.raw_engine.dialect.has_table(conn, "write_probe")


def test_slow_statement_is_cancelled(backend: Backend, short_timeout_engine: Engine) -> None:
    dialect = short_timeout_engine.dialect.name
    started = time.monotonic()
    with pytest.raises(DBAPIError) as caught, short_timeout_engine.connect() as conn:
        conn.execute(text(SLOW_STATEMENT[dialect])).fetchall()
    elapsed = time.monotonic() - started
    assert re.search(TIMEOUT_MESSAGE[dialect], str(caught.value.orig), re.I), caught.value
    assert elapsed < SHORT_TIMEOUT_S + 4, f"cancelled only after {elapsed:.1f} s"
    # The pool recovers: the next statement on the same engine runs normally.
    with short_timeout_engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar_one() == 1


@pytest.mark.backend
@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://postgres@127.0.0.1:1/nowhere",
        "mysql+pymysql://root@127.0.0.1:1/nowhere",
        "sqlite:////nonexistent-ops-dir/missing.sqlite",
    ],
    ids=["postgresql", "mariadb", "sqlite"],
)
def test_unreachable_database_fails_fast(url: str) -> None:
    engine = make_engine(url)
    started = time.monotonic()
    try:
        with pytest.raises(DBAPIError), engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    assert time.monotonic() - started < 5


@pytest.mark.backend
@pytest.mark.parametrize("backend", ["postgresql", "mariadb"], indirect=True)
def test_dropped_server_connection_is_replaced(backend: Backend) -> None:
    """``pool_pre_ping``: a pooled connection the server killed is replaced, not returned."""
    who = "pg_backend_pid()" if backend.dialect == "postgresql" else "CONNECTION_ID()"
    with backend.engine.connect() as conn:
        session_id = int(conn.execute(text(f"SELECT {who}")).scalar_one())
    with backend.raw_engine.connect() as admin:
        if backend.dialect == "postgresql":
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": session_id})
        else:
            admin.execute(text(f"KILL CONNECTION {session_id:d}"))
    time.sleep(0.2)
    with backend.engine.connect() as conn:
        assert conn.execute(text(f"SELECT {who}")).scalar_one() != session_id
        assert count_incidents(backend.engine) > 0


def test_side_by_side_runs_on_a_second_connection(backend: Backend) -> None:
    """Servers: the second function runs on another connection, both
    results come back; SQLite: one after the other on the caller's."""
    engine = backend.engine

    def who(conn: Connection) -> tuple[int, int]:
        return id(conn.connection.dbapi_connection), conn.execute(text("SELECT 1")).scalar()

    with engine.connect() as conn:
        (mine, one), (theirs, also_one) = side_by_side(conn, who, who)
        assert one == also_one == 1
        assert (mine == theirs) == (backend.dialect == "sqlite")
        assert mine == id(conn.connection.dbapi_connection)
    assert engine.pool.checkedout() == 0


def test_side_by_side_failures_are_raised_and_connections_returned(backend: Backend) -> None:
    engine = backend.engine
    finished: list[str] = []

    def slow(conn: Connection) -> int:
        time.sleep(0.2)
        finished.append("second")
        return int(conn.execute(text("SELECT 2")).scalar())

    def broken(_conn: Connection) -> int:
        raise ValueError("it failed")

    with engine.connect() as conn, pytest.raises(ValueError, match="it failed"):
        side_by_side(conn, broken, slow)
    # The second was waited for (not left running on a pooled connection).
    assert finished == ([] if backend.dialect == "sqlite" else ["second"])
    with engine.connect() as conn, pytest.raises(ValueError, match="it failed"):
        side_by_side(conn, slow, broken)
    assert engine.pool.checkedout() == 0
