"""Stage times of the throughput table: each milestone's median and P90
minutes from ``reported_at`` per group (street, grid, category, source), in
the database or from the rollup's stored weekly arrays, and the SELECT the
rollup job materialises for those arrays (:func:`stage_time_select`).
Which cases' times count: :mod:`metrics.throughput_judging`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, case, func, literal, select, union_all
from sqlalchemy.sql.selectable import Subquery

import rollups
from data_access import sqlfn
from data_access.area import area_streets
from data_access.config import SiteConfig
from data_access.connection import side_by_side
from data_access.filters import AreaFilter
from data_access.schema import MILESTONES
from metrics.throughput_judging import _judge, _Judgement, _prepared, _rolled_prepared
from rollups import clean_incidents, rollup_case
from rollups.tables import KINDS

#: Stands for a NULL category or source while groups are keyed (numpy's
#: string keys and pandas' group keys cannot hold None).
NO_CODE = "\x00"

#: Stage time statistics: label -> percentile.
STAGE_STATS = (("median", 0.5), ("p90", 0.9))


def stage_time_select(
    cfg: SiteConfig, sealed: datetime, dialect: str, start: datetime, end: datetime
) -> Any:
    """The SELECT that gives ``rollup_stage_week`` its values: per rolled-up
    case reported in ``[start, end)``, its street, category and source, and
    each milestone's minutes where that time counts (see :func:`_judge`),
    else NULL."""
    reported = rollup_case.c.reported_at
    inc = _rolled_prepared(cfg, sealed, dialect, reported >= start, reported < end)
    kinds = [inc.c[k] for k in KINDS]
    return select(inc.c.street_code, *kinds, *_stage_values(inc, cfg, sealed, dialect))


def _stage_values(inc: Subquery, cfg: SiteConfig, now: datetime, d: str) -> list[Any]:
    """Per milestone, the row's minutes where its time counts, else NULL."""
    out = []
    for m in MILESTONES:
        j = _judge(inc, cfg, m, now, d)
        out.append(case((j.timed, j.elapsed), else_=None).label(m))
    return out


def _stage_stats_stored(
    conn: Connection, f: AreaFilter, now: datetime, cfg: SiteConfig, by: str = "street"
) -> pd.DataFrame | None:
    """:func:`_stage_stats` per street (or per category or source, ``by``)
    with the rolled-up weeks' sorted stage minutes read from
    ``rollup_stage_week``: whole weeks inside the window come from there
    (split by each value's stored category or source index), the rest (the
    days before the first and after the last such week, and the live part)
    from rows, the rolled-up values of ids changed since the refresh are
    taken out, and the exact percentiles are computed here, as pandas'
    ``quantile`` and PostgreSQL's ``percentile_cont`` compute them. None
    when the rollup has no such week for the filter (or a code filter
    applies, or it lists no codes of ``by``): the caller computes them in
    the database."""
    import numpy as np

    state = rollups.state(conn, now)
    if state is None or not state.day_counts(f):
        return None
    if by != "street" and by not in state.kinds:
        return None
    span = state.stored_weeks(f)
    if span is None:
        return None
    d = conn.dialect.name
    group = "street_code" if by == "street" else by

    def times(
        c: Connection, part: str, spans: list[tuple[datetime, datetime]]
    ) -> dict[tuple[Any, str], Any]:
        """The part's timed values per (group, stage), as arrays."""
        inc = clean_incidents(f, now, rollup=state, stages=d, part=part, rolled_spans=spans)
        inc = _prepared(inc, cfg, now, d)
        q = select(inc.c[group], *_stage_values(inc, cfg, now, d))
        rows = c.execute(q).all()
        if not rows:
            return {}
        # Column-wise numpy, one group's slice at a time (pandas' groupby
        # and per-row conversion took 0.7 s for the 100,000 rows of a year).
        codes, *stages = zip(*rows, strict=True)
        keys = np.asarray([NO_CODE if k is None else k for k in codes], dtype=str)
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        ends = np.r_[starts[1:], len(keys)]
        out = {}
        for m, values in zip(MILESTONES, stages, strict=True):
            column = np.asarray(values, dtype=float)[order]
            for at, end in zip(starts, ends, strict=True):
                part_ = column[at:end]
                part_ = part_[~np.isnan(part_)]
                if len(part_):
                    out[(str(keys[at]), m)] = part_
        return out

    def rest_parts(c: Connection) -> tuple[dict[Any, Any], dict[Any, Any]]:
        """Everything but the stored weeks (the window's days outside them,
        and the live part), and the values the stored weeks hold for ids
        that are not clean cases any more (read live instead)."""
        rest = times(c, "all", [(f.start_ts, span[0]), (span[1], f.end_ts)])
        return rest, times(c, "changed", [span]) if state.changed_ids else {}

    parts, (rest, changed) = side_by_side(
        conn, lambda c: _stored_arrays(c, f, by, span), rest_parts
    )
    stats: dict[str, dict[str, Any]] = {}
    for code, m in sorted(set(parts) | set(rest)):
        array = np.concatenate([*parts.pop((code, m), []), rest.get((code, m), [])])
        for v in changed.get((code, m), ()):  # one stored copy of each changed value
            at = np.flatnonzero(array == v)
            if len(at):
                array = np.delete(array, at[0])
        row = stats.setdefault(code, {"key": None if code == NO_CODE else code})
        row[f"{m}_timed"] = float(len(array))
        if len(array):
            median, p90 = exact_quantiles(array, [p for _, p in STAGE_STATS])
            row[f"{m}_median_min"], row[f"{m}_p90_min"] = median, p90
    cols = ["key"] + [f"{m}_{s}" for m in MILESTONES for s in ("timed", "median_min", "p90_min")]
    return pd.DataFrame(list(stats.values()), columns=cols)


def _stored_arrays(
    c: Connection, f: AreaFilter, by: str, span: tuple[datetime, datetime]
) -> dict[tuple[str, str], list[Any]]:
    """The stored weeks' arrays of ``f``'s streets per (group, stage): views
    on the payloads as they arrive (a year of the city: 73 MB), split by
    the stored index of ``by`` unless it is ``street``."""
    import numpy as np

    stored = rollups.rollup_stage_week
    area = area_streets(f).subquery("stage_street")
    split = by != "street"
    cols = [stored.c.street_code, stored.c.stage, stored.c.payload]
    if split:
        cols.append(stored.c[f"{by}_ix"])
        listed = rollups.rollup_code
        names = {
            ix: NO_CODE if code is None else code
            for ix, code in c.execute(
                select(listed.c.ix, listed.c.code).where(listed.c.kind == by)
            ).all()
        }
    q = select(*cols).join(area, area.c.code == stored.c.street_code)
    q = q.where(
        stored.c.week >= span[0].date().isoformat(), stored.c.week < span[1].date().isoformat()
    )
    out: dict[tuple[str, str], list[Any]] = {}
    if not split:
        for code, stage, payload in rollups.stream_payloads(c, q):
            out.setdefault((code, stage), []).append(rollups.stage_arrays(payload))
        return out
    # Per stage, every array and its indices joined once, then one mask per
    # code (a mask per stored row and code was 2 s for a year of the city).
    values: dict[str, list[Any]] = {}
    indices: dict[str, list[Any]] = {}
    for _, stage, payload, ix in rollups.stream_payloads(c, q):
        values.setdefault(stage, []).append(rollups.stage_arrays(payload))
        indices.setdefault(stage, []).append(np.frombuffer(ix, dtype="<u2"))
    for stage, arrays in values.items():
        joined, index = np.concatenate(arrays), np.concatenate(indices[stage])
        for ix in np.unique(index):
            out[(names[int(ix)], stage)] = [joined[index == ix]]
    return out


def exact_quantiles(values: Any, probabilities: list[float]) -> list[float]:
    """Quantiles of a float array, interpolated exactly as numpy's (and
    pandas') default ``linear`` method computes them. Only the elements
    either side of each quantile are put in their sorted places (a
    partition, not a sort: a year of the city's 784 street-stage arrays,
    0.28 -> 0.04 s). ``values`` must not be empty; it is not changed."""
    import numpy as np

    n = len(values)
    spots = []
    for p in probabilities:
        at = p * (n - 1)
        lo = int(at // 1)
        spots.append((lo, min(lo + 1, n - 1), at - lo))
    placed = np.partition(values, sorted({i for lo, hi, _ in spots for i in (lo, hi)}))
    out = []
    for lo, hi, t in spots:
        a, b = float(placed[lo]), float(placed[hi])
        diff = b - a
        out.append(b - diff * (1 - t) if t >= 0.5 else a + diff * t)
    return out


def _stage_stats(
    conn: Connection, inc: Subquery, judged: dict[str, _Judgement], key: Any
) -> pd.DataFrame:
    """Median and P90 minutes per group and stage, in one database query."""
    if conn.dialect.name == "postgresql":
        return _stage_stats_pg(conn, inc, judged, key)
    parts = [
        select(key.label("key"), literal(m).label("stage"), j.elapsed.label("minutes"))
        .select_from(inc)
        .where(j.timed)
        for m, j in judged.items()
    ]
    times = union_all(*parts).subquery("stage_times")
    q = sqlfn.group_percentiles(times, ["key", "stage"], "minutes", STAGE_STATS)
    long = pd.DataFrame(conn.execute(q).mappings().all())
    if long.empty:
        return pd.DataFrame(columns=["key"])
    out = long.pivot(index="key", columns="stage", values=["n", "median", "p90"])
    flat = pd.DataFrame(index=out.index)
    for m in MILESTONES:
        for stat, name in (("n", "timed"), ("median", "median_min"), ("p90", "p90_min")):
            col = (stat, m)
            flat[f"{m}_{name}"] = out[col].astype(float) if col in out.columns else float("nan")
    return flat.reset_index()


def _stage_stats_pg(
    conn: Connection, inc: Subquery, judged: dict[str, _Judgement], key: Any
) -> pd.DataFrame:
    """:func:`_stage_stats` on PostgreSQL: one pass grouped by key, each
    stage's percentiles an ordered-set aggregate with a FILTER. (The
    portable form stacks the stages and sorts them all together: 10 M rows
    for a year of the city, 25 s, against 3.5-4.6 s this way.)"""
    cols: list[Any] = []
    for m, j in judged.items():
        cols.append(func.count(j.elapsed).filter(j.timed).label(f"{m}__n"))
        cols += [
            sqlfn.percentile_where(j.elapsed, p, j.timed).label(f"{m}__{label}")
            for label, p in STAGE_STATS
        ]
    q = select(key.label("key"), *cols).select_from(inc).group_by(key)
    wide = pd.DataFrame(conn.execute(q).mappings().all())
    flat = pd.DataFrame({"key": wide["key"]}) if not wide.empty else pd.DataFrame(columns=["key"])
    for m in MILESTONES:
        n = pd.to_numeric(wide[f"{m}__n"]) if f"{m}__n" in wide.columns else None
        for stat, name in (("n", "timed"), ("median", "median_min"), ("p90", "p90_min")):
            col = f"{m}__{stat}"
            if n is None or col not in wide.columns:
                flat[f"{m}_{name}"] = float("nan")
            else:
                flat[f"{m}_{name}"] = pd.to_numeric(wide[col]).astype(float).where(n > 0)
    return flat
