"""One small function per SQL concept whose spelling differs by dialect.

Each takes the dialect name (``conn.dialect.name``: ``sqlite``,
``postgresql`` or ``mysql``; MariaDB reports ``mysql``) and returns a
SQLAlchemy expression. Nothing here interpolates user values: arguments are
columns or bound parameters.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, Integer, case, cast, func, literal_column, type_coerce
from sqlalchemy.sql.elements import ColumnElement

SUPPORTED_DIALECTS = ("sqlite", "postgresql", "mysql")


class UnsupportedDialect(RuntimeError):
    pass


def _check(dialect: str) -> None:
    if dialect not in SUPPORTED_DIALECTS:
        raise UnsupportedDialect(f"database dialect {dialect!r} is not supported")


def minutes_between(start: Any, end: Any, dialect: str) -> ColumnElement[float]:
    """``end - start`` in minutes (float); NULL when either is NULL."""
    _check(dialect)
    if dialect == "sqlite":
        # Whole seconds, exact (julianday arithmetic drifts by microseconds,
        # which would misjudge a case that took exactly its target).
        secs = cast(func.strftime("%s", end), Integer) - cast(func.strftime("%s", start), Integer)
        return type_coerce(secs / 60.0, Float)
    if dialect == "postgresql":
        return type_coerce(func.extract("epoch", end - start) / 60.0, Float)
    return type_coerce(func.timestampdiff(literal_column("SECOND"), start, end) / 60.0, Float)


def day_bucket(ts: Any, dialect: str) -> ColumnElement[Any]:
    """The local calendar day of a timestamp, as an ISO ``YYYY-MM-DD`` string."""
    _check(dialect)
    if dialect == "sqlite":
        return func.strftime("%Y-%m-%d", ts)
    if dialect == "postgresql":
        return func.to_char(ts, "YYYY-MM-DD")
    return func.date_format(ts, "%Y-%m-%d")


def week_bucket(ts: Any, dialect: str) -> ColumnElement[Any]:
    """The Monday that starts the ISO week of a timestamp, as ``YYYY-MM-DD``."""
    _check(dialect)
    if dialect == "sqlite":
        # Back six days, then forward to the next Monday (or stay on it).
        return func.date(ts, "-6 days", "weekday 1")
    if dialect == "postgresql":
        return func.to_char(func.date_trunc("week", ts), "YYYY-MM-DD")
    return func.date_format(func.subdate(ts, func.weekday(ts)), "%Y-%m-%d")


def hour_of_day(ts: Any, dialect: str) -> ColumnElement[int]:
    """Hour 0-23 of a timestamp."""
    _check(dialect)
    if dialect == "sqlite":
        return cast(func.strftime("%H", ts), Integer)
    if dialect == "postgresql":
        return cast(func.extract("hour", ts), Integer)
    return func.hour(ts)


def count_if(cond: ColumnElement[bool]) -> ColumnElement[int]:
    """Number of rows where ``cond`` holds (0, never NULL, on an empty group)."""
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)
