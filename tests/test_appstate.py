"""The app-state database: writable, separate, never the operational one."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select

import appstate
from tests.conftest import BACKEND_PARAMS, scratch_database


def test_same_database_ignores_driver_password_and_loopback_spelling():
    a = "postgresql+psycopg://reader:x@127.0.0.1:5432/ops"
    assert appstate.same_database(a, "postgresql://writer:y@localhost/ops")
    assert not appstate.same_database(a, "postgresql+psycopg://reader@127.0.0.1:5432/state")
    assert not appstate.same_database(a, "postgresql+psycopg://reader@127.0.0.1:5433/ops")
    assert appstate.same_database(
        "mysql+pymysql://root@127.0.0.1/ops", "mariadb+pymysql://root@localhost:3306/ops"
    )
    assert appstate.same_database("sqlite:///var/demo.sqlite", "sqlite:///./var/../var/demo.sqlite")
    assert not appstate.same_database("sqlite://", "sqlite://")  # two in-memory databases
    assert not appstate.same_database("not a url", "sqlite:///x")


def test_refuses_the_operational_database(tmp_path):
    ops = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    with pytest.raises(appstate.AppStateError, match="must not be the operational"):
        appstate.make_engine(ops, operational_url=ops)


def test_resolution_order(monkeypatch, tmp_path):
    monkeypatch.delenv("OPS_APPSTATE_URL", raising=False)
    monkeypatch.delenv("OPS_APPSTATE_SCHEMA", raising=False)
    monkeypatch.setenv("OPS_APPSTATE_PATH", str(tmp_path / "s.sqlite"))
    assert appstate.resolve().url == f"sqlite:///{tmp_path / 's.sqlite'}"
    assert appstate.resolve(secrets_url="sqlite:///b").url == "sqlite:///b"
    monkeypatch.setenv("OPS_APPSTATE_URL", "sqlite:///env")
    assert appstate.resolve(secrets_url="sqlite:///b").url == "sqlite:///env"
    assert appstate.resolve("sqlite:///cli", secrets_url="sqlite:///b").url == "sqlite:///cli"


def test_database_errors_name_the_app_state(tmp_path):
    engine = appstate.make_engine(f"sqlite:///{tmp_path / 's.sqlite'}")
    with pytest.raises(appstate.AppStateError, match="s.sqlite"), appstate.begin(engine) as conn:
        conn.exec_driver_sql("SELECT * FROM no_such_table")


@pytest.fixture(scope="module", params=BACKEND_PARAMS)
def state_url(request, tmp_path_factory):
    url, drop = scratch_database(request.param, tmp_path_factory)
    yield request.param, url
    if drop:
        drop()


def test_tables_are_created_once_and_written(state_url):
    name, url = state_url
    md = MetaData()
    note = Table("t_note", md, Column("id", Integer, primary_key=True), Column("text", String(50)))
    engine = appstate.make_engine(url)
    for _ in range(2):  # a second ensure is a no-op, not an error
        with appstate.begin(engine, md) as conn:
            conn.execute(note.insert().values(text="你好"))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(note)).scalar() == 2
        assert conn.execute(select(note.c.text).limit(1)).scalar() == "你好"
    engine.dispose()
    if name == "postgresql":  # a named schema is created and used
        scoped = appstate.make_engine(appstate.AppStateTarget(url, "appstate_t"))
        with appstate.begin(scoped, md) as conn:
            conn.execute(note.insert().values(text="x"))
        with scoped.connect() as conn:
            schema = (
                conn.exec_driver_sql(
                    "SELECT table_schema FROM information_schema.tables WHERE table_name = 't_note' "
                    "ORDER BY table_schema"
                )
                .scalars()
                .all()
            )
        assert schema == ["appstate_t", "public"]
        scoped.dispose()


def test_a_new_engine_gets_its_tables_even_with_a_recycled_id(tmp_path, monkeypatch):
    """ensure() once took a new engine that happened to get a disposed
    engine's id() for ensured: no tables on the new database. Every id()
    in the module made equal stands for that recycling, deterministically
    (a loop of collected engines recycled ids only in a busy process, and
    cost a minute of gc.collect())."""
    md = MetaData()
    note = Table("t_note2", md, Column("id", Integer, primary_key=True))
    monkeypatch.setattr(appstate, "id", lambda _obj: 1, raising=False)
    for i in range(2):
        engine = appstate.make_engine(f"sqlite:///{tmp_path / f's{i}.sqlite'}")
        with appstate.begin(engine, md) as conn:  # "no such table" when taken as ensured
            conn.execute(note.insert().values(id=1))
        engine.dispose()
