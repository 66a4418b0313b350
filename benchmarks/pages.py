"""Server time, queries, payload and memory of every page, cold and warm (AppTest).

    python benchmarks/pages.py [--db URL] [--now ISO] [--query k=v ...]
                               [--pages NAME ...] [--tab KEY] [--queries] [--json FILE]

Defaults to the embedded demo database (built first if missing). After one
unmeasured run (the process's imports), for each page: seconds to run Home.py + the page with empty caches
(cold) and again (warm); the bytes the page sends for its maps (deck JSON),
charts (plotly JSON) and tables (Arrow) and the rows its tables hold; the
server's resident memory after the page (and the process peak so far); and
the number of SQL statements and their total time on the cold run.
``--queries`` also prints each statement of the cold run: the data_access
function that issued it, its seconds and the rows the database reported.
Statement seconds run from execute to its return: the whole query on
PostgreSQL and MariaDB, only up to the first row on SQLite (which computes
lazily), so on SQLite the page time is the figure to read. Statements
that one query runs side by side on two connections
(``data_access.connection.side_by_side``) overlap, so the total can exceed
the page's time.

``--tab`` times a tab of the throughput page (``table``, ``trend``,
``ageing``, ``category``, ``source``) as a user meets it: the page opened
on its first tab (printed, with empty caches), then the click on the tab
(the rerun that computes the tab's figures: "cold"), then that rerun again
("warm"); only the open tab runs.

The URL parameters are the pages' own: ``district=`` (empty: every district)
``start=YYYY-MM-DD end=YYYY-MM-DD`` give the widest view, e.g.

    python benchmarks/pages.py --db postgresql+psycopg://postgres@127.0.0.1:5432/city \\
        --now 2026-11-21T23:00 --query district= start=2025-11-22 end=2026-11-21
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: Every page file, the overview (the default page) first.
PAGES = sorted(
    (f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py")),
    key=lambda path: (path != "pages/overview.py", path),
)
DATA_ACCESS = str(ROOT / "data_access")


@dataclass
class Statement:
    label: str
    seconds: float
    rows: int


@dataclass
class QueryLog:
    """Every SQL statement run while ``on`` (SQLAlchemy cursor events)."""

    on: bool = False
    statements: list[Statement] = field(default_factory=list)

    def install(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.listen(Engine, "before_cursor_execute", self._before)
        event.listen(Engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, _cursor: Any, *_a: Any) -> None:
        conn.info.setdefault("_bench_t0", []).append(time.perf_counter())

    def _after(self, conn: Any, cursor: Any, *_a: Any) -> None:
        t0 = conn.info["_bench_t0"].pop()
        if self.on:
            rows = getattr(cursor, "rowcount", -1)
            if not 0 <= rows < 2**63 - 1:  # unknown (-1, or MySQL's unsigned -1): a streamed result
                rows = 0
            self.statements.append(Statement(_caller(), time.perf_counter() - t0, rows))


def _caller() -> str:
    """``module.function`` of the innermost data_access frame that is not the
    connection module (the query function that issued the statement)."""
    for frame in reversed(traceback.extract_stack()):
        if frame.filename.startswith(DATA_ACCESS) and not frame.filename.endswith("connection.py"):
            return f"{Path(frame.filename).stem}.{frame.name}"
    return "(other)"


def rss_mb() -> float:
    """Current resident memory of this process (``/proc/self/statm``)."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def payload(at: Any) -> dict[str, int]:
    deck = sum(len(e.proto.json) for e in at.get("deck_gl_json_chart"))
    plotly = sum(len(e.proto.spec) for e in at.get("plotly_chart"))
    arrow = sum(e.proto.ByteSize() for e in at.dataframe) + sum(
        e.proto.ByteSize() for e in at.table
    )
    rows = sum(len(e.value) for e in at.dataframe) + sum(len(e.value) for e in at.table)
    return {
        "deck_bytes": deck,
        "plotly_bytes": plotly,
        "table_bytes": arrow,
        "table_rows": rows,
        "tables": len(at.dataframe) + len(at.table),
    }


def run_page(page: str, query: dict[str, str]) -> Any:
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest

    original = PagesManager.__init__

    def init_v2(
        self: Any, *a: Any, **k: Any
    ) -> None:  # see tests/conftest.py: AppTest's pages/ quirk
        original(self, *a, **k)
        PagesManager.uses_pages_directory = False

    PagesManager.__init__ = init_v2  # type: ignore[method-assign]
    at = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=600)
    at.query_params.update(query)
    if page != "pages/overview.py":
        at.switch_page(page)  # the first run goes straight to the page (a deep link)
    at.run()
    return at


def summarise(statements: list[Statement]) -> list[tuple[str, int, float, int]]:
    """(label, statements, seconds, rows) per issuing function, slowest first."""
    by: dict[str, list[float]] = {}
    for s in statements:
        agg = by.setdefault(s.label, [0, 0.0, 0])
        agg[0] += 1
        agg[1] += s.seconds
        agg[2] += max(s.rows, 0)
    return sorted(((k, int(v[0]), v[1], int(v[2])) for k, v in by.items()), key=lambda r: -r[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="SQLAlchemy URL (default: the demo database)")
    parser.add_argument("--now", help="pin the clock (OPS_NOW), ISO local time")
    parser.add_argument("--query", nargs="*", default=[], help="URL parameters, k=v")
    parser.add_argument("--pages", nargs="*", help="only these pages (file stems)")
    parser.add_argument(
        "--tab", choices=["table", "trend", "ageing", "category", "source"], help="throughput tab"
    )
    parser.add_argument("--queries", action="store_true", help="print each query function")
    parser.add_argument("--json", help="append one JSON line per page to this file")
    args = parser.parse_args()
    if args.db:
        os.environ["OPS_DB_URL"] = args.db
    if args.now:
        os.environ["OPS_NOW"] = args.now
    os.chdir(ROOT)
    query = dict(kv.split("=", 1) for kv in args.query)
    pages = [p for p in PAGES if not args.pages or Path(p).stem in args.pages]

    import logging

    import streamlit as st

    logging.getLogger("streamlit").setLevel(logging.ERROR)  # AppTest's bare-mode warnings
    log = QueryLog()
    log.install()
    print(f"db={os.environ.get('OPS_DB_URL', 'demo')} now={args.now or 'wall clock'} query={query}")
    print(
        f"{'page':28} {'cold_s':>7} {'warm_s':>7} {'sql_n':>5} {'sql_s':>6} {'deck_KB':>8} "
        f"{'plotly_KB':>9} {'table_KB':>8} {'rows':>6} {'rss_MB':>7} {'peak_MB':>7} errors"
    )
    # One unmeasured run first: Python imports (plotly, pydeck, the pages'
    # modules) happen once per server process, not per page view.
    run_page(pages[0], query)
    for page in pages:
        st.cache_data.clear()
        st.cache_resource.clear()
        log.statements.clear()
        log.on = True
        t0 = time.perf_counter()
        at = run_page(page, query)
        cold = time.perf_counter() - t0
        if args.tab and page == "pages/throughput.py":
            from i18n import translate

            print(f"    opened on its first tab: {cold:.2f} s, {len(log.statements)} statements")
            log.statements.clear()
            at.session_state["tp_tab"] = translate(f"throughput.tab_{args.tab}", "zh")
            t0 = time.perf_counter()
            at.run()
            cold = time.perf_counter() - t0
        log.on = False
        cold_sql = list(log.statements)
        t0 = time.perf_counter()
        at.run()
        warm = time.perf_counter() - t0
        sizes = payload(at)
        errors = [e.value for e in at.exception] + [e.value for e in at.error]
        sql_s = sum(s.seconds for s in cold_sql)
        rss, peak = rss_mb(), peak_rss_mb()
        print(
            f"{page:28} {cold:7.2f} {warm:7.2f} {len(cold_sql):5d} {sql_s:6.2f} "
            f"{sizes['deck_bytes'] / 1024:8.1f} {sizes['plotly_bytes'] / 1024:9.1f} "
            f"{sizes['table_bytes'] / 1024:8.1f} {sizes['table_rows']:6d} {rss:7.0f} {peak:7.0f} "
            f"{len(errors)}",
            flush=True,
        )
        for e in errors:
            print(f"    error: {str(e)[:300]}")
        functions = summarise(cold_sql)
        if args.queries:
            for label, n, secs, rows in functions:
                print(f"    {label:44} {n:3d} stmt {secs:7.3f} s {rows:9d} rows")
        if args.json:
            with open(args.json, "a", encoding="utf-8") as fh:
                record = {
                    "page": page,
                    "db": os.environ.get("OPS_DB_URL", "demo"),
                    "query": query,
                    "cold_s": round(cold, 3),
                    "warm_s": round(warm, 3),
                    "sql_statements": len(cold_sql),
                    "sql_s": round(sql_s, 3),
                    **sizes,
                    "rss_mb": round(rss),
                    "peak_rss_mb": round(peak),
                    "errors": [str(e)[:300] for e in errors],
                    "functions": [
                        {"fn": label, "n": n, "s": round(secs, 3), "rows": rows}
                        for label, n, secs, rows in functions
                    ],
                }
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
