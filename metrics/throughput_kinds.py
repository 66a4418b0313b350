"""The throughput breakdown by category or source from the rollup's weeks.

:func:`metrics.throughput.case_throughput` grouped by ``category`` or
``source`` counted a year of the city's cases one by one (2.5 M rows: 8.5 s
on PostgreSQL, more on MariaDB). Here the counts of the window's whole
stored ISO weeks come from ``rollup_kind_week`` (per code, street and
week), the days before and after them and the live part from the cases,
and the stored counts of ids changed since the refresh are taken out, as
:func:`metrics.throughput.grouped_counts` does with the per-day sums. The
sums are kept per code and street until the end, so that each group's
shared target (a target is a street's) is found as the rows find it: the
least and greatest target of its cases' streets, and how many of its
cases have one. Same figures (tests/test_rollups.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, func, select
from sqlalchemy.sql.selectable import Subquery

import rollups
from data_access.area import area_streets
from data_access.config import SiteConfig
from data_access.filters import AreaFilter
from data_access.schema import MILESTONES
from metrics.throughput_judging import _prepared
from metrics.throughput_stages import NO_CODE
from rollups import RollupState, clean_incidents
from rollups.tables import KINDS, rollup_kind_week

#: The per-group target columns the rows compute in SQL (``<m>_tmin`` …).
TARGET_STATS = ("tmin", "tmax", "tcount")


def stored_span(state: RollupState | None, f: AreaFilter, by: str, cfg: Any) -> Any:
    """The window's stored weeks ``(first Monday, Monday after the last)``
    when ``rollup_kind_week`` may stand for the rolled-up cases of a
    breakdown by ``by`` (no category, source or status filter; the targets
    it was judged under are ``cfg``'s; the rollup lists ``by``'s codes),
    else None: the caller counts the cases."""
    if state is None or by not in KINDS or by not in state.kinds:
        return None
    if not state.day_counts(f, cfg):
        return None
    return state.stored_weeks(f)


def kind_counts(
    conn: Connection,
    f: AreaFilter,
    now: datetime,
    by: str,
    columns: Callable[[Subquery], list[Any]],
    cfg: SiteConfig,
    state: RollupState,
    span: tuple[datetime, datetime],
) -> pd.DataFrame:
    """The counts ``columns(inc)`` of the clean cases of ``f`` per code of
    ``by`` (in ``key``), from the stored weeks ``span`` and the cases
    around them, with ``<m>_tmin``/``_tmax``/``_tcount`` where ``columns``
    has them."""
    d = conn.dialect.name
    targets = []

    def counted(part: str, spans: list[tuple[datetime, datetime]]) -> pd.DataFrame:
        inc = clean_incidents(f, now, rollup=state, stages=d, part=part, rolled_spans=spans)
        inc = _prepared(inc, cfg, now, d)
        every = columns(inc)
        cols = [c for c in every if not c.name.endswith(TARGET_STATS)]
        targets.append(len(cols) < len(every))
        key = inc.c[by]
        q = (
            select(key.label("key"), inc.c.street_code, *cols)
            .select_from(inc)
            .group_by(key, inc.c.street_code)
        )
        names = ["key", "street_code", *(c.name for c in cols)]
        return pd.DataFrame(conn.execute(q).all(), columns=names)

    rest = counted("all", [(f.start_ts, span[0]), (span[1], f.end_ts)])
    names = [c for c in rest.columns if c not in ("key", "street_code")]
    changed = counted("changed", [span]) if state.changed_ids else None

    def keyed(part: pd.DataFrame) -> pd.DataFrame:  # a NULL code: pandas drops NaN keys
        return part.assign(key=part["key"].fillna(NO_CODE))

    summed = rollups.net_sums(
        [keyed(_stored(conn, f, by, span, names)), keyed(rest)],
        None if changed is None else keyed(changed),
        ["key", "street_code"],
        names,
    )
    per_street = summed.astype({n: "int64" for n in names})
    return _per_code(conn, f, cfg, per_street, names, targets[0])


def _stored(
    conn: Connection, f: AreaFilter, by: str, span: tuple[datetime, datetime], names: list[str]
) -> pd.DataFrame:
    """``rollup_kind_week`` summed over the stored weeks of ``span`` per
    code and street of ``f``'s area, for ``names`` (counts the table does
    not hold, which a settled case never has, are zero)."""
    week = rollup_kind_week
    area = area_streets(f).subquery("kind_street")
    held = [n for n in names if n in week.c]
    q = (
        select(
            week.c.code.label("key"),
            week.c.street_code,
            *(func.sum(week.c[n]).label(n) for n in held),
        )
        .join(area, area.c.code == week.c.street_code)
        .where(
            week.c.kind == by,
            week.c.week >= span[0].date().isoformat(),
            week.c.week < span[1].date().isoformat(),
        )
        .group_by(week.c.code, week.c.street_code)
    )
    frame = pd.DataFrame(conn.execute(q).all(), columns=["key", "street_code", *held])
    for n in names:
        if n not in held:
            frame[n] = 0
    return frame[["key", "street_code", *names]]


def _per_code(
    conn: Connection,
    f: AreaFilter,
    cfg: SiteConfig,
    per_street: pd.DataFrame,
    names: list[str],
    targets: bool,
) -> pd.DataFrame:
    """The per-(code, street) sums summed per code, with each milestone's
    least and greatest target of the code's streets and the cases that have
    one (what ``MIN``/``MAX``/``COUNT`` of the row's target give)."""
    frame = per_street.copy()
    if targets:
        district = {code: d for code, d in conn.execute(area_streets(f)).all()}
        for m in MILESTONES:
            target = pd.Series(
                [cfg.targets_for(s, district.get(s, "")).get(m) for s in frame["street_code"]],
                index=frame.index,
                dtype=float,
            )
            frame[f"{m}_tmin"] = target
            frame[f"{m}_tmax"] = target
            frame[f"{m}_tcount"] = frame["cases"].where(target.notna(), 0)
    aggregations = {n: "sum" for n in names}
    if targets:
        for m in MILESTONES:
            aggregations |= {f"{m}_tmin": "min", f"{m}_tmax": "max", f"{m}_tcount": "sum"}
    out = frame.groupby("key", as_index=False, sort=True).agg(aggregations)
    out["key"] = out["key"].where(out["key"] != NO_CODE, None)
    return out.sort_values("key", na_position="last", ignore_index=True)
