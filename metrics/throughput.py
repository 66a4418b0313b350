"""Case handling against targets (接报 / 流转 / 到场 / 办结): the throughput
page's figures per street (grid, category, source).

Here: on-time counts and shares per milestone (:func:`ontime_by_milestone`),
the street table (:func:`case_throughput`), the on-time trend, the ranking
and the export, and the per-day counts the rollup job materialises
(:func:`day_rollup_select`). How a case is judged against a target:
:mod:`metrics.throughput_judging`; stage time medians and P90s:
:mod:`metrics.throughput_stages`; the open backlog by age and the case
list: :mod:`metrics.throughput_backlog`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Literal

import pandas as pd
from sqlalchemy import Connection, and_, func, literal, or_, select
from sqlalchemy.sql.selectable import Subquery

import rollups
from data_access import sqlfn
from data_access.area import area_streets, in_bounds, target_minutes
from data_access.config import SiteConfig
from data_access.connection import side_by_side
from data_access.filters import AreaFilter
from data_access.schema import MILESTONES, OPEN_STATUSES, grid
from metrics import exports, throughput_kinds
from metrics.throughput_judging import _judge, _prepared, _rolled_prepared
from metrics.throughput_stages import _stage_stats, _stage_stats_stored
from rollups import DAY_COUNTS, clean_incidents
from rollups.tables import KINDS

ONTIME_COLUMNS = ["milestone", "judged", "on_time", "late", "pending", "excluded", "on_time_share"]


def ontime_by_milestone(
    conn: Connection,
    f: AreaFilter,
    now: datetime,
    cfg: SiteConfig,
    by: Literal["area", "street"] = "area",
) -> pd.DataFrame:
    """On-time figures per milestone for cases reported in the window.

    Returns one row per milestone that has a target anywhere (and per street
    when ``by="street"``, with a leading ``street_code`` column). Columns:
    ``milestone``; ``judged`` = ``on_time`` + ``late`` (cases);
    ``pending`` (open, target not yet reached); ``excluded`` (missing or
    out-of-order milestone); ``on_time_share`` = on_time / judged (0-1, NaN
    when nothing was judged).
    """
    group = "street" if by == "street" else None
    d = conn.dialect.name
    wide = grouped_counts(conn, f, now, group, lambda inc: ontime_counts(inc, cfg, now, d), cfg)
    return ontime_rows(wide, cfg, by)


def ontime_rows(
    wide: pd.DataFrame, cfg: SiteConfig, by: Literal["area", "street"] = "area"
) -> pd.DataFrame:
    """:func:`ontime_by_milestone`'s frame from :func:`grouped_counts` of
    :func:`ontime_counts` (one row per group, the street in ``key``)."""
    judged_milestones = [m for m in MILESTONES if cfg.judges(m)]
    rows = []
    for rec in wide.to_dict("records") if not wide.empty else []:
        for m in judged_milestones:
            on_time_n = int(rec[f"{m}_on_time"] or 0)
            late_n = int(rec[f"{m}_late"] or 0)
            judged = on_time_n + late_n
            row = {
                "milestone": m,
                "judged": judged,
                "on_time": on_time_n,
                "late": late_n,
                "pending": int(rec[f"{m}_pending"] or 0),
                "excluded": int(rec[f"{m}_excluded"] or 0),
                "on_time_share": on_time_n / judged if judged else float("nan"),
            }
            if by == "street":
                row = {"street_code": rec["key"], **row}
            rows.append(row)
    columns = (["street_code"] if by == "street" else []) + ONTIME_COLUMNS
    return pd.DataFrame(rows, columns=columns)


def ontime_from_streets(per_street: pd.DataFrame, cfg: SiteConfig) -> pd.DataFrame:
    """The area's :func:`ontime_by_milestone` from its ``by="street"`` frame.

    Every clean case has one street, so the area's counts are the streets'
    sums (tested equal on all three backends); a page that shows both reads
    the database once instead of twice (8-16 s for a year of the city).
    """
    milestones = [m for m in MILESTONES if cfg.judges(m)]
    counts = ["judged", "on_time", "late", "pending", "excluded"]
    summed = per_street.groupby("milestone")[counts].sum() if len(per_street) else None
    rows = []
    for m in milestones:
        vals = {c: 0 for c in counts}
        if summed is not None and m in summed.index:
            vals = {c: int(summed.at[m, c]) for c in counts}  # type: ignore[arg-type]
        share = vals["on_time"] / vals["judged"] if vals["judged"] else float("nan")
        rows.append({"milestone": m, **vals, "on_time_share": share})
    return pd.DataFrame(rows, columns=ONTIME_COLUMNS)


def ontime_from_table(table: pd.DataFrame, cfg: SiteConfig) -> pd.DataFrame:
    """The area's :func:`ontime_by_milestone` from a :func:`case_throughput`
    street table (the same judgements, summed): the throughput page shows
    both and no longer reads the cases twice."""
    long = pd.DataFrame(
        [
            {
                "milestone": m,
                **{
                    k: row[f"{m}_{k}"] for k in ("judged", "on_time", "late", "pending", "excluded")
                },
            }
            for row in table.to_dict("records")
            for m in MILESTONES
        ],
        columns=["milestone", "judged", "on_time", "late", "pending", "excluded"],
    )
    return ontime_from_streets(long, cfg)


# --- The per-street (per-grid, per-category, per-source) throughput table ---------

#: Grouping of :func:`case_throughput`: name -> incident column (the allow-list).
GROUPS = {"street": "street_code", "grid": "grid_code", "category": "category", "source": "source"}
Group = Literal["street", "grid", "category", "source"]


def throughput_columns(by: Group = "street") -> list[str]:
    """The columns of :func:`case_throughput`, in order (stable: used by the exports)."""
    cols = [GROUPS[by], "cases", "closed", "cancelled", "open_backlog", "closure_rate"]
    for m in MILESTONES:
        cols += [f"target_{m}_min"]
        cols += [f"{m}_{k}" for k in ("judged", "on_time", "late", "pending", "excluded")]
        cols += [f"{m}_on_time_share"]
    for m in MILESTONES:
        cols += [f"{m}_timed", f"{m}_median_min", f"{m}_p90_min"]
    cols += ["excluded_cases", "camera_ai_cases", "camera_ai_cancelled", "camera_ai_false_share"]
    return cols


def case_throughput(
    conn: Connection, f: AreaFilter, now: datetime, cfg: SiteConfig, by: Group = "street"
) -> pd.DataFrame:
    """Case throughput for cases reported in the window, one row per group.

    ``by``: ``street`` (every street of the area is listed, zeros where it
    had no case), ``grid``, ``category`` or ``source`` (groups with cases;
    the key may be NULL). Columns (see :func:`throughput_columns`):

    - the key (``street_code``, ``grid_code``, ``category`` or ``source``);
    - ``cases``, ``closed``, ``cancelled``, ``open_backlog`` (status
      open/dispatched/on_site) in cases; ``closure_rate`` = closed / cases
      (0-1, NaN without cases);
    - per milestone ``m`` (accepted, dispatched, arrived, closed):
      ``target_m_min`` (the street's target in minutes; for other groupings
      only when every case shares one target, else NaN), ``m_judged``,
      ``m_on_time``, ``m_late``, ``m_pending``, ``m_excluded`` (cases, as in
      :func:`ontime_by_milestone`) and ``m_on_time_share`` (0-1, NaN when
      nothing was judged);
    - per milestone: ``m_timed`` (cases with a usable time), ``m_median_min``
      and ``m_p90_min`` (minutes from ``reported_at``, exact, interpolated
      like pandas' ``quantile``; NaN without times);
    - ``excluded_cases``: live cases left out of at least one judged stage
      (a missing or out-of-order milestone);
    - ``camera_ai_cases``, ``camera_ai_cancelled`` and
      ``camera_ai_false_share`` (cancelled / camera-AI cases: detections
      dismissed as false, 0-1, NaN without camera cases).
    """
    if by not in GROUPS:
        raise ValueError(f"unknown grouping {by!r}")
    d = conn.dialect.name

    def stage_stats(c: Connection) -> pd.DataFrame:
        stored = by in ("street", *KINDS)
        stats = _stage_stats_stored(c, f, now, cfg, by) if stored else None
        if stats is None:  # from the rows (a category breakdown: 2.5 M for the city's year)
            inc = _prepared(
                clean_incidents(f, now, rollup=rollups.state(c, now), stages=d), cfg, now, d
            )
            judged = {m: _judge(inc, cfg, m, now, d) for m in MILESTONES}
            stats = _stage_stats(c, inc, judged, inc.c[GROUPS[by]])
        return stats

    # The stage statistics and the counts side by side: each reads the
    # window's cases on its own connection.
    stats, frame = side_by_side(
        conn,
        stage_stats,
        lambda c: grouped_counts(
            c, f, now, by, lambda inc: _throughput_counts(inc, cfg, now, d, by), cfg
        ),
    )

    if by == "street":
        area = pd.DataFrame(conn.execute(area_streets(f)).all(), columns=["key", "district"])
        frame = area.merge(frame, on="key", how="left") if not frame.empty else area
    if frame.empty:
        return pd.DataFrame(columns=throughput_columns(by))
    frame = frame.merge(stats, on="key", how="left") if not stats.empty else frame
    return _finish(frame, cfg, by)


def _throughput_counts(
    inc: Subquery, cfg: SiteConfig, now: datetime, d: str, by: str | None
) -> list[Any]:
    """The count columns of :func:`case_throughput` over prepared rows."""
    judged = {m: _judge(inc, cfg, m, now, d) for m in MILESTONES}
    camera = inc.c.source == "camera_ai"
    counts: list[Any] = [
        func.count().label("cases"),
        sqlfn.count_if(inc.c.status == "closed").label("closed"),
        sqlfn.count_if(inc.c.status == "cancelled").label("cancelled"),
        sqlfn.count_if(inc.c.status.in_(OPEN_STATUSES)).label("open_backlog"),
    ]
    for m, j in judged.items():
        counts += [
            sqlfn.count_if(j.on_time).label(f"{m}_on_time"),
            sqlfn.count_if(j.late).label(f"{m}_late"),
            sqlfn.count_if(j.pending).label(f"{m}_pending"),
            sqlfn.count_if(j.excluded).label(f"{m}_excluded"),
        ]
    counts += [
        sqlfn.count_if(or_(*(j.excluded for j in judged.values()))).label("excluded_cases"),
        sqlfn.count_if(camera).label("camera_ai_cases"),
        sqlfn.count_if(and_(camera, inc.c.status == "cancelled")).label("camera_ai_cancelled"),
    ]
    if by not in (None, "street"):
        for m in MILESTONES:
            t = target_minutes(cfg, m, inc)
            counts += [
                func.min(t).label(f"{m}_tmin"),
                func.max(t).label(f"{m}_tmax"),
                func.count(t).label(f"{m}_tcount"),
            ]
    return counts


def ontime_counts(inc: Subquery, cfg: SiteConfig, now: datetime, d: str) -> list[Any]:
    """The count columns of :func:`ontime_by_milestone` (and ``cases``), for
    :func:`grouped_counts` with ``cfg``."""
    counts: list[Any] = [func.count().label("cases")]
    for m in MILESTONES:
        if not cfg.judges(m):
            continue
        j = _judge(inc, cfg, m, now, d)
        counts += [
            sqlfn.count_if(j.on_time).label(f"{m}_on_time"),
            sqlfn.count_if(j.late).label(f"{m}_late"),
            sqlfn.count_if(j.pending).label(f"{m}_pending"),
            sqlfn.count_if(j.excluded).label(f"{m}_excluded"),
        ]
    return counts


def grouped_counts(
    conn: Connection,
    f: AreaFilter,
    now: datetime,
    by: str | None,
    columns: Callable[[Subquery], list[Any]],
    cfg: SiteConfig | None = None,
) -> pd.DataFrame:
    """Counts over the clean cases of ``f`` grouped by ``by`` (a
    :data:`GROUPS` name, or None for one row): one column per labelled
    count of ``columns(inc)``, the group in ``key``. With ``cfg``, ``inc``
    is prepared for :func:`_judge` (targets, stage minutes) and the counts
    may judge cases; without, they may not.

    Where the rollup's per-day sums apply (grouped by street or not at all,
    no code filter, the same targets: see
    :meth:`~rollups.RollupState.day_counts`), the rolled-up
    cases are read from ``rollup_case_day`` and only the live rows are
    counted one by one: the day sums, plus the live part, minus the
    rolled-up rows of ids that changed since the refresh (the day sums hold
    them, the clean cases do not). Same figures (tests/test_rollups.py);
    a year of the city from ~70,000 day rows instead of 2.5 M cases.
    """
    d = conn.dialect.name
    state = rollups.state(conn, now)

    def counted(part: str) -> pd.DataFrame:
        inc = clean_incidents(f, now, rollup=state, stages=d if cfg else None, part=part)
        if cfg is not None:
            inc = _prepared(inc, cfg, now, d)
        key = inc.c[GROUPS[by]] if by else literal("")
        cols = columns(inc)
        q = select(key.label("key"), *cols).select_from(inc).group_by(*([key] if by else []))
        got = pd.DataFrame(
            conn.execute(q).mappings().all(), columns=["key", *(c.name for c in cols)]
        )
        return got.sort_values("key", na_position="last", ignore_index=True)

    if by in KINDS and cfg is not None:
        span = throughput_kinds.stored_span(state, f, by, cfg)
        if state is not None and span is not None:
            return throughput_kinds.kind_counts(conn, f, now, by, columns, cfg, state, span)
    if state is None or by not in (None, "street") or not state.day_counts(f, cfg):
        return counted("all")
    live = counted("live")
    names = [c for c in live.columns if c != "key"]
    changed = counted("changed") if state.changed_ids else None
    # By street: a street all of whose rolled-up cases changed has none left.
    summed = rollups.net_sums(
        [_day_sums(conn, f, names, by), live], changed, ["key"], names, drop_empty=bool(by)
    )
    return summed.astype({n: "int64" for n in names})


def _day_sums(conn: Connection, f: AreaFilter, names: list[str], by: str | None) -> pd.DataFrame:
    """``rollup_case_day`` summed over the window's days, per street (or in
    one row), for ``names``; counts the rollup does not hold (open cases,
    pending judgements: a settled case is neither) are zero."""
    day = rollups.rollup_case_day
    area = area_streets(f).subquery("day_street")
    key = day.c.street_code if by else literal("")
    held = [n for n in names if n in day.c]
    q = (
        select(key.label("key"), *(func.sum(day.c[n]).label(n) for n in held))
        .join(area, area.c.code == day.c.street_code)
        .where(day.c.day >= f.start.isoformat(), day.c.day <= f.end.isoformat())
        .group_by(*([key] if by else []))
    )
    frame = pd.DataFrame(conn.execute(q).mappings().all(), columns=["key", *held])
    for n in names:
        if n not in held:
            frame[n] = 0
    return frame[["key", *names]]


def day_rollup_select(cfg: SiteConfig, sealed: datetime, dialect: str) -> Any:
    """The SELECT that fills ``rollup_case_day`` from ``rollup_case``: per
    street and local day, the counts of :func:`case_throughput` that a
    settled case can have, judged under ``cfg``'s targets (``sealed``
    stands for ``now``: a settled case's judgement does not depend on it)."""
    inc = _rolled_prepared(cfg, sealed, dialect)
    labelled = {c.name: c for c in _throughput_counts(inc, cfg, sealed, dialect, "street")}
    labelled["unmapped"] = sqlfn.count_if(~in_bounds(inc.c.lat, inc.c.lon, cfg.bounds)).label(
        "unmapped"
    )
    day = sqlfn.day_bucket(inc.c.reported_at, dialect)
    return select(
        inc.c.street_code.label("street_code"),
        day.label("day"),
        *(labelled[n] for n in DAY_COUNTS),
    ).group_by(inc.c.street_code, day)


def kind_week_select(
    cfg: SiteConfig, sealed: datetime, dialect: str, kind: str, until: datetime
) -> Any:
    """The SELECT that fills ``rollup_kind_week`` for ``kind`` (category or
    source) from ``rollup_case``: per code, street and ISO week before
    ``until``, the counts of ``rollup_case_day`` (without ``unmapped``)."""
    inc = _rolled_prepared(cfg, sealed, dialect, rollups.rollup_case.c.reported_at < until)
    labelled = {c.name: c for c in _throughput_counts(inc, cfg, sealed, dialect, "street")}
    week = sqlfn.week_bucket(inc.c.reported_at, dialect)
    return select(
        literal(kind).label("kind"),
        inc.c[kind].label("code"),
        inc.c.street_code.label("street_code"),
        week.label("week"),
        *(labelled[n] for n in DAY_COUNTS if n != "unmapped"),
    ).group_by(inc.c[kind], inc.c.street_code, week)


def _finish(frame: pd.DataFrame, cfg: SiteConfig, by: Group) -> pd.DataFrame:
    frame = frame.copy()
    count_cols = ["cases", "closed", "cancelled", "open_backlog", "excluded_cases"]
    count_cols += ["camera_ai_cases", "camera_ai_cancelled"]
    count_cols += [f"{m}_{k}" for m in MILESTONES for k in ("on_time", "late", "pending")]
    count_cols += [f"{m}_excluded" for m in MILESTONES]
    count_cols += [f"{m}_timed" for m in MILESTONES]
    for c in count_cols:
        if c not in frame.columns:
            frame[c] = 0
        frame[c] = pd.to_numeric(frame[c]).fillna(0).astype("int64")
    frame["closure_rate"] = _share(frame["closed"], frame["cases"])
    frame["camera_ai_false_share"] = _share(frame["camera_ai_cancelled"], frame["camera_ai_cases"])
    for m in MILESTONES:
        frame[f"{m}_judged"] = frame[f"{m}_on_time"] + frame[f"{m}_late"]
        frame[f"{m}_on_time_share"] = _share(frame[f"{m}_on_time"], frame[f"{m}_judged"])
        for stat in ("median_min", "p90_min"):
            col = f"{m}_{stat}"
            frame[col] = pd.to_numeric(frame[col]) if col in frame.columns else float("nan")
        if by == "street":
            frame[f"target_{m}_min"] = [
                _target(cfg, code, dist, m)
                for code, dist in zip(frame["key"], frame["district"], strict=True)
            ]
        else:
            lo = pd.to_numeric(frame[f"{m}_tmin"]).astype(float)
            hi = pd.to_numeric(frame[f"{m}_tmax"]).astype(float)
            every = pd.to_numeric(frame[f"{m}_tcount"]) == frame["cases"]
            frame[f"target_{m}_min"] = lo.where((lo == hi) & every)
    frame = frame.rename(columns={"key": GROUPS[by]})
    return frame[throughput_columns(by)].reset_index(drop=True)


def _share(part: pd.Series, whole: pd.Series) -> pd.Series:
    return (part / whole.where(whole > 0)).astype(float)


def _target(cfg: SiteConfig, street_code: str, district_code: str, m: str) -> float:
    value = cfg.targets_for(street_code, district_code).get(m)
    return float("nan") if value is None else float(value)


# --- Trend ---------------------------------------------------------------------------

TREND_COLUMNS = ["street_code", "period", "judged", "on_time", "on_time_share"]


def ontime_trend(
    conn: Connection,
    f: AreaFilter,
    now: datetime,
    cfg: SiteConfig,
    milestone: str = "arrived",
    grain: Literal["day", "week"] = "day",
) -> pd.DataFrame:
    """On-time rate of one milestone per street and day (or ISO week) of ``reported_at``.

    Columns: ``street_code``, ``period`` (``YYYY-MM-DD``: the day, or the
    Monday of the week), ``judged`` and ``on_time`` (cases, judged as in
    :func:`ontime_by_milestone` as of ``now``), ``on_time_share`` (0-1,
    NaN when nothing was judged). Only (street, period) pairs with cases.
    """
    if milestone not in MILESTONES:
        raise ValueError(f"unknown milestone {milestone!r}")
    d = conn.dialect.name
    state = rollups.state(conn, now)
    keys, counts = ["street_code", "period"], ["cases", "on_time", "late"]

    def counted(part: str) -> pd.DataFrame:
        inc = clean_incidents(f, now, rollup=state, part=part)
        j = _judge(inc, cfg, milestone, now, d)
        bucket = sqlfn.day_bucket(inc.c.reported_at, d)
        q = (
            select(
                inc.c.street_code,
                bucket.label("period"),
                func.count(),
                sqlfn.count_if(j.on_time),
                sqlfn.count_if(j.late),
            )
            .select_from(inc)
            .group_by(inc.c.street_code, bucket)
        )
        return pd.DataFrame(conn.execute(q).all(), columns=keys + counts)

    if state is not None and state.day_counts(f, cfg):
        # The rolled-up cases' judgements per street and day from the
        # rollup's day sums; the live part counted; ids changed since the
        # refresh taken out of the sums (a year of the city: 5.8 s -> 0.9 s).
        day = rollups.rollup_case_day
        area = area_streets(f).subquery("trend_street")
        q = (
            select(
                day.c.street_code,
                day.c.day,
                day.c.cases,
                day.c[f"{milestone}_on_time"],
                day.c[f"{milestone}_late"],
            )
            .join(area, area.c.code == day.c.street_code)
            .where(day.c.day >= f.start.isoformat(), day.c.day <= f.end.isoformat())
        )
        stored = pd.DataFrame(conn.execute(q).all(), columns=keys + counts)
        changed = counted("changed") if state.changed_ids else None
        frame = rollups.net_sums([stored, counted("live")], changed, keys, counts)
    else:
        frame = rollups.net_sums([counted("all")], None, keys, counts)
    frame = frame.astype({c: "int64" for c in counts})
    if grain == "week":  # the Monday of each day's ISO week
        days = pd.to_datetime(frame["period"].astype(str))
        frame["period"] = (days - pd.to_timedelta(days.dt.day_of_week, unit="D")).dt.strftime(
            "%Y-%m-%d"
        )
        frame = frame.groupby(keys, as_index=False, sort=True)[counts].sum()
    frame["period"] = frame["period"].astype(str)
    frame["judged"] = frame["on_time"] + frame["late"]
    frame["on_time_share"] = _share(frame["on_time"], frame["judged"])
    return frame[TREND_COLUMNS]


# --- Ranking and export (small frames, no database) -----------------------------------


def rank_by_ontime(
    table: pd.DataFrame, milestone: str, key: str = "street_code", min_judged: int = 0
) -> pd.DataFrame:
    """Groups of a :func:`case_throughput` frame ranked by on-time share of
    ``milestone``, best first, with the top and bottom three called out.

    Only groups with judged cases are listed. The order: share, then more
    judged cases, then the code. Only groups with at least ``min_judged``
    judged cases (the site's ``ranking.min_judged``) are ranked and may be
    called out; the others stay in the list, in order, without a place.
    Columns: ``key`` column, ``judged``, ``on_time_share`` (0-1), ``rank``
    (1 = first in the list, every listed group), ``eligible`` (judged >=
    ``min_judged``), ``place`` (the rank among the eligible groups, shared
    by equal shares: 1, 1, 3, ...; NA for the others), ``tied`` (another
    eligible group has the same share) and ``callout``: ``top`` for a place
    of 3 or better, ``bottom`` for the three lowest shares of the rest
    (counted the same way from the bottom), ``""`` otherwise; equal shares
    are called out together, so a tie at 100 % names every street in it,
    and with fewer than six eligible groups the top three win.
    """
    share, judged = f"{milestone}_on_time_share", f"{milestone}_judged"
    cols = [key, "judged", "on_time_share", "rank", "eligible", "place", "tied", "callout"]
    ranked = table.loc[table[judged] > 0, [key, judged, share]]
    ranked = ranked.rename(columns={judged: "judged", share: "on_time_share"})
    ranked = ranked.sort_values(
        ["on_time_share", "judged", key], ascending=[False, False, True], kind="stable"
    ).reset_index(drop=True)
    ranked["rank"] = range(1, len(ranked) + 1)
    ranked["eligible"] = ranked["judged"] >= min_judged
    shares = ranked.loc[ranked["eligible"], "on_time_share"]
    place = shares.rank(method="min", ascending=False)
    from_bottom = shares.rank(method="min", ascending=True)
    ranked["place"] = place.astype("Int64").reindex(ranked.index)
    ranked["tied"] = ranked.index.isin(shares.index[shares.duplicated(keep=False)])
    top = place.index[place <= 3]
    bottom = from_bottom.index[(from_bottom <= 3) & ~from_bottom.index.isin(top)]
    ranked["callout"] = ""
    ranked.loc[top, "callout"] = "top"
    ranked.loc[bottom, "callout"] = "bottom"
    return ranked[cols]


def export_frame(table: pd.DataFrame, names: dict[str, str], by: Group = "street") -> pd.DataFrame:
    """The machine-readable export (the workbook's ``raw`` sheet): the key
    column, ``name``, then every column of :func:`throughput_columns`, with
    those stable English names and full precision."""
    key = GROUPS[by]
    out = table[throughput_columns(by)].copy()
    out.insert(1, "name", [names.get(str(c), str(c)) for c in out[key]])
    return out


#: The sheet of the export for people, per grouping (``streets`` for the
#: page's street table).
EXPORT_SHEETS = {
    "street": "streets",
    "grid": "grids",
    "category": "categories",
    "source": "sources",
}


def export_kind(column: str) -> exports.Kind:
    """How a :func:`throughput_columns` column is rounded and formatted."""
    if column in GROUPS.values():
        return "code"
    if column.endswith("_share") or column == "closure_rate":
        return "share"
    if column.startswith("target_"):
        return "whole_minutes"
    return "minutes" if column.endswith("_min") else "int"


def export_label(column: str, lang: str, by: Group = "street") -> str:
    """The heading of a :func:`throughput_columns` column in ``lang``
    (e.g. ``arrived_p90_min`` -> "到场 P90 用时（分钟）")."""
    from i18n import translate

    if column == GROUPS[by]:
        return translate(f"export.tp.code_{by}", lang)
    if column.startswith("target_"):
        label = translate(f"milestone.{column[len('target_') : -len('_min')]}", lang)
        return translate("export.tp.target", lang, milestone=label)
    for m in MILESTONES:
        if column.startswith(f"{m}_"):
            label = translate(f"milestone.{m}", lang)
            return translate(f"export.tp.{column[len(m) + 1 :]}", lang, milestone=label)
    return translate(f"export.tp.{column}", lang)


def export_sheets(
    table: pd.DataFrame,
    names: dict[str, str],
    lang: str,
    by: Group = "street",
    area: str = "",
    period: tuple[date, date] | None = None,
    as_of: datetime | None = None,
) -> list[exports.Sheet]:
    """The export for people: :data:`EXPORT_SHEETS` ``[by]`` with headings in
    ``lang``, the name then the code, values rounded and formatted by
    :func:`export_kind` (the CSV is this sheet, :func:`metrics.exports.csv_frame`);
    an about sheet (what the table is: ``area``, the reported ``period``, the
    data's ``as_of`` time, the rounding); ``raw``: :func:`export_frame`."""
    from i18n import translate

    def tr(key: str, **kwargs: Any) -> str:
        return translate(f"export.about.{key}", lang, **kwargs)

    raw = export_frame(table, names, by)
    labels = {col: export_label(col, lang, by) for col in throughput_columns(by)}
    frame = raw[["name", *labels]].set_axis(
        [translate(f"export.tp.name_{by}", lang), *labels.values()], axis=1
    )
    kinds: dict[str, exports.Kind] = {label: export_kind(c) for c, label in labels.items()}
    about_rows = [(tr("table"), translate("throughput.heading", lang, area=area).rstrip(" ·"))]
    if period is not None:
        about_rows.append((tr("period"), tr("period_text", start=period[0], end=period[1])))
    if as_of is not None:
        about_rows.append((tr("as_of"), as_of.strftime("%Y-%m-%d %H:%M")))
    about_rows += [(tr("rounding"), tr("rounding_text")), (tr("raw"), tr("raw_text"))]
    heads = [tr("item"), tr("value")]
    return [
        exports.Sheet(EXPORT_SHEETS[by], frame, kinds, freeze_cols=2),
        exports.Sheet(
            translate("export.about.sheet", lang), pd.DataFrame(about_rows, columns=heads)
        ),
        exports.raw_sheet("raw", raw),
    ]


def export_csv(sheets: list[exports.Sheet]) -> bytes:
    """The CSV for people: the first of :func:`export_sheets` (the same
    headings and rounding, shares as "90.7%"), UTF-8 with a byte-order mark."""
    return exports.csv_bytes(exports.csv_frame(sheets[0]))


def excel_bytes(frames: dict[str, pd.DataFrame] | list[exports.Sheet]) -> bytes:
    """An .xlsx workbook: :func:`export_sheets`, or one machine-readable
    sheet per frame (names up to 31 characters); every sheet with its
    header frozen and its columns sized (:func:`metrics.exports.workbook_bytes`)."""
    if isinstance(frames, dict):
        frames = [exports.raw_sheet(name, frame) for name, frame in frames.items()]
    return exports.workbook_bytes(frames)


GRID_NAME_COLUMNS = ["grid_code", "name_zh", "kind"]


def grid_names(
    conn: Connection, street_code: str, scope: tuple[str, ...] | None = None
) -> pd.DataFrame:
    """The grids (网格) of one street, by code. Columns: ``grid_code``,
    ``name_zh`` (may be NULL), ``kind`` (community, building, market,
    village, dedicated). None for a street outside ``scope`` (a user's
    street codes, row-level security)."""
    if scope is not None and street_code not in scope:
        return pd.DataFrame(columns=GRID_NAME_COLUMNS)
    q = (
        select(grid.c.code, grid.c.name_zh, grid.c.kind)
        .where(grid.c.street_code == street_code)
        .order_by(grid.c.code)
    )
    return pd.DataFrame(conn.execute(q).all(), columns=GRID_NAME_COLUMNS)
