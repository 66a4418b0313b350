"""The live source: keeps writing the demo's streams into a demo database.

    python -m demo live [--url URL] [--speed N] [--start ISO] [--until ISO]
                        [--seed N] [--scale X] [--tick S]

It stands for the site's own system: new cases whose milestones (accepted,
dispatched, on site, closed) are written as their times come, crowd
readings every reading interval, petitions and warnings raised, closed and
cleared, housing records checked (:mod:`demo.live_model`, the generator's
own model). On start it fills the gap since the data's end at once (so a
demo opened days after its build is current), carries on the cases,
petitions and warnings that end left open, then keeps time:

- ``--speed N``: the live clock runs N times as fast as the wall clock, from
  ``--start`` (default: now; with N > 1, the end of the data: the gap is
  replayed at that speed); it never runs ahead of the wall clock, where it
  goes on in real time;
- ``--until``: stop when the clock reaches this time (default: never).

One writer per database: a second one is refused (a lock file beside a
SQLite file, an advisory lock on PostgreSQL, a named lock on MariaDB).
Writes are short transactions; SQLite is switched to WAL, so the
dashboards' readers go on reading beside the one writer, and the writer
waits (``busy_timeout``) for another writer such as the rollup job. It
writes the contract's tables only, never the app-state database.
"""

from __future__ import annotations

import argparse
import heapq
import logging
import math
import os
import sys
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from data_access import schema
from data_access.connection import DatabaseUrlError, demo_path, describe_url, parse_url, sqlite_url
from data_access.schema import crowd_reading, housing_record, incident, petition, warning
from demo.crowds import STEP_S
from demo.geography import build_grids, load_geography
from demo.live_model import EventBatch, Model, at, case_updates, next_event, secs
from rollups.snapshot import LATE_DAYS

_log = logging.getLogger(__name__)

TIMEZONE = "Asia/Shanghai"  # the zone of the demo's times (as demo.build's)
DEFAULT_SEED = 20261122  # the build's default
#: Seconds between two writes in real time (a case is written at most this
#: long after it is reported; each write draws every street's streams).
TICK_S = 2.0
#: Most data time one transaction of the gap fill covers.
GAP_CHUNK = timedelta(hours=6)
#: How long a write waits for another writer (the rollup job) on SQLite.
BUSY_TIMEOUT_S = 60
STEP = timedelta(seconds=STEP_S)
EMPTY = EventBatch([], {})


class LiveError(RuntimeError):
    """A clear reason the live source cannot run (the CLI exits with 2)."""


def wall_now() -> datetime:
    """Now in the demo's zone, naive, to the second."""
    return datetime.now(ZoneInfo(TIMEZONE)).replace(tzinfo=None, microsecond=0)


@dataclass
class LiveClock:
    """``start`` plus ``speed`` times the wall time elapsed since creation;
    with ``cap``, never ahead of the wall clock (:func:`wall_now`)."""

    start: datetime
    speed: float = 1.0
    cap: bool = True
    wall: Callable[[], datetime] = wall_now
    _t0: float = field(default_factory=time.monotonic)

    def now(self) -> datetime:
        t = self.start + timedelta(seconds=self.speed * (time.monotonic() - self._t0))
        if self.cap:
            t = min(t, max(self.wall(), self.start))
        return t.replace(microsecond=0)


@dataclass
class Step:
    """What one advance wrote (rows inserted or updated per feed) and the
    data's end after it."""

    cases: int = 0
    milestones: int = 0
    crowd: int = 0
    petitions: int = 0
    warnings: int = 0
    housing: int = 0
    until: datetime | None = None

    def __iadd__(self, other: Step) -> Step:
        for f in fields(self):
            if f.name != "until":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        self.until = other.until or self.until
        return self

    def __str__(self) -> str:
        parts = [
            f"{n} {name}"
            for name in ("cases", "milestones", "crowd", "petitions", "warnings", "housing")
            if (n := getattr(self, name))
        ]
        return ", ".join(parts) or "nothing new"


# -- engine and lock ------------------------------------------------------------


def writer_engine(url: str) -> Engine:
    """A writing engine for the live source: on SQLite, WAL mode, a busy
    timeout and ``BEGIN IMMEDIATE`` transactions (a write never fails on a
    lock another writer held a moment); on the servers a connect timeout."""
    parsed = parse_url(url, "--url")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql", "mysql", "mariadb"):
        raise LiveError(f"unsupported database {backend!r} (sqlite, postgresql, mysql/mariadb)")
    if backend != "sqlite":
        return create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 5})
    if not parsed.database or parsed.database == ":memory:":
        raise LiveError("the SQLite demo needs a file path (sqlite:///path/to/demo.sqlite)")
    if not Path(parsed.database).exists():
        raise LiveError(f"no demo database at {parsed.database}: build it first (python -m demo)")
    engine = create_engine(parsed, poolclass=NullPool, connect_args={"timeout": BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _connect(dbapi: Any, _record: Any) -> None:
        dbapi.isolation_level = None  # transactions are ours (BEGIN IMMEDIATE below)
        cur = dbapi.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class WriterLock:
    """One live writer per database (see the module docstring); raises
    :class:`LiveError` naming the database when another one holds it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._fd: int | None = None
        self._conn: Connection | None = None

    def acquire(self) -> WriterLock:
        url = self.engine.url
        held = LiveError(f"another live writer is writing to {describe_url(str(url))}")
        if self.engine.dialect.name == "sqlite":
            import fcntl

            db = Path(str(url.database)).resolve()
            path = db.with_name(f"{db.name}.live-lock")
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise held from None
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self._fd = fd
            return self
        conn = self.engine.connect()
        if self.engine.dialect.name == "postgresql":
            key = zlib.crc32(b"ops-demo-live") & 0x7FFFFFFF
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        else:
            name = f"ops_demo_live:{url.database}"[:64]
            got = conn.execute(text("SELECT GET_LOCK(:n, 0)"), {"n": name}).scalar()
        conn.commit()
        if not got:
            conn.close()
            raise held
        self._conn = conn
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # the flock goes with it
            self._fd = None
        if self._conn is not None:
            self._conn.close()  # a session lock ends with its session
            self._conn = None


# -- the writer -------------------------------------------------------------------


def _estimate_scale(conn: Connection, streets: Sequence[Any]) -> float:
    """The build's ``scale``, from its housing records: it gives each street
    ``clip(population / 400, 100, 400) * scale`` of them."""
    n = conn.execute(select(func.count()).select_from(housing_record)).scalar() or 0
    expected = sum(min(max(s.population / 400, 100), 400) for s in streets)
    return round(n / expected, 3) if n and expected else 1.0


def _max_number(conn: Connection, table: Any, prefix: str) -> int:
    ids = conn.execute(select(table.c.id).where(table.c.id.like(f"{prefix}%"))).scalars()
    return max((int(i[1:]) for i in ids if i[1:].isdigit()), default=0)


class LiveWriter:
    """Writes the demo's streams at ``url`` up to the times it is advanced to
    (:meth:`advance_to`). ``seed`` and ``scale`` are the build's (default:
    the build's default seed; the scale is read from the data)."""

    def __init__(
        self,
        url: str,
        *,
        seed: int = DEFAULT_SEED,
        scale: float | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.url = url
        self.engine = engine or writer_engine(url)
        self.seed = seed
        with self.engine.connect() as conn:
            found = inspect(conn)
            missing = [n for n in schema.CONTRACT_TABLES if not found.has_table(n)]
            if missing:
                raise LiveError(
                    f"{describe_url(url)} holds no demo data (no table {', '.join(missing)}): "
                    "build it first (python -m demo --url …)"
                )
            codes = sorted(conn.execute(select(schema.district.c.code)).scalars())
            district_rows, streets = load_geography(codes)
            self.scale = scale if scale is not None else _estimate_scale(conn, streets)
            cells = _latest_cells(conn)
        _grid_rows, extras = build_grids(seed, streets)
        self.model = Model(
            seed, self.scale, streets, {d[0]: d[1] for d in district_rows}, extras, cells
        )
        self.stale = True
        self.reload()

    # -- state ------------------------------------------------------------

    def reload(self) -> None:
        """Read where the data ends, the numbering, and what is still to
        happen to the cases, petitions and warnings left open there."""
        with self.engine.connect() as conn:
            self._read_state(conn)
        self.stale = False

    def _read_state(self, conn: Connection) -> None:
        i = incident.c
        crowd_last = conn.execute(select(func.max(crowd_reading.c.ts))).scalar()
        if crowd_last is not None:
            # The build's cases end within the half hour after the last
            # reading's start; its future-dated bad rows come later.
            latest = conn.execute(
                select(func.max(i.reported_at)).where(i.reported_at < crowd_last + 2 * STEP)
            ).scalar()
            until = max(crowd_last + STEP, latest or crowd_last)
        else:
            until = (
                conn.execute(
                    select(func.max(i.reported_at)).where(i.accepted_at.is_not(None))
                ).scalar()
                or wall_now()
            )
        self.until: datetime = until.replace(microsecond=0)
        #: Petitions, warnings and housing checks are drawn a minute at a
        #: time (rare, and each draw visits every street): written up to here.
        self.minor_until = self.until
        if crowd_last is None:
            crowd_last = _floor15(self.until) - STEP
        self.crowd_last: datetime = crowd_last
        tail = conn.execute(
            select(func.max(func.substr(i.id, 10))).where(i.id.like("E%"), func.length(i.id) == 16)
        ).scalar()
        self.case_seq = (int(tail) if tail and tail.isdigit() else 0) + 1
        self.petition_seq = _max_number(conn, petition, "P") + 1
        self.warning_seq = _max_number(conn, warning, "W") + 1
        u = secs(self.until)
        self.lives = self.model.resume_cases(
            _dicts(
                conn,
                select(i.id, i.street_code, i.source, i.category, i.reported_at)
                .add_columns(i.accepted_at, i.dispatched_at, i.arrived_at)
                .where(
                    i.status.in_(schema.OPEN_STATUSES),
                    i.closed_at.is_(None),
                    i.reported_at <= self.until,
                ),
            ),
            u,
        )
        p, w, h = petition.c, warning.c, housing_record.c
        self.petition_close = self.model.resume_petitions(
            _dicts(
                conn,
                select(p.id, p.received_at, p.due_at).where(
                    p.closed_at.is_(None), p.received_at <= self.until
                ),
            ),
            u,
        )
        self.warning_clear = self.model.resume_warnings(
            _dicts(
                conn,
                select(w.id, w.raised_at, w.colour).where(
                    w.cleared_at.is_(None), w.raised_at <= self.until
                ),
            ),
            u,
        )
        records = _dicts(conn, select(h.id, h.street_code, h.last_verified_at))
        self.model.learn_housing(records, u)
        self.housing: dict[str, list[list[Any]]] = {}
        for r in records:
            v = r["last_verified_at"]
            self.housing.setdefault(r["street_code"], []).append(
                [r["id"], None if v is None else secs(v)]
            )
        self.events: list[tuple[float, str, str]] = []
        for case_id, life in list(self.lives.items()):
            self._schedule_case(case_id, life, u)
        for pid, t in self.petition_close.items():
            heapq.heappush(self.events, (t, "petition", pid))
        for wid, t in self.warning_clear.items():
            heapq.heappush(self.events, (t, "warning", wid))

    def _schedule_case(self, case_id: str, life: dict[str, Any], after: float) -> None:
        t = next_event(life, after)
        if t is None:
            self.lives.pop(case_id, None)
        else:
            self.lives[case_id] = life
            heapq.heappush(self.events, (t, "case", case_id))

    # -- writing ------------------------------------------------------------

    def advance_to(self, t: datetime) -> Step:
        """Write everything that happens up to ``t``, in transactions of at
        most :data:`GAP_CHUNK` of data time each."""
        if self.stale:
            self.reload()
        t = t.replace(microsecond=0)
        step = Step(until=self.until)
        while self.until < t:
            step += self._advance(min(t, self.until + GAP_CHUNK))
        return step

    def _advance(self, b: datetime) -> Step:
        a, m = self.until, self.model
        bs = secs(b)
        try:
            cases = m.cases(a, b, self.case_seq)
            due: dict[str, list[str]] = {"case": [], "petition": [], "warning": []}
            while self.events and self.events[0][0] <= bs:
                _t, kind, key = heapq.heappop(self.events)
                due[kind].append(key)
            due_cases = {k: self.lives[k] for k in dict.fromkeys(due["case"]) if k in self.lives}
            milestones = case_updates(due_cases, bs)
            last = _floor15(b) - STEP
            n_steps = max(0, int((last - self.crowd_last) / STEP))
            crowd = m.crowd(self.crowd_last + STEP, n_steps)
            ma, mb = self.minor_until, max(self.minor_until, b.replace(second=0))
            pets = m.petitions(ma, mb, self.petition_seq) if mb > ma else EMPTY
            closes = [
                {"b_id": k, "closed_at": at(self.petition_close.pop(k))}
                for k in due["petition"]
                if k in self.petition_close
            ]
            wars = m.warnings(ma, mb, self.warning_seq) if mb > ma else EMPTY
            clears = [
                {"b_id": k, "cleared_at": at(self.warning_clear.pop(k))}
                for k in due["warning"]
                if k in self.warning_clear
            ]
            checks = m.housing_checks(ma, mb, self.housing) if mb > ma else []
            with self.engine.begin() as conn:
                _insert(conn, incident, cases.rows)
                _update(conn, incident, milestones)
                _insert(conn, crowd_reading, crowd)
                _insert(conn, petition, pets.rows)
                _update(conn, petition, closes)
                _insert(conn, warning, wars.rows)
                _update(conn, warning, clears)
                _update(conn, housing_record, checks)
        except BaseException:
            self.stale = True  # re-read from the database before the next write
            raise
        self.until, self.minor_until = b, mb
        self.crowd_last += n_steps * STEP
        self.case_seq += len(cases.rows)
        self.petition_seq += len(pets.rows)
        self.warning_seq += len(wars.rows)
        for case_id, life in {**due_cases, **cases.lives}.items():
            self._schedule_case(case_id, life, bs)
        for batch, kind, store in (
            (pets, "petition", self.petition_close),
            (wars, "warning", self.warning_clear),
        ):
            store.update(batch.later)
            for key, t in batch.later.items():
                heapq.heappush(self.events, (t, kind, key))
        return Step(
            len(cases.rows),
            len(milestones),
            len(crowd),
            len(pets.rows) + len(closes),
            len(wars.rows) + len(clears),
            len(checks),
            b,
        )

    def sealed_after(self, since: datetime) -> datetime | None:
        """The rollup's seal when rows written from ``since`` on may be left
        out of the rolled-up figures until the next refresh (those more than
        :data:`rollups.snapshot.LATE_DAYS` before the seal: nearer ones are
        read live), else None."""
        from rollups.tables import rollup_meta

        with self.engine.connect() as conn:
            if not inspect(conn).has_table(rollup_meta.name):
                return None
            sealed = conn.execute(select(func.max(rollup_meta.c.sealed_until))).scalar()
        late = timedelta(days=LATE_DAYS)
        return sealed if sealed is not None and sealed - late > since else None

    def close(self) -> None:
        self.engine.dispose()


def _floor15(t: datetime) -> datetime:
    return t.replace(minute=t.minute - t.minute % 15, second=0, microsecond=0)


def _latest_cells(conn: Connection) -> list[str]:
    c = crowd_reading.c
    latest = conn.execute(select(func.max(c.ts))).scalar()
    if latest is None:
        return []
    return list(conn.execute(select(c.cell_id).where(c.ts == latest).distinct()).scalars())


def _dicts(conn: Connection, query: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(query).mappings()]


def _insert(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(table), rows)


def _update(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(update(table).where(table.c.id == bindparam("b_id")), rows)


# -- running --------------------------------------------------------------------


def run(
    writer: LiveWriter,
    clock: LiveClock,
    *,
    stop: threading.Event | None = None,
    tick_s: float = TICK_S,
    until: datetime | None = None,
    report: Callable[[Step], None] | None = None,
    max_backoff_s: float = 60.0,
) -> None:
    """Advance ``writer`` to ``clock`` every ``tick_s`` seconds until ``stop``
    is set or the clock reaches ``until``. A failed write (the database
    away, a lock held too long) is logged and retried with backoff."""
    stop = stop or threading.Event()
    failures = 0
    while not stop.is_set():
        target = clock.now() if until is None else min(clock.now(), until)
        try:
            step = writer.advance_to(target)
        except Exception as exc:  # the database away or locked too long (or a bug: logged)
            failures += 1
            wait = min(max_backoff_s, tick_s * 2**failures)
            if isinstance(exc, SQLAlchemyError):
                _log.warning("live demo writer: %s; retrying in %.0f s", _first_line(exc), wait)
            else:
                _log.exception("live demo writer failed; retrying in %.0f s", wait)
            stop.wait(wait)
            continue
        failures = 0
        if report is not None:
            report(step)
        if until is not None and target >= until:
            break
        stop.wait(tick_s)


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", exc)
    return (
        f"{type(orig).__name__}: {str(orig).strip().splitlines()[0] if str(orig).strip() else ''}"
    )


@dataclass
class Background:
    """A live writer running in a thread (:func:`start_background`)."""

    writer: LiveWriter
    lock: WriterLock
    thread: threading.Thread
    stop_event: threading.Event

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        self.thread.join(timeout)
        self.lock.release()
        self.writer.close()


def start_background(
    url: str, *, fill: Callable[[LiveWriter, datetime], None] | None = None
) -> Background | None:
    """Start the live source in a daemon thread of this process, in real
    time; None when another writer already holds the database. ``fill``
    (the writer, the time to fill to) runs the gap fill first, in the
    caller's thread (the dashboards show its progress)."""
    writer = LiveWriter(url)
    lock = WriterLock(writer.engine)
    try:
        lock.acquire()
    except LiveError:
        writer.close()
        return None
    try:
        now = wall_now()
        if fill is not None:
            fill(writer, now)
        stop = threading.Event()
        thread = threading.Thread(
            target=run,
            args=(writer, LiveClock(now)),
            kwargs={"stop": stop},
            name="demo-live-writer",
            daemon=True,
        )
        thread.start()
    except BaseException:
        lock.release()
        writer.close()
        raise
    return Background(writer, lock, thread, stop)


class _Reporter:
    """Prints what was written, once a minute (wall time)."""

    def __init__(self) -> None:
        self.at, self.step = time.monotonic(), Step()

    def __call__(self, step: Step) -> None:
        self.step += step
        if time.monotonic() - self.at >= 60:
            print(f"{step.until:%Y-%m-%d %H:%M:%S}  {self.step}", flush=True)
            self.at, self.step = time.monotonic(), Step()


def _parse_time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    if value == "now":
        return wall_now()
    try:
        return datetime.fromisoformat(value).replace(tzinfo=None, microsecond=0)
    except ValueError:
        raise LiveError(f"{option}: not an ISO date-time: {value!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m demo live",
        description="Keep writing the demo's streams into a demo database (the site's "
        "system's stand-in): fills the gap since the data's end, then goes on in real time.",
    )
    ap.add_argument("--url", help=f"demo database URL (default: SQLite at {demo_path()})")
    ap.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="how many times as fast as the wall clock (default 1: real time); "
        "never ahead of the wall clock",
    )
    ap.add_argument(
        "--start",
        help="where the live clock starts, ISO local time (default: now; "
        "with --speed above 1, the end of the data)",
    )
    ap.add_argument("--until", help="stop when the live clock reaches this (ISO, or 'now')")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help="the build's seed")
    ap.add_argument("--scale", type=float, help="the build's scale (default: read from the data)")
    ap.add_argument("--tick", type=float, default=TICK_S, help="seconds between writes")
    args = ap.parse_args(argv)
    url = args.url or sqlite_url(demo_path())
    try:
        if not args.speed > 0 or math.isinf(args.speed):
            raise LiveError(f"--speed must be a number above 0, not {args.speed:g}")
        if not args.tick > 0:
            raise LiveError(f"--tick must be above 0, not {args.tick:g}")
        if args.scale is not None and not args.scale > 0:
            raise LiveError(f"--scale must be above 0, not {args.scale:g}")
        start, until = _parse_time(args.start, "--start"), _parse_time(args.until, "--until")
        parse_url(url, "--url")
        writer = LiveWriter(url, seed=args.seed, scale=args.scale)
        lock = WriterLock(writer.engine).acquire()
    except (DatabaseUrlError, LiveError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        print(f"error: cannot use {describe_url(url)}: {_first_line(exc)}", file=sys.stderr)
        return 2
    gap_from = writer.until
    if start is None:
        start = gap_from if args.speed > 1 else wall_now()
    start = max(start, gap_from)
    if until is not None:
        start = min(start, max(until, gap_from))
    print(
        f"live demo: {describe_url(url)}, scale {writer.scale:g}; data ends "
        f"{gap_from:%Y-%m-%d %H:%M:%S}; clock from {start:%Y-%m-%d %H:%M:%S} at x{args.speed:g}",
        flush=True,
    )
    report = _Reporter()
    try:
        filled = writer.advance_to(start)
        print(f"filled to {writer.until:%Y-%m-%d %H:%M:%S}: {filled}", flush=True)
        sealed = writer.sealed_after(gap_from)
        if sealed is not None:
            print(
                f"note: the rollup was sealed at {sealed:%Y-%m-%d %H:%M}, after the gap began: "
                "refresh it (python -m jobs.refresh_rollups refresh) to count the rows "
                f"filled before {sealed - timedelta(days=LATE_DAYS):%Y-%m-%d}",
                flush=True,
            )
        run(writer, LiveClock(start, args.speed), tick_s=args.tick, until=until, report=report)
    except KeyboardInterrupt:
        pass
    except SQLAlchemyError as exc:
        print(f"error: {describe_url(url)}: {_first_line(exc)}", file=sys.stderr)
        return 1
    finally:
        lock.release()
        writer.close()
    print(f"stopped; data ends {writer.until:%Y-%m-%d %H:%M:%S}", flush=True)
    return 0
