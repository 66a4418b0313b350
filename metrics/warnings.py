"""Warning colours (三色预警): distributions, trend, red list, closure counts.

Colours are computed in SQL by CASE expressions built from the rules in
:mod:`metrics.warning_rules` (bound parameters only), so a million
records never leave the database. Every rule is evaluated *as of* an
instant ``T`` (naive local time): the query joins a small calendar of
instants built from bound parameters, one row per instant, so the same
expression gives the current distribution (one instant, ``now``) and the
history (the end of each day or week). Two trends count differently, with
the same results (tested against pandas): housing at midnight instants
from a per-day histogram, and petitions over several instants from the
petitions open during the span, compared with every instant outside the
database (four values a petition; see :func:`_petitions_at`).

``domain`` is ``petition`` (信访件), ``housing`` (屋联码) or a ``warning``
domain listed in the rules (e.g. ``enforcement`` 三色赋码, ``risk``).

An item counts at ``T`` when:

- petition: ``received_at <= T`` and not closed by ``T`` (``closed_at`` NULL
  or after ``T``); red when ``T > due_at``, escalated, or
  ``repeat_count >= repeat_red``; yellow when ``due_at <= T + due_soon_days``
  or ``(T - received_at) > used_percent_yellow % of (due_at - received_at)``;
  else green. A ``due_at`` before ``received_at`` is a bad row and is left
  out. ``escalated`` and ``repeat_count`` have no history in the
  contract: their current values apply at every ``T``.
- housing: never verified (red at every ``T``) or ``last_verified_at <= T``
  (a record verified after ``T`` has an unknown colour at ``T`` and is left
  out); green when ``T - last_verified_at <= green_within_days`` days,
  red when ``red_after_days > 0`` and older than that, else yellow.
- warning: ``raised_at <= T``, not cleared by ``T``, ``colour`` one of
  red/yellow/green (other values are bad rows and are left out).

Rows whose ``street_code`` is not a known street of the area drop out (see
:mod:`data_access.area`).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import (
    Connection,
    DateTime,
    Float,
    Integer,
    String,
    and_,
    case,
    cast,
    column,
    false,
    func,
    literal,
    null,
    or_,
    select,
    true,
    union_all,
    values,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery

from data_access.area import area_streets, in_area
from data_access.filters import AreaFilter
from data_access.schema import WARNING_COLOURS, grid, housing_record, petition, warning
from data_access.sqlfn import count_if, day_bucket, minutes_between
from metrics.warning_rules import WarningRules

#: Most instants one trend query evaluates (older buckets are dropped).
MAX_BUCKETS = 60
MINUTES_PER_DAY = 1440.0

DISTRIBUTION_COLUMNS = ["red", "yellow", "green", "total"]
TREND_COLUMNS = ["bucket", "at", "red", "yellow", "green", "total"]
RED_LIST_COLUMNS = [
    "id",
    "street_code",
    "grid_code",
    "grid_name",
    "since",
    "age_days",
    "overdue_days",
    "escalated",
    "repeat_count",
    "reasons",
]
CLOSURE_COLUMNS = ["closed_on_time", "closed_late"]


class UnknownDomain(ValueError):
    """A domain that is neither rule-based nor listed in the rules file."""


@dataclass(frozen=True)
class _Instant:
    bucket: str
    at: datetime


def _calendar(instants: list[_Instant], rules: WarningRules, dialect: str = "") -> Any:
    """Instants as rows of bound parameters: ``bucket``, ``at`` and the
    rule limits derived from it in Python (``soon`` = at + due_soon_days,
    ``fresh`` = at - green_within_days, ``stale`` = at - red_after_days).

    On PostgreSQL a ``VALUES`` list: planned as a UNION of one-row SELECTs it
    was estimated at one row, so the items table was scanned once per
    instant (53 scans of the city's petitions for a year's weekly trend,
    2.7 s); ``VALUES`` carries its row count, and the table is scanned once.
    """
    p, h = rules.petition, rules.housing
    if dialect == "postgresql" and len(instants) > 1:
        cols: list[Any] = [
            column("bucket", String(10)),
            column("at", DateTime),
            column("soon", DateTime),
            column("fresh", DateTime),
            column("stale", DateTime),
        ]
        data = [
            (
                i.bucket,
                i.at,
                i.at + timedelta(days=p.due_soon_days),
                i.at - timedelta(days=h.green_within_days),
                i.at - timedelta(days=h.red_after_days),
            )
            for i in instants
        ]
        return values(*cols, name="cal").data(data)
    rows = [
        select(
            literal(i.bucket, String(10)).label("bucket"),
            literal(i.at, DateTime).label("at"),
            literal(i.at + timedelta(days=p.due_soon_days), DateTime).label("soon"),
            literal(i.at - timedelta(days=h.green_within_days), DateTime).label("fresh"),
            literal(i.at - timedelta(days=h.red_after_days), DateTime).label("stale"),
        )
        for i in instants
    ]
    compound = rows[0] if len(rows) == 1 else union_all(*rows)
    return compound.subquery("cal")


def _items(
    domain: str,
    rules: WarningRules,
    f: AreaFilter,
    cal: Any,
    dialect: str,
) -> Subquery:
    """One row per item and instant at which it counts: ``bucket``, ``at``,
    ``id``, ``street_code``, ``grid_code``, ``colour``, ``since`` (received /
    last verified / raised), ``age_min`` (minutes from ``since`` to ``at``),
    ``overdue_min`` (petitions past due), ``escalated``, ``repeat_count``,
    ``stale`` (housing verified longer ago than ``red_after_days``)."""
    at = cal.c.at
    colour: ColumnElement[Any]
    if domain == "petition":
        pr = rules.petition
        t = petition
        overdue = and_(t.c.due_at.is_not(None), at > t.c.due_at)
        escalated = t.c.escalated.is_(true())
        repeats = func.coalesce(t.c.repeat_count, 0) >= pr.repeat_red
        soon = and_(t.c.due_at.is_not(None), t.c.due_at <= cal.c.soon)
        used = and_(
            t.c.due_at.is_not(None),
            minutes_between(t.c.received_at, at, dialect) * 100.0
            > literal(pr.used_percent_yellow)
            * minutes_between(t.c.received_at, t.c.due_at, dialect),
        )
        colour = case(
            (or_(overdue, escalated, repeats), "red"), (or_(soon, used), "yellow"), else_="green"
        )
        cols: list[Any] = [
            t.c.received_at.label("since"),
            minutes_between(t.c.received_at, at, dialect).label("age_min"),
            case((overdue, minutes_between(t.c.due_at, at, dialect)), else_=null()).label(
                "overdue_min"
            ),
            case((escalated, 1), else_=0).label("escalated"),
            t.c.repeat_count.label("repeat_count"),
            literal(0).label("stale"),
        ]
        exists = and_(
            t.c.received_at <= at,
            or_(t.c.closed_at.is_(None), t.c.closed_at > at),
            # a deadline before receipt is a bad row: it would show as overdue
            or_(t.c.due_at.is_(None), t.c.due_at >= t.c.received_at),
        )
    elif domain == "housing":
        hr = rules.housing
        t = housing_record
        last = t.c.last_verified_at
        stale = and_(last.is_not(None), last < cal.c.stale) if hr.red_after_days else false()
        colour = case(
            (or_(last.is_(None), stale), "red"), (last >= cal.c.fresh, "green"), else_="yellow"
        )
        cols = [
            last.label("since"),
            minutes_between(last, at, dialect).label("age_min"),
            cast(null(), Float).label("overdue_min"),
            literal(0).label("escalated"),
            cast(null(), Integer).label("repeat_count"),
            case((stale, 1), else_=0).label("stale"),
        ]
        exists = or_(last.is_(None), last <= at)
    elif rules.warning_domain(domain) is not None:
        t = warning
        colour = t.c.colour
        cols = [
            t.c.raised_at.label("since"),
            minutes_between(t.c.raised_at, at, dialect).label("age_min"),
            cast(null(), Float).label("overdue_min"),
            literal(0).label("escalated"),
            cast(null(), Integer).label("repeat_count"),
            literal(0).label("stale"),
        ]
        exists = and_(
            t.c.domain == domain,
            t.c.colour.in_(WARNING_COLOURS),
            t.c.raised_at <= at,
            or_(t.c.cleared_at.is_(None), t.c.cleared_at > at),
        )
    else:
        raise UnknownDomain(f"domain: {domain!r} is not one of {', '.join(rules.domains)}")
    q = (
        select(
            cal.c.bucket,
            cal.c.at,
            t.c.id,
            t.c.street_code,
            t.c.grid_code,
            colour.label("colour"),
            *cols,
        )
        .select_from(t)
        .join(cal, true())
        .where(exists, in_area(t.c.street_code, f))
    )
    return q.subquery("items")


def _counts(items: Subquery) -> list[ColumnElement[Any]]:
    return [
        count_if(items.c.colour == "red").label("red"),
        count_if(items.c.colour == "yellow").label("yellow"),
        count_if(items.c.colour == "green").label("green"),
        func.count().label("total"),
    ]


def _ints(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return frame.astype({c: "int64" for c in columns})


def distribution(
    conn: Connection,
    f: AreaFilter,
    now: datetime,
    rules: WarningRules,
    domain: str,
    street_code: str | None = None,
) -> pd.DataFrame:
    """Items per colour as of ``now``, per street of the area, or per grid of
    ``street_code`` when given (the drill-down).

    Columns per street: ``street_code``, ``red``, ``yellow``, ``green``,
    ``total`` (counts of items), every street of the area listed (zeros
    when empty). Per grid: ``grid_code``, ``grid_name`` (``name_zh``, NULL
    for a grid missing from ``grid``), then the counts; only grids with items.
    """
    cal = _calendar([_Instant(now.date().isoformat(), now)], rules)
    items = _items(domain, rules, f, cal, conn.dialect.name)
    if street_code is None:
        per = (
            select(items.c.street_code, *_counts(items))
            .group_by(items.c.street_code)
            .subquery("per")
        )
        area = area_streets(f).subquery("area")
        q = (
            select(area.c.code, *(func.coalesce(per.c[c], 0) for c in DISTRIBUTION_COLUMNS))
            .select_from(area.outerjoin(per, per.c.street_code == area.c.code))
            .order_by(area.c.code)
        )
        frame = pd.DataFrame(conn.execute(q).all(), columns=["street_code", *DISTRIBUTION_COLUMNS])
        return _ints(frame, DISTRIBUTION_COLUMNS)
    per = (
        select(items.c.grid_code, *_counts(items))
        .where(items.c.street_code == street_code)
        .group_by(items.c.grid_code)
        .subquery("per")
    )
    q = (
        select(per.c.grid_code, grid.c.name_zh, *(per.c[c] for c in DISTRIBUTION_COLUMNS))
        .select_from(per.outerjoin(grid, grid.c.code == per.c.grid_code))
        .order_by(per.c.grid_code)
    )
    frame = pd.DataFrame(
        conn.execute(q).all(), columns=["grid_code", "grid_name", *DISTRIBUTION_COLUMNS]
    )
    return _ints(frame, DISTRIBUTION_COLUMNS)


def trend_instants(f: AreaFilter, now: datetime, freq: str) -> list[tuple[str, datetime]]:
    """The ``(bucket, instant)`` pairs of a trend: the end of each day (``day``)
    or ISO week (``week``, bucket = its Monday) of the window, none after
    ``now`` (the current bucket is evaluated at ``now``); at most
    ``MAX_BUCKETS``, the latest kept."""
    if freq not in ("day", "week"):
        raise ValueError(f"freq: expected 'day' or 'week', got {freq!r}")
    last_day = min(f.end, now.date())
    out: list[tuple[str, datetime]] = []
    if freq == "day":
        d = f.start
        while d <= last_day:
            out.append((d.isoformat(), min(_end_of(d), now)))
            d += timedelta(days=1)
    else:
        monday = f.start - timedelta(days=f.start.weekday())
        while monday <= last_day:
            sunday = min(monday + timedelta(days=6), f.end)
            out.append((monday.isoformat(), min(_end_of(sunday), now)))
            monday += timedelta(days=7)
    return out[-MAX_BUCKETS:]


def _end_of(d: date) -> datetime:
    return datetime.combine(d + timedelta(days=1), time.min)


def trend(
    conn: Connection,
    f: AreaFilter,
    now: datetime,
    rules: WarningRules,
    domain: str,
    freq: str = "day",
) -> pd.DataFrame:
    """Items per colour as of the end of each day / week of the window (one
    query over a calendar of those instants, see :func:`trend_instants`).

    Columns: ``bucket`` (ISO date: the day, or the Monday of the week),
    ``at`` (the instant evaluated, naive local time), ``red``, ``yellow``,
    ``green``, ``total`` (counts). Every bucket is listed, zeros when empty.
    """
    instants = trend_instants(f, now, freq)
    if not instants:
        return pd.DataFrame(columns=TREND_COLUMNS)
    got: dict[str, tuple[int, ...]] = {}
    rest = instants
    if domain == "housing":  # the instants at midnight, from one histogram
        midnights = [(b, at) for b, at in instants if at.time() == time.min]
        got = _housing_at_midnights(conn, f, rules, midnights)
        rest = [(b, at) for b, at in instants if at.time() != time.min]
    elif domain == "petition" and len(instants) > 1:
        got, rest = _petitions_at(conn, f, rules, instants), []
    if rest:
        cal = _calendar([_Instant(b, at) for b, at in rest], rules, conn.dialect.name)
        items = _items(domain, rules, f, cal, conn.dialect.name)
        q = select(items.c.bucket, *_counts(items)).group_by(items.c.bucket)
        got |= {row[0]: tuple(row[1:]) for row in conn.execute(q).all()}
    rows = [(b, at, *got.get(b, (0, 0, 0, 0))) for b, at in instants]
    frame = pd.DataFrame(rows, columns=TREND_COLUMNS)
    frame["at"] = pd.to_datetime(frame["at"])
    return _ints(frame, DISTRIBUTION_COLUMNS)


def _petitions_at(
    conn: Connection, f: AreaFilter, rules: WarningRules, instants: list[tuple[str, datetime]]
) -> dict[str, tuple[int, ...]]:
    """Petition colours (red, yellow, green, total) at several instants:
    the rules of :func:`_items`, evaluated here on the petitions open at
    some instant of the span (their received, due and closed times and
    whether they are red whenever open), a block of petitions × instants
    at a time. Pairing every petition with every instant in the database
    made a year's weekly trend for the city 1.5 M pairs, each colour
    computed from interval arithmetic: 3.8 s; reading the 300,000 petitions
    that overlap the year and comparing here: under a second. The same
    counts (tests/test_warnings.py checks both against pandas)."""
    import numpy as np

    pr = rules.petition
    t = petition.c
    first, last = min(at for _, at in instants), max(at for _, at in instants)
    red_always = or_(t.escalated.is_(true()), func.coalesce(t.repeat_count, 0) >= pr.repeat_red)
    q = select(t.received_at, t.due_at, t.closed_at, case((red_always, 1), else_=0)).where(
        in_area(t.street_code, f),
        or_(t.due_at.is_(None), t.due_at >= t.received_at),  # a bad row otherwise
        t.received_at <= last,
        or_(t.closed_at.is_(None), t.closed_at > first),
    )
    rows = conn.execute(q).all()

    def micros(values: Any) -> Any:  # naive datetimes as int64 microseconds, NaT as None
        stamps = pd.to_datetime(pd.Series(values, dtype="object")).to_numpy("datetime64[us]")
        return stamps.astype("int64"), np.isnat(stamps)

    at = np.array([np.datetime64(a, "us") for _, a in instants]).astype("int64")[:, None]
    soon = np.array(
        [np.datetime64(a + timedelta(days=pr.due_soon_days), "us") for _, a in instants]
    ).astype("int64")[:, None]
    counts = np.zeros((len(instants), 4), dtype="int64")
    for block in range(0, len(rows), 20_000):
        part = rows[block : block + 20_000]
        received, due, closed, always = zip(*part, strict=True)
        rec, _ = micros(received)
        due_us, no_due = micros(due)
        closed_us, open_ = micros(closed)
        exists = (rec <= at) & (open_ | (closed_us > at))
        has_due = ~no_due
        red = np.asarray(always, dtype=bool) | (has_due & (at > due_us))
        # Seconds, as the reference and the SQL compare minutes (floats).
        used = (at - rec) / 1e6 * 100 > pr.used_percent_yellow * ((due_us - rec) / 1e6)
        yellow = has_due & ((due_us <= soon) | used) & ~red
        counts[:, 0] += (exists & red).sum(axis=1)
        counts[:, 1] += (exists & yellow).sum(axis=1)
        counts[:, 3] += exists.sum(axis=1)
    counts[:, 2] = counts[:, 3] - counts[:, 0] - counts[:, 1]
    return {b: tuple(int(v) for v in counts[i]) for i, (b, _) in enumerate(instants)}


def _housing_at_midnights(
    conn: Connection, f: AreaFilter, rules: WarningRules, instants: list[tuple[str, datetime]]
) -> dict[str, tuple[int, ...]]:
    """Housing colours (red, yellow, green, total) at instants that fall on
    midnight, from the records' last verifications counted per day.

    A housing record's colour at ``at`` depends only on ``last`` (its last
    verification) against ``at``, ``at - red_after_days`` and ``at -
    green_within_days``, all midnights here (the rule's days are whole), so
    every count is a sum of the per-day histogram, plus the records
    verified exactly at ``at`` (``last <= at`` counts them). Two small
    queries instead of evaluating every record at every instant (a year's
    weekly trend for the city: 7.0 s); the same counts as :func:`_items`
    (tests/test_warnings.py checks both against pandas).
    """
    if not instants:
        return {}
    h = rules.housing
    last = housing_record.c.last_verified_at
    area = in_area(housing_record.c.street_code, f)
    day = day_bucket(last, conn.dialect.name)
    per_day = {
        d: int(n) for d, n in conn.execute(select(day, func.count()).where(area).group_by(day))
    }
    never = per_day.pop(None, 0)  # type: ignore[call-overload]
    days = sorted(per_day)
    cumulative = [0]
    for d in days:
        cumulative.append(cumulative[-1] + per_day[d])
    at_exactly = {
        pd.Timestamp(ts).to_pydatetime(): int(n)
        for ts, n in conn.execute(
            select(last, func.count())
            .where(area, last.in_([at for _, at in instants]))
            .group_by(last)
        )
    }

    def before(x: datetime) -> int:  # records verified before midnight x
        return cumulative[bisect.bisect_left(days, x.date().isoformat())]

    out: dict[str, tuple[int, ...]] = {}
    for bucket, at in instants:
        upto = before(at) + at_exactly.get(at, 0)  # last <= at
        red = never + (before(at - timedelta(days=h.red_after_days)) if h.red_after_days else 0)
        lower = at - timedelta(days=h.green_within_days)
        if h.red_after_days:  # green is never red
            lower = max(lower, at - timedelta(days=h.red_after_days))
        green = upto - before(lower)
        total = never + upto
        out[bucket] = (red, total - red - green, green, total)
    return out


def red_list(
    conn: Connection,
    f: AreaFilter,
    now: datetime,
    rules: WarningRules,
    domain: str,
    row_cap: int,
) -> pd.DataFrame:
    """The red items as of ``now``, most overdue then oldest first, at most ``row_cap``.

    Columns: ``id``, ``street_code``, ``grid_code``, ``grid_name`` (the
    grid's ``name_zh``; NULL when not in ``grid``), ``since`` (received /
    last verified / raised; NaT when never verified), ``age_days`` (whole
    days from ``since`` to ``now``; NA when never verified),
    ``overdue_days`` (whole days past ``due_at``, petitions; NA otherwise),
    ``escalated`` (bool), ``repeat_count`` (petitions; NA otherwise),
    ``reasons`` (why red, comma-separated codes: ``overdue_days``,
    ``escalated``, ``repeats``, ``never_verified``, ``verified_too_long_ago``,
    ``given``). The contract's petition/housing/warning rows carry no
    personal data (the ``warning.note`` free text is not returned).
    """
    cal = _calendar([_Instant(now.date().isoformat(), now)], rules)
    items = _items(domain, rules, f, cal, conn.dialect.name)
    q = (
        select(
            items.c.id,
            items.c.street_code,
            items.c.grid_code,
            grid.c.name_zh,
            items.c.since,
            items.c.age_min,
            items.c.overdue_min,
            items.c.escalated,
            items.c.repeat_count,
            items.c.stale,
        )
        .select_from(items.outerjoin(grid, grid.c.code == items.c.grid_code))
        .where(items.c.colour == "red")
        .order_by(
            func.coalesce(items.c.overdue_min, -1.0).desc(),
            func.coalesce(items.c.age_min, 1e12).desc(),
            items.c.id,
        )
        .limit(row_cap)
    )
    raw = pd.DataFrame(
        conn.execute(q).all(),
        columns=[
            "id",
            "street_code",
            "grid_code",
            "grid_name",
            "since",
            "age_min",
            "overdue_min",
            "escalated",
            "repeat_count",
            "stale",
        ],
    )
    out = raw[["id", "street_code", "grid_code", "grid_name"]].copy()
    out["since"] = pd.to_datetime(raw["since"])
    age = pd.to_numeric(raw["age_min"], errors="coerce")
    out["age_days"] = (age // MINUTES_PER_DAY).astype("Int64")
    overdue = pd.to_numeric(raw["overdue_min"], errors="coerce")
    out["overdue_days"] = (overdue // MINUTES_PER_DAY).astype("Int64")
    out["escalated"] = raw["escalated"].astype(bool)
    out["repeat_count"] = pd.to_numeric(raw["repeat_count"], errors="coerce").astype("Int64")
    out["reasons"] = [
        _reasons(domain, rules, o, e, r, s, since)
        for o, e, r, s, since in zip(
            overdue, out["escalated"], out["repeat_count"], raw["stale"], raw["since"], strict=True
        )
    ]
    return out[RED_LIST_COLUMNS]


def _reasons(
    domain: str,
    rules: WarningRules,
    overdue: Any,
    escalated: bool,
    repeats: Any,
    stale: Any,
    since: Any,
) -> str:
    codes = []
    if domain == "petition":
        if pd.notna(overdue):
            codes.append("overdue_days")
        if escalated:
            codes.append("escalated")
        if pd.notna(repeats) and int(repeats) >= rules.petition.repeat_red:
            codes.append("repeats")
    elif domain == "housing":
        codes.append("never_verified" if since is None or pd.isna(since) else "")
        if stale:
            codes.append("verified_too_long_ago")
    else:
        codes.append("given")
    return ",".join(c for c in codes if c)


def petition_closures(conn: Connection, f: AreaFilter, now: datetime) -> pd.DataFrame:
    """Petitions of the area closed in the window (and by ``now``), one row.

    Columns: ``closed_on_time`` (``closed_at <= due_at``, or no ``due_at``),
    ``closed_late`` (``closed_at > due_at``); counts. A ``closed_at`` before
    ``received_at`` is a bad row and is left out.
    """
    t = petition
    late = and_(t.c.due_at.is_not(None), t.c.closed_at > t.c.due_at)
    q = select(count_if(~late), count_if(late)).where(
        t.c.closed_at.is_not(None),
        t.c.closed_at >= f.start_ts,
        t.c.closed_at < f.end_ts,
        t.c.closed_at <= now,
        t.c.closed_at >= t.c.received_at,
        in_area(t.c.street_code, f),
    )
    row = conn.execute(q).one()
    return pd.DataFrame([[int(v or 0) for v in row]], columns=CLOSURE_COLUMNS)


RED_COUNT_COLUMNS = ["domain", "red"]


def red_counts(conn: Connection, f: AreaFilter, now: datetime, rules: WarningRules) -> pd.DataFrame:
    """Items red as of ``now`` in the area, per domain, in the rules' order.

    Petitions and housing records are coloured by the rules; the listed
    ``warning`` domains keep the colour their system gave. Columns:
    ``domain``, ``red`` (count). The overview and the command screen show
    the sum, so the two always agree.
    """
    rows = [(d, int(distribution(conn, f, now, rules, d)["red"].sum())) for d in rules.domains]
    return pd.DataFrame(rows, columns=RED_COUNT_COLUMNS).astype({"red": "int64"})
