"""The dashboards' database connection and cached query runner.

Pages never talk to SQLAlchemy directly: they call :func:`load` with a query
function from ``metrics`` (or a reader of ``data_access``) and its (hashable) arguments. Results are
cached per database for ``database.cache_ttl_s`` seconds (at most
``screen.refresh_s``: no page keeps a result longer than the wall's tiles
keep theirs) with a bounded number of entries. The clock the queries are
asked at (:func:`local_now`) moves in steps of ``database.clock_step_s``
(2 s): sessions asking within one step share the figures, and a case
reported a step ago is counted at the next run.

With ``OPS_DEMO_LIVE=1`` the embedded demo database is kept current by its
live source (:mod:`demo.live`) in a thread of this process
(:func:`ensure_live_demo`).
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import import_module
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, NoSuchTableError, SQLAlchemyError

import appstate
import rollups
from data_access import connection
from data_access.area import listed_streets
from data_access.config import SiteConfig, load_site_config
from data_access.filters import AreaFilter, FilterError
from data_access.schema import CONTRACT_TABLES
from ui.i18n import t

_log = logging.getLogger(__name__)
_demo_lock = threading.Lock()


@st.cache_resource(show_spinner=False)
def site_config() -> SiteConfig:
    """The site configuration, read once per server process."""
    return load_site_config()


def local_now(cfg: SiteConfig) -> datetime:
    """Wall-clock time in the site's zone, naive, floored to
    ``database.clock_step_s`` (default 2 s) from midnight.

    Floored to the minute (as it was), a case reported at 10:00:30 was left
    out of every figure until 10:01, on top of the tiles' refresh; to the
    second, two sessions shared a cached figure only when they asked in the
    same second (fifty walls refreshing at their own moments each computed
    every tile). The figures of a run are asked at one instant all the same
    (the pages and each tile read it once per run).

    ``OPS_NOW`` (ISO local time, e.g. ``2026-11-20T18:00``) pins the clock:
    for replaying a past day, demos of an old database, and tests.
    """
    pinned = os.environ.get("OPS_NOW", "").strip()
    if pinned:
        try:
            return datetime.fromisoformat(pinned).replace(tzinfo=None, microsecond=0)
        except ValueError:
            _log.warning("OPS_NOW=%r is not an ISO date-time; using the wall clock", pinned)
    now = datetime.now(ZoneInfo(cfg.timezone)).replace(tzinfo=None, microsecond=0)
    of_day = now.hour * 3600 + now.minute * 60 + now.second
    return now - timedelta(seconds=of_day % max(1, cfg.clock_step_s))


def _secrets_configured() -> bool:
    try:
        return "ops" in st.secrets.get("connections", {})
    except Exception:  # no secrets file, or an unreadable one
        return False


def database_origin() -> str:
    """``env`` (OPS_DB_URL), ``secrets`` or ``demo``."""
    if connection.env_url():
        return "env"
    if _secrets_configured():
        return "secrets"
    return "demo"


def _engine_kwargs(url: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    try:
        backend = make_url(url).get_backend_name()
    except Exception:
        return kwargs
    if backend in ("postgresql", "mysql", "mariadb"):
        kwargs["connect_args"] = {"connect_timeout": 5}
        kwargs["pool_recycle"] = 1800
    return kwargs


def ensure_demo_database() -> None:
    """Build the embedded demo database on first start, showing progress;
    then, with ``OPS_DEMO_LIVE``, keep it current (:func:`ensure_live_demo`)."""
    _build_demo_database()
    ensure_live_demo()


def _build_demo_database() -> None:
    path = connection.demo_path()
    if path.exists():
        return
    with _demo_lock:
        if path.exists():
            return
        from demo.build import build_demo
        from ui.first_start import step_text

        with st.status(t("app.demo_building"), expanded=True) as status:
            bar = st.progress(0.0)

            def progress(label: str, fraction: float) -> None:
                bar.progress(min(max(fraction, 0.0), 1.0), text=step_text(label))

            summary = build_demo(connection.sqlite_url(path), progress=progress)
            rows = sum(summary.rows.get(name, 0) for name in CONTRACT_TABLES)
            status.update(
                label=t("app.demo_built", rows=f"{rows:,}", seconds=summary.seconds),
                state="complete",
                expanded=False,
            )


#: The environment variable that asks for the embedded demo's live source.
LIVE_ENV = "OPS_DEMO_LIVE"
#: Gaps shorter than this are filled by the live source's thread, unseen.
LIVE_SHOWN_GAP = timedelta(minutes=15)
_live_lock = threading.Lock()
#: The running live source (``demo.live.Background``), False when it could
#: not start here (another process writes, or it failed), None before.
_live: Any = None


def live_demo_wanted() -> bool:
    """``OPS_DEMO_LIVE`` is set to 1 (or true/yes/on)."""
    return os.environ.get(LIVE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def ensure_live_demo() -> None:
    """With ``OPS_DEMO_LIVE=1``, start the embedded demo's live source once
    per server process: fill the gap since the data's end (a progress box
    when it is longer than :data:`LIVE_SHOWN_GAP`), then write in real time
    in a background thread. Only ever for the embedded demo (the callers
    run it for it alone), and one writer per database: a second server
    process finds the lock held and leaves the writing to the first. A
    failure to start is logged and leaves the demo as it is."""
    global _live
    if _live is not None or not live_demo_wanted():
        return
    if not _live_lock.acquire(blocking=False):
        return  # another session of this process is starting it
    try:
        if _live is None:
            from demo.live import start_background

            url = connection.sqlite_url(connection.demo_path())
            _live = start_background(url, fill=_fill_demo_gap) or False
            if _live is False:
                _log.info("live demo: another process writes %s", connection.demo_path())
    except Exception:
        _log.exception("live demo: could not start; the demo stays as it is")
        _live = False
    finally:
        _live_lock.release()


def stop_live_demo() -> None:
    """Stop the live source (tests; the thread also ends with the process)."""
    global _live
    with _live_lock:
        if _live:
            _live.stop()
        _live = None


def _fill_demo_gap(writer: Any, until: datetime) -> None:
    gap = until - writer.until
    if gap <= LIVE_SHOWN_GAP:
        writer.advance_to(until)
        return
    hours = gap.total_seconds() / 3600
    with st.status(t("app.demo_live_filling", hours=hours), expanded=True) as status:
        bar = st.progress(0.0)
        start = writer.until
        while writer.until < until:
            writer.advance_to(min(until, writer.until + timedelta(hours=6)))
            bar.progress(min(1.0, (writer.until - start) / gap))
        status.update(
            label=t("app.demo_live_filled", hours=hours), state="complete", expanded=False
        )


def database_url() -> str:
    """The URL the dashboards read, for display and cache keys (password hidden)."""
    origin = database_origin()
    if origin == "env":
        return connection.describe_url(connection.env_url() or "")
    if origin == "secrets":
        return connection.describe_url(str(_ops_connection().engine.url))
    return connection.describe_url(connection.sqlite_url(connection.demo_path()))


def _ops_connection() -> Any:
    origin = database_origin()
    if origin == "env":
        url = connection.env_url() or ""
        connection.parse_url(url, "OPS_DB_URL")  # a clear message, not st.connection's
        return st.connection("ops", type="sql", url=url, **_engine_kwargs(url))
    if origin == "secrets":
        return st.connection("ops", type="sql", pool_pre_ping=True)
    ensure_demo_database()
    url = connection.sqlite_url(connection.demo_path())
    return st.connection("ops", type="sql", url=url, **_engine_kwargs(url))


def operational_url() -> str:
    """The operational database's URL, password included (never shown)."""
    origin = database_origin()
    if origin == "env":
        return connection.env_url() or ""
    if origin == "secrets":
        return str(_ops_connection().engine.url.render_as_string(hide_password=False))
    return connection.sqlite_url(connection.demo_path())


def _secrets_appstate() -> tuple[str | None, str | None]:
    try:
        section = st.secrets.get("connections", {}).get("appstate", {})
        return section.get("url") or None, section.get("schema") or None
    except Exception:  # no secrets file, or an unreadable one
        return None, None


@st.cache_resource(show_spinner=False)
def _appstate_engine(target: appstate.AppStateTarget, ops_url: str) -> Engine:
    return appstate.make_engine(target, operational_url=ops_url)


def appstate_engine() -> Engine:
    """The writable app-state engine (audit log, alert state; see
    :mod:`appstate`), never the operational
    database: a configuration naming that one raises
    :class:`~appstate.AppStateError`."""
    url, schema = _secrets_appstate()
    target = appstate.resolve(secrets_url=url, secrets_schema=schema)
    return _appstate_engine(target, operational_url())


def engine() -> Engine:
    """The hardened (read-only, statement timeout) engine behind ``st.connection("ops")``."""
    cfg = site_config()
    hardened = connection.harden(_ops_connection().engine, cfg.statement_timeout_s, cfg.timezone)
    if not cfg.use_rollups:
        rollups.disable(hardened)
    return hardened


#: Where the functions :func:`load` runs may come from: the metrics and the
#: operational store's own readers (streets, grids).
QUERY_PACKAGES = ("metrics.", "data_access.")


def _resolve(path: str) -> Callable[..., pd.DataFrame]:
    module_name, _, attr = path.partition(":")
    if not module_name.startswith(QUERY_PACKAGES):
        raise ValueError(f"not a query of {' or '.join(QUERY_PACKAGES)}: {path}")
    fn = getattr(import_module(module_name), attr)
    return fn  # type: ignore[no-any-return]


def run_query(fn_path: str, args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...]) -> Any:
    """Run the query ``module:function`` (a metric, or a reader of
    ``data_access``) on a connection of :func:`engine` (uncached; the cached runners call it). On the servers
    (PostgreSQL, MariaDB/MySQL) the filters' streets are resolved to a
    literal list first (:func:`data_access.area.listed_streets`): both
    then read a district's rows by index ranges (PostgreSQL, one district's
    case counts on the city: 0.66 -> 0.10 s, its open cases found in the
    status index instead of the whole city's read from the table)."""
    fn = _resolve(fn_path)
    with engine().connect() as conn:
        args = tuple(listed_streets(conn, a) if isinstance(a, AreaFilter) else a for a in args)
        return fn(conn, *args, **dict(kwargs))


def cache_ttl_s() -> float:
    """How long :func:`load` keeps a result: ``database.cache_ttl_s``, at
    most ``screen.refresh_s`` (a page's figure is never older than a tile's)."""
    cfg = site_config()
    return float(min(cfg.cache_ttl_s, cfg.screen.refresh_s))


@st.cache_data(ttl=cache_ttl_s(), max_entries=512, show_spinner=False)
def _cached(
    db_key: str, fn_path: str, args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...]
) -> Any:
    return run_query(fn_path, args, kwargs)


#: Session key: when the page's last run began (``time.monotonic()``).
_PAGE_RUN_AT = "_page_run_at"
#: Session key set for a full run a page's timer started: not the user's
#: activity (``ui.auth``'s idle timeout must not see it as such).
TIMER_RUN = "_page_timer_run"


def rerun_every(seconds: float | None = None) -> None:
    """Run the whole page again ``seconds`` (default ``screen.refresh_s``)
    after its last run began, as the wall's tiles refresh: a page of "now"
    figures (the overview) keeps up with the data arriving, without a
    reload. A one-second fragment timer watches the time; timed from the
    run's start (a timer re-armed at each run would add the run's own
    seconds to every period). Such a run is not the user's activity: an idle
    session still times out (:data:`TIMER_RUN`)."""
    every = float(seconds or site_config().screen.refresh_s)
    st.session_state[_PAGE_RUN_AT] = time.monotonic()
    st.session_state.pop(TIMER_RUN, None)  # seen by the sign-in check of this run

    def tick() -> None:
        if time.monotonic() - st.session_state.get(_PAGE_RUN_AT, 0.0) >= every:
            st.session_state[TIMER_RUN] = True
            st.rerun(scope="app")

    st.fragment(tick, run_every=min(1.0, every))()


#: Session key of the signed-in :class:`~data_access.access.Principal`
#: (set by :func:`ui.auth.gate`, read here to stamp its scope).
PRINCIPAL_KEY = "_principal"
#: The scope of a session with no principal yet: no street.
NO_STREETS: tuple[str, ...] = ()


def session_scope() -> tuple[str, ...] | None:
    """The session principal's street codes (``None`` = every street); no
    street while no principal is signed in."""
    principal = st.session_state.get(PRINCIPAL_KEY)
    return NO_STREETS if principal is None else principal.scope


def intersect_scope(a: tuple[str, ...] | None, b: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """Street codes in both scopes (``None`` = every street)."""
    if a is None:
        return b
    if b is None:
        return a
    allowed = set(b)
    return tuple(s for s in a if s in allowed)


@lru_cache(maxsize=256)
def _takes_scope(fn: Callable[..., Any]) -> bool:
    return "scope" in inspect.signature(fn).parameters


def scoped_arguments(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    scope: tuple[str, ...] | None,
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``args``/``kwargs`` with ``scope`` intersected into every
    :class:`AreaFilter` and given as ``scope=`` to a function that takes one
    (row-level security stamped at the one door every page uses, so a page
    that builds its own filter cannot widen it)."""
    args = tuple(
        replace(a, scope=intersect_scope(a.scope, scope)) if isinstance(a, AreaFilter) else a
        for a in args
    )
    kwargs = {
        k: replace(v, scope=intersect_scope(v.scope, scope)) if isinstance(v, AreaFilter) else v
        for k, v in kwargs.items()
    }
    if _takes_scope(fn):
        kwargs["scope"] = intersect_scope(kwargs.get("scope"), scope)
    return args, kwargs


def cache_key_url() -> str:
    """:func:`database_url`, the demo database built first if it is the
    one read. The cached runners call this before their cache: built
    inside a cached function, the build's progress box was recorded with
    the result and replayed, spinning, on every later hit (two stale
    boxes on each page after a first start)."""
    if database_origin() == "demo":
        ensure_demo_database()
    return database_url()


def load(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn(conn, *args, **kwargs)`` (a metric or a ``data_access`` reader), cached.

    Arguments must be hashable values (filters, dates, the site config).
    The session principal's scope is stamped into them first
    (:func:`scoped_arguments`), so it is part of the cache key.
    """
    args, kwargs = scoped_arguments(fn, args, kwargs, session_scope())
    path = f"{fn.__module__}:{fn.__qualname__}"
    return _cached(cache_key_url(), path, args, tuple(sorted(kwargs.items())))


def load_uncached(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Like :func:`load` (the scope stamped in), never cached: for reads of
    personal data, which must not sit in a shared cache."""
    args, kwargs = scoped_arguments(fn, args, kwargs, session_scope())
    path = f"{fn.__module__}:{fn.__qualname__}"
    return run_query(path, args, tuple(sorted(kwargs.items())))


def _classify(exc: BaseException) -> str:
    text = str(exc).lower()
    if any(
        s in text
        for s in (
            "statement timeout",
            "canceling statement",
            "interrupted",
            "max_statement_time",
            "max_execution_time",
        )
    ):
        return "timeout"
    if isinstance(exc, NoSuchTableError) or any(
        s in text
        for s in (
            "no such table",
            "no such column",
            "doesn't exist",
            "does not exist",
            "unknown column",
            "undefinedtable",
            "undefinedcolumn",
        )
    ):
        return "schema"
    return "unreachable"


def _schema_detail(exc: BaseException) -> str:
    orig = getattr(exc, "orig", exc)
    return str(orig).splitlines()[0][:200]


@contextmanager
def page_guard() -> Iterator[None]:
    """Turn any failure inside a page into a clear message; never a traceback.

    Database failures say whether the database is unreachable, too slow, or
    missing a contract table; anything else gets a reference number that is
    logged with the traceback on the server.
    """
    try:
        yield
    except FilterError as exc:
        st.error(t("error.filter", detail=str(exc)), icon=":material/warning:")
    except connection.DatabaseUrlError as exc:
        _log.warning("bad database URL: %s", exc)
        st.error(t("error.bad_url", detail=str(exc)), icon=":material/link_off:")
    except appstate.AppStateError as exc:
        _log.warning("app-state database problem: %s", exc)
        st.error(t("error.appstate", detail=str(exc)), icon=":material/database:")
    except (DBAPIError, SQLAlchemyError) as exc:
        kind = _classify(exc)
        _log.warning("database problem (%s): %s", kind, exc)
        if kind == "timeout":
            st.error(
                t("error.db_timeout", seconds=site_config().statement_timeout_s),
                icon=":material/timer:",
            )
        elif kind == "schema":
            st.error(t("error.db_schema", detail=_schema_detail(exc)), icon=":material/database:")
        else:
            st.error(t("error.db_unreachable", url=database_url()), icon=":material/cloud_off:")
    except Exception:
        ref = uuid.uuid4().hex[:8]
        _log.exception("unexpected page error, ref %s", ref)
        st.error(t("error.unexpected", ref=ref), icon=":material/warning:")
