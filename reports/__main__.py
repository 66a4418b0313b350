"""Command line: ``python -m reports weekly --week 2026-W47 --out DIR``.

Writes ``DIR/weekly-<week>.pdf`` and ``DIR/weekly-<week>.xlsx`` (the same
files as the weekly review page's download buttons). ``--db`` defaults to
``OPS_DB_URL``, else the demo database; ``--week`` to the last complete
week before ``--now`` (default: ``OPS_NOW`` or the site's wall clock).
Exit status 2 on bad arguments, 1 on a database or rules problem.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from data_access import connection
from data_access.config import load_site_config
from data_access.filters import AreaFilter, FilterError
from metrics import weekly_model
from metrics.warning_rules import WarningRulesError, load_warning_rules


def _now(text: str | None, tz: str) -> datetime:
    raw = text or os.environ.get("OPS_NOW", "").strip()
    if raw:
        return datetime.fromisoformat(raw).replace(tzinfo=None, second=0, microsecond=0)
    return datetime.now(ZoneInfo(tz)).replace(tzinfo=None, second=0, microsecond=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports")
    sub = parser.add_subparsers(dest="report", required=True)
    wk = sub.add_parser("weekly", help="the weekly review pack (PDF + Excel)")
    wk.add_argument("--week", help="ISO week, e.g. 2026-W47 (default: last complete week)")
    wk.add_argument("--out", required=True, help="output directory (created if missing)")
    wk.add_argument("--db", help="database URL (default: OPS_DB_URL, else the demo database)")
    wk.add_argument("--district", help="6-digit district code (default: every district)")
    wk.add_argument("--lang", choices=("zh", "en"), default="zh")
    wk.add_argument("--now", help="evaluate as of this local time (ISO; default OPS_NOW or now)")
    args = parser.parse_args(argv)

    from reports.weekly import build_pack

    cfg = load_site_config()
    try:
        now = _now(args.now, cfg.timezone)
        week = (
            weekly_model.parse_week(args.week)
            if args.week
            else weekly_model.last_complete_week(now)
        )
        area = AreaFilter(start=now.date(), end=now.date(), district=args.district or None)
    except (FilterError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    url = args.db or connection.env_url() or connection.sqlite_url(connection.demo_path())
    try:
        rules = load_warning_rules()
    except WarningRulesError as exc:
        print(f"warning: {exc}; warning colours left out", file=sys.stderr)
        rules = None
    try:
        engine = connection.make_engine(url, cfg.statement_timeout_s, setting="--db / OPS_DB_URL")
    except connection.DatabaseUrlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        with engine.connect() as conn:
            pack = build_pack(
                conn,
                area,
                now,
                cfg,
                week.label,
                rules,
                args.lang,
                db_label=connection.describe_url(url),
            )
    except FilterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    pdf = out / f"weekly-{week.label}.pdf"
    xlsx = out / f"weekly-{week.label}.xlsx"
    pdf.write_bytes(pack.pdf)
    xlsx.write_bytes(pack.xlsx)
    print(f"{pdf} ({len(pack.pdf):,} bytes)\n{xlsx} ({len(pack.xlsx):,} bytes)")
    print(f"generated in {pack.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
