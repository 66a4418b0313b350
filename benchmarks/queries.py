"""Time of each foundation query at the default and the widest filter.

    python benchmarks/queries.py [--db URL] [--now ISO] [--repeat N] [--only NAME,...]

Defaults to the demo database (var/demo.sqlite) with "now" = its newest
case that is not in the future.
Default filter: 拱墅区 (330105), the last 7 days. Widest: every district, the
last 90 days. Prints the best of N runs (seconds) and the rows returned.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from data_access import geography  # noqa: E402
from data_access.config import load_site_config  # noqa: E402
from data_access.connection import demo_path, make_engine, sqlite_url  # noqa: E402
from data_access.filters import AreaFilter  # noqa: E402
from data_access.schema import incident  # noqa: E402
from metrics import overview, quality, throughput  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=sqlite_url(demo_path()))
    parser.add_argument("--now", help="ISO local time (default: the newest case)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated query names (default: all)")
    args = parser.parse_args()
    cfg = load_site_config()
    engine = make_engine(args.db, statement_timeout_s=120)
    wall = datetime.now(ZoneInfo(cfg.timezone)).replace(tzinfo=None)
    with engine.connect() as conn:
        newest = conn.execute(
            select(func.max(incident.c.reported_at)).where(incident.c.reported_at <= wall)
        ).scalar()
    now = datetime.fromisoformat(args.now) if args.now else newest
    today = now.date()
    filters = {
        "default": AreaFilter(start=today - timedelta(days=6), end=today, district="330105"),
        "widest": AreaFilter(start=today - timedelta(days=89), end=today),
    }
    queries = [
        ("geography.districts", geography.districts, ()),
        ("geography.streets", geography.streets, ()),
        ("overview.case_counts", overview.case_counts, ("F", now)),
        ("overview.street_summary", overview.street_summary, ("F", now)),
        ("overview.active_red_warnings", overview.active_red_warnings, ("F", now)),
        ("overview.largest_crowd", overview.largest_crowd, ("F", now)),
        ("overview.data_freshness", overview.data_freshness, (now,)),
        ("overview.feed_status", overview.feed_status, (now, cfg, "F")),
        ("throughput.ontime_by_milestone", throughput.ontime_by_milestone, ("F", now, cfg)),
        ("quality.data_quality", quality.data_quality, ("F", now, cfg)),
    ]
    if args.only:
        wanted = {name.strip() for name in args.only.split(",")}
        queries = [q for q in queries if q[0] in wanted]
    print(f"db={engine.url.render_as_string(hide_password=True)} now={now}")
    print(f"{'query':34} {'filter':8} {'best_s':>7} {'rows':>6}")
    for label, f in filters.items():
        for name, fn, template in queries:
            call = tuple(f if a == "F" else a for a in template)
            best = float("inf")
            rows = 0
            for _ in range(args.repeat):
                with engine.connect() as conn:
                    t0 = time.perf_counter()
                    frame = fn(conn, *call)
                    best = min(best, time.perf_counter() - t0)
                    rows = len(frame)
            print(f"{name:34} {label:8} {best:7.3f} {rows:6d}")


if __name__ == "__main__":
    main()
