"""Timestamp comparisons that do not depend on how a backend stores a timestamp.

The contract's timestamps are naive local time, but a site's database holds
them in many forms. PostgreSQL and MariaDB/MySQL compare their own
``timestamp``/``DATETIME``/``TIMESTAMP`` values as times whatever their
precision. SQLite has no time type: a timestamp is text, compared as text,
and the text other tools write differs from SQLAlchemy's own
(``2026-01-01 00:30:00.000000``): ``2026-01-01 00:30:00`` (no fraction, the
most common), ``2026-01-01T00:30:00`` (ISO ``T``), ``2026-01-01`` (a date).
As text, ``'2026-01-01 00:30:00' < '2026-01-01 00:30:00.000000'`` and
``'2026-01-01T00:00:00' > '2026-01-01 23:00:00'``: a case reported exactly at
a window's first midnight would fall out of the window, and a petition due
exactly now would be overdue.

:class:`Timestamp` is the contract's column type. Its comparisons
(``< <= > >= == != between``) compile, on SQLite, to a comparison of times
(``julianday``, millisecond resolution) behind a text prefilter on the
date, which every accepted form starts with, so an index on the column is
still used::

    reported_at >= :t  ->  reported_at >= substr(:t, 1, 10)
                           AND ((reported_at > substr(:t, 1, 10) || '~'
                                 AND reported_at < ':')
                                OR julianday(reported_at) >= julianday(:t))

Only rows on the boundary's own day pay for ``julianday``. On PostgreSQL and
MariaDB/MySQL the comparison is the plain one. A value SQLite cannot read as
a time (``julianday`` is NULL) compares as NULL: the row is in no window, and
the data-quality page counts it.

On PostgreSQL a ``timestamp with time zone`` column is read in the site's
time zone (:func:`data_access.connection.harden` sets the session's
``TimeZone``), and :class:`Timestamp` hands it to Python as the naive local
time the contract speaks of.
"""

from __future__ import annotations

import operator
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    String,
    and_,
    func,
    literal,
    literal_column,
    or_,
    type_coerce,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BindParameter, ClauseElement, ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

#: SQLAlchemy operator -> (Python operator, the operator with sides swapped).
_COMPARISONS: dict[Any, tuple[Any, Any]] = {
    operators.lt: (operator.lt, operator.gt),
    operators.le: (operator.le, operator.ge),
    operators.gt: (operator.gt, operator.lt),
    operators.ge: (operator.ge, operator.le),
    operators.eq: (operator.eq, operator.eq),
    operators.ne: (operator.ne, operator.ne),
}


class _TimestampComparison(FunctionElement[bool]):
    """``left <op> right`` on two timestamps; subclasses fix the operator."""

    type = Boolean()
    inherit_cache = True
    # A comparison, not a boolean value: no "= 1" on backends without a
    # native boolean (which would hide the column from its index).
    _is_implicitly_boolean = True
    op: Any = None


def _comparison(op: Any, name: str) -> type[_TimestampComparison]:
    # One class per operator: the statement cache keys on the class.
    return type(
        f"_ts_{name}",
        (_TimestampComparison,),
        {"name": f"ts_{name}", "inherit_cache": True, "op": op},
    )


_ELEMENT = {
    op: _comparison(op, name)
    for op, name in (
        (operator.lt, "lt"),
        (operator.le, "le"),
        (operator.gt, "gt"),
        (operator.ge, "ge"),
        (operator.eq, "eq"),
        (operator.ne, "ne"),
    )
}


def _plain(side: Any) -> Any:
    """``side`` with the plain ``DateTime`` comparator (no recursion into ours)."""
    return type_coerce(side, DateTime())


_SQL_OPERATOR = {
    operator.lt: "<",
    operator.le: "<=",
    operator.gt: ">",
    operator.ge: ">=",
    operator.eq: "=",
    operator.ne: "!=",
}


@compiles(_TimestampComparison)
def _compile_default(element: _TimestampComparison, compiler: Any, **kw: Any) -> str:
    # The sides as they are (no copies): a comparison used twice in one
    # statement (a CASE in SELECT and GROUP BY) must render the same bound
    # parameters both times, or PostgreSQL finds the two expressions differ.
    left, right = element.clauses.clauses
    sql_op = _SQL_OPERATOR[element.op]
    return f"{compiler.process(left, **kw)} {sql_op} {compiler.process(right, **kw)}"


def _text(value: str) -> ColumnElement[str]:
    return literal_column(f"'{value}'", String())


def _sqlite_comparison(op: Any, col: Any, value: BindParameter[Any]) -> ColumnElement[bool]:
    """``col <op> value`` for a column and a bound time, as times, with a
    date-prefix prefilter an index on ``col`` can serve."""
    col = _plain(col)
    exact = op(func.julianday(col), func.julianday(value))
    # ``day``: the bound time's date, a lower bound of the text of every
    # accepted form on that date or later; ``after``: that date and '~',
    # above every form on that date (' ', 'T' and digits sort below '~')
    # and below every later date. Plain text arithmetic on the parameter:
    # SQLite evaluates it once, where date() ran for every row.
    day = func.substr(value, literal_column("1"), literal_column("10"))
    after = day.op("||")(_text("~"))
    # The text shortcuts skip julianday for rows not on the boundary's day.
    # They hold for text that starts with a digit: the guards '0' and ':'
    # (after '9') keep numbers (below all text in SQLite's order) and words
    # to julianday, which reads them as NULL. The guards sit inside the OR
    # so that SQLite's index range is the date's, not '0'..':'.
    if op is operator.ge or op is operator.gt:
        return and_(col >= day, or_(and_(col > after, col < _text(":")), exact))
    if op is operator.lt or op is operator.le:
        return and_(col < after, or_(and_(col < day, col >= _text("0")), exact))
    if op is operator.eq:
        return and_(col >= day, col < after, exact)
    return exact  # != : no prefix bounds it


@compiles(_TimestampComparison, "sqlite")
def _compile_sqlite(element: _TimestampComparison, compiler: Any, **kw: Any) -> str:
    left, right = element.clauses.clauses
    if isinstance(right, BindParameter) and not isinstance(left, BindParameter):
        expr = _sqlite_comparison(element.op, left, right)
    elif isinstance(left, BindParameter) and not isinstance(right, BindParameter):
        swapped = next(s for o, s in _COMPARISONS.values() if o is element.op)
        expr = _sqlite_comparison(swapped, right, left)
    else:
        expr = element.op(func.julianday(_plain(left)), func.julianday(_plain(right)))
    return "(" + compiler.process(expr, **kw) + ")"  # type: ignore[no-any-return]


def _as_clause(other: Any, type_: Any) -> Any:
    if isinstance(other, ClauseElement):
        return other
    return literal(other, type_)


class Timestamp(TypeDecorator[datetime]):
    """The contract's timestamp: naive local time, compared as a time on
    every backend and in every storage form (see the module docstring)."""

    impl = DateTime
    cache_ok = True

    class comparator_factory(TypeDecorator.Comparator[datetime]):  # noqa: N801 (SQLAlchemy's name)
        def operate(self, op: Any, *other: Any, **kwargs: Any) -> ColumnElement[Any]:
            if op in _COMPARISONS and other and other[0] is not None:
                py_op = _COMPARISONS[op][0]
                return _ELEMENT[py_op](self.expr, _as_clause(other[0], self.type))
            if op is operators.between_op and len(other) >= 2:
                low, high = other[0], other[1]
                return and_(
                    _ELEMENT[operator.ge](self.expr, _as_clause(low, self.type)),
                    _ELEMENT[operator.le](self.expr, _as_clause(high, self.type)),
                )
            return super().operate(op, *other, **kwargs)  # type: ignore[no-any-return]

        def reverse_operate(self, op: Any, other: Any, **kwargs: Any) -> ColumnElement[Any]:
            if op in _COMPARISONS and other is not None:
                py_op = _COMPARISONS[op][0]
                return _ELEMENT[py_op](_as_clause(other, self.type), self.expr)
            return super().reverse_operate(op, other, **kwargs)  # type: ignore[no-any-return]

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        # timestamptz arrives aware, in the session's zone: the site's (see
        # connection.harden). The contract speaks naive local time.
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.replace(tzinfo=None)
        return value
