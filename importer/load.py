"""Loading into the importer's staging database: the contract tables, upserted.

The staging database (SQLite by default, PostgreSQL or MariaDB) belongs to
the importer: it creates the contract tables of :mod:`data_access.schema`
there if missing, with a unique index on ``incident.id`` (the key of the
upsert; the contract itself does not promise unique ids), and an
``import_batch`` table. The dashboards then read it, read-only, as their
operational database (``OPS_DB_URL``).

One file is one batch and one transaction: its geography, its cases and
its ``import_batch`` row commit together or not at all. A case is upserted
by id and never has a value overwritten with NULL (``COALESCE``), so an
overlapping re-export updates its cases in place and a file with fewer
columns loses nothing. A file whose SHA-256 is already in ``import_batch``
as loaded with the same mapping is skipped: the same file twice changes
nothing. Two loads of the same file at once (the upload page and a
scheduled job, two people uploading) meet on ``import_file``'s primary
key, the first statement of the load's transaction: the second waits for
the first to commit, then is skipped too. (SQLite takes the write lock at
the start of that transaction and waits up to :data:`LOCK_WAIT_S` for it.)
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from data_access.config import PROJECT_ROOT, SiteConfig, load_site_config
from data_access.connection import describe_url, parse_url
from data_access.coords import convert
from data_access.schema import CONTRACT_TABLES
from importer.mapping import ImportMapping, resolve
from importer.read import RawExport, ReadError, read_export
from importer.transform import Problem, StreetIndex, records, street_label_points, transform
from importer.validate import validate, write_report

#: The staging database's tables: copies of the contract's, plus the
#: importer's own. (Copies, so the unique index on ``incident.id`` is never
#: added to the contract's metadata, which the demo generator uses.)
staging = MetaData()
for _table in CONTRACT_TABLES.values():
    _table.to_metadata(staging)
staged_incident = staging.tables["incident"]
staged_street = staging.tables["street"]
staged_district = staging.tables["district"]
INCIDENT_ID_KEY = Index("ux_import_incident_id", staged_incident.c.id, unique=True)

import_batch = Table(
    "import_batch",
    staging,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("file_name", String(255), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("mapping", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("rows_read", Integer, nullable=False),
    Column("cases", Integer, nullable=False),
    Column("inserted", Integer, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("bad_rows", Integer, nullable=False),
    Column("rejected_rows", Integer, nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime, nullable=False),
    Column("message", String(500)),
    Index("ix_import_batch_sha256", "sha256"),
)
#: One row per file loaded with a mapping: the key two loads of the same
#: file at once meet on (``import_batch`` keeps stopped attempts too, so it
#: cannot be unique on the hash).
import_file = Table(
    "import_file",
    staging,
    Column("sha256", String(64), primary_key=True),
    Column("mapping", String(64), primary_key=True),
    Column("batch_id", Integer),
)
#: Seconds a load waits for another load's transaction to end.
LOCK_WAIT_S = 600
BATCH_COLUMNS = [c.name for c in import_batch.c]
#: Rows sent per INSERT statement.
CHUNK_ROWS = 2000


@dataclass
class FileResult:
    """What happened to one file. ``status``: ``loaded``, ``dry_run`` (checked,
    nothing written), ``skipped`` (the same file was loaded before),
    ``stopped`` (a required column missing, or more bad rows than
    ``--max-errors``: nothing loaded) or ``failed`` (the database refused)."""

    name: str
    status: str
    sha256: str = ""
    rows_read: int = 0
    cases: int = 0
    inserted: int = 0
    updated: int = 0
    rejected_rows: int = 0
    problems: list[Problem] = field(default_factory=list)
    message: str = ""
    batch_id: int | None = None
    report_path: Path | None = None
    #: Why the bad-row report was not written (the folder is read-only, is
    #: a file, the disk is full…): the load went on without it. Empty when
    #: it was written or there was nothing to report.
    report_error: str = ""
    seconds: float = 0.0
    preview: pd.DataFrame | None = None

    @property
    def bad_rows(self) -> int:
        """Source rows with at least one problem (rejected or flagged)."""
        return len({(p.file, p.row) for p in self.problems})


DEFAULT_DB_PATH = PROJECT_ROOT / "var" / "import.sqlite"


def default_db_url() -> str:
    """The staging database: ``OPS_IMPORT_DB_URL``, else the SQLite file
    ``var/import.sqlite``."""
    url = os.environ.get("OPS_IMPORT_DB_URL", "").strip()
    return url or f"sqlite:///{DEFAULT_DB_PATH}"


def _staging_url(url: str) -> URL:
    """``url`` parsed; a malformed one raises
    :class:`~data_access.connection.DatabaseUrlError` naming the setting."""
    return parse_url(url, "staging database (--db / OPS_IMPORT_DB_URL)")


def staging_exists(url: str) -> bool:
    """False for a SQLite file that does not exist yet (nothing imported);
    True otherwise (a server database is asked when used)."""
    parsed = _staging_url(url)
    if parsed.get_backend_name() != "sqlite":
        return True
    database = parsed.database or ""
    return database not in ("", ":memory:") and Path(database).exists()


def report_folder(url: str, base: Path = PROJECT_ROOT) -> Path:
    """Where bad-row reports go by default: beside a SQLite staging file
    (``<its folder>/import-reports``), else ``<base>/var/import-reports``
    (the upload page: the project's folder; the command line: the current
    directory). Not beside the export, whose folder may be read-only."""
    parsed = _staging_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() == "sqlite" and database not in ("", ":memory:"):
        return Path(database).parent / "import-reports"
    return base / "var" / "import-reports"


def save_report(result: FileResult, folder: Path) -> None:
    """Write ``result``'s bad-row report to ``folder/<file stem>.bad-rows.csv``
    and set ``report_path``; when the file system refuses (any
    :class:`OSError`), set ``report_error`` to where and why instead: the
    load does not depend on its report. Written beside and then renamed, so
    a failure halfway (a full disk) leaves no truncated report and an
    earlier report of the same name as it was."""
    target = folder / f"{Path(result.name).stem}.bad-rows.csv"
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        write_report(partial, result.problems)
        partial.replace(target)
    except OSError as exc:
        why = exc.strerror or str(exc) or type(exc).__name__
        if exc.filename is not None and Path(exc.filename) not in (target, partial):
            why += f": {exc.filename}"
        result.report_error = f"could not write {target} ({why})"
        with suppress(OSError):
            partial.unlink(missing_ok=True)
        return
    result.report_path = target


def staging_engine(url: str) -> Engine:
    """A writable engine on the staging database (not the dashboards' read-only one)."""
    parsed = _staging_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        kwargs["connect_args"] = {"timeout": LOCK_WAIT_S}
    else:
        kwargs["connect_args"] = {"connect_timeout": 10}
    engine = create_engine(parsed, **kwargs)
    if backend == "sqlite":
        # The driver's own BEGIN comes at the first write, after this
        # transaction has read; a second writer must then fail at once
        # instead of waiting. Emitting BEGIN ourselves, IMMEDIATE for a
        # load, takes the write lock first (SQLAlchemy's pysqlite recipe).

        @event.listens_for(engine, "connect")
        def _no_driver_begin(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get("write_lock", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextmanager
def load_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that writes: SQLite's write lock taken at its start,
    MariaDB's lock wait as long as :data:`LOCK_WAIT_S` (its default, 50 s, is
    shorter than a large file's load)."""
    with engine.connect() as conn:
        conn.execution_options(write_lock=True)
        with conn.begin():
            if conn.dialect.name in ("mysql", "mariadb"):
                conn.exec_driver_sql(f"SET SESSION innodb_lock_wait_timeout = {LOCK_WAIT_S}")
            yield conn


def ensure_tables(conn: Connection) -> None:
    """Create the contract tables, the unique id index and ``import_batch`` if missing."""
    staging.create_all(conn, checkfirst=True)
    names = {ix["name"] for ix in inspect(conn).get_indexes("incident")}
    if INCIDENT_ID_KEY.name not in names:
        INCIDENT_ID_KEY.create(conn)


#: The name of the lock the loads take while they create the staging tables.
SCHEMA_LOCK = "ops_import_schema"


class StagingBusy(SQLAlchemyError):
    """Another load held the staging database's schema lock too long."""


def prepare_staging(engine: Engine) -> None:
    """Create the staging tables if missing, one creator at a time.

    Two first loads into an empty staging database both found no tables
    and both issued ``CREATE TABLE``: the second failed (PostgreSQL on its
    catalogue's unique key once the first committed, MariaDB on "table
    already exists"). A lock around the check and the creation makes the
    second wait and then find the tables: PostgreSQL's transaction-scoped
    advisory lock, MariaDB's ``GET_LOCK`` (its DDL commits by itself, so a
    transaction could not hold it), SQLite's write lock (``BEGIN
    IMMEDIATE``)."""
    with engine.connect() as conn:
        dialect = conn.dialect.name
        if dialect == "postgresql":
            with conn.begin():
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": SCHEMA_LOCK})
                ensure_tables(conn)
        elif dialect in ("mysql", "mariadb"):
            got = conn.execute(
                text("SELECT GET_LOCK(:k, :s)"), {"k": SCHEMA_LOCK, "s": LOCK_WAIT_S}
            ).scalar()
            if got != 1:
                raise StagingBusy(
                    f"another load held the staging schema lock for over {LOCK_WAIT_S} s"
                )
            try:
                ensure_tables(conn)
                conn.commit()
            finally:
                conn.execute(text("SELECT RELEASE_LOCK(:k)"), {"k": SCHEMA_LOCK})
                conn.commit()
        else:
            conn.execution_options(write_lock=True)
            with conn.begin():
                ensure_tables(conn)


def _upsert(conn: Connection, table: Table, rows: list[dict[str, Any]], key: Sequence[str]) -> None:
    """Insert ``rows``, or update the row with the same ``key``: each column
    takes the new value unless that is NULL (the old one is kept)."""
    if not rows:
        return
    cols = [c.name for c in table.c if c.name not in key]
    dialect = conn.dialect.name
    stmt: Any
    if dialect in ("sqlite", "postgresql"):
        ins = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(table)
        stmt = ins.on_conflict_do_update(
            index_elements=list(key),
            set_={c: func.coalesce(ins.excluded[c], table.c[c]) for c in cols},
        )
    elif dialect in ("mysql", "mariadb"):
        mins = mysql.insert(table)
        stmt = mins.on_duplicate_key_update(
            {c: func.coalesce(mins.inserted[c], table.c[c]) for c in cols}
        )
    else:
        raise ValueError(f"staging database {dialect!r}: use SQLite, PostgreSQL or MariaDB/MySQL")
    for start in range(0, len(rows), CHUNK_ROWS):
        conn.execute(stmt, rows[start : start + CHUNK_ROWS])


def _existing_ids(conn: Connection, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        q = select(staged_incident.c.id).where(staged_incident.c.id.in_(chunk))
        found |= {r[0] for r in conn.execute(q)}
    return found


def geography_rows(
    mapping: ImportMapping, cfg: SiteConfig
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(districts, streets)`` the mapping brings: inline rows and the
    properties of its GeoJSON files (label points converted from
    ``geo.boundaries_crs`` to the site's coordinate system)."""
    g = mapping.geography
    districts = [dict(d) for d in g.districts]
    streets = [dict(s) for s in g.streets]
    for path, out, kind in ((g.districts_file, districts, "d"), (g.streets_file, streets, "s")):
        if not path:
            continue
        with resolve(path).open(encoding="utf-8") as fh:
            features = json.load(fh).get("features", [])
        for feat in features:
            p = feat.get("properties") or {}
            row = {k: p.get(k) for k in ("code", "name_zh", "name_en")}
            if kind == "s":
                row["district_code"] = p.get("district_code") or str(p.get("code", ""))[:6]
                if p.get("label_lat") is not None and p.get("label_lon") is not None:
                    lon, lat = convert(
                        float(p["label_lon"]),
                        float(p["label_lat"]),
                        cfg.boundaries_crs,
                        cfg.coord_system,
                    )
                    row["lat"], row["lon"] = round(lat, 6), round(lon, 6)
            out.append(row)
    dcols = [c.name for c in staged_district.c]
    scols = [c.name for c in staged_street.c]
    return (
        [{c: d.get(c) for c in dcols} for d in districts],
        [{c: s.get(c) for c in scols} for s in streets],
    )


def fill_label_points(conn: Connection, points: list[dict[str, Any]]) -> None:
    """Streets without a label point get one from a file's cases
    (:func:`importer.transform.street_label_points`); a point the mapping,
    the outline files or an earlier load gave is kept."""
    if not points:
        return
    s = staged_street.c
    stmt = (
        update(staged_street)
        .where(s.code == bindparam("p_code"), s.lat.is_(None), s.lon.is_(None))
        .values(lat=bindparam("p_lat"), lon=bindparam("p_lon"))
    )
    conn.execute(
        stmt, [{"p_code": p["code"], "p_lat": p["lat"], "p_lon": p["lon"]} for p in points]
    )


def known_streets(engine: Engine, extra: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The staging database's streets (if it has the table) and ``extra`` ones."""
    rows: list[dict[str, Any]] = []
    with engine.connect() as conn:
        if inspect(conn).has_table("street"):
            q = select(staged_street.c.code, staged_street.c.name_zh, staged_street.c.name_en)
            rows = [dict(r._mapping) for r in conn.execute(q)]
    return rows + list(extra)


def loaded_batch(engine: Engine, digest: str, mapping: str) -> dict[str, Any] | None:
    """The earlier batch that loaded a file with this SHA-256 with this
    mapping, if any (another mapping may read the same file otherwise)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("import_batch"):
            return None
        q = (
            select(import_batch)
            .where(
                import_batch.c.sha256 == digest,
                import_batch.c.mapping == mapping[:64],
                import_batch.c.status == "loaded",
            )
            .order_by(import_batch.c.id)
            .limit(1)
        )
        row = conn.execute(q).first()
    return dict(row._mapping) if row else None


def batches_frame() -> pd.DataFrame:
    """An empty batch history (columns :data:`BATCH_COLUMNS`)."""
    return pd.DataFrame(columns=BATCH_COLUMNS)


def describe(url: str) -> str:
    """The staging database's URL for display (password hidden)."""
    return describe_url(url)


def batches(engine: Engine, limit: int = 200) -> pd.DataFrame:
    """The batch history, newest first. Columns: :data:`BATCH_COLUMNS`."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("import_batch"):
            return batches_frame()
        q = select(import_batch).order_by(import_batch.c.id.desc()).limit(limit)
        return pd.DataFrame(conn.execute(q).all(), columns=BATCH_COLUMNS)


class _LoadedMeanwhile(Exception):
    """Another load of the same file committed while this one waited."""


def _claim_file(conn: Connection, digest: str, mapping: str) -> bool:
    """Take the file's ``import_file`` key (False: another load has it).
    Waits for a load of the same file that is still running to end."""
    try:
        with conn.begin_nested():
            conn.execute(import_file.insert().values(sha256=digest, mapping=mapping[:64]))
    except IntegrityError:
        return False
    return True


def _record_batch(conn: Connection, result: FileResult, mapping: str, started: datetime) -> int:
    row = {
        "file_name": result.name[:255],
        "sha256": result.sha256,
        "mapping": mapping[:64],
        "status": result.status,
        "rows_read": result.rows_read,
        "cases": result.cases,
        "inserted": result.inserted,
        "updated": result.updated,
        "bad_rows": result.bad_rows,
        "rejected_rows": result.rejected_rows,
        "started_at": started,
        "finished_at": datetime.now().replace(microsecond=0),
        "message": result.message[:500] or None,
    }
    key = conn.execute(import_batch.insert().values(**row)).inserted_primary_key
    assert key is not None
    return int(key[0])


def site_for(mapping: ImportMapping, site_path: str | None = None) -> SiteConfig:
    """The site the cases are for: ``site_path``, else the mapping's
    ``site_config``, else ``OPS_SITE_CONFIG`` / ``config/site.toml``."""
    chosen = site_path or (str(resolve(mapping.site_config)) if mapping.site_config else None)
    return load_site_config(chosen)


def import_export(
    engine: Engine,
    data: bytes,
    name: str,
    mapping: ImportMapping,
    cfg: SiteConfig,
    *,
    dry_run: bool = False,
    max_errors: int | None = None,
    now: datetime | None = None,
    report_dir: Path | None = None,
) -> FileResult:
    """Read, transform, validate and (unless ``dry_run``) load one file.

    The bad-row report is written to ``report_dir/<file stem>.bad-rows.csv``
    (default: the current directory) when there is any problem; if it
    cannot be, ``report_error`` says why and the file loads all the same
    (:func:`save_report`). ``max_errors``: most rejected rows a file may
    have and still load (``None`` = any number; the valid rows load)."""
    t0 = time.perf_counter()
    started = datetime.now().replace(microsecond=0)
    now = now or datetime.now(ZoneInfo(cfg.timezone)).replace(tzinfo=None)
    result = FileResult(name=name, status="dry_run" if dry_run else "loaded")
    districts, streets = geography_rows(mapping, cfg)
    result.sha256 = hashlib.sha256(data).hexdigest()
    earlier = loaded_batch(engine, result.sha256, mapping.name)
    if earlier is not None:
        result.status = "skipped"
        result.message = (
            f"{name}: the same file (sha256 {result.sha256[:12]}…) was loaded in batch "
            f"{earlier['id']} ({earlier['file_name']}, {earlier['finished_at']}); nothing changed"
        )
        result.batch_id = int(earlier["id"])
        result.seconds = time.perf_counter() - t0
        return result
    try:
        raw: RawExport = read_export(data, name, mapping)
    except ReadError as exc:
        result.status, result.message = "stopped", str(exc)
        if not dry_run:  # in the history too: which file, why
            prepare_staging(engine)
            with engine.begin() as conn:
                result.batch_id = _record_batch(conn, result, mapping.name, started)
        result.seconds = time.perf_counter() - t0
        return result
    result.rows_read = len(raw.frame)
    known = known_streets(engine, streets)
    idx = StreetIndex.build(known, mapping.street, cfg.coord_system)
    shaped = transform(raw, mapping, cfg, idx)
    cases, flagged = validate(shaped.cases, mapping, cfg, idx.codes, now, name)
    result.problems = shaped.problems + flagged
    result.rejected_rows = len({p.row for p in result.problems if p.action == "rejected"})
    result.cases = len(cases)
    result.preview = cases
    if result.problems:
        save_report(result, report_dir if report_dir is not None else Path("."))
    if max_errors is not None and result.rejected_rows > max_errors:
        result.status = "stopped"
        result.message = (
            f"{name}: {result.rejected_rows} rejected rows, more than --max-errors "
            f"{max_errors}: nothing loaded"
            + (" (see the bad-row report)" if result.report_path is not None else "")
        )
    if dry_run or result.status == "stopped":
        if not dry_run:
            prepare_staging(engine)
            with engine.begin() as conn:
                result.batch_id = _record_batch(conn, result, mapping.name, started)
        result.seconds = time.perf_counter() - t0
        return result
    rows = records(cases)
    ids = [r["id"] for r in rows]
    try:
        prepare_staging(engine)
        with load_transaction(engine) as conn:
            if not _claim_file(conn, result.sha256, mapping.name):
                raise _LoadedMeanwhile
            _upsert(conn, staged_district, districts, ["code"])
            _upsert(conn, staged_street, streets, ["code"])
            existing = _existing_ids(conn, ids)
            _upsert(conn, staged_incident, rows, ["id"])
            fill_label_points(conn, street_label_points(cases, cfg))
            result.inserted = len(set(ids) - existing)
            result.updated = len(existing)
            result.batch_id = _record_batch(conn, result, mapping.name, started)
            conn.execute(
                import_file.update()
                .where(
                    import_file.c.sha256 == result.sha256,
                    import_file.c.mapping == mapping.name[:64],
                )
                .values(batch_id=result.batch_id)
            )
    except _LoadedMeanwhile:
        earlier = loaded_batch(engine, result.sha256, mapping.name) or {}
        result.status, result.inserted, result.updated = "skipped", 0, 0
        result.batch_id = int(earlier["id"]) if earlier else None
        result.message = (
            f"{name}: the same file (sha256 {result.sha256[:12]}…) was loaded meanwhile, "
            f"in batch {earlier.get('id', '?')}; nothing changed"
        )
        result.seconds = time.perf_counter() - t0
        return result
    except Exception as exc:
        failed = replace(result, status="failed", inserted=0, updated=0)
        failed.message = f"{name}: the staging database refused the batch, nothing loaded ({type(exc).__name__}: {str(exc).splitlines()[0][:300]})"
        failed.seconds = time.perf_counter() - t0
        return failed
    result.seconds = time.perf_counter() - t0
    return result
