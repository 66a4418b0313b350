"""Import speed: the SF fire calls sample and a larger synthetic export, on
SQLite and PostgreSQL (and MariaDB with --mariadb).

    python benchmarks/import_speed.py [--rows 200000] [--pg URL] [--mariadb URL] [--repeat 3]

For each backend, in a fresh database: the SF sample (10,410 unit rows ->
5,292 incidents) loaded into an empty staging database, the same file again
(skipped by its hash), and the larger file: the sample's rows repeated with
new incident numbers and times shifted by whole weeks, to ``--rows`` rows
(all cases new), then that file with one byte changed (every case updated
in place). Prints seconds (best of ``--repeat``) and rows read per second.
The server databases are created beside the URL's and dropped after.
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from importer.load import import_export, site_for, staging_engine  # noqa: E402
from importer.mapping import load_mapping  # noqa: E402

SF_SAMPLE = ROOT / "samples" / "sf_fire_calls" / "sf_fire_calls_2020-04_sample.csv"
TIME_COLUMNS = (
    "Received DtTm",
    "Entry DtTm",
    "Dispatch DtTm",
    "Response DtTm",
    "On Scene DtTm",
    "Transport DtTm",
    "Hospital DtTm",
    "Available DtTm",
)
FMT = "%m/%d/%Y %I:%M:%S %p"


def synthetic_export(rows: int) -> bytes:
    """The sample's rows, repeated with new incident numbers and times a
    whole number of weeks later, cut to ``rows`` rows, as CSV bytes."""
    sample = pd.read_csv(SF_SAMPLE, dtype=str, keep_default_na=False)
    parts = []
    for k in range(rows // len(sample) + 1):
        part = sample.copy()
        part["Incident Number"] = (part["Incident Number"].astype(int) + k * 10_000_000).astype(str)
        if k:
            shift = pd.Timedelta(weeks=2 * k)
            for col in TIME_COLUMNS:
                ts = pd.to_datetime(part[col], format=FMT, errors="coerce") + shift
                part[col] = ts.dt.strftime(FMT).fillna("")
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True).head(rows)
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode("utf-8")


@contextmanager
def server_database(url: str) -> Iterator[str]:
    server = make_url(url)
    name = f"import_bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    quote = '"' if server.get_backend_name() == "postgresql" else "`"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {quote}{name}{quote}"))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            if server.get_backend_name() == "postgresql":
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :db AND pid <> pg_backend_pid()"
                    ),
                    {"db": name},
                )
            conn.execute(text(f"DROP DATABASE IF EXISTS {quote}{name}{quote}"))
        admin.dispose()


def best(repeat: int, fresh: Callable[[], Iterator[str]], steps: list[tuple[str, bytes]]) -> dict:
    """Seconds per step, best of ``repeat`` runs, each in a fresh database."""
    mapping = load_mapping("sf_fire_calls")
    cfg = site_for(mapping)
    times: dict[str, list[float]] = {}
    info: dict[str, tuple[str, int, int]] = {}
    report_dir = Path(tempfile.mkdtemp(prefix="import_bench_"))
    for _ in range(repeat):
        with fresh() as url:  # type: ignore[attr-defined]
            engine = staging_engine(url)
            try:
                for label, data in steps:
                    t0 = time.perf_counter()
                    r = import_export(
                        engine, data, f"{label}.csv", mapping, cfg, report_dir=report_dir
                    )
                    times.setdefault(label, []).append(time.perf_counter() - t0)
                    info[label] = (r.status, r.rows_read, r.cases)
            finally:
                engine.dispose()
    return {label: (min(ts), *info[label]) for label, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "OPS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--mariadb", default="", help="also MariaDB at this server URL")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    sample = SF_SAMPLE.read_bytes()
    t0 = time.perf_counter()
    big = synthetic_export(args.rows)
    print(
        f"synthetic export: {args.rows:,} rows, {len(big) / 1e6:.1f} MB, made in {time.perf_counter() - t0:.1f} s"
    )
    changed = big + b"\n"  # one byte more: a new file, the same rows
    steps = [
        ("sf_sample", sample),
        ("sf_sample_again", sample),
        (f"synthetic_{args.rows}", big),
        (f"synthetic_{args.rows}_reexport", changed),
    ]

    @contextmanager
    def sqlite_db() -> Iterator[str]:
        with tempfile.TemporaryDirectory() as d:
            yield f"sqlite:///{d}/staging.sqlite"

    backends: list[tuple[str, Callable[[], Iterator[str]]]] = [("sqlite", sqlite_db)]
    if args.pg:
        backends.append(("postgresql", lambda: server_database(args.pg)))
    if args.mariadb:
        backends.append(("mariadb", lambda: server_database(args.mariadb)))
    print(
        f"{'backend':<11} {'step':<28} {'status':<8} {'rows':>8} {'cases':>7} {'seconds':>8} {'rows/s':>9}"
    )
    for name, fresh in backends:
        results = best(args.repeat, fresh, steps)
        for label, (seconds, status, rows, cases) in results.items():
            print(
                f"{name:<11} {label:<28} {status:<8} {rows:>8,} {cases:>7,} {seconds:>8.2f} {rows / seconds:>9,.0f}"
            )


if __name__ == "__main__":
    main()
