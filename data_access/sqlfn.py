"""One small function per SQL concept whose spelling differs by dialect.

Each takes the dialect name (``conn.dialect.name``: ``sqlite``,
``postgresql`` or ``mysql``; MariaDB reports ``mysql``) and returns a
SQLAlchemy expression. Nothing here interpolates user values: arguments are
columns or bound parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    select,
    type_coerce,
)
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
        # Rounded to whole seconds: julianday arithmetic drifts by
        # microseconds, which would misjudge a case that took exactly its
        # target. (julianday is faster than strftime('%s'); unixepoch()
        # needs SQLite 3.38.)
        secs = func.round((func.julianday(end) - func.julianday(start)) * 86400.0)
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


def group_percentiles(
    values: Any, keys: Sequence[str], value: str, quantiles: Sequence[tuple[str, float]]
) -> Select[Any]:
    """Exact percentiles of ``values.c[value]`` per group, computed in the database.

    ``values`` is a subquery; ``keys`` name its grouping columns;
    ``quantiles`` are ``(label, p)`` pairs with ``0 <= p <= 1``. Returns a
    SELECT of the keys, ``n`` (non-NULL values in the group) and one column
    per label: the linearly interpolated percentile (the definition of
    PostgreSQL's ``percentile_cont`` and pandas' ``quantile``). Written with
    ``row_number``/``count`` window functions, so the same SQL runs on
    SQLite, PostgreSQL and MariaDB; only the filtered value column is ranked,
    never a whole table. NULL values are ignored; groups without values are
    absent. (On PostgreSQL the throughput page uses :func:`percentile_where`
    instead: one sort per group rather than a window over every row.)
    """
    for _label, p in quantiles:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"percentile {p!r} is not between 0 and 1")
    v = values.c[value]
    part = [values.c[k] for k in keys]
    ranked = (
        select(
            *part,
            v.label("pv"),
            (func.row_number().over(partition_by=part, order_by=v) - 1).label("pk"),
            func.count().over(partition_by=part).label("pn"),
        )
        .where(v.is_not(None))
        .subquery("ranked_values")
    )
    k = ranked.c.pk  # 0-based rank of the value in its group
    cols = []
    for label, p in quantiles:
        # 0-based position of the percentile; it lies between ranks floor(h) and floor(h)+1.
        h = (ranked.c.pn - 1) * literal(p, Float)
        weight = case(
            (and_(k <= h, h < k + 1), 1 - (h - k)),
            (and_(k - 1 <= h, h < k), h - (k - 1)),
            else_=0,
        )
        cols.append(type_coerce(func.sum(ranked.c.pv * weight), Float).label(label))
    rkeys = [ranked.c[k_] for k_ in keys]
    return select(*rkeys, func.max(ranked.c.pn).label("n"), *cols).group_by(*rkeys)


def percentile_where(value: Any, p: float, cond: ColumnElement[bool]) -> ColumnElement[float]:
    """PostgreSQL only: ``percentile_cont(p) WITHIN GROUP (ORDER BY value)
    FILTER (WHERE cond)``, the interpolated percentile of the group's
    ``value`` where ``cond`` holds (the definition of :func:`group_percentiles`)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"percentile {p!r} is not between 0 and 1")
    return type_coerce(
        func.percentile_cont(literal(p, Float)).within_group(cast(value, Float)).filter(cond),
        Float,
    )


def fenced(q: Select[Any], dialect: str) -> Select[Any]:
    """``q`` as a subquery the planner evaluates once per row rather than
    inlining its expressions into the outer query. PostgreSQL pulls simple
    subqueries up (and then recomputes a column in every expression that
    uses it); ``OFFSET 0`` is its documented fence. SQLite and MariaDB get
    ``q`` unchanged (a LIMIT would make MariaDB materialise it to disk)."""
    _check(dialect)
    return q.offset(0) if dialect == "postgresql" else q


def grid_index(value: Any, step: Any, dialect: str) -> ColumnElement[int]:
    """``floor(value / step)`` as an integer: the index of the grid cell of a
    coordinate (``step`` a bound float parameter, same unit as ``value``).

    SQLite's ``floor()`` needs the math extension, which not every build has,
    so it is spelt as truncation corrected for negative non-integers there.
    """
    _check(dialect)
    ratio = type_coerce(value, Float) / step
    if dialect == "sqlite":
        truncated = cast(ratio, Integer)
        return truncated - case((ratio < truncated, 1), else_=0)
    return cast(func.floor(ratio), Integer)
