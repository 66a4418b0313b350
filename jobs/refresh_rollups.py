"""The rollup refresh job (floor 4): fills the rollup tables of :mod:`rollups`.

    python -m jobs.refresh_rollups refresh [--url URL] [--now ISO] [--reviews N]
    python -m jobs.refresh_rollups drop [--url URL]

(``python -m data_access.rollups`` is the same command, kept as an alias for
one release.) The job writes, so it needs a database user that may create
and fill these tables; the dashboards keep their read-only connection. It
asks each metric for the SELECT it materialises: the per-day case counts
(:mod:`metrics.throughput`) and stage times (:mod:`metrics.throughput_stages`),
the incident map's cells (:mod:`metrics.heatmap`), the data-quality counts
(:mod:`metrics.quality`) and the weekly reviews (:mod:`metrics.weekly`). What
each table holds, and what the rollup cannot see, is written in :mod:`rollups`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Connection, Engine, delete, func, insert, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from data_access.area import stage_columns, stage_names, unsettled
from data_access.config import load_site_config
from data_access.connection import DatabaseUrlError, describe_url, env_url, parse_url
from data_access.filters import AreaFilter
from data_access.schema import MILESTONES, district, incident, street
from data_access.sqlfn import minutes_between
from metrics import heatmap, quality, weekly, weekly_model
from metrics.throughput import day_rollup_select, kind_week_select
from metrics.throughput_stages import stage_time_select
from metrics.warning_rules import WarningRulesError, load_warning_rules
from rollups import tables as store
from rollups.read import review_fingerprint, to_parquet
from rollups.snapshot import SETTLED, forget, targets_fingerprint

#: A cell size is kept in rollup_cell_week only with at most this many rows
#: per rolled-up case (the city's 300 m cells had 0.59: no gain; 1.2 km 0.19).
MAX_CELL_ROWS_SHARE = 0.25


@dataclass(frozen=True)
class RefreshReport:
    sealed_until: datetime
    rows: int
    duplicate_ids: int
    seconds: float
    reviews: int = 0
    review_seconds: float = 0.0


def refresh_reviews(
    engine: Engine, now: datetime, weeks: int, districts: Sequence[str] | None = None
) -> int:
    """Compute and store the weekly reviews of the last ``weeks`` ended ISO
    weeks before ``now``, for every district and the whole city (or only
    ``districts``; ``""`` = the whole city), as the pages would compute them
    (through the case rollup). Returns how many reviews were stored."""

    cfg = load_site_config()
    try:
        rules = load_warning_rules()
    except WarningRulesError:
        rules = None
    last = weekly_model.week_of(now.date()).shift(-1)
    chosen = [last.shift(-i) for i in range(weeks)]
    if districts is None:
        with engine.connect() as conn:
            districts = [
                "",
                *conn.execute(select(district.c.code).order_by(district.c.code)).scalars(),
            ]
    fingerprint = review_fingerprint(cfg, rules)
    rows = []
    with engine.connect() as conn:
        site_zone(conn, cfg)
        for w in chosen:
            for code in districts:
                f = w.area(AreaFilter(start=w.monday, end=w.monday, district=code or None))
                tables = weekly.compute_review_tables(conn, f, now, cfg, w.label, rules)
                rows += [
                    {
                        "week": w.label,
                        "area": code,
                        "name": name,
                        "fingerprint": fingerprint,
                        "payload": to_parquet(frame),
                    }
                    for name, frame in tables.items()
                ]
    with engine.begin() as conn:
        conn.execute(delete(store.rollup_review))
        if rows:
            conn.execute(insert(store.rollup_review), rows)
    return len(chosen) * len(districts)


def refresh(
    engine: Engine,
    now: datetime,
    reviews: int = 2,
    review_districts: Sequence[str] | None = None,
    cfg: Any = None,
) -> RefreshReport:
    """Rebuild the rollup as of ``now`` (naive local time); see the module
    docstring. ``reviews``: how many ended weeks' reviews to store (see
    :func:`refresh_reviews`; 0 = none). ``cfg``: the site configuration
    whose targets judge ``rollup_case_day`` (default: the site's)."""

    cfg = load_site_config() if cfg is None else cfg
    started = time.perf_counter()
    sealed = datetime.combine(now.date(), dtime.min)
    _upgrade(engine)
    store.rollup_metadata.create_all(engine, checkfirst=True)
    # One snapshot for every statement: under PostgreSQL's default (read
    # committed) each statement saw the source as it then was, and a case
    # closed between the open ids and the settled cases was in both: counted
    # twice (tests/test_live.py). SQLite and MariaDB hold what they read.
    snapshot = (
        engine.execution_options(isolation_level="REPEATABLE READ")
        if engine.dialect.name == "postgresql"
        else engine
    )
    with snapshot.begin() as conn:
        site_zone(conn, cfg)
        for table in store.rollup_metadata.sorted_tables:
            conn.execute(delete(table))
        conn.execute(
            insert(store.rollup_open_id).from_select(
                ["id"],
                select(incident.c.id).where(unsettled(incident.c.status)).distinct(),
            )
        )
        conn.execute(
            insert(store.rollup_dup_id).from_select(
                ["id"],
                select(incident.c.id).group_by(incident.c.id).having(func.count() > 1),
            )
        )
        settled = (
            select(*incident.c, *stage_columns(incident, engine.dialect.name))
            .join(street, street.c.code == incident.c.street_code)
            .outerjoin(store.rollup_dup_id, store.rollup_dup_id.c.id == incident.c.id)
            .where(
                store.rollup_dup_id.c.id.is_(None),
                incident.c.reported_at < sealed,
                incident.c.status.in_(SETTLED),
            )
        )
        names = [c.name for c in incident.c] + stage_names()
        conn.execute(insert(store.rollup_case).from_select(names, settled))
        rows = int(conn.execute(select(func.count()).select_from(store.rollup_case)).scalar_one())
        longest = conn.execute(
            select(
                func.max(
                    minutes_between(
                        store.rollup_case.c.reported_at,
                        store.rollup_case.c.closed_at,
                        engine.dialect.name,
                    )
                )
            ).where(
                store.rollup_case.c.status == "closed", store.rollup_case.c.closed_at.is_not(None)
            )
        ).scalar()
        dups = int(conn.execute(select(func.count()).select_from(store.rollup_dup_id)).scalar_one())
        by_day = day_rollup_select(cfg, sealed, engine.dialect.name)
        conn.execute(
            insert(store.rollup_case_day).from_select(list(by_day.selected_columns.keys()), by_day)
        )
        weeks_until = _store_stage_weeks(conn, cfg, sealed)
        if weeks_until is not None:
            _store_kind_weeks(conn, cfg, sealed, weeks_until)
        levels = _store_cell_weeks(conn, cfg, weeks_until)
        conn.execute(
            insert(store.rollup_crowd_quality_day).from_select(
                [c.name for c in store.rollup_crowd_quality_day.c],
                quality.rollup_crowd_select(sealed, engine.dialect.name),
            )
        )
        for q in quality.rollup_incident_selects(cfg, sealed, engine.dialect.name):
            conn.execute(
                insert(store.rollup_incident_quality_day).from_select(
                    [c.name for c in store.rollup_incident_quality_day.c], q
                )
            )
        seconds = time.perf_counter() - started
        conn.execute(
            insert(store.rollup_meta).values(
                name="case",
                sealed_until=sealed,
                refreshed_at=now,
                rows=rows,
                seconds=seconds,
                max_closed_min=None if longest is None else float(longest),
                day_targets=targets_fingerprint(cfg),
                stage_weeks_until=weeks_until,
                cell_levels=" ".join(levels),
            )
        )
    _analyze(engine)
    forget()
    case_seconds = time.perf_counter() - started
    stored = 0
    if reviews > 0:
        stored = refresh_reviews(engine, now, reviews, review_districts)
    else:
        with engine.begin() as conn:  # none asked for: none kept from an older refresh
            conn.execute(delete(store.rollup_review))
    return RefreshReport(
        sealed, rows, dups, case_seconds, stored, time.perf_counter() - started - case_seconds
    )


def site_zone(conn: Connection, cfg: Any) -> None:
    """Read as the dashboards read, for this transaction: on PostgreSQL in
    the site's time zone (a ``timestamp with time zone`` column is copied
    into the rollup, and bucketed by day, as the pages' sessions see it;
    see :func:`data_access.connection.harden`). In the server's default
    zone every rolled-up case of a ``timestamptz`` site was 8 hours off
    (tests/test_storage_forms.py). Other backends: nothing to do."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.set_config("TimeZone", cfg.timezone, True)))


def _store_stage_weeks(conn: Connection, cfg: Any, sealed: datetime) -> datetime | None:
    """Fill ``rollup_stage_week`` from ``rollup_case``, one week at a time
    (bounded memory), for every ISO week that ended by ``sealed``, with each
    value's category and source as indices into ``rollup_code`` (written
    here too). Returns the Monday after the last stored week, None when
    none ended."""
    from datetime import timedelta

    first = conn.execute(select(func.min(store.rollup_case.c.reported_at))).scalar()
    if first is None:
        return None
    first = pd.Timestamp(first).to_pydatetime()
    monday = datetime.combine(first.date() - timedelta(days=first.weekday()), dtime.min)
    until = None
    codes: dict[str, dict[Any, int]] = {k: {} for k in store.KINDS}
    while monday + timedelta(days=7) <= sealed:
        nxt = monday + timedelta(days=7)
        q = stage_time_select(cfg, sealed, conn.dialect.name, monday, nxt)
        frame = pd.DataFrame(
            conn.execute(q).all(), columns=["street_code", *store.KINDS, *MILESTONES]
        )
        for k in store.KINDS:
            index = codes[k]
            frame[f"{k}_ix"] = [
                index.setdefault(None if c is None or c != c else c, len(index)) for c in frame[k]
            ]
        rows = []
        for m in MILESTONES:
            values = frame[["street_code", m, *(f"{k}_ix" for k in store.KINDS)]].dropna()
            values = values.sort_values(["street_code", m], kind="stable")
            for code, part in values.groupby("street_code", sort=False):
                array = part[m].to_numpy(dtype="<f8")
                row = {
                    "street_code": code,
                    "week": monday.date().isoformat(),
                    "stage": m,
                    "n": len(array),
                    "payload": array.tobytes(),
                }
                for k in store.KINDS:
                    row[f"{k}_ix"] = part[f"{k}_ix"].to_numpy(dtype="<u2").tobytes()
                rows.append(row)
        if rows:
            conn.execute(insert(store.rollup_stage_week), rows)
        monday = until = nxt
    # A kind with more codes than an index holds is not listed: its indices
    # wrapped, and its breakdown reads the cases instead.
    listed = [
        {"kind": k, "ix": i, "code": c}
        for k in store.KINDS
        if len(codes[k]) <= store.MAX_CODES
        for c, i in codes[k].items()
    ]
    if listed:
        conn.execute(insert(store.rollup_code), listed)
    return until


def _store_kind_weeks(conn: Connection, cfg: Any, sealed: datetime, until: datetime) -> None:
    """Fill ``rollup_kind_week``: per category (then source), street and ISO
    week before ``until`` (the weeks ``rollup_stage_week`` holds), the
    counts of ``rollup_case_day``, judged under ``cfg``'s targets."""
    for kind in store.KINDS:
        q = kind_week_select(cfg, sealed, conn.dialect.name, kind, until)
        conn.execute(insert(store.rollup_kind_week).from_select(list(q.selected_columns.keys()), q))


def _store_cell_weeks(conn: Connection, cfg: Any, until: datetime | None) -> list[str]:
    """Fill ``rollup_cell_week`` for the rolled-up cases reported before
    ``until`` (whole weeks), at the cell size of the whole city and of each
    district (:func:`metrics.heatmap.map_cell_m`), coarsest first, up
    to the first size that would keep more than :data:`MAX_CELL_ROWS_SHARE`
    rows per case (that and finer ones are left to the cases). Returns the
    sizes kept."""
    if until is None:
        return []
    day = until.date()
    codes = [None, *conn.execute(select(district.c.code)).scalars()]
    sizes = {
        heatmap.map_cell_m(conn, AreaFilter(start=day, end=day, district=c), cfg) for c in codes
    }
    r = store.rollup_case.c
    cases = conn.execute(select(func.count()).where(r.reported_at < until)).scalar() or 0
    kept = []
    for size in sorted(sizes, reverse=True):  # coarsest first: finer ones only get bigger
        q = heatmap.rollup_cell_select(cfg, size, until, conn.dialect.name)
        conn.execute(
            insert(store.rollup_cell_week).from_select(
                [c.name for c in store.rollup_cell_week.c], q
            )
        )
        # Counted, not the INSERT's rowcount (psycopg reported none for it).
        this_size = store.rollup_cell_week.c.cell_m == repr(size)
        stored = conn.execute(select(func.count()).where(this_size)).scalar() or 0
        if stored > cases * MAX_CELL_ROWS_SHARE:  # hardly fewer rows than cases: no gain
            conn.execute(delete(store.rollup_cell_week).where(this_size))
            break
        kept.append(repr(size))
    return kept


def _upgrade(engine: Engine) -> None:
    """Drop rollup tables whose columns differ from this version's (they
    are rebuilt from the source anyway)."""
    with engine.connect() as conn:
        found = inspect(conn)
        stale = [
            t
            for t in store.rollup_metadata.sorted_tables
            if found.has_table(t.name)
            and {c["name"] for c in found.get_columns(t.name)} != {c.name for c in t.columns}
        ]
    if stale:
        store.rollup_metadata.drop_all(engine, tables=stale, checkfirst=True)


def _analyze(engine: Engine) -> None:
    names = [t.name for t in store.rollup_metadata.sorted_tables]
    dialect = engine.dialect.name
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        if dialect == "postgresql":
            conn.exec_driver_sql("VACUUM ANALYZE " + ", ".join(names))
        elif dialect == "mysql":
            conn.exec_driver_sql("ANALYZE TABLE " + ", ".join(names))
        else:
            conn.exec_driver_sql("ANALYZE")


def drop(engine: Engine) -> None:
    """Remove the rollup tables: every query reads the source tables again."""
    store.rollup_metadata.drop_all(engine, checkfirst=True)
    forget()


def main(argv: Sequence[str] | None = None) -> int:

    ap = argparse.ArgumentParser(
        prog="python -m jobs.refresh_rollups",
        description="Build (refresh) or remove the rollup tables the dashboards read.",
    )
    ap.add_argument("action", choices=("refresh", "drop"))
    ap.add_argument("--url", help="database URL with write access (default: OPS_DB_URL)")
    ap.add_argument("--now", help="refresh as of this local time (ISO; default: now)")
    ap.add_argument(
        "--reviews",
        type=int,
        default=2,
        help="weekly reviews to store: the last N ended weeks, every district and the city "
        "(default 2; 0 = none)",
    )
    args = ap.parse_args(argv)
    url = args.url or env_url()
    if not url:
        print("no database: give --url or set OPS_DB_URL", file=sys.stderr)
        return 2
    cfg = load_site_config()
    try:
        now = (
            datetime.fromisoformat(args.now)
            if args.now
            else datetime.now(ZoneInfo(cfg.timezone)).replace(tzinfo=None)
        )
    except ValueError:
        print(f"--now: not an ISO date-time: {args.now!r}", file=sys.stderr)
        return 2
    from sqlalchemy import create_engine

    try:
        engine = create_engine(parse_url(url, "--url / OPS_DB_URL"))
    except DatabaseUrlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.action == "drop":
            drop(engine)
            print(f"rollup tables dropped from {describe_url(url)}")
            return 0
        report = refresh(engine, now, max(args.reviews, 0))
    except SQLAlchemyError as exc:
        print(
            f"{describe_url(url)}: {type(exc).__name__}: {str(exc).splitlines()[0]}",
            file=sys.stderr,
        )
        return 1
    finally:
        engine.dispose()
    print(
        f"rollup refreshed on {describe_url(url)}: {report.rows:,} settled cases before "
        f"{report.sealed_until:%Y-%m-%d %H:%M}, {report.duplicate_ids:,} duplicated ids left "
        f"to the live part, {report.seconds:.1f} s; {report.reviews} weekly reviews stored "
        f"in {report.review_seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
