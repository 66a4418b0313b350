"""What reading the rollup's state costs (not a CI test).

Every query that reads through the rollup asks :func:`rollups.state`; the
state is re-read from the database every :data:`rollups.snapshot.STATE_TTL_S`
seconds per process. Since issue #23's miscount it also looks for the
settled rows of the :data:`rollups.snapshot.LATE_DAYS` before the seal that
the refresh did not see (:func:`rollups.snapshot._late`). This prints the
time of one state read with and without that look, on a demo database
built for the purpose (``--days``, ``--scale``) or on ``--url`` as it is
(``--no-build``: an existing database whose rollup is refreshed).

    python benchmarks/rollup_state.py --url sqlite:////tmp/state.sqlite
    python benchmarks/rollup_state.py --url postgresql+psycopg://postgres@127.0.0.1:5432/city --no-build
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_access.schema import incident  # noqa: E402
from demo.build import build_demo  # noqa: E402
from jobs import refresh_rollups  # noqa: E402
from rollups import snapshot  # noqa: E402


def _reads(engine, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        with engine.connect() as conn:
            found = snapshot._read_state(conn)
        out.append(time.perf_counter() - t0)
        if found is None:
            raise SystemExit("no usable rollup: refresh it first")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--no-build", action="store_true", help="use the database as it is")
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--scale", type=float, default=0.5)
    ap.add_argument("--end", default="2026-11-20T22:00")
    ap.add_argument("--reads", type=int, default=7)
    args = ap.parse_args()
    end = datetime.fromisoformat(args.end)
    engine = create_engine(args.url)
    if not args.no_build:
        build_demo(args.url, days=args.days, seed=3, scale=args.scale, end=end)
        refresh_rollups.refresh(engine, end, reviews=0)
    with engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(incident)).scalar_one()
    with_late = _reads(engine, args.reads)
    real = snapshot._late
    snapshot._late = lambda sealed: text("SELECT id FROM incident WHERE 1 = 0")  # type: ignore[assignment]
    try:
        without = _reads(engine, args.reads)
    finally:
        snapshot._late = real
    engine.dispose()

    def ms(values: list[float]) -> str:
        return f"median {statistics.median(values) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms"

    print(f"{engine.dialect.name}, {rows:,} incidents, {args.reads} state reads each:")
    print(f"  with the late-rows look:    {ms(with_late)}")
    print(f"  without it:                 {ms(without)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
