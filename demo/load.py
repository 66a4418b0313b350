"""Writing the built rows into a backend: SQLite through a temporary file
renamed over the target (atomic), PostgreSQL with ``COPY``, MySQL/MariaDB with
``LOAD DATA LOCAL INFILE`` when the server allows it and batched INSERTs when
it does not; each creates the contract tables and their indexes, and reports
rows loaded to the build's progress callback.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, create_engine
from sqlalchemy.schema import CreateIndex, CreateTable

from data_access import schema
from demo.common import Rows

Progress = Callable[[str, float], None]


_BATCH = 20_000


def _placeholders(table: Table, style: str) -> str:
    cols = ", ".join(c.name for c in table.columns)
    marks = ", ".join([style] * len(table.columns))
    return f"INSERT INTO {table.name} ({cols}) VALUES ({marks})"


def _batches(rows: Rows) -> Iterable[Rows]:
    for i in range(0, len(rows), _BATCH):
        yield rows[i : i + _BATCH]


class _Tracker:
    """Maps rows loaded so far onto a progress fraction between ``lo`` and ``hi``."""

    def __init__(self, progress: Progress | None, total: int, lo: float, hi: float) -> None:
        self.progress, self.total, self.lo, self.hi, self.done = progress, max(total, 1), lo, hi, 0

    def add(self, table: str, n: int) -> None:
        self.done += n
        if self.progress:
            self.progress(
                f"loading {table}", self.lo + (self.hi - self.lo) * self.done / self.total
            )


def _load_sqlite(path: Path, loads: Sequence[tuple[Table, Rows]], track: _Tracker) -> None:
    """Build into a temporary file beside ``path``, then rename it over ``path``."""
    import sqlite3

    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.building-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    dialect = create_engine("sqlite://").dialect
    try:
        con = sqlite3.connect(tmp, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=OFF")
            con.execute("PRAGMA synchronous=OFF")
            con.execute("BEGIN")
            for table, rows in loads:
                con.execute(str(CreateTable(table).compile(dialect=dialect)))
                sql = _placeholders(table, "?")
                for batch in _batches(rows):
                    con.executemany(sql, batch)
                    track.add(table.name, len(batch))
            for table, _rows in loads:
                for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
                    con.execute(str(CreateIndex(index).compile(dialect=dialect)))
            con.execute("COMMIT")
            con.execute("PRAGMA journal_mode=DELETE")
        finally:
            con.close()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _load_postgresql(engine: Engine, loads: Sequence[tuple[Table, Rows]], track: _Tracker) -> None:
    with engine.begin() as conn:
        schema.metadata.drop_all(conn)
        for table, _rows in loads:
            conn.execute(CreateTable(table))
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cur:
            for table, rows in loads:
                cols = ", ".join(c.name for c in table.columns)
                with cur.copy(f"COPY {table.name} ({cols}) FROM STDIN") as copy:
                    for batch in _batches(rows):
                        for row in batch:
                            copy.write_row(row)
                        track.add(table.name, len(batch))
        for table, _rows in loads:
            for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
                conn.execute(CreateIndex(index))
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            "ANALYZE " + ", ".join(t.name for t, _ in loads)
        )


def _tsv_value(v: Any) -> str:
    if v is None:
        return "\\N"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, str):
        return v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return str(v)


def load_data_local(cur: Any, table: Table, rows: Rows, tmp: Path) -> bool:
    """Bulk-load ``rows`` into ``table`` with ``LOAD DATA LOCAL INFILE``
    through a TSV file in ``tmp``; False when the server or the client
    refuses LOCAL INFILE (the caller then inserts)."""
    path = tmp / f"{table.name}.tsv"
    cols = ", ".join(c.name for c in table.columns)
    try:
        with path.open("w", encoding="utf-8", newline="\n") as fh:
            for row in rows:
                fh.write("\t".join(_tsv_value(v) for v in row))
                fh.write("\n")
        cur.execute(
            f"LOAD DATA LOCAL INFILE %s INTO TABLE {table.name} CHARACTER SET utf8mb4 "
            f"FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({cols})",
            (str(path),),
        )
    except Exception:  # LOCAL INFILE refused by the server or the client
        return False
    finally:
        path.unlink(missing_ok=True)
    return True


def _load_mysql(engine: Engine, loads: Sequence[tuple[Table, Rows]], track: _Tracker) -> None:
    """LOAD DATA LOCAL INFILE when the server allows it (fast), else batched INSERTs."""
    import tempfile

    with engine.begin() as conn:
        schema.metadata.drop_all(conn)
        for table, _rows in loads:
            conn.execute(CreateTable(table))
        raw: Any = conn.connection.driver_connection
        use_infile = True
        with raw.cursor() as cur, tempfile.TemporaryDirectory(prefix="demo-load-") as tmp:
            cur.execute("SET SESSION unique_checks = 0")
            for table, rows in loads:
                if use_infile and rows:
                    if load_data_local(cur, table, rows, Path(tmp)):
                        track.add(table.name, len(rows))
                        continue
                    use_infile = False  # refused: plain INSERTs from now on
                sql = _placeholders(table, "%s")
                for batch in _batches(rows):
                    cur.executemany(sql, batch)
                    track.add(table.name, len(batch))
            cur.execute("SET SESSION unique_checks = 1")
    with engine.begin() as conn:
        for table, _rows in loads:
            for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
                conn.execute(CreateIndex(index))
