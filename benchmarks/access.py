"""What row-level security and sign-in cost.

    python benchmarks/access.py [--db URL] [--now ISO] [--repeat N] [--users N]

1. The scope: each page's main queries for one street as a street-scoped
   user sees them (``AreaFilter(scope=(street,))``, no district picked:
   the scope is what narrows) against the same street named unscoped
   (``district=…, streets=(street,)``), as the dashboards run them (the
   street list resolved first on the servers). Best of N, seconds.
2. The principal per rerun: ``resolve_principal`` for an access.toml of
   ``--users`` users and a tenth as many groups over the database's
   streets (what ui.auth.gate does on every full rerun), microseconds.

Defaults to the demo database (var/demo.sqlite), "now" = its newest case.
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
from data_access.access import Identity, parse_access_config, resolve_principal  # noqa: E402
from data_access.area import listed_streets  # noqa: E402
from data_access.config import load_site_config  # noqa: E402
from data_access.connection import demo_path, make_engine, sqlite_url  # noqa: E402
from data_access.filters import AreaFilter  # noqa: E402
from data_access.schema import incident  # noqa: E402
from metrics import heatmap, overview, throughput, throughput_backlog, warnings  # noqa: E402
from metrics.warning_rules import load_warning_rules  # noqa: E402


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=sqlite_url(demo_path()))
    parser.add_argument("--now", help="ISO local time (default: the newest case)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--users", type=int, default=2000)
    args = parser.parse_args()
    cfg = load_site_config()
    rules = load_warning_rules()
    engine = make_engine(args.db, statement_timeout_s=120)
    wall = datetime.now(ZoneInfo(cfg.timezone)).replace(tzinfo=None)
    with engine.connect() as conn:
        newest = conn.execute(
            select(func.max(incident.c.reported_at)).where(incident.c.reported_at <= wall)
        ).scalar()
        streets = geography.streets(conn)
        busiest = conn.execute(
            select(incident.c.street_code)
            .where(incident.c.street_code.like("330105%"))
            .group_by(incident.c.street_code)
            .order_by(func.count().desc())
            .limit(1)
        ).scalar_one()
    now = datetime.fromisoformat(args.now) if args.now else newest
    today = now.date()
    start = today - timedelta(days=6)
    alone = AreaFilter(start=start, end=today, district="330105", streets=(busiest,))
    scoped = AreaFilter(start=start, end=today, scope=(busiest,))
    queries = [
        ("overview.case_counts", overview.case_counts, (now,)),
        ("overview.street_figures", overview.street_figures, (now, cfg)),
        ("throughput.case_throughput", throughput.case_throughput, (now, cfg)),
        ("throughput_backlog.attention_cases", throughput_backlog.attention_cases, (now, cfg)),
        ("heatmap.incident_cells", heatmap.incident_cells, (now, cfg)),
        ("warnings.red_counts", warnings.red_counts, (now, rules)),
    ]
    print(f"database: {engine.url.render_as_string(hide_password=True)}; street {busiest}")
    print(f"{'query':34} {'street alone':>13} {'scope':>9} {'ratio':>7}")
    totals = [0.0, 0.0]
    for name, fn, rest in queries:
        timings = []
        for f in (alone, scoped):
            with engine.connect() as conn:

                def run(conn=conn, f=f, fn=fn, rest=rest):
                    return fn(conn, listed_streets(conn, f), *rest)

                timings.append(best(run, args.repeat))
        totals = [totals[0] + timings[0], totals[1] + timings[1]]
        print(f"{name:34} {timings[0]:13.4f} {timings[1]:9.4f} {timings[1] / timings[0]:7.2f}")
    print(f"{'total':34} {totals[0]:13.4f} {totals[1]:9.4f} {totals[1] / totals[0]:7.2f}")

    codes = list(streets["code"])
    districts = sorted(set(streets["district_code"]))
    users = [
        {"name": f"user{i}@hz.gov.cn", "role": "street_staff", "streets": [codes[i % len(codes)]]}
        for i in range(args.users)
    ]
    groups = [
        {"group": f"g{i}", "role": "analyst", "districts": [districts[i % len(districts)]]}
        for i in range(max(args.users // 10, 1))
    ]
    access = parse_access_config({"users": users, "groups": groups})
    cases = {
        "last user entry": Identity("oidc", f"user{args.users - 1}@hz.gov.cn"),
        "by group (no user entry)": Identity("proxy", "x@hz.gov.cn", groups=("g1", "g2")),
    }
    n = 2000
    for label, ident in cases.items():
        t0 = time.perf_counter()
        for _ in range(n):
            resolve_principal(access, ident, streets)
        per = (time.perf_counter() - t0) / n * 1e6
        print(f"resolve_principal, {args.users} users, {label}: {per:.0f} µs per rerun")


if __name__ == "__main__":
    main()
