"""Shared fixtures: real databases built by the demo generator, and an AppTest helper.

Every backend gets its own database for this test session, filled by
``demo.build.build_demo`` with a small, fixed slice of the demo
(``FIXTURE_DAYS`` days ending at ``FIXTURE_END``, ``FIXTURE_SCALE`` of the
full volume, seed ``FIXTURE_SEED``), so two runs see the same rows.

- SQLite: always, a file in pytest's temporary directory.
- PostgreSQL: ``OPS_TEST_PG_URL`` (default
  ``postgresql+psycopg://postgres@127.0.0.1:5432/test``).
- MariaDB: ``OPS_TEST_MYSQL_URL`` (default
  ``mysql+pymysql://root@127.0.0.1:3306/test``).

The server URLs name a database to connect to, not one to fill: the fixtures
create ``ops_test_<epoch>_<pid>_<random>`` beside it, build the demo there and
drop it when the session ends, so parallel sessions (``pytest -n 2``: each
worker is its own session) and other developers on the same server never see
each other's rows. A server that does not answer skips its tests with the
reason, or fails them when ``CI=true``.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from data_access.connection import describe_url, make_engine

ROOT = Path(__file__).resolve().parent.parent

FIXTURE_END = datetime(2026, 11, 20, 18, 0)
FIXTURE_DAYS = 28
FIXTURE_SCALE = 0.15
FIXTURE_SEED = 7

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_MYSQL_URL = "mysql+pymysql://root@127.0.0.1:3306/test"

#: Backend name -> (environment variable, default server URL); SQLite needs no server.
SERVER_BACKENDS: dict[str, tuple[str, str]] = {
    "postgresql": ("OPS_TEST_PG_URL", DEFAULT_PG_URL),
    "mariadb": ("OPS_TEST_MYSQL_URL", DEFAULT_MYSQL_URL),
}
BACKEND_NAMES = ("sqlite", *SERVER_BACKENDS)
#: ``params`` of a fixture that runs once per backend (the server ones marked).
BACKEND_PARAMS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.backend),
    pytest.param("mariadb", id="mariadb", marks=pytest.mark.backend),
]

#: Seconds to wait for a server to answer before calling it unreachable.
CONNECT_TIMEOUT_S = 5
#: Databases named like ours that are older than this are left over from a
#: killed session; the next session drops them.
STALE_AFTER_S = 24 * 3600
_TEST_DB = re.compile(r"^ops_test_(\d{10})_\d+_[0-9a-f]{8}$")


def in_ci() -> bool:
    """True when running under CI (``CI=true``): missing services fail instead of skipping."""
    return os.environ.get("CI", "").strip().lower() == "true"


def skip_or_fail(reason: str) -> None:
    """Skip the test with ``reason``; under CI a missing prerequisite is a failure."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


def server_url(name: str) -> str:
    """The server URL the tests connect to for backend ``name``."""
    env, default = SERVER_BACKENDS[name]
    return os.environ.get(env, "").strip() or default


def _connect_args(url: URL) -> dict[str, Any]:
    return {"connect_timeout": CONNECT_TIMEOUT_S} if url.get_backend_name() != "sqlite" else {}


def _admin_engine(url: URL) -> Engine:
    return create_engine(
        url, isolation_level="AUTOCOMMIT", connect_args=_connect_args(url), poolclass=NullPool
    )


@dataclass
class Backend:
    """One filled test database.

    ``url``: writer URL (the fixtures build with it; tests should not write).
    ``engine``: the dashboards' hardened read-only engine (``make_engine``).
    ``raw_engine``: a plain engine for independent pandas reads in tests.
    ``summary``: the ``DemoSummary`` of the build (row counts, seconds).
    """

    name: str
    url: str
    engine: Engine
    raw_engine: Engine
    summary: Any

    @property
    def dialect(self) -> str:
        """SQLAlchemy dialect name: ``sqlite``, ``postgresql`` or ``mysql`` (MariaDB)."""
        return self.engine.dialect.name


@dataclass
class _Databases:
    """Builds each backend's database on first use; drops them all at session end."""

    tmp_dir: Path
    built: dict[str, Backend] = field(default_factory=dict)
    unreachable: dict[str, str] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def get(self, name: str) -> Backend:
        if name in self.unreachable:
            skip_or_fail(self.unreachable[name])
        if name in self.broken:
            pytest.fail(self.broken[name], pytrace=False)
        if name not in self.built:
            try:
                self.built[name] = self._build(name)
            except _Unreachable as exc:
                self.unreachable[name] = str(exc)
                skip_or_fail(str(exc))
            except Exception as exc:
                # Fail every test of this backend, but build only once.
                self.broken[name] = f"building the demo database on {name} failed: {exc!r}"
                raise
        return self.built[name]

    def _build(self, name: str) -> Backend:
        from demo.build import build_demo

        if name == "sqlite":
            url = f"sqlite:///{self.tmp_dir / 'ops_fixture.sqlite'}"
        else:
            url = self._create_server_database(name)
        summary = build_demo(
            url,
            days=FIXTURE_DAYS,
            seed=FIXTURE_SEED,
            scale=FIXTURE_SCALE,
            end=FIXTURE_END,
        )
        engine = make_engine(url)
        raw_engine = create_engine(url, pool_pre_ping=True)
        self.cleanups.append(engine.dispose)
        self.cleanups.append(raw_engine.dispose)
        return Backend(name, url, engine, raw_engine, summary)

    def _create_server_database(self, name: str) -> str:
        url, drop = new_server_database(name)
        self.cleanups.append(drop)
        return url

    def close(self) -> None:
        # Engines first (they are appended after their database), then databases.
        errors = []
        for cleanup in reversed(self.cleanups):
            try:
                cleanup()
            except Exception as exc:  # keep dropping the others
                errors.append(exc)
        self.cleanups.clear()
        if errors:
            raise errors[0]


class _Unreachable(RuntimeError):
    pass


def new_server_database(name: str) -> tuple[str, Callable[[], None]]:
    """Create ``ops_test_<epoch>_<pid>_<random>`` on backend ``name``'s server
    (dropping ones a killed session left): ``(writer URL, drop)``. Raises
    ``_Unreachable`` naming the URL when the server does not answer."""
    server = make_url(server_url(name))
    admin = _admin_engine(server)
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        admin.dispose()
        env = SERVER_BACKENDS[name][0]
        raise _Unreachable(
            f"{name} not reachable at {describe_url(str(server))} "
            f"({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}); "
            f"start the server or point {env} at one"
        ) from exc
    db_name = f"ops_test_{int(time.time()):010d}_{os.getpid()}_{secrets.token_hex(4)}"
    _drop_stale_databases(admin, name)
    with admin.connect() as conn:
        if name == "postgresql":
            conn.execute(text(f"CREATE DATABASE \"{db_name}\" ENCODING 'UTF8' TEMPLATE template0"))
        else:
            conn.execute(
                text(
                    f"CREATE DATABASE `{db_name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
            )

    def drop() -> None:
        try:
            _drop_database(admin, name, db_name)
        finally:
            admin.dispose()

    return server.set(database=db_name).render_as_string(hide_password=False), drop


def scratch_database(
    name: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Callable[[], None] | None]:
    """A new, empty database on backend ``name`` for one test module:
    ``(writer URL, drop or None)``; SQLite is a file in a temporary folder.
    Skips (fails under CI) when the server is away."""
    if name == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('scratch') / 'scratch.sqlite'}", None
    try:
        return new_server_database(name)
    except _Unreachable as exc:
        skip_or_fail(str(exc))
        raise  # not reached: skip_or_fail raises


def _drop_database(admin: Engine, backend: str, db_name: str) -> None:
    with admin.connect() as conn:
        if backend == "postgresql":
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid()"
                ),
                {"db": db_name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}"'))
        else:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{db_name}`"))


def _drop_stale_databases(admin: Engine, backend: str) -> None:
    """Drop ``ops_test_*`` databases a killed session left behind more than a day ago."""
    query = (
        "SELECT datname FROM pg_database"
        if backend == "postgresql"
        else "SELECT schema_name FROM information_schema.schemata"
    )
    now = time.time()
    try:
        with admin.connect() as conn:
            names = [row[0] for row in conn.execute(text(query))]
        for db_name in names:
            m = _TEST_DB.match(db_name)
            if m and now - int(m.group(1)) > STALE_AFTER_S:
                _drop_database(admin, backend, db_name)
    except Exception:  # best effort: a stale database is clutter, not an error
        pass


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Databases]:
    """All of this session's test databases, built on first use."""
    registry = _Databases(tmp_path_factory.mktemp("ops_db"))
    yield registry
    registry.close()


@pytest.fixture(
    scope="session",
    params=BACKEND_PARAMS,
)
def backend(request: pytest.FixtureRequest, databases: _Databases) -> Backend:
    """The demo fixture database on each backend (sqlite, postgresql, mariadb)."""
    return databases.get(request.param)


@pytest.fixture(scope="session")
def sqlite_demo(databases: _Databases) -> Backend:
    """The SQLite fixture database alone (for AppTest and the browser)."""
    return databases.get("sqlite")


AppTestFactory = Callable[..., Any]


def export_buttons(at: Any) -> list[Any]:
    """The export buttons an AppTest run drew (``ui.auth.audited_download``'s
    first step: the button that audits, then makes the file)."""
    return [
        b
        for b in at.button
        if b.key and b.key.startswith("_prepared:") and b.key.endswith(":prepare")
    ]


def page_path(page_or_home: str) -> str:
    """Normalise ``"Home.py"``, ``"home"``, ``"pages/x.py"`` or ``"x"`` to a path from the root."""
    p = page_or_home.strip()
    if p.lower() in ("", "home", "home.py"):
        return "Home.py"
    if not p.endswith(".py"):
        p += ".py"
    if "/" not in p:
        p = f"pages/{p}"
    return p


def _ran(at: Any, target: str) -> bool:
    """Whether ``at``'s last run ran the page file ``target``."""
    info = getattr(at, "_registered_pages", {}).get(getattr(at, "_page_hash", ""), {})
    script = info.get("script_path")
    return bool(script) and Path(str(script)).resolve() == (ROOT / target).resolve()


@pytest.fixture
def app_test(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[AppTestFactory]:
    """Run the app in AppTest against a fixture database; returns the run ``AppTest``.

    ``app_test(page_or_home, db_url, query_params=None, timeout=60)``:

    - sets ``OPS_DB_URL`` to ``db_url`` (undone after the test);
    - points ``secrets.files`` at an empty file, so a developer's own
      ``.streamlit/secrets.toml`` never reaches a test;
    - clears Streamlit's caches so no earlier test's data or connection leaks;
    - sets ``OPS_ACCESS_CONFIG`` to a file with ``no_login_role = "admin"``
      (no login, every page and permission, as on the embedded demo; a
      test may point it elsewhere first) and ``OPS_APPSTATE_PATH`` to a
      file of the test's own;
    - runs ``Home.py``; for another page, switches to it (``pages/x.py``) and
      runs again. ``query_params`` are sent with both runs.
    """
    import streamlit as st
    from streamlit import config as st_config
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.secrets import secrets_singleton
    from streamlit.testing.v1 import AppTest

    # AppTest resets PagesManager.uses_pages_directory before every run, and
    # with a pages/ folder present it then replays reruns in the old
    # pages-directory mode: the page script alone, without Home.py (so the
    # sidebar filters vanish after the first interaction). The real server
    # clears the flag for good once st.navigation is called; pin it so.
    original_init = PagesManager.__init__

    def init_v2(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init_v2)

    # Like the embedded demo: no login, everyone an administrator of the
    # whole site (a test of sign-in sets OPS_ACCESS_CONFIG itself); the
    # audit log in a file of this test's own.
    demo_access = tmp_path / "access.toml"
    demo_access.write_text('[login]\nno_login_role = "admin"\n')
    monkeypatch.setenv("OPS_ACCESS_CONFIG", str(demo_access))
    monkeypatch.setenv("OPS_APPSTATE_PATH", str(tmp_path / "appstate.sqlite"))
    monkeypatch.delenv("OPS_APPSTATE_URL", raising=False)

    empty_secrets = tmp_path / "secrets.toml"
    empty_secrets.write_text("# empty: tests never read a developer's secrets\n")
    saved_files = st_config.get_option("secrets.files")

    def run(
        page_or_home: str = "Home.py",
        db_url: str | None = None,
        query_params: Mapping[str, Any] | None = None,
        timeout: float = 60,
    ) -> AppTest:
        if db_url is None:
            raise TypeError("app_test: db_url is required (e.g. sqlite_demo.url)")
        home = ROOT / "Home.py"
        if not home.is_file():
            pytest.fail(f"{home} does not exist yet", pytrace=False)
        monkeypatch.setenv("OPS_DB_URL", db_url)
        monkeypatch.chdir(ROOT)
        st_config.set_option("secrets.files", [str(empty_secrets)])
        secrets_singleton._reset()
        st.cache_data.clear()
        st.cache_resource.clear()

        at = AppTest.from_file(str(home), default_timeout=timeout)
        if query_params:
            at.query_params.update(query_params)
        target = page_path(page_or_home)
        if target != "Home.py":
            # Asked for by its file name from the first run, as a link opens
            # it (a first run of Home.py's default page cost each page test
            # that page's queries too: a third of the suite's AppTest time).
            at.switch_page(target)
        at.run(timeout=timeout)
        if target != "Home.py" and not _ran(at, target):
            at.switch_page(target)  # a page whose URL path is not its file name
            if query_params:
                at.query_params.update(query_params)
            at.run(timeout=timeout)
        return at

    yield run

    st_config.set_option("secrets.files", saved_files)
    secrets_singleton._reset()
