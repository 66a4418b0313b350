"""Server time and payload of every page, cold and warm (AppTest).

    python benchmarks/pages.py [--db URL] [--now ISO] [--query k=v ...]

Defaults to the embedded demo database (built first if missing). For each
page: seconds to run Home.py + the page with empty caches (cold) and again
(warm), and the bytes the page sends for its maps (deck JSON), charts
(plotly JSON) and tables (Arrow). Prints one line per page.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: Every page file, the overview (the default page) first.
PAGES = sorted(
    (f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py")),
    key=lambda path: (path != "pages/overview.py", path),
)


def payload(at) -> dict[str, int]:
    deck = sum(len(e.proto.json) for e in at.get("deck_gl_json_chart"))
    plotly = sum(len(e.proto.spec) for e in at.get("plotly_chart"))
    arrow = sum(e.proto.ByteSize() for e in at.dataframe) + sum(
        e.proto.ByteSize() for e in at.table
    )
    return {"deck_bytes": deck, "plotly_bytes": plotly, "table_bytes": arrow}


def run_page(page: str, query: dict[str, str]):
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest

    original = PagesManager.__init__

    def init_v2(self, *a, **k):  # see tests/conftest.py: AppTest's pages/ quirk
        original(self, *a, **k)
        PagesManager.uses_pages_directory = False

    PagesManager.__init__ = init_v2  # type: ignore[method-assign]
    at = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=300)
    at.query_params.update(query)
    at.run()
    if page != "pages/overview.py":
        at.switch_page(page)
        at.run()
    return at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="SQLAlchemy URL (default: the demo database)")
    parser.add_argument("--now", help="pin the clock (OPS_NOW), ISO local time")
    parser.add_argument("--query", nargs="*", default=[], help="URL parameters, k=v")
    args = parser.parse_args()
    if args.db:
        os.environ["OPS_DB_URL"] = args.db
    if args.now:
        os.environ["OPS_NOW"] = args.now
    os.chdir(ROOT)
    query = dict(kv.split("=", 1) for kv in args.query)

    import streamlit as st

    print(f"db={os.environ.get('OPS_DB_URL', 'demo')} query={query}")
    print(
        f"{'page':28} {'cold_s':>7} {'warm_s':>7} {'deck_KB':>8} {'plotly_KB':>9} {'table_KB':>8} errors"
    )
    for page in PAGES:
        st.cache_data.clear()
        st.cache_resource.clear()
        t0 = time.perf_counter()
        at = run_page(page, query)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        at.run()
        warm = time.perf_counter() - t0
        sizes = payload(at)
        errors = len(at.exception) + len(at.error)
        print(
            f"{page:28} {cold:7.2f} {warm:7.2f} {sizes['deck_bytes'] / 1024:8.1f} "
            f"{sizes['plotly_bytes'] / 1024:9.1f} {sizes['table_bytes'] / 1024:8.1f} {errors}"
        )
        json.dumps(sizes)


if __name__ == "__main__":
    main()
