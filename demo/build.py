"""Build the demo operational database: every contract table, filled with
plausible, deterministic data calibrated on the domain brief.

    python -m demo [--url URL] [--days 90] [--seed N] [--scale 1.0]
                               [--end 2026-11-22T09:00] [--all-hangzhou] [--no-bad-rows]

``build_demo`` drops and recreates the contract tables (``schema.metadata``)
at ``url`` (SQLite, PostgreSQL or MySQL/MariaDB) and bulk-loads them.
The same ``(seed, days, scale, end, districts, bad_rows)`` always give the same
rows. Timestamps are naive Asia/Shanghai local time; the data covers
``(end - days, end]``. Coordinates are GCJ-02 (the site default), converted
from the WGS-84 boundary assets with ``data_access.coords``.

What is in it (scale 1, default four districts 拱墅, 上城, 钱塘, 西湖):

- ``district``/``street`` from ``assets/geo`` (street lat/lon = label point);
  ``grid``: 15-40 per street (四季青 has 9 building grids; 河庄 10 community
  + 17 village + 5 dedicated).
- ``incident``: about 10-40 cases per street per day in proportion to
  population (四季青 about 35 a day), with diurnal and weekly rhythm, the
  source and category mix of the brief, milestone times with a right tail
  (about 5-12 % miss the arrival target: 5 min in 四季青, 8 elsewhere),
  about 98 % of cases older than 3 days closed, camera-AI false detections
  cancelled, and repeat hot spots (云上澜苑 in 河庄: renovation-noise calls at
  one building, ``rows["hotspot_yunshang_lanyuan"]`` of them).
- ``crowd_reading``: 15-minute head counts on a fixed ~500 m grid (cell
  ``g<ix>_<iy>``, lat/lon = cell centre) over the dense urban core and the
  venues' surroundings, for the LAST 14 DAYS ONLY (``CROWD_DAYS``): with 28
  days the default demo file grew to 275 MB of crowd rows, so two weeks it
  is (this week vs last week, and the fireworks). Residents and workers by
  street, the daily 武林 business circle, the 杭州东站 hub, and a 300,000+
  fireworks evening at 城市阳台 on the most recent Saturday whose show
  (ending 22:30) is before ``end``. Below scale 1 the crowd window (at least
  8 days) and the cells shrink too (fast test fixtures), keeping every
  venue's cells.
- ``venue``: the watched places with ``radius_m`` and ``capacity`` (a
  venue's head count is the sum over cells whose centre is within
  ``radius_m``; capacities are set from the readings so that only the
  fireworks evening exceeds 城市阳台's, and only the busiest rush hours
  (top 0.5 %) exceed 杭州东站's).
- ``petition``, ``housing_record`` (5 % never verified, 2 % without
  coordinates), ``warning`` (``enforcement`` 三色赋码 and ``risk``).
- With ``bad_rows`` (default), a few deliberately wrong rows: incidents with
  an unknown street, NULL coordinates, a point in the sea, milestones out of
  order, a time after ``end``, duplicate ids; crowd readings with NULL
  coordinates or an unknown street. Their exact counts come back in
  ``DemoSummary.rows`` under ``bad_*`` keys.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Table, create_engine

from data_access import schema
from data_access.connection import DatabaseUrlError, demo_path, parse_url, sqlite_url
from demo.common import Rows
from demo.crowds import build_crowd
from demo.geography import _street_rows, build_grids, load_geography
from demo.incidents import build_incidents
from demo.load import _load_mysql, _load_postgresql, _load_sqlite, _Tracker
from demo.warnings import build_housing, build_petitions, build_warnings

DEFAULT_DISTRICTS = ("330105", "330102", "330114", "330106")  # 拱墅, 上城, 钱塘, 西湖
TIMEZONE = "Asia/Shanghai"


@dataclass(frozen=True)
class DemoSummary:
    """What a build wrote: the target URL (password hidden), rows per table
    plus ``bad_*`` and ``hotspot_*`` counts, seconds taken, and ``end``."""

    url: str
    rows: dict[str, int]
    seconds: float
    end: datetime


def default_end(now: datetime | None = None) -> datetime:
    """Now in Asia/Shanghai (naive), floored to 15 minutes."""
    now = now or datetime.now(ZoneInfo(TIMEZONE)).replace(tzinfo=None)
    return now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)


def build_demo(
    url: str,
    *,
    days: int = 90,
    seed: int = 20261122,
    scale: float = 1.0,
    end: datetime | None = None,
    districts: Sequence[str] | None = DEFAULT_DISTRICTS,
    bad_rows: bool = True,
    progress: Callable[[str, float], None] | None = None,
) -> DemoSummary:
    """Drop, recreate and fill the contract tables at ``url``; see the module docstring.

    ``end``: last instant of data (naive Asia/Shanghai time), default now
    floored to 15 minutes; data covers ``(end - days, end]``. ``districts``:
    6-digit codes, ``None`` for all of Hangzhou. ``scale`` multiplies the
    volumes (incidents, petitions, housing records, warnings; below 1 it
    also thins the crowd readings). ``progress(stage, fraction)`` is called
    as the build goes. A SQLite target file is written atomically (built
    beside it, then renamed over it). Deterministic for the same arguments.
    """
    from data_access.connection import describe_url

    started = time.perf_counter()
    if days < 1:
        raise ValueError("days must be at least 1")
    if not scale > 0:
        raise ValueError("scale must be > 0")
    end = default_end() if end is None else end.replace(tzinfo=None, microsecond=0)
    t0 = end - timedelta(days=days)

    def report(stage: str, fraction: float) -> None:
        if progress:
            progress(stage, min(max(fraction, 0.0), 1.0))

    parsed = parse_url(url, "demo database URL")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql", "mysql", "mariadb"):
        raise ValueError(f"unsupported database {backend!r} (sqlite, postgresql, mysql/mariadb)")
    if backend == "sqlite" and not parsed.database or parsed.database == ":memory:":
        raise ValueError("the SQLite demo needs a file path (sqlite:///path/to/demo.sqlite)")

    report("reading geography", 0.0)
    district_rows, streets = load_geography(districts)
    district_names = {d[0]: d[1] for d in district_rows}
    report("grids", 0.03)
    grid_rows, extras = build_grids(seed, streets)
    report("incidents", 0.06)
    incident_rows, counts = build_incidents(
        seed,
        streets,
        district_names,
        extras,
        days,
        t0,
        end,
        scale,
        bad_rows,
        lambda f: report("incidents", 0.06 + 0.24 * f),
    )
    report("crowd readings", 0.30)
    crowd_rows, venue_rows, crowd_counts = build_crowd(seed, streets, end, days, scale, bad_rows)
    counts.update(crowd_counts)
    report("petitions, housing records, warnings", 0.42)
    petition_rows = build_petitions(seed, streets, extras, t0, end, scale)
    housing_rows, housing_counts = build_housing(seed, streets, extras, end, scale)
    counts.update(housing_counts)
    warning_rows = build_warnings(seed, streets, extras, t0, end, scale)

    loads: list[tuple[Table, Rows]] = [
        (schema.district, list(district_rows)),
        (schema.street, _street_rows(streets)),
        (schema.grid, grid_rows),
        (schema.venue, venue_rows),
        (schema.incident, incident_rows),
        (schema.crowd_reading, crowd_rows),
        (schema.petition, petition_rows),
        (schema.housing_record, housing_rows),
        (schema.warning, warning_rows),
    ]
    track = _Tracker(progress, sum(len(r) for _, r in loads), 0.45, 0.99)
    report("loading", 0.45)
    if backend == "sqlite":
        _load_sqlite(Path(str(parsed.database)), loads, track)
    else:
        connect_args = {"local_infile": True} if backend in ("mysql", "mariadb") else {}
        engine = create_engine(url, connect_args=connect_args)
        try:
            if backend == "postgresql":
                _load_postgresql(engine, loads, track)
            else:
                _load_mysql(engine, loads, track)
        finally:
            engine.dispose()
    rows = {table.name: len(r) for table, r in loads}
    rows.update(counts)
    report("done", 1.0)
    return DemoSummary(
        url=describe_url(url), rows=rows, seconds=time.perf_counter() - started, end=end
    )


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == ["live"]:  # python -m demo live …: the live source
        from demo.live import main as live_main

        return live_main(args_in[1:])
    ap = argparse.ArgumentParser(
        prog="python -m demo",
        description="Build the demo operational database (drops and recreates the contract "
        "tables). `python -m demo live --help`: keep writing into it (the live source).",
    )
    ap.add_argument("--url", help=f"database URL (default: SQLite at {demo_path()})")
    ap.add_argument(
        "--days", type=int, default=90, help="days of data ending at --end (default 90)"
    )
    ap.add_argument("--seed", type=int, default=20261122, help="random seed (default 20261122)")
    ap.add_argument("--scale", type=float, default=1.0, help="volume multiplier (default 1.0)")
    ap.add_argument(
        "--end", help="last instant of data, ISO local time (default: now, floored to 15 min)"
    )
    ap.add_argument(
        "--all-hangzhou", action="store_true", help="all 13 districts instead of the default four"
    )
    ap.add_argument(
        "--no-bad-rows", action="store_true", help="leave out the deliberately wrong rows"
    )
    args = ap.parse_args(args_in)
    url = args.url or sqlite_url(demo_path())
    try:
        parse_url(url, "--url")
        end = datetime.fromisoformat(args.end) if args.end else None
    except DatabaseUrlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError:
        print(f"error: --end: not an ISO date-time: {args.end!r}", file=sys.stderr)
        return 2

    def show(stage: str, fraction: float) -> None:
        print(f"\r{fraction * 100:5.1f}%  {stage:<40}", end="", file=sys.stderr, flush=True)

    summary = build_demo(
        url,
        days=args.days,
        seed=args.seed,
        scale=args.scale,
        end=end,
        districts=None if args.all_hangzhou else DEFAULT_DISTRICTS,
        bad_rows=not args.no_bad_rows,
        progress=show if sys.stderr.isatty() else None,
    )
    if sys.stderr.isatty():
        print(file=sys.stderr)
    out = io.StringIO()
    print(f"demo database: {summary.url}", file=out)
    print(
        f"data window:   {summary.end - timedelta(days=args.days):%Y-%m-%d %H:%M} .. {summary.end:%Y-%m-%d %H:%M}",
        file=out,
    )
    for name in schema.CONTRACT_TABLES:
        print(f"  {name:<16} {summary.rows.get(name, 0):>10,d}", file=out)
    for key in sorted(k for k in summary.rows if k not in schema.CONTRACT_TABLES):
        print(f"  {key:<40} {summary.rows[key]:>8}", file=out)
    print(f"built in {summary.seconds:.1f} s", file=out)
    print(out.getvalue(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
