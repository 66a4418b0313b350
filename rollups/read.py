"""Reading the rollup: summing its parts, its stored arrays and reviews.

No metric is known here: a metric builds its own SELECT over the tables
(:mod:`rollups.tables`) and uses these helpers to combine the rolled-up
part with the live part (:func:`net_sums`, :func:`is_live`), stream the
stored stage arrays (:func:`stream_payloads`, :func:`stage_arrays`), or
take a stored weekly review (:func:`stored_review`).
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, and_, or_, select, union_all
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from data_access.area import in_area, unsettled
from data_access.schema import incident, street
from rollups.snapshot import RollupState, state
from rollups.tables import rollup_case, rollup_review

_LOG = logging.getLogger(__name__)

#: Changes whenever the weekly review's computation does: stored reviews of
#: another version are not used (refresh after deploying).
REVIEW_VERSION = "1"


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
    reads: Sequence[tuple[datetime, datetime]] | None = None,
) -> dict[str, pd.DataFrame] | None:
    """The weekly review of ``week`` for ``f``'s district (or every district)
    as the refresh job computed it, or None to compute it live: no rollup,
    a filter on streets or codes, a user's scope that lacks a street of the
    area (row-level security: the stored reviews are whole districts'), a
    week not ended at both the refresh and ``now``, a case of the area
    changed since the refresh in a way the review would show
    (:func:`_changed_since`), another configuration, rules or code
    version, or a table missing. ``reads``: the ``reported_at`` spans the
    review reads besides its backlog (None: all before the week's end).
    Read on a connection of its own (see :func:`_safe_state`)."""
    found = state(conn, now)
    if found is None or f.streets or f.categories or f.sources or f.statuses:
        return None
    if getattr(f, "scope", None) is not None and not _scope_covers(conn, f):
        # Stored per district or city: never served to a narrower scope.
        return None
    if week.end_ts > found.sealed_until or week.end_ts > now:
        return None
    if _changed_since(conn, found, f, week.end_ts, reads):
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
    tables = {str(name): from_parquet(bytes(payload)) for name, payload in rows}
    if set(tables) != set(names):
        return None
    return {n: tables[n] for n in names}


def _changed_since(
    conn: Connection,
    found: RollupState,
    f: Any,
    end: datetime,
    reads: Sequence[tuple[datetime, datetime]] | None,
) -> bool:
    """Whether a case of ``f``'s area changed since the refresh could make
    the review of the week ending at ``end`` differ from the stored one.

    A changed id (reopened, a new copy, entered late: see
    :class:`RollupState`) with a row, in the source or rolled up, reported
    before ``end``: any such row may count in the backlog at the week's end.
    A case open at the refresh and settled since only where the review reads
    it differently now: reported in one of the ``reads`` spans (its
    milestones may have moved), cancelled (a cancelled case is in no
    backlog), or closed before ``end`` (a closure written with an earlier
    time). One small SELECT by id; none without such ids."""
    if not found.changed_ids and not found.settled_ids:
        return False
    parts = []
    for table in (incident, rollup_case) if found.changed_ids else ():
        parts.append(
            select(table.c.id).where(
                table.c.id.in_(found.changed_ids),
                table.c.reported_at < end,
                in_area(table.c.street_code, f),
            )
        )
    if found.settled_ids:
        r = incident.c.reported_at
        conds = [incident.c.id.in_(found.settled_ids), r < end, in_area(incident.c.street_code, f)]
        if reads is not None:
            conds.append(
                or_(
                    incident.c.status != "closed",
                    incident.c.closed_at.is_(None),
                    incident.c.closed_at < end,
                    *(and_(r >= a, r < b) for a, b in reads),
                )
            )
        parts.append(select(incident.c.id).where(*conds))
    q = union_all(*parts).subquery("changed_since")
    return conn.execute(select(q.c.id).limit(1)).first() is not None


def _scope_covers(conn: Connection, f: Any) -> bool:
    """True when ``f.scope`` holds every street of ``f``'s district (or of
    the city): the stored review of that area is then the user's own."""
    q = select(street.c.code)
    if f.district:
        q = q.where(street.c.district_code == f.district)
    return set(conn.execute(q).scalars()) <= set(f.scope)


def to_parquet(frame: pd.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.to_parquet(out, index=False)
    return out.getvalue()


def from_parquet(payload: bytes) -> pd.DataFrame:
    """A frame as :func:`to_parquet` stored it, every column in its own dtype
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
