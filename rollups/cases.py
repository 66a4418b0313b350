"""Clean incidents: one row per id, read from the rollup where it stands
for the settled cases and from the source for the rest.

:func:`clean_incidents` is what every case metric reads. Without a usable
rollup it is the deduplicated source (:func:`data_access.area.deduplicated`);
with one, the rolled-up rows (``rollup_case``) plus the live part
(:func:`live_parts`), the two disjoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, select, union_all
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery

from data_access.area import (
    area_streets,
    case_conds,
    clean_columns,
    copy_rank,
    deduplicated,
    first_copies,
    stage_names,
    unsettled_ranges,
)
from data_access.filters import AreaFilter
from data_access.schema import incident
from rollups.snapshot import SETTLED, RollupState
from rollups.tables import rollup_case


def clean_incidents(
    f: AreaFilter,
    now: datetime,
    *,
    window: bool = True,
    only_ids: Any = None,
    rollup: RollupState | None = None,
    rolled_spans: Sequence[tuple[datetime, datetime]] | None = None,
    stages: str | None = None,
    part: str = "all",
) -> Subquery:
    """Incidents of the area, one row per id, none reported after ``now``.

    With ``window`` the rows are limited to ``reported_at`` in the filter's
    date window; category/source/status filters always apply. Columns: every
    ``incident`` column plus ``district_code``. Where an id occurs more than
    once, the earliest-reported copy is kept (the others are data-quality
    findings, not cases).

    ``only_ids``: a SELECT of incident ids; only those ids are considered
    (every copy of each, so the kept copy is the same as without it). A
    query over all history that needs a few ids (the open backlog) uses it
    to read those rows by index instead of deduplicating the whole table.

    ``rollup`` (from :func:`rollups.state`): read the settled
    cases from the rollup table and deduplicate only the live rows (see
    :mod:`rollups`); the same rows, as of the refresh.
    ``rolled_spans``: ``(start, end)`` ranges of ``reported_at``; rolled-up
    cases outside them are left out (the caller knows they count for
    nothing, as the weekly backlog does; the live part is never cut).
    ``stages``: the dialect name, to add each milestone's ``ela_<m>``
    (minutes from ``reported_at``) and ``ord_<m>`` (in order, see
    :func:`milestone_in_order`); the rollup stores them, so a year of
    rolled-up cases is not recomputed on every query.

    ``part`` (with a usable ``rollup`` only): ``"live"`` = the deduplicated
    rows read from the source only; ``"changed"`` = the rolled-up rows of
    :attr:`~rollups.RollupState.changed_ids` (which the full
    result leaves out). A query that reads the rolled-up part from the
    per-day rollup (:data:`rollups.rollup_case_day`, which
    holds every rolled-up row) adds the first and subtracts the second.
    """
    if rollup is None or only_ids is not None or now < rollup.sealed_until:
        if part != "all":
            raise ValueError(f"part={part!r} needs a usable rollup")
        return union_all(*deduplicated(f, now, window, only_ids, stages=stages)).subquery("inc")
    known = area_streets(f).subquery("rolled_street")
    stored = [rollup_case.c[c.name] for c in incident.c] + [known.c.district_code]
    if stages:
        stored += [rollup_case.c[n] for n in stage_names()]
    rolled = (
        select(*stored)
        .join(known, known.c.code == rollup_case.c.street_code)
        .where(*case_conds(f, now, window, rollup_case))
    )
    rolled_parts = [rolled]
    if rolled_spans is not None:
        # One SELECT per span, each an index range of (street_code,
        # reported_at). Their OR was a filter over every rolled-up row of
        # the area's streets: a district's weekly case flow (two spans of a
        # year apart) read 534,000 heap blocks for 88,000 rows, 2.0 s.
        rr = rollup_case.c.reported_at
        rolled_parts = [rolled.where(rr >= a, rr < b) for a, b in disjoint_spans(rolled_spans)]
        rolled_parts = rolled_parts or [rolled.where(false())]
    if part == "changed":
        # Never empty SQL: without changed ids this selects no row.
        ids = rollup.changed_ids or ("",)
        return union_all(*(r.where(rollup_case.c.id.in_(ids)) for r in rolled_parts)).subquery(
            "inc"
        )
    if rollup.live_ids:
        rolled_parts = [r.where(rollup_case.c.id.not_in(rollup.live_ids)) for r in rolled_parts]
    live = _live_rows(f, now, window, live_parts(rollup), stages)
    if part == "live":
        return live.subquery("inc")
    if part != "all":
        raise ValueError(f"unknown part {part!r}")
    return union_all(*rolled_parts, live).subquery("inc")


def disjoint_spans(
    spans: Sequence[tuple[datetime, datetime]],
) -> list[tuple[datetime, datetime]]:
    """``spans`` (half-open ``[start, end)`` ranges) sorted, empty ones
    dropped and overlapping or touching ones merged: read one SELECT each,
    no row is read twice."""
    merged: list[tuple[datetime, datetime]] = []
    for a, b in sorted(s for s in spans if s[0] < s[1]):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def live_parts(rollup: RollupState) -> list[ColumnElement[bool]]:
    """The source rows the rollup does not stand for, as disjoint
    conditions each of which an index can find: reported since the seal;
    before it with an unsettled status (one per status range, for the
    ``(status, street_code, id)`` index); before it, settled, and of an id
    that must be read live (:attr:`RollupState.live_ids`).

    As one ``OR`` they were a scan of every row of the window (0.8 s a
    pass for a year of the city on PostgreSQL; an index merge of the whole
    city, 3.5-4 s, on MariaDB)."""
    ts, status = incident.c.reported_at, incident.c.status
    before = ts < rollup.sealed_until
    parts = [ts >= rollup.sealed_until]
    parts += [and_(before, r) for r in unsettled_ranges(status)]
    if rollup.live_ids:
        parts.append(and_(before, status.in_(SETTLED), incident.c.id.in_(rollup.live_ids)))
    return parts


def _live_rows(
    f: AreaFilter,
    now: datetime,
    window: bool,
    parts: Sequence[ColumnElement[bool]],
    stages: str | None,
) -> Any:
    """The source rows the rollup does not stand for, deduplicated: the
    rows meeting one of the disjoint conditions ``parts`` (each its own
    SELECT, see :func:`live_parts`), ranked once per id.

    The live part is small (a year of the city: ~60,000 rows): one ranking
    pass over it is cheaper than finding its duplicated ids first, and reads
    it once (MariaDB materialised the derived table once per reference:
    8.7 s a statement for the city; PostgreSQL 0.43 s)."""
    conds = case_conds(f, now, window, incident)
    src = union_all(*(select(*incident.c).where(*conds, c) for c in parts)).subquery("live_rows")
    known = area_streets(f).subquery("known_street")
    rows = src.join(known, known.c.code == src.c.street_code)
    ranked = (
        select(*clean_columns(src, known, stages), copy_rank(src))
        .select_from(rows)
        .subquery("ranked")
    )
    return first_copies(ranked)
