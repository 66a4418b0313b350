"""The dashboards' SQL against the naive approach, on the same data.

    python benchmarks/naive.py --db URL --now ISO [--repeat N] [--scenario default widest]

Naive = what a quick dashboard does: read the window's fact rows into pandas
(``SELECT * FROM incident WHERE reported_at`` in the window) and aggregate
there. The pandas code is the suite's independent reference
(``tests/reference*.py``), so both sides compute the same figures, and this
script checks that they do before it prints a ratio.

Two comparisons, each at the default filter (拱墅区, the last 7 days) and the
widest (every district, the last 365 days):

- throughput: the per-street table of the throughput page
  (``throughput.case_throughput``) against ``reference_throughput``;
- heat map: the incident map's cells (``heatmap.incident_cells``) against
  reading every mapped case and binning it with numpy. It also prints what
  a naive map would send: every point as ``[lon, lat]`` JSON.

Per side: seconds (the best of ``--repeat`` runs; the database's own page
cache is warm after the first) and the growth of this process's peak
resident memory. Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, select  # noqa: E402

from data_access.area import listed_streets  # noqa: E402
from data_access.config import SiteConfig, load_site_config  # noqa: E402
from data_access.connection import make_engine  # noqa: E402
from data_access.filters import AreaFilter  # noqa: E402
from data_access.schema import incident, street  # noqa: E402
from metrics import heatmap, throughput  # noqa: E402
from tests import reference, reference_throughput  # noqa: E402

DEFAULT_DISTRICT = "330105"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """(best seconds, growth of peak RSS in MB over the runs, last result)."""
    gc.collect()
    before = peak_mb()
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, peak_mb() - before, result


def read_window(engine: Engine, f: AreaFilter, now: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The naive read: every incident row of the window, and the streets."""
    q = select(incident).where(
        incident.c.reported_at >= f.start_ts,
        incident.c.reported_at < f.end_ts,
        incident.c.reported_at <= now,
    )
    with engine.connect() as conn:
        rows = pd.read_sql(q, conn)
        streets = pd.read_sql(select(street), conn)
    for col in reference.TS_COLS:
        rows[col] = pd.to_datetime(rows[col])
    return rows, streets


def naive_cells(
    rows: pd.DataFrame, streets: pd.DataFrame, f: AreaFilter, now: datetime, cfg: SiteConfig
) -> tuple[pd.DataFrame, int]:
    """Cells of the mapped, deduplicated cases, binned in numpy; and the
    bytes of a naive map's points JSON."""
    df = reference.clean_incidents(rows, streets, f, now)
    b = cfg.bounds
    df = df[df["lat"].between(b.min_lat, b.max_lat) & df["lon"].between(b.min_lon, b.max_lon)]
    codes = reference.area_codes(streets, f)
    s = streets[streets["code"].isin(codes)]
    extent = None if s.empty else _street_extent(s, df)
    cell_m = heatmap.adaptive_cell_m(extent, cfg.map.incident_cell_m, cfg.map.max_cells)
    step_lon, step_lat = heatmap.cell_steps(cfg, cell_m)
    cells = (
        df.assign(
            gx=np.floor(df["lon"] / step_lon).astype("int64"),
            gy=np.floor(df["lat"] / step_lat).astype("int64"),
        )
        .groupby(["gx", "gy"])
        .agg(cases=("id", "size"), lat=("lat", "mean"), lon=("lon", "mean"))
        .reset_index()
    )
    points = json.dumps(df[["lon", "lat"]].round(6).to_numpy().tolist(), separators=(",", ":"))
    return cells, len(points)


def _street_extent(s: pd.DataFrame, df: pd.DataFrame) -> tuple[float, float, float, float]:
    # The page sizes cells by the area's street extent (geometry table);
    # the label points of the streets and the cases span it closely enough
    # for the naive side, and the cell size is reported for both.
    lat = pd.concat([s["lat"], df["lat"]])
    lon = pd.concat([s["lon"], df["lon"]])
    return float(lat.min()), float(lat.max()), float(lon.min()), float(lon.max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True, help="SQLAlchemy URL")
    ap.add_argument("--now", required=True, help="ISO local time")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--scenario", nargs="*", default=["default", "widest"])
    args = ap.parse_args()
    cfg = load_site_config()
    now = datetime.fromisoformat(args.now)
    today: date = now.date()
    scenarios = {
        "default": AreaFilter(
            start=today - timedelta(days=6), end=today, district=DEFAULT_DISTRICT
        ),
        "widest": AreaFilter(start=today - timedelta(days=364), end=today),
    }
    engine = make_engine(args.db, statement_timeout_s=600)
    print(f"db={engine.url.render_as_string(hide_password=True)} now={now}")
    for name in args.scenario:
        compare(engine, name, scenarios[name], now, cfg, args.repeat)
        gc.collect()


def compare(
    engine: Engine, name: str, f: AreaFilter, now: datetime, cfg: SiteConfig, repeat: int
) -> None:
    """Time both sides for one filter, check they agree, print the ratio."""
    print(f"\n== {name}: district={f.district or 'all'} {f.start}..{f.end}")

    def dashboards_filter(conn: Any) -> AreaFilter:
        # What ui.data.run_query does (one small query on the servers, counted here).
        return listed_streets(conn, f)

    def sql_table() -> pd.DataFrame:
        with engine.connect() as conn:
            return throughput.case_throughput(conn, dashboards_filter(conn), now, cfg)

    def sql_cells() -> pd.DataFrame:
        with engine.connect() as conn:
            return heatmap.incident_cells(conn, dashboards_filter(conn), now, cfg)

    t_sql, m_sql, table = timed(sql_table, repeat)
    t_cells, m_cells, cells = timed(sql_cells, repeat)
    t_read, m_read, (rows, streets) = timed(lambda: read_window(engine, f, now), repeat)
    t_ref, m_ref, ref = timed(
        lambda: reference_throughput.case_throughput(rows, streets, f, now, cfg), repeat
    )
    t_bin, m_bin, (ncells, point_bytes) = timed(
        lambda: naive_cells(rows, streets, f, now, cfg), repeat
    )
    # Same figures on both sides, or the ratio means nothing.
    got = table.set_index("street_code")["cases"].fillna(0).astype(int)
    want = ref.set_index("street_code")["cases"].reindex(got.index).fillna(0).astype(int)
    assert got.equals(want), "SQL and pandas disagree on cases per street"
    for m in ("arrived", "closed"):
        a = table.set_index("street_code")[f"{m}_median_min"].dropna()
        b = ref.set_index("street_code")[f"{m}_median_min"].reindex(a.index)
        assert np.allclose(a.to_numpy(float), b.to_numpy(float)), f"{m} medians differ"
    assert int(cells["cases"].sum()) == int(ncells["cases"].sum()), "cell totals differ"
    naive_tp = t_read + t_ref
    naive_map = t_read + t_bin
    print(f"fact rows read by the naive side: {len(rows):,} ({m_read:,.0f} MB peak growth)")
    print(f"{'':26} {'sql_s':>8} {'naive_s':>8} {'ratio':>7}  naive = read + pandas")
    print(
        f"{'throughput street table':26} {t_sql:8.3f} {naive_tp:8.2f} {naive_tp / t_sql:6.1f}x"
        f"  {t_read:.2f} + {t_ref:.2f} s; {len(table)} streets, {int(got.sum()):,} cases"
    )
    cell_m = cells["cell_m"].iloc[0] if len(cells) else 0
    print(
        f"{'incident map cells':26} {t_cells:8.3f} {naive_map:8.2f} {naive_map / t_cells:6.1f}x"
        f"  {t_read:.2f} + {t_bin:.2f} s; {len(cells):,} cells of {cell_m:g} m"
    )
    print(
        f"memory (peak growth, MB): sql {m_sql + m_cells:,.0f}, "
        f"naive {m_read + m_ref + m_bin:,.0f}; "
        f"naive map points JSON {point_bytes / 2**20:,.1f} MB"
    )


if __name__ == "__main__":
    main()
