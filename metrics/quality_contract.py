"""The data contract's checks on the data-quality page (docs/data-contract.md):
every other constraint of the contract's tables (:func:`contract_checks`)
and how each timestamp column is stored (:func:`timestamp_forms`), with
example ids. The window's bad rows that the metrics leave out:
:mod:`metrics.quality`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import (
    Connection,
    String,
    and_,
    bindparam,
    cast,
    func,
    literal,
    not_,
    or_,
    select,
    text,
    type_coerce,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement

from data_access.area import in_area, in_bounds
from data_access.config import SiteConfig
from data_access.filters import AreaFilter
from data_access.schema import (
    CONTRACT_TABLES,
    GRID_KINDS,
    INCIDENT_OUTCOMES,
    INCIDENT_STATUSES,
    MILESTONES,
    TIMESTAMP_COLUMNS,
    WARNING_COLOURS,
    crowd_reading,
    district,
    grid,
    housing_record,
    incident,
    petition,
    street,
    venue,
    warning,
)
from data_access.sqlfn import count_if
from metrics.quality import unknown_street

# ---------------------------------------------------------------------------
# The contract's other constraints (docs/data-contract.md, "Checks on the
# data-quality page"): one statement per table, then up to EXAMPLES ids of
# every check that found rows. The small tables (district, street, grid,
# venue, petition, housing_record, warning) are read whole; the incident
# and crowd checks here are answered by their indexes.

#: Most example ids (or values) a finding lists.
EXAMPLES = 5

CONTRACT_COLUMNS = ["table", "check", "rows", "scope", "examples"]

#: The contract checks of :func:`contract_checks`, in display order.
CONTRACT_CHECKS = (
    ("district", "duplicate_code"),
    ("district", "bad_code"),
    ("street", "duplicate_code"),
    ("street", "bad_code"),
    ("street", "unknown_district"),
    ("street", "negative_population"),
    ("street", "negative_area"),
    ("street", "out_of_area"),
    ("grid", "duplicate_code"),
    ("grid", "unknown_street"),
    ("grid", "bad_kind"),
    ("venue", "duplicate_id"),
    ("venue", "unknown_street"),
    ("venue", "out_of_area"),
    ("venue", "negative_capacity"),
    ("venue", "negative_radius"),
    ("incident", "missing_reported_at"),
    ("incident", "bad_status"),
    ("incident", "bad_outcome"),
    ("incident", "unknown_grid"),
    ("incident", "milestone_after_now"),
    ("crowd_reading", "future_time"),
    ("crowd_reading", "out_of_area"),
    ("petition", "duplicate_id"),
    ("petition", "unknown_street"),
    ("petition", "unknown_grid"),
    ("petition", "missing_received_at"),
    ("petition", "due_before_received"),
    ("petition", "closed_before_received"),
    ("petition", "future_time"),
    ("petition", "negative_repeat_count"),
    ("housing_record", "duplicate_id"),
    ("housing_record", "unknown_street"),
    ("housing_record", "unknown_grid"),
    ("housing_record", "out_of_area"),
    ("housing_record", "future_time"),
    ("warning", "duplicate_id"),
    ("warning", "unknown_street"),
    ("warning", "unknown_grid"),
    ("warning", "bad_colour"),
    ("warning", "missing_raised_at"),
    ("warning", "cleared_before_raised"),
    ("warning", "future_time"),
)

#: Scopes that are the whole database's: withheld from a user's scope.
_WHOLE_DATABASE = ("database", "database_any_time")


@dataclass(frozen=True)
class _Rule:
    """One contract check on a table: ``cond`` over its rows, counted where
    ``within`` holds too (the area, the window)."""

    check: str
    scope: str
    cond: ColumnElement[bool]
    within: ColumnElement[bool] | None = None


def _digits(code: Any, n: int, dialect: str) -> ColumnElement[bool]:
    """``code`` is exactly ``n`` ASCII digits (text)."""
    if dialect == "sqlite":
        text_ = type_coerce(code, String())
        return and_(
            func.length(text_) == n,
            not_(text_.op("GLOB", is_comparison=True)(literal("*[^0-9]*", String()))),
        )
    pattern = literal(f"^[0-9]{{{n}}}$", String())
    if dialect == "postgresql":
        return cast(code, String()).op("~", is_comparison=True)(pattern)
    return cast(code, String()).op("REGEXP", is_comparison=True)(pattern)


def _known(col: Any, ref: Any) -> ColumnElement[bool]:
    """``col`` is NULL or one of ``ref``'s values (a reference that may be absent)."""
    return or_(col.is_(None), col.in_(select(ref).scalar_subquery()))


def _unknown_street(table: Any) -> ColumnElement[bool]:
    return unknown_street(table)


def _unknown_grid(table: Any) -> ColumnElement[bool]:
    return not_(_known(table.c.grid_code, grid.c.code))


def _outside(table: Any, cfg: SiteConfig) -> ColumnElement[bool]:
    """Coordinates given and outside the site's bounds."""
    has = and_(table.c.lat.is_not(None), table.c.lon.is_not(None))
    return and_(has, not_(in_bounds(table.c.lat, table.c.lon, cfg.bounds)))


def _future(now: datetime, *cols: Any) -> ColumnElement[bool]:
    return or_(*(and_(c.is_not(None), c > now) for c in cols))


def _before(later: Any, earlier: Any) -> ColumnElement[bool]:
    """``later`` runs backwards: both given and ``later < earlier``."""
    return and_(later.is_not(None), earlier.is_not(None), later < earlier)


def _not_one_of(col: Any, allowed: tuple[str, ...]) -> ColumnElement[bool]:
    """``col`` is NULL or none of ``allowed``, as index ranges on ``col``
    (below the first value, between two, above the last)."""
    ordered = sorted(allowed)
    gaps = [col < ordered[0], col > ordered[-1]]
    gaps += [and_(col > a, col < b) for a, b in zip(ordered, ordered[1:], strict=False)]
    return or_(col.is_(None), *gaps)


def _warning_table(
    table: Any, f: AreaFilter, checks: list[tuple[str, ColumnElement[bool]]]
) -> tuple[Any, Any, list[_Rule]]:
    """A petition, housing or warning table's rules: an unknown street over
    the whole database, then ``checks`` (name, condition) in the area."""
    area = in_area(table.c.street_code, f)
    rules = [_Rule("unknown_street", "database_any_time", _unknown_street(table))]
    rules += [_Rule(name, "area_any_time", cond, area) for name, cond in checks]
    return table, table.c.id, rules


def _rules(
    f: AreaFilter, now: datetime, cfg: SiteConfig, dialect: str
) -> dict[str, tuple[Any, Any, list[_Rule]]]:
    """By table: (the table, its key column, its rules but duplicates)."""
    window = and_(incident.c.reported_at >= f.start_ts, incident.c.reported_at < f.end_ts)
    inc_area = in_area(incident.c.street_code, f)
    c_area = in_area(crowd_reading.c.street_code, f)
    out: dict[str, tuple[Any, Any, list[_Rule]]] = {
        "district": (
            district,
            district.c.code,
            [_Rule("bad_code", "database_any_time", not_(_digits(district.c.code, 6, dialect)))],
        ),
        "street": (
            street,
            street.c.code,
            [
                _Rule("bad_code", "database_any_time", not_(_digits(street.c.code, 9, dialect))),
                _Rule(
                    "unknown_district",
                    "database_any_time",
                    or_(
                        street.c.district_code.is_(None),
                        not_(street.c.district_code.in_(select(district.c.code).scalar_subquery())),
                    ),
                ),
                _Rule("negative_population", "database_any_time", street.c.population < 0),
                _Rule("negative_area", "database_any_time", street.c.area_km2 < 0),
                _Rule("out_of_area", "database_any_time", _outside(street, cfg)),
            ],
        ),
        "grid": (
            grid,
            grid.c.code,
            [
                _Rule("unknown_street", "database_any_time", _unknown_street(grid)),
                _Rule(
                    "bad_kind",
                    "area_any_time",
                    _not_one_of(grid.c.kind, GRID_KINDS),
                    in_area(grid.c.street_code, f),
                ),
            ],
        ),
        "venue": (
            venue,
            venue.c.id,
            [
                _Rule("unknown_street", "database_any_time", _unknown_street(venue)),
                *(
                    _Rule(name, "area_any_time", cond, in_area(venue.c.street_code, f))
                    for name, cond in (
                        ("out_of_area", _outside(venue, cfg)),
                        ("negative_capacity", venue.c.capacity < 0),
                        ("negative_radius", venue.c.radius_m < 0),
                    )
                ),
            ],
        ),
        "incident": (
            incident,
            incident.c.id,
            [
                # Any time (a case without its time is in no window), by the
                # (street_code, reported_at) index.
                _Rule(
                    "missing_reported_at",
                    "area_any_time",
                    incident.c.reported_at.is_(None),
                    inc_area,
                ),  # fmt: skip
                # The window's cases, by the (status, reported_at, ...) index.
                _Rule(
                    "bad_status",
                    "area",
                    _not_one_of(incident.c.status, INCIDENT_STATUSES),
                    and_(window, inc_area),
                ),
                # The window's cases, as the page's other window checks.
                *(
                    _Rule(name, "area", cond, and_(window, inc_area))
                    for name, cond in (
                        (
                            "bad_outcome",
                            and_(
                                incident.c.outcome.is_not(None),
                                _not_one_of(incident.c.outcome, INCIDENT_OUTCOMES),
                            ),
                        ),
                        ("unknown_grid", _unknown_grid(incident)),
                        (
                            "milestone_after_now",
                            _future(now, *(incident.c[f"{m}_at"] for m in MILESTONES)),
                        ),
                    )
                ),
            ],
        ),
        "crowd_reading": (
            crowd_reading,
            crowd_reading.c.cell_id,
            [
                _Rule("future_time", "area_any_time", crowd_reading.c.ts > now, c_area),
                # The window's readings: a point outside the site's bounds.
                _Rule(
                    "out_of_area",
                    "area",
                    _outside(crowd_reading, cfg),
                    and_(
                        c_area,
                        crowd_reading.c.ts >= f.start_ts,
                        crowd_reading.c.ts < f.end_ts,
                    ),
                ),
            ],
        ),
    }
    p, h, w = petition, housing_record, warning
    out["petition"] = _warning_table(p, f, [
        ("unknown_grid", _unknown_grid(p)),
        ("missing_received_at", p.c.received_at.is_(None)),
        ("due_before_received", _before(p.c.due_at, p.c.received_at)),
        ("closed_before_received", _before(p.c.closed_at, p.c.received_at)),
        ("future_time", _future(now, p.c.received_at, p.c.closed_at)),
        ("negative_repeat_count", p.c.repeat_count < 0),
    ])  # fmt: skip
    out["housing_record"] = _warning_table(h, f, [
        ("unknown_grid", _unknown_grid(h)),
        ("out_of_area", _outside(h, cfg)),
        ("future_time", _future(now, h.c.last_verified_at)),
    ])  # fmt: skip
    out["warning"] = _warning_table(w, f, [
        ("unknown_grid", _unknown_grid(w)),
        ("bad_colour", _not_one_of(w.c.colour, WARNING_COLOURS)),
        ("missing_raised_at", w.c.raised_at.is_(None)),
        ("cleared_before_raised", _before(w.c.cleared_at, w.c.raised_at)),
        ("future_time", _future(now, w.c.raised_at, w.c.cleared_at)),
    ])  # fmt: skip
    return out


#: The tables whose duplicates are counted here, with the scope: the
#: geography's over the whole database, the warnings' in the area.
_DUPLICATES = {
    "district": "database_any_time",
    "street": "database_any_time",
    "grid": "database_any_time",
    "venue": "database_any_time",
    "petition": "area_any_time",
    "housing_record": "area_any_time",
    "warning": "area_any_time",
}


def _examples(conn: Connection, key: Any, where: ColumnElement[bool]) -> str:
    """Up to :data:`EXAMPLES` distinct keys of the rows where ``where``
    holds, smallest first, comma-separated."""
    q = select(key).where(where).distinct().order_by(key).limit(EXAMPLES)
    return ", ".join(str(v) for (v,) in conn.execute(q).all())


def _duplicates(
    conn: Connection, table: Any, key: Any, within: ColumnElement[bool] | None
) -> tuple[int, str]:
    """Extra rows of keys that occur more than once (every copy after the
    first), and up to :data:`EXAMPLES` such keys."""
    q = select(key.label("key"), (func.count() - 1).label("extra")).select_from(table)
    if within is not None:
        q = q.where(within)
    dup = q.where(key.is_not(None)).group_by(key).having(func.count() > 1).subquery("dup")
    extra = int(conn.execute(select(func.coalesce(func.sum(dup.c.extra), 0))).scalar() or 0)
    if not extra:
        return 0, ""
    keys = conn.execute(select(dup.c.key).order_by(dup.c.key).limit(EXAMPLES)).all()
    return extra, ", ".join(str(k) for (k,) in keys)


def contract_checks(
    conn: Connection, f: AreaFilter, now: datetime, cfg: SiteConfig
) -> pd.DataFrame:
    """Counts of rows that break the contract's other constraints (see
    ``CONTRACT_CHECKS`` and docs/data-contract.md), with examples.

    Columns: ``table``, ``check``, ``rows`` (count; for duplicates the
    extra rows), ``scope`` (``area``: the area and window;
    ``area_any_time``: the area's rows whatever their time;
    ``database_any_time``: every row, e.g. a code no street has, which
    belongs to no area), ``examples`` (up to :data:`EXAMPLES` ids or
    codes, comma-separated; ``""`` when none). With a user's ``scope`` the
    whole database's counts are 0 and ``withheld``. ``now``: naive local time.
    """
    found: dict[tuple[str, str], tuple[int, str, str]] = {}
    withhold = f.scope is not None
    for name, (table, key, rules) in _rules(f, now, cfg, conn.dialect.name).items():
        wheres = [r.cond if r.within is None else and_(r.within, r.cond) for r in rules]
        if name in ("incident", "crowd_reading"):  # each by an index, never a pass
            values = [conn.execute(select(func.count()).where(w)).scalar() for w in wheres]
        else:  # a small table: one pass for all its checks
            values = list(conn.execute(select(*map(count_if, wheres)).select_from(table)).one())
        for rule, where, n in zip(rules, wheres, values, strict=True):
            rows, examples = int(n or 0), ""
            if withhold and rule.scope in _WHOLE_DATABASE:
                found[(name, rule.check)] = (0, "withheld", "")
                continue
            if rows:
                examples = _examples(conn, key, where)
            found[(name, rule.check)] = (rows, rule.scope, examples)
    for name, scope in _DUPLICATES.items():
        table = CONTRACT_TABLES[name]
        key = table.c.code if "code" in table.c else table.c.id
        check = "duplicate_code" if "code" in table.c else "duplicate_id"
        if withhold and scope in _WHOLE_DATABASE:
            found[(name, check)] = (0, "withheld", "")
            continue
        within = in_area(table.c.street_code, f) if scope == "area_any_time" else None
        rows, examples = _duplicates(conn, table, key, within)
        found[(name, check)] = (rows, scope, examples)
    out = [(t, c, *found[(t, c)]) for t, c in CONTRACT_CHECKS]
    return pd.DataFrame(out, columns=CONTRACT_COLUMNS).astype({"rows": "int64"})


# ---------------------------------------------------------------------------
# Timestamp storage forms (docs/data-contract.md, "Timestamps: accepted
# storage forms"): a value in another form falls in no window.

FORM_COLUMNS = ["table", "column", "stored_as", "rows", "scope", "examples", "note"]

#: A date ``YYYY-MM-DD`` as a GLOB pattern; then the time forms after it.
_DATE = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
_HM = _DATE + "[ T][0-9][0-9]:[0-9][0-9]"
_HMS = _HM + ":[0-9][0-9]"

#: Declared types accepted on PostgreSQL (``information_schema.columns.data_type``).
_PG_ACCEPTED = ("timestamp without time zone", "date")
_PG_ZONED = "timestamp with time zone"
#: Declared types accepted on MariaDB/MySQL (``DATA_TYPE``, lower case).
_MYSQL_ACCEPTED = ("datetime", "timestamp", "date")
_TEXT_TYPES = ("text", "character varying", "character", "varchar", "char", "tinytext",
               "mediumtext", "longtext")  # fmt: skip


def timestamp_columns() -> list[tuple[str, str]]:
    """Every contract timestamp column, as ``(table, column)``, in contract order."""
    return list(TIMESTAMP_COLUMNS)


def sqlite_accepted_form(col: Any) -> ColumnElement[bool]:
    """SQLite: ``col`` is text in an accepted form (``YYYY-MM-DD``, then
    optionally `` HH:MM``, ``:SS`` and ``.`` with 1-9 fraction digits, a
    space or ``T`` before the time) and a real date and time
    (``julianday`` reads it, and the date of that Julian day is its own,
    so 30 February, which SQLite reads as 2 March, is not one)."""
    v = type_coerce(col, String())

    def glob(pattern: str) -> ColumnElement[bool]:
        return v.op("GLOB", is_comparison=True)(literal(pattern, String()))

    n = func.length(v)
    fraction = func.substr(v, 21)
    form = or_(
        and_(n == 10, glob(_DATE)),
        and_(n == 16, glob(_HM)),
        and_(n == 19, glob(_HMS)),
        and_(
            n >= 21,
            n <= 29,
            glob(_HMS + ".[0-9]*"),
            not_(fraction.op("GLOB", is_comparison=True)("*[^0-9]*")),
        ),
    )
    return and_(
        func.typeof(col) == "text",
        form,
        func.julianday(v).is_not(None),
        # date() of the text echoes 30 February; of its Julian day, 2 March
        func.date(func.julianday(v)) == func.substr(v, 1, 10),
    )


def _form_rows(table: Any, name: str, f: AreaFilter) -> tuple[list[ColumnElement[bool]], str, Any]:
    """Which rows of ``table`` the storage-form figure reads (the union of
    the parts listed, each an index range), its scope and the key examples
    name: the area's rows; for cases and crowd readings, those of the
    window as text (their date prefix within the window's days, whatever
    follows it) and those with no date prefix at all (numbers and words,
    which sort before ``0000-`` or after ``9999-``)."""
    area = in_area(table.c.street_code, f)
    if name not in ("incident", "crowd_reading"):
        return [area], "area_any_time", table.c.id
    ts = table.c.reported_at if name == "incident" else table.c.ts
    v = type_coerce(ts, String())
    last_day = literal(f.end.isoformat() + "~", String())
    parts = [
        and_(v >= literal(f.start.isoformat(), String()), v < last_day),
        v < literal("0000-", String()),
        v >= literal("9999-~", String()),
    ]
    key = table.c.id if name == "incident" else table.c.cell_id
    return [and_(area, p) for p in parts], "area", key


def _declared_types(conn: Connection) -> dict[tuple[str, str], str]:
    """``(table, column) -> declared type`` (lower case) of the contract's
    tables or views in the connection's schema, from ``information_schema``."""
    schema = func.current_schema() if conn.dialect.name == "postgresql" else func.database()
    q = text(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = :schema AND table_name IN :tables"
    ).bindparams(bindparam("tables", expanding=True))
    current = conn.execute(select(schema)).scalar()
    rows = conn.execute(q, {"schema": current, "tables": list(CONTRACT_TABLES)}).all()
    return {(str(t).lower(), str(c).lower()): str(d).lower() for t, c, d in rows}


def timestamp_forms(conn: Connection, f: AreaFilter) -> pd.DataFrame:
    """For every contract timestamp column, how it is stored and how many
    of its values are not in an accepted form.

    Columns: ``table``, ``column``, ``stored_as`` (SQLite: ``text``; else
    the declared type, e.g. ``timestamp without time zone``, ``datetime``,
    ``text``; ``missing`` for a column the table or view lacks), ``rows``
    (values not accepted: SQLite, each such value; elsewhere every value of
    a column whose type is not accepted), ``scope`` (``area``: cases and
    crowd readings of the area and window; ``area_any_time``: the area's
    petitions, housing records and warnings), ``examples`` (up to
    :data:`EXAMPLES` ``key=value``, comma-separated), ``note``: ``""``,
    ``converted_to_site_zone`` (PostgreSQL ``timestamp with time zone``,
    read in the site's zone), ``text_column`` (a text type on
    PostgreSQL/MariaDB: not accepted), ``unsupported_type``.
    """
    dialect = conn.dialect.name
    declared = {} if dialect == "sqlite" else _declared_types(conn)
    planned: list[Any] = []
    for name, column in timestamp_columns():
        table = CONTRACT_TABLES[name]
        col = table.c[column]
        rows_of, scope, key = _form_rows(table, name, f)
        note, bad = "", None
        if dialect == "sqlite":
            stored = "text"
            bad = and_(col.is_not(None), not_(sqlite_accepted_form(col)))
        else:
            stored = declared.get((name, column), "missing")
            accepted = _PG_ACCEPTED if dialect == "postgresql" else _MYSQL_ACCEPTED
            if stored == _PG_ZONED and dialect == "postgresql":
                note = "converted_to_site_zone"
            elif stored not in accepted and stored != "missing":
                note = "text_column" if stored in _TEXT_TYPES else "unsupported_type"
                # Every value of such a column, of the area (any time: text
                # is in no window).
                rows_of, bad = [in_area(table.c.street_code, f)], col.is_not(None)
        planned.append((name, column, stored, scope, note, key, rows_of, bad))
    # One statement per table and part for all its columns (on SQLite, the
    # window's cases and readings by their time's index).
    counts: dict[tuple[str, str], int] = {}
    for name in CONTRACT_TABLES:
        mine = [p for p in planned if p[0] == name and p[-1] is not None]
        if not mine:
            continue
        for part in mine[0][6]:
            q = select(*(count_if(p[-1]) for p in mine)).where(part)
            got = conn.execute(q).one()
            for p, n in zip(mine, got, strict=True):
                counts[(name, p[1])] = counts.get((name, p[1]), 0) + int(n or 0)
    out = []
    for name, column, stored, scope, note, key, rows_of, bad in planned:
        rows, examples = counts.get((name, column), 0), ""
        if rows and bad is not None:
            col = CONTRACT_TABLES[name].c[column]
            shown = type_coerce(col, String()) if dialect == "sqlite" else cast(col, String())
            found = union_all(
                *(
                    select(key.label("key"), shown.label("value")).where(part, bad)
                    for part in rows_of
                )
            ).subquery("bad_form")
            pairs = conn.execute(
                select(found.c.key, found.c.value).order_by(found.c.key).limit(EXAMPLES)
            ).all()
            examples = ", ".join(f"{k}={v}" for k, v in pairs)
        out.append((name, column, stored, rows, scope, examples, note))
    return pd.DataFrame(out, columns=FORM_COLUMNS).astype({"rows": "int64"})
