"""Build a city-scale copy of the contract tables for performance benchmarks.

    python benchmarks/city_db.py --url postgresql+psycopg://postgres@127.0.0.1:5432/city \\
        [--end 2026-11-22T00:00] [--days 730] [--seed 20261122] [--incident-scale 2.7] \\
        [--crowd-rows 10000000] [--petition-scale 10] [--housing-scale 35]

All of Hangzhou (13 districts, 196 streets) is generated with the demo
generator (``demo``), at volumes the demo build cannot hold in
memory in one go, so this script builds in windows and loads each window
before generating the next:

- ``incident``: ``--days`` days ending at ``--end`` (default 730 days at
  incident scale 2.7: about 5.1 million rows), in midnight-aligned windows of
  at most 61 days; window ``i`` (oldest first) uses seed ``seed + i``, and only
  the newest window carries the demo's deliberately wrong rows. Incident ids
  embed the reported date, except that a case reported exactly at a window's
  closing midnight carries the next window's date; such ids are renumbered if
  the next window uses them too (see ``merge_carried``).
- ``crowd_reading``: 14-day windows going back from ``--end`` (seed ``seed + j``)
  until at least ``--crowd-rows`` readings are loaded (default 10 million: 15
  windows of about 704,000 readings); ``venue`` comes from the newest window.
- ``petition`` over the whole span at ``--petition-scale`` (default 10: about
  505,000), ``housing_record`` at ``--housing-scale`` (default 35: about
  1,014,000), ``warning`` at the incident scale.

``--url`` is a SQLAlchemy URL: PostgreSQL (loaded with COPY), MySQL/MariaDB
(``mysql+pymysql://``, LOAD DATA LOCAL INFILE) or SQLite (a file path). A
missing PostgreSQL or MariaDB database is created. The contract tables are
dropped and re-created without their indexes, loaded, then every index of
``data_access.schema.metadata`` is built (PostgreSQL: with
``maintenance_work_mem`` 256MB for that session) and the tables are analysed.

Prints progress with elapsed seconds, then seconds per stage, the peak RSS
of this process and ``SELECT COUNT(*)`` of every table. Defaults: end
2026-11-22T00:00, 730 days, seed 20261122, incident scale 2.7, 10,000,000
crowd readings, petition scale 10, housing scale 35.
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Connection, Engine, Index, Table, create_engine, event, text  # noqa: E402
from sqlalchemy.engine import URL, make_url  # noqa: E402
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError  # noqa: E402
from sqlalchemy.schema import CreateIndex, CreateTable  # noqa: E402

from data_access import schema  # noqa: E402
from data_access.connection import describe_url  # noqa: E402
from demo.common import Rows  # noqa: E402
from demo.crowds import CROWD_DAYS, build_crowd, crowd_window  # noqa: E402
from demo.geography import (  # noqa: E402
    StreetExtras,
    StreetGeo,
    _street_rows,
    build_grids,
    load_geography,
)
from demo.incidents import build_incidents  # noqa: E402
from demo.load import _placeholders, load_data_local  # noqa: E402
from demo.warnings import build_housing, build_petitions, build_warnings  # noqa: E402

DEFAULT_END = "2026-11-22T00:00"
DEFAULT_DAYS = 730
DEFAULT_SEED = 20261122
DEFAULT_INCIDENT_SCALE = 2.7
DEFAULT_CROWD_ROWS = 10_000_000
DEFAULT_PETITION_SCALE = 10.0
DEFAULT_HOUSING_SCALE = 35.0
#: Longest incident window, in days (bounds the generator's memory).
SPAN_DAYS = 61
#: Rows per LOAD DATA file (MariaDB) and per executemany batch (SQLite, INSERT fallback).
FILE_ROWS = 250_000
BATCH_ROWS = 20_000
#: What the benchmarks need at the defaults.
TARGETS = {
    "incident": 5_000_000,
    "crowd_reading": 10_000_000,
    "petition": 500_000,
    "housing_record": 1_000_000,
}
BACKENDS = ("postgresql", "mysql", "mariadb", "sqlite")
DAY = timedelta(days=1)


class CityDbError(Exception):
    """A problem worth one line on stderr (bad argument, unreachable database)."""


# ---------------------------------------------------------------------------
# Command line


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


@dataclass(frozen=True)
class Options:
    url: URL
    end: datetime
    days: int
    seed: int
    incident_scale: float
    crowd_rows: int
    petition_scale: float
    housing_scale: float

    @property
    def t0(self) -> datetime:
        return self.end - timedelta(days=self.days)


def parse_args(argv: Sequence[str] | None) -> Options:
    ap = _Parser(
        prog="city_db.py",
        description="Build a city-scale copy of the contract tables (all of Hangzhou).",
    )
    ap.add_argument("--url", required=True, help="SQLAlchemy URL of the target database")
    ap.add_argument("--end", default=DEFAULT_END, help=f"last instant (default {DEFAULT_END})")
    ap.add_argument("--days", type=int, default=DEFAULT_DAYS, help="days of incidents")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    ap.add_argument("--incident-scale", type=float, default=DEFAULT_INCIDENT_SCALE)
    ap.add_argument("--crowd-rows", type=int, default=DEFAULT_CROWD_ROWS)
    ap.add_argument("--petition-scale", type=float, default=DEFAULT_PETITION_SCALE)
    ap.add_argument("--housing-scale", type=float, default=DEFAULT_HOUSING_SCALE)
    args = ap.parse_args(argv)
    try:
        return _options(args)
    except CityDbError as exc:
        ap.error(str(exc))


def _options(args: argparse.Namespace) -> Options:
    try:
        url = make_url(args.url)
    except ArgumentError:
        raise CityDbError(f"--url: not a database URL: {args.url!r}") from None
    backend = url.get_backend_name()
    if backend not in BACKENDS:
        raise CityDbError(f"--url: unsupported database {backend!r} (postgresql, mysql, sqlite)")
    if backend == "sqlite" and (not url.database or url.database == ":memory:"):
        raise CityDbError("--url: SQLite needs a file path (sqlite:////path/to/city.sqlite)")
    if backend != "sqlite" and not url.database:
        raise CityDbError("--url: name the database (…/city)")
    try:
        end = datetime.fromisoformat(args.end).replace(tzinfo=None, microsecond=0)
    except ValueError:
        raise CityDbError(f"--end: not an ISO date-time: {args.end!r}") from None
    if args.days < 1:
        raise CityDbError("--days must be at least 1")
    if args.crowd_rows < 0:
        raise CityDbError("--crowd-rows must not be negative")
    for name in ("incident_scale", "petition_scale", "housing_scale"):
        if not getattr(args, name) > 0:
            raise CityDbError(f"--{name.replace('_', '-')} must be > 0")
    return Options(
        url=url,
        end=end,
        days=args.days,
        seed=args.seed,
        incident_scale=args.incident_scale,
        crowd_rows=args.crowd_rows,
        petition_scale=args.petition_scale,
        housing_scale=args.housing_scale,
    )


# ---------------------------------------------------------------------------
# Progress and timing


class Clock:
    """Elapsed-time log lines and seconds per stage."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.stages: dict[str, float] = {}

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def log(self, message: str) -> None:
        print(f"[{self.elapsed():7.1f} s] {message}", flush=True)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.log(f"{name} …")
        began = time.perf_counter()
        yield
        self.stages[name] = time.perf_counter() - began
        self.log(f"{name}: {self.stages[name]:.1f} s")


def peak_rss_mb() -> float:
    """Peak resident set size of this process (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _quiet(_fraction: float) -> None:
    """Progress callback for ``build_incidents``: the window lines are enough."""


# ---------------------------------------------------------------------------
# Databases


def _connect_args(url: URL) -> dict[str, Any]:
    backend = url.get_backend_name()
    if backend == "postgresql":
        return {"connect_timeout": 10}
    if backend in ("mysql", "mariadb"):
        return {"local_infile": True, "connect_timeout": 10}
    return {}


def _reach(url: URL, action: Callable[[], None]) -> None:
    """Run ``action``, turning a failure to connect into a one-line error."""
    where = describe_url(url.render_as_string(hide_password=False))
    try:
        action()
    except (NoSuchModuleError, ImportError) as exc:
        raise CityDbError(f"no database driver for {where}: {exc}") from None
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise CityDbError(f"cannot reach or set up {where}: {reason}") from None


def ensure_database(url: URL) -> bool:
    """Create the PostgreSQL/MariaDB database named in ``url`` if it is missing.

    Returns whether it was created.
    """
    backend = url.get_backend_name()
    name = str(url.database)
    created = False

    def postgresql() -> None:
        nonlocal created
        admin = create_engine(
            url.set(database="postgres"),
            isolation_level="AUTOCOMMIT",
            connect_args=_connect_args(url),
        )
        try:
            with admin.connect() as conn:
                found = conn.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
                ).first()
                if found is None:
                    quoted = conn.dialect.identifier_preparer.quote(name)
                    conn.exec_driver_sql(f"CREATE DATABASE {quoted}")
                    created = True
        finally:
            admin.dispose()

    def mysql() -> None:
        nonlocal created
        # URL.set(database=None) keeps the name: replace the field to connect without one.
        admin = create_engine(url._replace(database=None), connect_args=_connect_args(url))
        try:
            with admin.connect() as conn:
                found = conn.execute(
                    text("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :name"),
                    {"name": name},
                ).first()
                quoted = conn.dialect.identifier_preparer.quote(name)
                conn.exec_driver_sql(
                    f"CREATE DATABASE IF NOT EXISTS {quoted} CHARACTER SET utf8mb4"
                )
                conn.commit()
                created = found is None
        finally:
            admin.dispose()

    if backend == "postgresql":
        _reach(url, postgresql)
    elif backend in ("mysql", "mariadb"):
        _reach(url, mysql)
    else:
        try:
            Path(name).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CityDbError(f"cannot create the folder for {name}: {exc}") from None
    return created


def all_indexes() -> list[Index]:
    """Every index defined on the contract tables, sorted by name."""
    return sorted(
        (ix for table in schema.metadata.sorted_tables for ix in table.indexes),
        key=lambda ix: str(ix.name),
    )


class Loader:
    """Bulk loading into one database; subclasses know their backend's fast path."""

    def __init__(self, url: URL) -> None:
        self.url = url
        self.engine: Engine = create_engine(url, connect_args=_connect_args(url))
        self.preparer = self.engine.dialect.identifier_preparer

    def reset(self) -> None:
        """Drop every contract table and create them again, without their indexes."""
        with self.engine.begin() as conn:
            schema.metadata.drop_all(conn)
            for table in schema.metadata.sorted_tables:
                conn.execute(CreateTable(table))

    def load(self, table: Table, rows: Rows) -> None:
        raise NotImplementedError

    def prepare_index_session(self, conn: Connection) -> None:
        """Session settings for index builds (none by default)."""

    def create_index(self, index: Index) -> None:
        with self.engine.begin() as conn:
            self.prepare_index_session(conn)
            conn.execute(CreateIndex(index))

    def analyze(self) -> None:
        raise NotImplementedError

    def count(self, table: Table) -> int:
        with self.engine.connect() as conn:
            sql = f"SELECT COUNT(*) FROM {self.preparer.format_table(table)}"
            return int(conn.exec_driver_sql(sql).scalar_one())

    def distinct_incident_ids(self) -> int:
        with self.engine.connect() as conn:
            sql = f"SELECT COUNT(DISTINCT id) FROM {self.preparer.format_table(schema.incident)}"
            return int(conn.exec_driver_sql(sql).scalar_one())

    def table_list(self) -> str:
        return ", ".join(self.preparer.format_table(t) for t in schema.metadata.sorted_tables)

    def columns(self, table: Table) -> str:
        return ", ".join(self.preparer.quote(c.name) for c in table.columns)

    def dispose(self) -> None:
        self.engine.dispose()


class PostgresLoader(Loader):
    def load(self, table: Table, rows: Rows) -> None:
        if not rows:
            return
        sql = f"COPY {self.preparer.format_table(table)} ({self.columns(table)}) FROM STDIN"
        with self.engine.begin() as conn:
            raw: Any = conn.connection.driver_connection
            with raw.cursor() as cur, cur.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)

    def prepare_index_session(self, conn: Connection) -> None:
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")

    def analyze(self) -> None:
        with self.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                f"ANALYZE {self.table_list()}"
            )


class MySQLLoader(Loader):
    """LOAD DATA LOCAL INFILE from a temporary TSV file per batch (as ``demo.load._load_mysql``);
    plain batched INSERTs if the server or client refuses LOCAL INFILE."""

    def __init__(self, url: URL) -> None:
        super().__init__(url)
        self.use_infile = True

    def load(self, table: Table, rows: Rows) -> None:
        if not rows:
            return
        with self.engine.begin() as conn, tempfile.TemporaryDirectory(prefix="city-db-") as tmp:
            raw: Any = conn.connection.driver_connection
            with raw.cursor() as cur:
                cur.execute("SET SESSION unique_checks = 0")
                for start in range(0, len(rows), FILE_ROWS):
                    batch = rows[start : start + FILE_ROWS]
                    if not (self.use_infile and self._load_file(cur, table, batch, Path(tmp))):
                        self._insert(cur, table, batch)
                cur.execute("SET SESSION unique_checks = 1")

    def _load_file(self, cur: Any, table: Table, rows: Rows, tmp: Path) -> bool:
        if load_data_local(cur, table, rows, tmp):
            return True
        self.use_infile = False  # refused: INSERTs from now on
        print("LOAD DATA LOCAL INFILE refused; using INSERTs", file=sys.stderr)
        return False

    @staticmethod
    def _insert(cur: Any, table: Table, rows: Rows) -> None:
        sql = _placeholders(table, "%s")
        for start in range(0, len(rows), BATCH_ROWS):
            cur.executemany(sql, rows[start : start + BATCH_ROWS])

    def analyze(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql(f"ANALYZE TABLE {self.table_list()}").fetchall()


class SQLiteLoader(Loader):
    def __init__(self, url: URL) -> None:
        super().__init__(url)

        @event.listens_for(self.engine, "connect")
        def _fast(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("PRAGMA journal_mode = OFF")
            dbapi_conn.execute("PRAGMA synchronous = OFF")

    def load(self, table: Table, rows: Rows) -> None:
        if not rows:
            return
        sql = _placeholders(table, "?")
        with self.engine.begin() as conn:
            raw: Any = conn.connection.driver_connection
            for start in range(0, len(rows), BATCH_ROWS):
                raw.executemany(sql, rows[start : start + BATCH_ROWS])

    def analyze(self) -> None:
        with self.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


def make_loader(url: URL) -> Loader:
    backend = url.get_backend_name()
    if backend == "postgresql":
        return PostgresLoader(url)
    if backend in ("mysql", "mariadb"):
        return MySQLLoader(url)
    return SQLiteLoader(url)


# ---------------------------------------------------------------------------
# Windows


def _midnight(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def incident_spans(
    end: datetime, days: int, span_days: int = SPAN_DAYS
) -> list[tuple[datetime, datetime]]:
    """Contiguous ``(start, stop]`` windows covering ``(end - days, end]``, oldest first.

    Every boundary inside the range is a midnight and no window touches more
    than ``span_days`` calendar days; the oldest window takes the remainder.
    """
    t0 = end - timedelta(days=days)
    spans: list[tuple[datetime, datetime]] = []
    stop = end
    while stop > t0:
        ceiling = stop if stop == _midnight(stop) else _midnight(stop) + DAY
        start = max(t0, ceiling - span_days * DAY)
        spans.append((start, stop))
        stop = start
    return spans[::-1]


def span_days(start: datetime, stop: datetime) -> int:
    """Whole days in ``(start, stop]``, rounded up (``build_incidents``'s ``days``)."""
    return math.ceil((stop - start) / DAY)


def _id_day(incident_id: str) -> str:
    """The ``YYYYMMDD`` in a demo incident id (``E<YYYYMMDD><sequence>``)."""
    return incident_id[1:9]


def split_carried(rows: Rows, stop: datetime) -> Rows:
    """Take out (in place) the rows whose id carries ``stop``'s date: cases reported
    exactly at the window's closing midnight, dated like the next window's."""
    day = stop.strftime("%Y%m%d")
    carried = [r for r in rows if _id_day(r[0]) == day]
    if carried:
        rows[:] = [r for r in rows if _id_day(r[0]) != day]
    return carried


def merge_carried(carried: Rows, rows: Rows) -> tuple[Rows, int]:
    """Carried rows with ids made unique against ``rows`` (the next window).

    Within one ``build_incidents`` call ids are unique (one sequence per
    call), and calls over disjoint days cannot share an id, except for a case
    reported exactly at the closing midnight: its id bears the next window's
    first date, whose sequence numbers start again at 1. A carried id that the
    next window also uses gets a sequence number above every one in use.
    Returns the rows and how many were renumbered.
    """
    taken = {r[0] for r in rows}
    top = max((int(r[0][9:]) for r in (*rows, *carried)), default=0)
    out: Rows = []
    renamed = 0
    for row in carried:
        if row[0] in taken:
            top += 1
            renamed += 1
            row = (f"{row[0][:9]}{top:07d}", *row[1:])
        taken.add(row[0])
        out.append(row)
    return out, renamed


# ---------------------------------------------------------------------------
# Stages


@dataclass
class Geography:
    district_rows: list[tuple[str, str, str]]
    streets: list[StreetGeo]
    grid_rows: Rows
    extras: dict[str, StreetExtras]

    @property
    def district_names(self) -> dict[str, str]:
        return {code: name for code, name, _en in self.district_rows}


@dataclass
class BuildInfo:
    """What the stages report for the summary."""

    incident_windows: int = 0
    incident_carried: int = 0
    incident_renumbered: int = 0
    incident_counts: dict[str, int] = field(default_factory=dict)
    crowd_windows: int = 0
    crowd_first: str = ""
    crowd_last: str = ""
    crowd_counts: dict[str, int] = field(default_factory=dict)
    housing_counts: dict[str, int] = field(default_factory=dict)


def build_geography(opts: Options, loader: Loader, clock: Clock) -> Geography:
    district_rows, streets = load_geography(None)
    grid_rows, extras = build_grids(opts.seed, streets)
    geo = Geography(list(district_rows), streets, grid_rows, extras)
    loader.load(schema.district, list(geo.district_rows))
    loader.load(schema.street, _street_rows(streets))
    loader.load(schema.grid, grid_rows)
    clock.log(f"{len(district_rows)} districts, {len(streets)} streets, {len(grid_rows)} grids")
    return geo


def build_incident_windows(
    opts: Options, geo: Geography, loader: Loader, clock: Clock, info: BuildInfo
) -> None:
    spans = incident_spans(opts.end, opts.days)
    info.incident_windows = len(spans)
    carried: Rows = []
    total = 0
    for i, (start, stop) in enumerate(spans):
        newest = i == len(spans) - 1
        rows, counts = build_incidents(
            opts.seed + i,
            geo.streets,
            geo.district_names,
            geo.extras,
            span_days(start, stop),
            start,
            stop,
            opts.incident_scale,
            bad_rows=newest,
            progress=_quiet,
        )
        if carried:
            carried, renamed = merge_carried(carried, rows)
            info.incident_renumbered += renamed
            rows.extend(carried)
        carried = [] if newest else split_carried(rows, stop)
        info.incident_carried += len(carried)
        loader.load(schema.incident, rows)
        total += len(rows)
        if newest:
            info.incident_counts = counts
        clock.log(
            f"incidents {i + 1}/{len(spans)}: {start:%Y-%m-%d %H:%M} .. {stop:%Y-%m-%d %H:%M}"
            f" ({span_days(start, stop)} d): {len(rows):,} rows, {total:,} so far"
        )
        del rows


def build_crowd_windows(
    opts: Options, geo: Geography, loader: Loader, clock: Clock, info: BuildInfo
) -> None:
    step = crowd_window(CROWD_DAYS, 1.0)  # days one build_crowd call really covers
    total = 0
    j = 0
    while j == 0 or total < opts.crowd_rows:
        stop = opts.end - timedelta(days=step * j)
        rows, venue_rows, counts = build_crowd(
            opts.seed + j, geo.streets, stop, days=CROWD_DAYS, scale=1.0, bad_rows=(j == 0)
        )
        if j == 0:
            loader.load(schema.venue, venue_rows)
            info.crowd_counts = counts
            info.crowd_last = max(str(r[0]) for r in rows)[:16] if rows else ""
        if rows:
            info.crowd_first = min(str(r[0]) for r in rows)[:16]
        loader.load(schema.crowd_reading, rows)
        total += len(rows)
        j += 1
        clock.log(
            f"crowd {j}: {counts['crowd_days']} days to {stop:%Y-%m-%d %H:%M}: "
            f"{len(rows):,} readings, {total:,} so far"
        )
        del rows
        if counts.get("crowd_cells", 0) == 0:
            break  # no cells: more windows would add nothing
    info.crowd_windows = j


def build_other_tables(
    opts: Options, geo: Geography, loader: Loader, clock: Clock, info: BuildInfo
) -> None:
    petitions = build_petitions(
        opts.seed, geo.streets, geo.extras, opts.t0, opts.end, opts.petition_scale
    )
    loader.load(schema.petition, petitions)
    clock.log(f"petitions: {len(petitions):,}")
    del petitions
    housing, info.housing_counts = build_housing(
        opts.seed, geo.streets, geo.extras, opts.end, opts.housing_scale
    )
    loader.load(schema.housing_record, housing)
    clock.log(f"housing records: {len(housing):,}")
    del housing
    warnings = build_warnings(
        opts.seed, geo.streets, geo.extras, opts.t0, opts.end, opts.incident_scale
    )
    loader.load(schema.warning, warnings)
    clock.log(f"warnings: {len(warnings):,}")


def build_indexes(loader: Loader, clock: Clock) -> None:
    for index in all_indexes():
        began = time.perf_counter()
        loader.create_index(index)
        clock.log(f"index {index.name}: {time.perf_counter() - began:.1f} s")
    began = time.perf_counter()
    loader.analyze()
    clock.log(f"ANALYZE: {time.perf_counter() - began:.1f} s")


# ---------------------------------------------------------------------------
# Summary


def print_summary(
    opts: Options, clock: Clock, info: BuildInfo, counts: dict[str, int], distinct_ids: int
) -> None:
    total = clock.elapsed()
    print()
    print(f"city database: {describe_url(opts.url.render_as_string(hide_password=False))}")
    print(
        f"incidents:     {opts.t0:%Y-%m-%d %H:%M} .. {opts.end:%Y-%m-%d %H:%M} "
        f"({opts.days} days, {info.incident_windows} windows, scale {opts.incident_scale:g})"
    )
    print(
        f"crowd:         {info.crowd_first} .. {info.crowd_last} "
        f"({info.crowd_windows} windows of {CROWD_DAYS} days)"
    )
    print(
        f"seed {opts.seed}, petition scale {opts.petition_scale:g}, "
        f"housing scale {opts.housing_scale:g}"
    )
    print("seconds per stage:")
    for name, seconds in clock.stages.items():
        print(f"  {name:<30} {seconds:8.1f}")
    print(f"  {'total':<30} {total:8.1f}")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")
    print("rows (SELECT COUNT(*)):")
    for name, n in counts.items():
        target = TARGETS.get(name)
        note = ""
        if target is not None:
            note = f"   target {target:,}: {'met' if n >= target else 'NOT MET'}"
        print(f"  {name:<16} {n:>12,d}{note}")
    duplicates = counts["incident"] - distinct_ids
    expected = info.incident_counts.get("bad_incident_duplicate_id", 0)
    print(
        f"incident ids: {distinct_ids:,} distinct; {duplicates:,} duplicate rows "
        f"(the demo's deliberate duplicates: {expected:,}); "
        f"{info.incident_carried} reported exactly at a window's closing midnight "
        f"(id dated the next window's first day), {info.incident_renumbered} renumbered"
    )


# ---------------------------------------------------------------------------
# Main


def run(opts: Options) -> int:
    clock = Clock()
    where = describe_url(opts.url.render_as_string(hide_password=False))
    if ensure_database(opts.url):
        clock.log(f"created database {opts.url.database}")
    loader = make_loader(opts.url)
    info = BuildInfo()
    try:
        with clock.stage("drop and create tables"):
            _reach(opts.url, loader.reset)
        with clock.stage("geography"):
            geo = build_geography(opts, loader, clock)
        with clock.stage("incidents"):
            build_incident_windows(opts, geo, loader, clock, info)
        with clock.stage("crowd"):
            build_crowd_windows(opts, geo, loader, clock, info)
        with clock.stage("petitions, housing, warnings"):
            build_other_tables(opts, geo, loader, clock, info)
        with clock.stage("indexes + ANALYZE"):
            build_indexes(loader, clock)
        with clock.stage("count rows"):
            counts = {name: loader.count(t) for name, t in schema.CONTRACT_TABLES.items()}
            distinct_ids = loader.distinct_incident_ids()
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise CityDbError(f"database error at {where}: {reason}") from None
    finally:
        loader.dispose()
    print_summary(opts, clock, info, counts, distinct_ids)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    try:
        return run(opts)
    except CityDbError as exc:
        print(f"city_db.py: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("city_db.py: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
