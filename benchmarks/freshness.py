"""Freshness end to end: a row written to the operational database -> the
figure on the screen, in headless Chromium (not a CI test).

For each backend: builds a demo database ending now (``--days``,
``--scale``), refreshes the rollups (so the pages read through them, as a
site's do), starts the live source (demo/live.py) in real time beside it,
and ``streamlit run Home.py`` on a free port with a copy of the site config
whose ``screen.refresh_s`` is ``--refresh``. It opens the command screen
(``/command-screen``, 1920x1080) and the overview (``/``, which reruns
itself every ``screen.refresh_s``) and then ``--writes`` times, at a random
moment of the refresh cycle: writes a case (reported now) in the default
district and a crowd reading (stamped now) with a head count of its own,
commits, and polls both pages every 0.2 s until each shows the new figure:
"today" at least the district's case count after the commit, and "largest
crowd" the reading's head count. Latency = first poll showing it - commit.

It also samples the wall's "data as of" stamp at every poll: its lag is how
long the stamp has shown a minute older than the newest row committed
(the written ones are the newest). Prints p50/p95/max per page and figure,
the stamp's largest lag, and whether the target holds: p95 <= refresh + 2 s
and the stamp never more than refresh + 2 s behind.

    python benchmarks/freshness.py --backends sqlite,postgresql --writes 20 --refresh 10

PostgreSQL: a scratch database ``ops_fresh_<epoch>`` on ``--pg-url``'s
server (default ``OPS_TEST_PG_URL`` or the tests' default), dropped after.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from benchmarks.soak_screen import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    free_port,
    site_config,
    wait_healthy,
)
from data_access.config import load_site_config  # noqa: E402
from data_access.schema import crowd_reading, incident, street  # noqa: E402
from demo.build import build_demo  # noqa: E402
from demo.live import LiveClock, LiveWriter, WriterLock, run, wall_now  # noqa: E402
from jobs import refresh_rollups  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
WALL_JS = """() => {
  const v = k => { const e = document.querySelector(`[data-key="${k}"] .scr-value`);
                   return e ? e.textContent.trim() : null; };
  const a = document.querySelector('[data-key="as_of"]');
  return {today: v('today'), crowd: v('crowd'), as_of: a ? a.textContent : null};
}"""
OVERVIEW_JS = """(labels) => {
  const out = {};
  for (const m of document.querySelectorAll('[data-testid="stMetric"]')) {
    const label = m.querySelector('[data-testid="stMetricLabel"]');
    const value = m.querySelector('[data-testid="stMetricValue"]');
    if (!label || !value) continue;
    const l = label.textContent.trim();
    if (l === labels.today) out.today = value.textContent.trim();
    if (l === labels.crowd) out.crowd = value.textContent.trim();
  }
  return out;
}"""
STAMP = re.compile(r"(?:(\d{2})-(\d{2}) )?(\d{2}):(\d{2})")


@dataclass
class Sample:
    """Seconds from each write's commit to its figure, per page and figure."""

    seconds: dict[str, list[float]] = field(default_factory=dict)
    stamp_lag: float = 0.0

    def add(self, key: str, value: float) -> None:
        self.seconds.setdefault(key, []).append(value)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def number(text: str | None) -> int | None:
    digits = (text or "").replace(",", "").strip()
    return int(digits) if digits.isdigit() else None


def stamp_minute(text: str | None, now: datetime) -> datetime | None:
    """The minute a "data as of" text shows (a bare HH:MM is today)."""
    m = STAMP.search(text or "")
    if not m:
        return None
    month, day = (int(m[1]), int(m[2])) if m[1] else (now.month, now.day)
    return now.replace(
        month=month, day=day, hour=int(m[3]), minute=int(m[4]), second=0, microsecond=0
    )


def scratch(backend: str, pg_url: str, tmp: Path) -> tuple[str, Any]:
    if backend == "sqlite":
        return f"sqlite:///{tmp / 'fresh.sqlite'}", None
    server = make_url(pg_url)
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"ops_fresh_{int(time.time())}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :d AND pid <> pg_backend_pid()"
                ),
                {"d": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()

    return server.set(database=name).render_as_string(hide_password=False), drop


class Marker:
    """Writes the benchmark's own rows: a case and a crowd reading, now."""

    def __init__(self, url: str, district: str) -> None:
        self.engine = create_engine(url, connect_args={"timeout": 60} if "sqlite" in url else {})
        with self.engine.connect() as conn:
            row = conn.execute(
                select(street.c.code, street.c.lat, street.c.lon)
                .where(street.c.district_code == district)
                .order_by(street.c.code)
            ).first()
        assert row is not None, f"no street in district {district}"
        self.street, self.lat, self.lon = row
        self.district = district

    def write(self, i: int) -> tuple[float, datetime, int, int]:
        """Commit time (epoch s), the rows' time, the district's cases
        today after the commit, and the reading's head count."""
        now = wall_now()
        people = 700_001 + 7 * i
        with self.engine.begin() as conn:
            conn.execute(
                insert(incident).values(
                    id=f"BENCH{now:%Y%m%d%H%M%S}{i:03d}", source="110", category="other",
                    street_code=self.street, lat=self.lat, lon=self.lon, reported_at=now,
                    accepted_at=now, status="open", address="benchmark",
                )
            )  # fmt: skip
            conn.execute(
                insert(crowd_reading).values(
                    ts=now, cell_id=f"bench{i}", lat=self.lat, lon=self.lon,
                    street_code=self.street, people=people,
                )
            )  # fmt: skip
        committed = time.time()
        midnight = now.replace(hour=0, minute=0, second=0)
        with self.engine.connect() as conn:
            today = conn.execute(
                select(func.count(func.distinct(incident.c.id)))
                .select_from(incident.join(street, street.c.code == incident.c.street_code))
                .where(
                    street.c.district_code == self.district,
                    incident.c.reported_at >= midnight,
                    incident.c.reported_at <= now,
                )
            ).scalar_one()
        return committed, now, int(today), people


def measure(backend: str, args: argparse.Namespace, tmp: Path) -> Sample:
    from playwright.sync_api import sync_playwright

    from ui.i18n import translate

    url, drop = scratch(backend, args.pg_url, tmp)
    server = None
    stop = threading.Event()
    writer_thread = None
    writer, lock = None, None
    sample = Sample()
    try:
        end = wall_now()
        t0 = time.perf_counter()
        build_demo(url, days=args.days, scale=args.scale, end=end)
        print(f"[{backend}] built in {time.perf_counter() - t0:.1f} s", flush=True)
        job = create_engine(url)
        report = refresh_rollups.refresh(job, wall_now(), reviews=0)
        job.dispose()
        print(f"[{backend}] rollups refreshed: {report.rows:,} cases in {report.seconds:.1f} s")
        if args.live:
            writer = LiveWriter(url)
            lock = WriterLock(writer.engine).acquire()
            writer.advance_to(wall_now())
            writer_thread = threading.Thread(
                target=run, args=(writer, LiveClock(wall_now())), kwargs={"stop": stop}, daemon=True
            )
            writer_thread.start()
        port = free_port()
        env = dict(
            os.environ,
            OPS_DB_URL=url,
            OPS_SITE_CONFIG=str(site_config(args.refresh, max(args.refresh * 6, 60))),
            OPS_APPSTATE_PATH=str(tmp / f"appstate_{backend}.sqlite"),
        )
        env.pop("OPS_NOW", None)
        env.pop("OPS_DEMO_LIVE", None)
        log = open(tmp / f"server_{backend}.log", "w")  # noqa: SIM115
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "Home.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, 120)
        cfg = load_site_config()
        marker = Marker(url, cfg.default_district)
        labels = {
            "today": translate("overview.today", "zh"),
            "crowd": translate("overview.largest_crowd", "zh"),
        }
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            warm = browser.new_page()
            warm.goto(f"{base}/command-screen")
            warm.wait_for_selector('[data-key="today"]', timeout=180_000)
            warm.close()
            wall = browser.new_page(viewport={"width": 1920, "height": 1080})
            wall.goto(f"{base}/command-screen")
            wall.wait_for_selector('[data-key="today"] .scr-value', timeout=180_000)
            over = browser.new_page(viewport={"width": 1600, "height": 1000})
            over.goto(f"{base}/")
            over.wait_for_selector('[data-testid="stMetricValue"]', timeout=180_000)
            written: list[tuple[float, datetime]] = []  # (commit, minute) of every row
            limit = 3 * args.refresh + 30

            def poll() -> tuple[dict[str, Any], dict[str, Any]]:
                got_wall, got_over = wall.evaluate(WALL_JS), over.evaluate(OVERVIEW_JS, labels)
                shown = stamp_minute(got_wall.get("as_of"), wall_now())
                newer = [c for c, m in written if shown is not None and m > shown]
                if newer:
                    sample.stamp_lag = max(sample.stamp_lag, time.time() - min(newer))
                return got_wall, got_over

            for i in range(args.writes):
                pause_until = time.time() + random.uniform(0, args.refresh)
                while time.time() < pause_until:
                    poll()
                    time.sleep(0.2)
                committed, at, today, people = marker.write(i)
                written.append((committed, at.replace(second=0)))
                pending = {"wall today", "wall crowd", "overview today", "overview crowd"}
                while pending and time.time() - committed < limit:
                    got_wall, got_over = poll()
                    seen = time.time() - committed
                    for page, got in (("wall", got_wall), ("overview", got_over)):
                        if f"{page} today" in pending and (number(got.get("today")) or 0) >= today:
                            sample.add(f"{page} today", seen)
                            pending.discard(f"{page} today")
                        if f"{page} crowd" in pending and number(got.get("crowd")) == people:
                            sample.add(f"{page} crowd", seen)
                            pending.discard(f"{page} crowd")
                    time.sleep(0.2)
                for key in pending:  # never seen within the limit: counted as the limit
                    sample.add(key, float(limit))
                print(
                    f"[{backend}] write {i + 1}/{args.writes}: "
                    + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in sorted(sample.seconds.items())),
                    flush=True,
                )
            browser.close()
    finally:
        stop.set()
        if writer_thread is not None:
            writer_thread.join(10)
        if lock is not None:
            lock.release()
        if writer is not None:
            writer.close()
        if server is not None:
            server.terminate()
            server.wait(20)
        if drop is not None:
            drop()
    return sample


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--writes", type=int, default=20)
    ap.add_argument("--refresh", type=int, default=10, help="screen.refresh_s (seconds)")
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--no-live", dest="live", action="store_false", help="no live source beside")
    ap.add_argument("--pg-url", default=os.environ.get("OPS_TEST_PG_URL", "") or DEFAULT_PG)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="freshness_"))
    results = {b: measure(b, args, tmp) for b in args.backends.split(",") if b}
    target = args.refresh + 2.0
    ok = True
    print(f"\nrefresh {args.refresh} s, {args.writes} writes, target p95 <= {target:.0f} s")
    print(f"{'backend':<11} {'figure':<15} {'p50':>6} {'p95':>6} {'max':>6}")
    for backend, sample in results.items():
        for key, values in sorted(sample.seconds.items()):
            p50, p95 = statistics.median(values), pct(values, 0.95)
            ok &= p95 <= target
            print(f"{backend:<11} {key:<15} {p50:6.1f} {p95:6.1f} {max(values):6.1f}")
        ok &= sample.stamp_lag <= target
        print(f"{backend:<11} {'as-of lag max':<15} {'':>6} {'':>6} {sample.stamp_lag:6.1f}")
    print("verdict:", "target met" if ok else "target MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
