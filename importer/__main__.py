"""``python -m importer``: load exports into the staging database.

    python -m importer load FILE... --mapping M.toml --db URL [--dry-run] [--max-errors N]
                               [--site SITE.toml] [--report-dir DIR] [--now ISO]
    python -m importer batches [--db URL]
    python -m importer mappings

``--db`` defaults to ``OPS_IMPORT_DB_URL``, else ``var/import.sqlite``.
Bad-row reports go to ``--report-dir``, else ``import-reports/`` beside a
SQLite staging file, else ``var/import-reports/`` under the current
directory; a report that cannot be written is said, and the file loads.
Exit status: 0 when every file loaded (or was already loaded), 1 when a
file was stopped or refused, 2 for a bad mapping or arguments.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from data_access.connection import DatabaseUrlError
from importer.load import (
    FileResult,
    batches,
    default_db_url,
    describe,
    import_export,
    report_folder,
    site_for,
    staging_engine,
)
from importer.mapping import MappingError, load_mapping, shipped_mappings


def _summary(r: FileResult) -> str:
    head = f"{r.name}: {r.status}"
    if r.status in ("loaded", "dry_run", "stopped") and r.rows_read:
        verb = "would load" if r.status == "dry_run" else "loaded"
        if r.status == "stopped":
            verb = "not loaded"
        head += (
            f", {r.rows_read:,} rows read, {r.cases:,} cases {verb}"
            + (f" ({r.inserted:,} new, {r.updated:,} updated)" if r.status == "loaded" else "")
            + f", {r.rejected_rows:,} rows rejected, {r.bad_rows:,} rows with a problem"
            + f", {r.seconds:.2f} s"
        )
    if r.batch_id is not None:
        head += f", batch {r.batch_id}"
    lines = [head]
    if r.message:
        lines.append(f"  {r.message}")
    if r.report_path is not None:
        lines.append(f"  bad-row report: {r.report_path}")
    if r.report_error:
        went_on = {"loaded": "; loaded all the same", "dry_run": "; checked all the same"}
        lines.append(
            f"  bad-row report NOT written: {r.report_error}{went_on.get(r.status, '')};"
            f" its {r.bad_rows:,} rows with a problem are listed nowhere"
            " (--report-dir names a writable folder)"
        )
    return "\n".join(lines)


def _iso_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date-time: {text!r}") from None


def _load(args: argparse.Namespace) -> int:
    try:
        mapping = load_mapping(args.mapping)
    except MappingError as exc:
        print(f"mapping: {exc}", file=sys.stderr)
        return 2
    cfg = site_for(mapping, args.site)
    for problem in cfg.problems:
        print(f"site configuration: {problem}", file=sys.stderr)
    now = args.now
    url = args.db or default_db_url()
    engine = staging_engine(url)
    reports = Path(args.report_dir) if args.report_dir else report_folder(url, Path.cwd())
    worst = 0
    try:
        for name in args.files:
            path = Path(name)
            try:
                data = path.read_bytes()
            except OSError as exc:
                print(f"{path}: cannot read ({exc.strerror or exc})", file=sys.stderr)
                worst = 1
                continue
            try:
                result = import_export(
                    engine,
                    data,
                    path.name,
                    mapping,
                    cfg,
                    dry_run=args.dry_run,
                    max_errors=args.max_errors,
                    now=now,
                    report_dir=reports,
                )
            except SQLAlchemyError as exc:  # e.g. the server is away
                first = str(getattr(exc, "orig", exc)).strip().splitlines()
                print(
                    f"{path.name}: staging database {describe(engine.url.render_as_string())}: "
                    f"{type(exc).__name__}: {first[0] if first else ''}",
                    file=sys.stderr,
                )
                worst = 1
                continue
            print(_summary(result))
            if result.status in ("stopped", "failed"):
                worst = 1
    finally:
        engine.dispose()
    return worst


def _batches(args: argparse.Namespace) -> int:
    engine = staging_engine(args.db or default_db_url())
    try:
        frame = batches(engine)
    finally:
        engine.dispose()
    if frame.empty:
        print("no batches yet")
    else:
        print(frame.drop(columns=["sha256"]).to_string(index=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m importer", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    load = sub.add_parser("load", help="load export files into the staging database")
    load.add_argument("files", nargs="+", metavar="FILE", help="CSV (UTF-8/GBK) or Excel exports")
    load.add_argument("--mapping", required=True, help="mapping file, or a shipped mapping's name")
    load.add_argument(
        "--db", help="staging database URL (default OPS_IMPORT_DB_URL or var/import.sqlite)"
    )
    load.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
    load.add_argument(
        "--max-errors",
        type=int,
        default=None,
        metavar="N",
        help="stop a file (load none of it) with more than N rejected rows",
    )
    load.add_argument("--site", help="site configuration (default: the mapping's site_config)")
    load.add_argument(
        "--report-dir",
        help="where bad-row reports go (default: import-reports/ beside a SQLite staging"
        " file, else var/import-reports/ under the current directory)",
    )
    load.add_argument(
        "--now", type=_iso_time, help="local ISO time for the future-time check (default now)"
    )
    hist = sub.add_parser("batches", help="list the batches loaded into the staging database")
    hist.add_argument("--db")
    sub.add_parser("mappings", help="list the shipped mappings")
    args = parser.parse_args(argv)
    try:
        if args.command == "load":
            return _load(args)
        if args.command == "batches":
            return _batches(args)
    except DatabaseUrlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(shipped_mappings()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
