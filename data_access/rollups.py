"""Rollup tables: the settled, deduplicated cases, materialised by a job.

Every case query reads "clean" incidents (:func:`data_access.area.clean_incidents`):
one row per id, the earliest copy kept. Deduplicating a year of the city's
cases (2.5 M rows) costs PostgreSQL 4-6 s per query before any figure is
computed, on every page. The rollup does that work once:

``rollup_case``
    Every incident row, with all its columns, that at refresh time was
    *settled* (status ``closed`` or ``cancelled``), reported before the
    *sealed* instant (midnight starting the refresh day, local time), of a
    known street, and the only row with its id.
``rollup_dup_id``
    Ids that occurred more than once at refresh time (their rows are never
    rolled up).
``rollup_open_id``
    Ids that had a row not settled at refresh time: a case settled then and
    reopened since is found without probing every open case, and a case
    open then and settled since (in no rolled-up table, and no longer
    unsettled) is read live by its id.
``rollup_case_day``
    ``rollup_case`` summed per street and local day: case, status and
    camera counts, and each milestone's on-time / late / excluded
    judgements under the site's targets at refresh time (settled cases are
    never pending, so ``now`` does not change them). Queries without a
    category, source or status filter read a year of the city from its
    ~70,000 rows instead of 2.5 M cases; the targets' fingerprint is
    recorded, and a site whose targets changed since reads the cases.
``rollup_stage_week``
    Per street, ISO week and stage, the sorted stage minutes (float64,
    little-endian) of the rolled-up cases whose time counts (live, the
    milestone recorded and in order), for every week that ended before the
    seal. Exact medians and P90s cannot be summed from parts; these let a
    query take them over a year of the city from 40,000 stored arrays
    (~80 MB) instead of sorting 10 M durations in the database (3.8 s).
``rollup_cell_week``
    The incident map's cells of the rolled-up cases per street and ended
    week, at the cell sizes the whole city and each district are drawn at:
    cases, and the sums of their coordinates (a year of the city was a
    2 s pass over 2.5 M cases).
``rollup_crowd_quality_day``
    The data-quality page's crowd checks over every reading before the
    seal, per recorded street code and day: readings, missing coordinates,
    negative counts (a year of the city's 10 M readings was 1.7 s a query).
``rollup_incident_quality_day``
    The data-quality page's incident checks per street and day: missing
    coordinates, outside the map's bounds and milestones out of order of
    the rolled-up cases (under the fingerprinted bounds), and the rows
    before the seal whose street code is no known street (any status, per
    recorded code; ``""`` = NULL). A page takes the rolled-up counts, less
    those of ids changed since, plus the live part's rows (a year of the
    city was a 1.6-1.8 s pass over its 2.5 M rows).
``rollup_meta``
    One row: ``sealed_until``, ``refreshed_at``, rows, seconds, the
    longest reported-to-closed time of a rolled-up case, and the
    fingerprint of the targets ``rollup_case_day`` was judged under.
``rollup_review``
    The weekly reviews (:func:`data_access.weekly.review_tables`) of the
    last ended weeks for every district and the whole city, one Parquet
    payload per table, keyed by a fingerprint of the code version, the site
    configuration and the warning rules (:func:`stored_review`).

Queries then read clean incidents as the rollup's rows (none is a
duplicate, so they need no deduplication) plus a *live* part from the
source table, deduplicated as before: every row reported since the seal,
every row not settled (open cases change), every copy of a rolled-up
duplicate, every copy of an id that has a live row (a new copy of a
rolled-up case, or a reopened one: its rolled-up copy is then left out),
and every copy of an id that was open at refresh time and is settled now.
The two parts are disjoint and give the raw query's figures exactly, as
of the refresh: ``tests/test_rollups.py`` compares every case query both
ways on all three backends, with rows added after the refresh.

What the rollup cannot see (documented in docs/benchmarks.md): a settled
row reported before the seal that is changed, deleted or inserted after
the refresh, and any change after the refresh to the rows a stored weekly
review read. They show at the next refresh, so run the job at least daily
(after midnight) and after back-filling old cases:

    python -m data_access.rollups refresh [--url URL] [--now ISO] [--reviews N]

The job writes, so it needs a database user that may create and fill these
tables; the dashboards keep their read-only connection. A refresh
replaces the contents in one transaction (readers keep the old contents
until it commits, on PostgreSQL and MariaDB). ``python -m
data_access.rollups drop`` removes them; without them every query reads
the source table (the fallback), and so it does while
``database.use_rollups`` is false or when the page's "now" is before the seal.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import logging
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    func,
    insert,
    inspect,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from data_access.area import stage_columns, stage_names, unsettled, unsettled_ranges
from data_access.schema import CODE, MILESTONES, incident, street
from data_access.sqlfn import minutes_between

_LOG = logging.getLogger(__name__)

rollup_metadata = MetaData()

rollup_case = Table(
    "rollup_case",
    rollup_metadata,
    *(Column(c.name, c.type, nullable=c.nullable) for c in incident.columns),
    # Each milestone's minutes from reported_at and in-order flag
    # (area.stage_columns): the throughput figures' per-row arithmetic.
    *(Column(f"ela_{m}", Float) for m in MILESTONES),
    *(Column(f"ord_{m}", Boolean) for m in MILESTONES),
    Index("ix_rollup_case_reported", "reported_at"),
    Index("ix_rollup_case_street_reported", "street_code", "reported_at"),
    Index("ix_rollup_case_id", "id"),
)

#: The count columns of ``rollup_case_day`` (besides ``street_code`` and ``day``).
DAY_COUNTS = (
    "cases",
    "closed",
    "cancelled",
    "camera_ai_cases",
    "camera_ai_cancelled",
    "excluded_cases",
    "unmapped",
    *(f"{m}_{k}" for m in MILESTONES for k in ("on_time", "late", "excluded")),
)

rollup_case_day = Table(
    "rollup_case_day",
    rollup_metadata,
    Column("street_code", incident.c.street_code.type, primary_key=True),
    Column("day", String(10), primary_key=True),  # local date, ISO (sqlfn.day_bucket)
    *(Column(c, Integer, nullable=False) for c in DAY_COUNTS),
    Index("ix_rollup_case_day_day", "day"),
)

rollup_stage_week = Table(
    "rollup_stage_week",
    rollup_metadata,
    Column("street_code", incident.c.street_code.type, primary_key=True),
    Column("week", String(10), primary_key=True),  # the Monday, ISO date
    Column("stage", String(16), primary_key=True),  # a milestone
    Column("n", Integer, nullable=False),
    Column("payload", LargeBinary(length=2**24), nullable=False),  # sorted <f8 values
)

rollup_cell_week = Table(
    "rollup_cell_week",
    rollup_metadata,
    Column("cell_m", String(32), primary_key=True),  # repr() of the cell size
    Column("week", String(10), primary_key=True),  # the Monday, ISO date
    Column("street_code", incident.c.street_code.type, primary_key=True),
    Column("gx", Integer, primary_key=True),
    Column("gy", Integer, primary_key=True),
    Column("cases", Integer, nullable=False),
    Column("sum_lat", Float(precision=53), nullable=False),
    Column("sum_lon", Float(precision=53), nullable=False),
)

rollup_crowd_quality_day = Table(
    "rollup_crowd_quality_day",
    rollup_metadata,
    Column("street_code", CODE, primary_key=True),  # as recorded; "" = NULL
    Column("day", String(10), primary_key=True),
    Column("readings", Integer, nullable=False),
    Column("missing_coordinates", Integer, nullable=False),
    Column("negative_count", Integer, nullable=False),
)

rollup_incident_quality_day = Table(
    "rollup_incident_quality_day",
    rollup_metadata,
    Column("street_code", CODE, primary_key=True),  # as recorded; "" = NULL
    Column("day", String(10), primary_key=True),
    # Rows before the seal whose street code is no known street (any status).
    Column("unknown_street", Integer, nullable=False),
    # The rolled-up cases' (rollup_case) per-row checks, under the map bounds
    # of the targets' fingerprint.
    Column("missing_coordinates", Integer, nullable=False),
    Column("out_of_area", Integer, nullable=False),
    Column("out_of_order", Integer, nullable=False),
)

rollup_dup_id = Table(
    "rollup_dup_id",
    rollup_metadata,
    Column("id", incident.c.id.type, primary_key=True),
)

rollup_open_id = Table(
    "rollup_open_id",
    rollup_metadata,
    Column("id", incident.c.id.type, primary_key=True),
)

rollup_review = Table(
    "rollup_review",
    rollup_metadata,
    Column("week", String(8), primary_key=True),
    Column("area", String(6), primary_key=True),  # district code, "" = every district
    Column("name", String(16), primary_key=True),  # the review table's name
    Column("fingerprint", String(64), nullable=False),
    Column("payload", LargeBinary(length=2**24), nullable=False),  # Parquet
)

rollup_meta = Table(
    "rollup_meta",
    rollup_metadata,
    Column("name", String(16), primary_key=True),
    Column("sealed_until", DateTime, nullable=False),
    Column("refreshed_at", DateTime, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("seconds", Float, nullable=False),
    # Longest reported-to-closed time of a rolled-up closed case, minutes:
    # a rolled-up case reported longer ago than this before an instant was
    # closed by then (the weekly backlog reads only the rows near each week).
    Column("max_closed_min", Float),
    # targets_fingerprint() of the configuration the sums were computed under.
    Column("day_targets", String(64)),
    # The first Monday after the last week in rollup_stage_week (NULL: none).
    Column("stage_weeks_until", DateTime),
    # The cell sizes rollup_cell_week holds, repr()s joined by spaces.
    Column("cell_levels", String(200)),
)

#: Changes whenever the weekly review's computation does: stored reviews of
#: another version are not used (refresh after deploying).
REVIEW_VERSION = "1"

#: Statuses of a case that no longer changes.
SETTLED = ("closed", "cancelled")
#: Seconds a rollup state read from the database is reused.
STATE_TTL_S = 30.0


#: A cell size is kept in rollup_cell_week only with at most this many rows
#: per rolled-up case (the city's 300 m cells had 0.59: no gain; 1.2 km 0.19).
MAX_CELL_ROWS_SHARE = 0.25

#: Most ids the live part may list (duplicated at refresh + changed since);
#: beyond this the queries read the source table.
MAX_LISTED_IDS = 5000


@dataclass(frozen=True)
class RollupState:
    """A usable rollup: when it was sealed and refreshed, and the ids whose
    rolled-up copy must not be used: ``dup_ids`` (several rows at refresh
    time) and ``changed_ids`` (rolled up, but the source now has a live row
    with that id: a new copy, or the case reopened)."""

    sealed_until: datetime
    refreshed_at: datetime
    rows: int
    dup_ids: tuple[str, ...] = ()
    changed_ids: tuple[str, ...] = ()
    max_closed_min: float | None = None
    day_targets: str | None = None
    stage_weeks_until: datetime | None = None
    cell_levels: tuple[str, ...] = ()
    #: Ids that were open at refresh time and have no unsettled row now
    #: (closed or cancelled since): in no rolled-up table, so read live.
    settled_ids: tuple[str, ...] = ()
    #: Whether ``rollup_incident_quality_day`` exists (a rollup built by an
    #: older version has none until its next refresh: the checks read rows).
    incident_quality: bool = False

    def stored_weeks(self, f: Any) -> tuple[datetime, datetime] | None:
        """``[first Monday, Monday after the last)`` of the ISO weeks inside
        ``f``'s window that the per-week tables hold, or None when none is."""
        from datetime import timedelta

        if self.stage_weeks_until is None:
            return None
        offset = (7 - f.start.weekday()) % 7
        first = datetime.combine(f.start + timedelta(days=offset), dtime.min)
        end = min(f.end_ts, self.stage_weeks_until)
        last = first + timedelta(days=7 * ((end - first).days // 7))
        return (first, last) if last > first else None

    def day_counts(self, f: Any, cfg: Any = None) -> bool:
        """Whether ``rollup_case_day`` may stand for the rolled-up cases of
        ``f``: no category, source or status filter (the per-day sums are
        over every case of a street), and, when judgements are wanted
        (``cfg`` given), the targets they were judged under are ``cfg``'s."""
        if f.categories or f.sources or f.statuses:
            return False
        return cfg is None or self.day_targets == targets_fingerprint(cfg)

    @property
    def live_ids(self) -> tuple[str, ...]:
        """Ids read from the source whatever their rows look like."""
        return self.dup_ids + self.changed_ids + self.settled_ids


_DISABLED = "_ops_rollups_disabled"
_states: dict[int, tuple[float, RollupState | None]] = {}
#: One reader of the state at a time: the connections of one query that
#: run side by side (:func:`data_access.connection.side_by_side`) would
#: otherwise each read it (0.2-0.3 s) when the cache is cold.
_state_lock = threading.Lock()


def disable(engine: Engine) -> None:
    """Make every query on ``engine`` read the source tables (``use_rollups = false``)."""
    setattr(engine, _DISABLED, True)
    forget()


def forget() -> None:
    """Drop the cached states (after a refresh or drop in this process)."""
    _states.clear()


def state(conn: Connection, now: datetime | None = None) -> RollupState | None:
    """The rollup to use for a query at ``now``, or None to read the source.

    None when rollups are disabled for the engine, not built, sealed after
    ``now`` (a pinned clock before the refresh), or when more than
    :data:`MAX_LISTED_IDS` ids would have to be read live. Cached per
    engine for :data:`STATE_TTL_S` seconds (so a case reopened in the
    source counts as reopened within that time; page caches are longer).
    """
    engine = conn.engine
    if getattr(engine, _DISABLED, False):
        return None
    key = id(engine)
    with _state_lock:
        hit = _states.get(key)
        if hit is None or time.monotonic() - hit[0] > STATE_TTL_S:
            _states[key] = hit = (time.monotonic(), _safe_state(engine))
    found = hit[1]
    if found is None or (now is not None and now < found.sealed_until):
        return None
    return found


def targets_fingerprint(cfg: Any) -> str:
    """What the rolled-up sums were computed under, as a short hash: the
    handling targets (the judgements in ``rollup_case_day``) and the map's
    box and cell sizes (its ``unmapped`` count, ``rollup_cell_week``'s
    cells). Any change means reading the cases."""
    sets = [("", cfg.default_targets), *cfg.target_overrides]
    targets = [(code, [t.get(m) for m in MILESTONES]) for code, t in sets]
    geometry = (cfg.bounds, cfg.map.incident_cell_m, cfg.map.max_cells)
    return hashlib.sha256(repr((targets, geometry)).encode("utf-8")).hexdigest()


def net_sums(
    added: Sequence[pd.DataFrame],
    removed: pd.DataFrame | None,
    keys: list[str],
    values: list[str],
    drop_empty: bool = True,
) -> pd.DataFrame:
    """Per ``keys``, the sums of ``values`` over the frames ``added`` (the
    rollup's stored sums and the live part's counts) less those of
    ``removed`` (the rolled-up rows of ids changed since the refresh, which
    the stored sums hold and the clean cases do not). With ``drop_empty``,
    keys left with no ``cases`` are dropped."""
    frames = [x for x in added if not x.empty]
    if removed is not None and not removed.empty:
        frames.append(removed.assign(**{v: -pd.to_numeric(removed[v]) for v in values}))
    if not frames:
        return pd.DataFrame(columns=[*keys, *values])
    both = pd.concat(frames, ignore_index=True)
    both[values] = both[values].apply(pd.to_numeric).fillna(0)
    summed = both.groupby(keys, as_index=False, sort=True)[values].sum()
    if drop_empty:
        summed = summed[summed["cases"] > 0]
    return summed.reset_index(drop=True)


def is_live(table: Any, sealed_until: datetime) -> ColumnElement[bool]:
    """A source row the rollup does not hold for what it is now: reported
    since the seal, or not settled."""
    return or_(table.c.reported_at >= sealed_until, unsettled(table.c.status))


def _safe_state(engine: Engine) -> RollupState | None:
    """:func:`_read_state` on a connection of its own: a rollup the
    dashboards' user may not read (no ``SELECT`` granted on it) or a broken
    one means "read the source", logged once per :data:`STATE_TTL_S`, and
    never an error in the query that asked (nor, on PostgreSQL, an aborted
    transaction under it)."""
    try:
        with engine.connect() as conn:
            return _read_state(conn)
    except SQLAlchemyError as exc:
        _LOG.warning("rollup tables not usable, reading the source tables: %s", exc)
        return None


def _read_state(conn: Connection) -> RollupState | None:
    if not inspect(conn).has_table(rollup_meta.name):
        return None
    row = conn.execute(
        select(
            rollup_meta.c.sealed_until,
            rollup_meta.c.refreshed_at,
            rollup_meta.c.rows,
            rollup_meta.c.max_closed_min,
            rollup_meta.c.day_targets,
            rollup_meta.c.stage_weeks_until,
            rollup_meta.c.cell_levels,
        )
    ).first()
    if row is None:
        return None
    sealed = row[0]
    dups = tuple(conn.execute(select(rollup_dup_id.c.id).limit(MAX_LISTED_IDS + 1)).scalars())
    # Rolled-up cases whose id now has a live row in the source.
    # Rolled-up ids with a live row now: a row reported since the seal (few:
    # probe them all), or an unsettled row whose id had none at refresh time
    # (a reopened case; the open cases themselves come from the status
    # index alone and are matched against rollup_open_id).
    recent = (
        select(rollup_case.c.id)
        .join(incident, incident.c.id == rollup_case.c.id)
        .where(incident.c.reported_at >= sealed)
    )
    # One SELECT per status range (a UNION ALL): each is an index-only scan
    # of (status, street_code, id); their OR was a bitmap heap scan (0.6 s
    # on the city's 104,000 open cases, against 0.08 s).
    open_now = union_all(
        *(select(incident.c.id.label("id")).where(c) for c in unsettled_ranges(incident.c.status))
    ).subquery("open_now")
    reopened = select(rollup_case.c.id).where(
        rollup_case.c.id.in_(
            select(open_now.c.id)
            .outerjoin(rollup_open_id, rollup_open_id.c.id == open_now.c.id)
            .where(rollup_open_id.c.id.is_(None))
        )
    )
    changed = tuple(
        sorted(
            {
                *conn.execute(recent.limit(MAX_LISTED_IDS + 1)).scalars(),
                *conn.execute(reopened.limit(MAX_LISTED_IDS + 1)).scalars(),
            }
        )
    )
    # Open at refresh time, settled since: neither rolled up nor unsettled.
    settled_since = (
        select(rollup_open_id.c.id)
        .outerjoin(open_now, open_now.c.id == rollup_open_id.c.id)
        .where(open_now.c.id.is_(None))
        .order_by(rollup_open_id.c.id)
        .limit(MAX_LISTED_IDS + 1)
    )
    settled = tuple(conn.execute(settled_since).scalars())
    if len(dups) + len(changed) + len(settled) > MAX_LISTED_IDS:
        return None
    longest = None if row[3] is None else float(row[3])
    return RollupState(
        sealed,
        row[1],
        int(row[2]),
        dups,
        changed,
        longest,
        row[4],
        row[5],
        tuple((row[6] or "").split()),
        settled_ids=settled,
        incident_quality=inspect(conn).has_table(rollup_incident_quality_day.name),
    )


@dataclass(frozen=True)
class RefreshReport:
    sealed_until: datetime
    rows: int
    duplicate_ids: int
    seconds: float
    reviews: int = 0
    review_seconds: float = 0.0


def review_fingerprint(cfg: Any, rules: Any) -> str:
    """What a stored weekly review was computed with: the code version, the
    whole site configuration and the warning rules (frozen dataclasses, so
    ``repr`` is stable). Any change means computing the review live.

    Where the files were read from is left out: the job may run from
    another checkout or container than the dashboards (it did in the
    benchmarks, and every stored review was computed again, 8 s a page)."""
    unplaced = (REVIEW_VERSION, replace(cfg, source_path=""), replace(rules, source_path=""))
    return hashlib.sha256(repr(unplaced).encode("utf-8")).hexdigest()


def stored_review(
    conn: Connection,
    f: Any,
    now: datetime,
    cfg: Any,
    rules: Any,
    week: Any,
    names: Sequence[str],
) -> dict[str, pd.DataFrame] | None:
    """The weekly review of ``week`` for ``f``'s district (or every district)
    as the refresh job computed it, or None to compute it live: no rollup,
    a filter on streets or codes, a user's scope that lacks a street of the
    area (row-level security: the stored reviews are whole districts'), a week not ended at both the refresh and
    ``now``, another configuration, rules or code version, or a table
    missing. Read on a connection of its own (see :func:`_safe_state`)."""
    found = state(conn, now)
    if found is None or f.streets or f.categories or f.sources or f.statuses:
        return None
    if getattr(f, "scope", None) is not None and not _scope_covers(conn, f):
        # Stored per district or city: never served to a narrower scope.
        return None
    if week.end_ts > found.sealed_until or week.end_ts > now:
        return None
    q = select(rollup_review.c.name, rollup_review.c.payload).where(
        rollup_review.c.week == week.label,
        rollup_review.c.area == (f.district or ""),
        rollup_review.c.fingerprint == review_fingerprint(cfg, rules),
    )
    try:
        with conn.engine.connect() as own:
            rows = own.execute(q).all()
    except SQLAlchemyError as exc:
        _LOG.warning("stored weekly reviews not usable, computing live: %s", exc)
        return None
    tables = {str(name): _from_parquet(bytes(payload)) for name, payload in rows}
    if set(tables) != set(names):
        return None
    return {n: tables[n] for n in names}


def _scope_covers(conn: Connection, f: Any) -> bool:
    """True when ``f.scope`` holds every street of ``f``'s district (or of
    the city): the stored review of that area is then the user's own."""
    from data_access.schema import street

    q = select(street.c.code)
    if f.district:
        q = q.where(street.c.district_code == f.district)
    return set(conn.execute(q).scalars()) <= set(f.scope)


def _parquet(frame: pd.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.to_parquet(out, index=False)
    return out.getvalue()


def _from_parquet(payload: bytes) -> pd.DataFrame:
    """A frame as :func:`_parquet` stored it, every column in its own dtype
    again (Parquet keeps no second-resolution timestamps: they come back in
    milliseconds unless cast back to the type pandas recorded)."""
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(payload))
    frame = table.to_pandas()
    for col in (table.schema.pandas_metadata or {}).get("columns", []):
        name, numpy_type = col.get("name"), str(col.get("numpy_type", ""))
        if name not in frame.columns:
            continue
        if numpy_type.startswith("datetime64"):
            frame[name] = frame[name].astype(numpy_type)
        elif numpy_type == "object":  # text read back as pandas' string dtype
            values = frame[name].astype(object)
            frame[name] = values.where(values.notna(), None)
    return frame


def refresh_reviews(
    engine: Engine, now: datetime, weeks: int, districts: Sequence[str] | None = None
) -> int:
    """Compute and store the weekly reviews of the last ``weeks`` ended ISO
    weeks before ``now``, for every district and the whole city (or only
    ``districts``; ``""`` = the whole city), as the pages would compute them
    (through the case rollup). Returns how many reviews were stored."""
    from data_access import weekly
    from data_access.config import load_site_config
    from data_access.filters import AreaFilter
    from data_access.schema import district
    from data_access.warning_rules import WarningRulesError, load_warning_rules

    cfg = load_site_config()
    try:
        rules = load_warning_rules()
    except WarningRulesError:
        rules = None
    last = weekly.week_of(now.date()).shift(-1)
    chosen = [last.shift(-i) for i in range(weeks)]
    if districts is None:
        with engine.connect() as conn:
            districts = [
                "",
                *conn.execute(select(district.c.code).order_by(district.c.code)).scalars(),
            ]
    fingerprint = review_fingerprint(cfg, rules)
    rows = []
    with engine.connect() as conn:
        for w in chosen:
            for code in districts:
                f = w.area(AreaFilter(start=w.monday, end=w.monday, district=code or None))
                tables = weekly.compute_review_tables(conn, f, now, cfg, w.label, rules)
                rows += [
                    {
                        "week": w.label,
                        "area": code,
                        "name": name,
                        "fingerprint": fingerprint,
                        "payload": _parquet(frame),
                    }
                    for name, frame in tables.items()
                ]
    with engine.begin() as conn:
        conn.execute(delete(rollup_review))
        if rows:
            conn.execute(insert(rollup_review), rows)
    return len(chosen) * len(districts)


def refresh(
    engine: Engine,
    now: datetime,
    reviews: int = 2,
    review_districts: Sequence[str] | None = None,
    cfg: Any = None,
) -> RefreshReport:
    """Rebuild the rollup as of ``now`` (naive local time); see the module
    docstring. ``reviews``: how many ended weeks' reviews to store (see
    :func:`refresh_reviews`; 0 = none). ``cfg``: the site configuration
    whose targets judge ``rollup_case_day`` (default: the site's)."""
    from data_access.config import load_site_config
    from data_access.throughput import day_rollup_select

    cfg = load_site_config() if cfg is None else cfg
    started = time.perf_counter()
    sealed = datetime.combine(now.date(), dtime.min)
    _upgrade(engine)
    rollup_metadata.create_all(engine, checkfirst=True)
    with engine.begin() as conn:
        for table in rollup_metadata.sorted_tables:
            conn.execute(delete(table))
        conn.execute(
            insert(rollup_open_id).from_select(
                ["id"],
                select(incident.c.id).where(unsettled(incident.c.status)).distinct(),
            )
        )
        conn.execute(
            insert(rollup_dup_id).from_select(
                ["id"],
                select(incident.c.id).group_by(incident.c.id).having(func.count() > 1),
            )
        )
        settled = (
            select(*incident.c, *stage_columns(incident, engine.dialect.name))
            .join(street, street.c.code == incident.c.street_code)
            .outerjoin(rollup_dup_id, rollup_dup_id.c.id == incident.c.id)
            .where(
                rollup_dup_id.c.id.is_(None),
                incident.c.reported_at < sealed,
                incident.c.status.in_(SETTLED),
            )
        )
        names = [c.name for c in incident.c] + stage_names()
        conn.execute(insert(rollup_case).from_select(names, settled))
        rows = int(conn.execute(select(func.count()).select_from(rollup_case)).scalar_one())
        longest = conn.execute(
            select(
                func.max(
                    minutes_between(
                        rollup_case.c.reported_at, rollup_case.c.closed_at, engine.dialect.name
                    )
                )
            ).where(rollup_case.c.status == "closed", rollup_case.c.closed_at.is_not(None))
        ).scalar()
        dups = int(conn.execute(select(func.count()).select_from(rollup_dup_id)).scalar_one())
        by_day = day_rollup_select(cfg, sealed, engine.dialect.name)
        conn.execute(
            insert(rollup_case_day).from_select(list(by_day.selected_columns.keys()), by_day)
        )
        weeks_until = _store_stage_weeks(conn, cfg, sealed)
        levels = _store_cell_weeks(conn, cfg, weeks_until)
        conn.execute(
            insert(rollup_crowd_quality_day).from_select(
                [c.name for c in rollup_crowd_quality_day.c],
                _crowd_quality_select(sealed, engine.dialect.name),
            )
        )
        for q in _incident_quality_selects(cfg, sealed, engine.dialect.name):
            conn.execute(
                insert(rollup_incident_quality_day).from_select(
                    [c.name for c in rollup_incident_quality_day.c], q
                )
            )
        seconds = time.perf_counter() - started
        conn.execute(
            insert(rollup_meta).values(
                name="case",
                sealed_until=sealed,
                refreshed_at=now,
                rows=rows,
                seconds=seconds,
                max_closed_min=None if longest is None else float(longest),
                day_targets=targets_fingerprint(cfg),
                stage_weeks_until=weeks_until,
                cell_levels=" ".join(levels),
            )
        )
    _analyze(engine)
    forget()
    case_seconds = time.perf_counter() - started
    stored = 0
    if reviews > 0:
        stored = refresh_reviews(engine, now, reviews, review_districts)
    else:
        with engine.begin() as conn:  # none asked for: none kept from an older refresh
            conn.execute(delete(rollup_review))
    return RefreshReport(
        sealed, rows, dups, case_seconds, stored, time.perf_counter() - started - case_seconds
    )


def _store_stage_weeks(conn: Connection, cfg: Any, sealed: datetime) -> datetime | None:
    """Fill ``rollup_stage_week`` from ``rollup_case``, one week at a time
    (bounded memory), for every ISO week that ended by ``sealed``. Returns
    the Monday after the last stored week, None when none ended."""
    from datetime import timedelta

    from data_access.throughput import stage_time_select

    first = conn.execute(select(func.min(rollup_case.c.reported_at))).scalar()
    if first is None:
        return None
    first = pd.Timestamp(first).to_pydatetime()
    monday = datetime.combine(first.date() - timedelta(days=first.weekday()), dtime.min)
    until = None
    while monday + timedelta(days=7) <= sealed:
        nxt = monday + timedelta(days=7)
        q = stage_time_select(cfg, sealed, conn.dialect.name, monday, nxt)
        frame = pd.DataFrame(conn.execute(q).all(), columns=["street_code", *MILESTONES])
        rows = []
        for m in MILESTONES:
            values = frame[["street_code", m]].dropna()
            values = values.sort_values(["street_code", m], kind="stable")
            for code, part in values.groupby("street_code", sort=False):
                array = part[m].to_numpy(dtype="<f8")
                rows.append(
                    {
                        "street_code": code,
                        "week": monday.date().isoformat(),
                        "stage": m,
                        "n": len(array),
                        "payload": array.tobytes(),
                    }
                )
        if rows:
            conn.execute(insert(rollup_stage_week), rows)
        monday = until = nxt
    return until


def _store_cell_weeks(conn: Connection, cfg: Any, until: datetime | None) -> list[str]:
    """Fill ``rollup_cell_week`` for the rolled-up cases reported before
    ``until`` (whole weeks), at the cell size of the whole city and of each
    district (:func:`data_access.heatmap.map_cell_m`), coarsest first, up
    to the first size that would keep more than :data:`MAX_CELL_ROWS_SHARE`
    rows per case (that and finer ones are left to the cases). Returns the
    sizes kept."""
    from data_access.area import in_bounds
    from data_access.filters import AreaFilter
    from data_access.heatmap import map_cell_m, snap
    from data_access.schema import district
    from data_access.sqlfn import week_bucket

    if until is None:
        return []
    day = until.date()
    codes = [None, *conn.execute(select(district.c.code)).scalars()]
    sizes = {map_cell_m(conn, AreaFilter(start=day, end=day, district=c), cfg) for c in codes}
    r = rollup_case.c
    cases = conn.execute(select(func.count()).where(r.reported_at < until)).scalar() or 0
    week = week_bucket(r.reported_at, conn.dialect.name)
    kept = []
    for size in sorted(sizes, reverse=True):  # coarsest first: finer ones only get bigger
        gx, gy = snap(r.lon, r.lat, cfg, size, conn.dialect.name)
        q = (
            select(
                literal(repr(size)),
                week,
                r.street_code,
                gx,
                gy,
                func.count(),
                func.sum(r.lat),
                func.sum(r.lon),
            )
            .where(in_bounds(r.lat, r.lon, cfg.bounds), r.reported_at < until)
            .group_by(week, r.street_code, gx, gy)
        )
        conn.execute(insert(rollup_cell_week).from_select([c.name for c in rollup_cell_week.c], q))
        # Counted, not the INSERT's rowcount (psycopg reported none for it).
        this_size = rollup_cell_week.c.cell_m == repr(size)
        stored = conn.execute(select(func.count()).where(this_size)).scalar() or 0
        if stored > cases * MAX_CELL_ROWS_SHARE:  # hardly fewer rows than cases: no gain
            conn.execute(delete(rollup_cell_week).where(this_size))
            break
        kept.append(repr(size))
    return kept


def _incident_quality_selects(cfg: Any, sealed: datetime, dialect: str) -> list[Any]:
    """The SELECTs that fill ``rollup_incident_quality_day``: the
    rolled-up cases' per-row checks per street and day, and the rows before
    the seal with no known street per recorded code and day."""
    from data_access.quality import row_check_counts, unknown_street
    from data_access.sqlfn import day_bucket

    r = rollup_case.c
    day = day_bucket(r.reported_at, dialect)
    missing, outside, disorder = row_check_counts(rollup_case, cfg)
    rolled = select(r.street_code, day, literal(0), missing, outside, disorder).group_by(
        r.street_code, day
    )
    i = incident.c
    code = func.coalesce(i.street_code, "")
    i_day = day_bucket(i.reported_at, dialect)
    unknown = (
        select(code, i_day, func.count(), literal(0), literal(0), literal(0))
        .where(i.reported_at < sealed, unknown_street(incident))
        .group_by(code, i_day)
    )
    return [rolled, unknown]


def _crowd_quality_select(sealed: datetime, dialect: str) -> Any:
    from data_access.schema import crowd_reading
    from data_access.sqlfn import count_if, day_bucket

    r = crowd_reading.c
    code = func.coalesce(r.street_code, "")
    day = day_bucket(r.ts, dialect)
    return (
        select(
            code,
            day,
            func.count(),
            count_if(or_(r.lat.is_(None), r.lon.is_(None))),
            count_if(r.people < 0),
        )
        .where(r.ts < sealed)
        .group_by(code, day)
    )


def stream_payloads(conn: Connection, q: Any, batch: int = 2000) -> Iterator[Any]:
    """The rows of ``q`` (with ``rollup_stage_week`` payloads), streamed in
    batches from a server-side cursor. On psycopg the cursor asks for
    binary results: the payloads then cross as their bytes instead of hex
    text (a year of the city: 73 MB instead of 146 MB, and no decoding;
    0.75 -> 0.35 s). Options are set per statement: ``Connection.
    execution_options()`` would leave the caller's connection streaming
    every later statement."""
    streamed = {"stream_results": True, "yield_per": batch}
    raw = conn.connection.driver_connection if conn.dialect.driver == "psycopg" else None
    if raw is None:
        return iter(conn.execute(q, execution_options=streamed))
    import psycopg

    class BinaryServerCursor(psycopg.ServerCursor):  # type: ignore[type-arg]
        def execute(self, query: Any, params: Any = None, **kw: Any) -> Any:
            kw["binary"] = True
            return super().execute(query, params, **kw)

    # The factory is read when the cursor opens (in execute), so only this
    # statement's cursor is binary.
    before = raw.server_cursor_factory
    raw.server_cursor_factory = BinaryServerCursor
    try:
        return iter(conn.execute(q, execution_options=streamed))
    finally:
        raw.server_cursor_factory = before


def stage_arrays(payload: bytes) -> Any:
    """A ``rollup_stage_week`` payload as a float64 numpy array."""
    import numpy as np

    return np.frombuffer(payload, dtype="<f8")


def _upgrade(engine: Engine) -> None:
    """Drop rollup tables whose columns differ from this version's (they
    are rebuilt from the source anyway)."""
    with engine.connect() as conn:
        found = inspect(conn)
        stale = [
            t
            for t in rollup_metadata.sorted_tables
            if found.has_table(t.name)
            and {c["name"] for c in found.get_columns(t.name)} != {c.name for c in t.columns}
        ]
    if stale:
        rollup_metadata.drop_all(engine, tables=stale, checkfirst=True)


def _analyze(engine: Engine) -> None:
    names = [t.name for t in rollup_metadata.sorted_tables]
    dialect = engine.dialect.name
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        if dialect == "postgresql":
            conn.exec_driver_sql("VACUUM ANALYZE " + ", ".join(names))
        elif dialect == "mysql":
            conn.exec_driver_sql("ANALYZE TABLE " + ", ".join(names))
        else:
            conn.exec_driver_sql("ANALYZE")


def drop(engine: Engine) -> None:
    """Remove the rollup tables: every query reads the source tables again."""
    rollup_metadata.drop_all(engine, checkfirst=True)
    forget()


def main(argv: Sequence[str] | None = None) -> int:
    from data_access.config import load_site_config
    from data_access.connection import DatabaseUrlError, describe_url, env_url, parse_url

    ap = argparse.ArgumentParser(
        prog="python -m data_access.rollups",
        description="Build (refresh) or remove the rollup tables the dashboards read.",
    )
    ap.add_argument("action", choices=("refresh", "drop"))
    ap.add_argument("--url", help="database URL with write access (default: OPS_DB_URL)")
    ap.add_argument("--now", help="refresh as of this local time (ISO; default: now)")
    ap.add_argument(
        "--reviews",
        type=int,
        default=2,
        help="weekly reviews to store: the last N ended weeks, every district and the city "
        "(default 2; 0 = none)",
    )
    args = ap.parse_args(argv)
    url = args.url or env_url()
    if not url:
        print("no database: give --url or set OPS_DB_URL", file=sys.stderr)
        return 2
    cfg = load_site_config()
    try:
        now = (
            datetime.fromisoformat(args.now)
            if args.now
            else datetime.now(ZoneInfo(cfg.timezone)).replace(tzinfo=None)
        )
    except ValueError:
        print(f"--now: not an ISO date-time: {args.now!r}", file=sys.stderr)
        return 2
    from sqlalchemy import create_engine

    try:
        engine = create_engine(parse_url(url, "--url / OPS_DB_URL"))
    except DatabaseUrlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.action == "drop":
            drop(engine)
            print(f"rollup tables dropped from {describe_url(url)}")
            return 0
        report = refresh(engine, now, max(args.reviews, 0))
    except SQLAlchemyError as exc:
        print(
            f"{describe_url(url)}: {type(exc).__name__}: {str(exc).splitlines()[0]}",
            file=sys.stderr,
        )
        return 1
    finally:
        engine.dispose()
    print(
        f"rollup refreshed on {describe_url(url)}: {report.rows:,} settled cases before "
        f"{report.sealed_until:%Y-%m-%d %H:%M}, {report.duplicate_ids:,} duplicated ids left "
        f"to the live part, {report.seconds:.1f} s; {report.reviews} weekly reviews stored "
        f"in {report.review_seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
