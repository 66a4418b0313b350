"""Whether the rollup may be read, and as of what: :class:`RollupState`.

A query asks :func:`state` for the rollup to use at its ``now``; None means
"read the source tables" (rollups disabled, not built, sealed after ``now``,
or too many ids to read live). The state is cached per engine for
:data:`STATE_TTL_S` seconds.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as dtime
from typing import Any

from sqlalchemy import Connection, Engine, and_, inspect, select, union_all
from sqlalchemy.exc import SQLAlchemyError

from data_access.area import unsettled_ranges
from data_access.schema import MILESTONES, incident, street
from rollups.tables import (
    rollup_case,
    rollup_code,
    rollup_dup_id,
    rollup_incident_quality_day,
    rollup_meta,
    rollup_open_id,
)

_LOG = logging.getLogger(__name__)

#: Statuses of a case that no longer changes.
SETTLED = ("closed", "cancelled")
#: Seconds a rollup state read from the database is reused: a case closed
#: or reopened since the refresh counts as such within this time (until
#: then a page could miss a case closed since, or count a reopened one
#: twice). A third of the wall's default refresh, so that a tile's figures
#: are never a whole refresh behind on such a case (it was 30 s: with the
#: tile's own cache, up to a minute).
STATE_TTL_S = 10.0

#: Days before the seal in which a row the refresh did not see is looked
#: for: a case entered late with an earlier ``reported_at`` (typed in the
#: next morning, a batch import, a row committed while the refresh ran).
#: Such a row is neither rolled up nor, once settled, in the live part: it
#: was missed until the next refresh (tests/test_live.py found one at the
#: midnight seal). Entered later than this, it counts from the next refresh.
LATE_DAYS = 7

#: Most ids the live part may list (duplicated at refresh + changed since);
#: beyond this the queries read the source table.
MAX_LISTED_IDS = 5000


@dataclass(frozen=True)
class RollupState:
    """A usable rollup: when it was sealed and refreshed, and the ids whose
    rolled-up copy must not be used: ``dup_ids`` (several rows at refresh
    time) and ``changed_ids`` (the source now has a row with that id the
    rollup does not stand for: a new copy, the case reopened, or a row
    entered late, before the seal, that the refresh did not see)."""

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
    #: The breakdowns (``rollups.tables.KINDS``) whose codes ``rollup_code``
    #: lists: ``rollup_kind_week`` and the stage arrays' indices may be read
    #: for them (a rollup built by an older version has none until its next
    #: refresh).
    kinds: tuple[str, ...] = ()

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


def _late(sealed: datetime) -> Any:
    """Ids of settled rows of a known street reported in the
    :data:`LATE_DAYS` before the seal that the rollup does not hold, nor
    lists as duplicated: rows the refresh did not see (entered late, or
    committed while it ran), and the cases open at the refresh and settled
    since (which the caller knows already). Changed ids: read live, and any
    rolled-up copy of the id subtracted. Two index ranges of
    ``reported_at``, one per table, anti-joined."""
    lo = sealed - timedelta(days=LATE_DAYS)
    held = (
        select(rollup_case.c.id, rollup_case.c.reported_at)
        .where(rollup_case.c.reported_at >= lo, rollup_case.c.reported_at < sealed)
        .subquery("held")
    )
    same = and_(held.c.id == incident.c.id, held.c.reported_at == incident.c.reported_at)
    return (
        select(incident.c.id)
        .join(street, street.c.code == incident.c.street_code)
        .outerjoin(held, same)
        .where(
            incident.c.reported_at >= lo,
            incident.c.reported_at < sealed,
            incident.c.status.in_(SETTLED),
            held.c.id.is_(None),
            incident.c.id.not_in(select(rollup_dup_id.c.id)),
        )
        .distinct()
        .limit(MAX_LISTED_IDS + 1)
    )


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
    # Open at refresh time, settled since: neither rolled up nor unsettled.
    settled_since = (
        select(rollup_open_id.c.id)
        .outerjoin(open_now, open_now.c.id == rollup_open_id.c.id)
        .where(open_now.c.id.is_(None))
        .order_by(rollup_open_id.c.id)
        .limit(MAX_LISTED_IDS + 1)
    )
    settled = tuple(conn.execute(settled_since).scalars())
    changed = tuple(
        sorted(
            {
                *conn.execute(recent.limit(MAX_LISTED_IDS + 1)).scalars(),
                *conn.execute(reopened.limit(MAX_LISTED_IDS + 1)).scalars(),
                *(set(conn.execute(_late(sealed)).scalars()) - set(settled)),
            }
        )
    )
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
        kinds=_listed_kinds(conn),
    )


def _listed_kinds(conn: Connection) -> tuple[str, ...]:
    """The kinds ``rollup_code`` lists (none without the table)."""
    if not inspect(conn).has_table(rollup_code.name):
        return ()
    return tuple(sorted(conn.execute(select(rollup_code.c.kind).distinct()).scalars()))
