"""The weekly review's figures: every figure of every week a review reads
(:func:`weekly_series`, the review's ``weeks`` table), and the queries, one
row per week (and street), for the figures no other module has.

Every figure of a week is evaluated *as of the end of that week* (capped at
``now``), so a pack generated today or next month for 2026-W47 shows the
same numbers, and a week is compared with its predecessor on equal terms
(an old week has not had more time to close its cases):

- ``cases``: cases reported in the week (deduplicated, area and
  category/source filters), by category and by source;
- ``closure_rate``: of those, the share closed by the end of the week
  (status ``closed`` with ``closed_at`` before the week's end);
  ``backlog_at_end``: cases of the area, whenever reported, not cancelled
  and not closed at the week's end;
- ``ontime_share`` per milestone: :func:`metrics.throughput.ontime_by_milestone`
  for the week's cases, judged as of the week's end (a milestone recorded
  later counts with its recorded time);
- warning colours per domain at the week's end: :func:`metrics.warnings.trend`;
- ``petitions_opened`` (received in the week) and ``petitions_closed``
  (:func:`metrics.warnings.petition_closures`);
- crowd peaks: the largest head count of one cell in one reading, and the
  largest area total of one reading time (persons).

A week that ends before the area's first recorded case has no data: its
figures are NaN ("—"), never zeros.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, and_, case, func, literal, or_, select

import rollups
from data_access.area import area_extreme, in_area
from data_access.config import SiteConfig
from data_access.filters import AreaFilter
from data_access.schema import MILESTONES, crowd_reading, incident, petition
from data_access.sqlfn import count_if
from metrics import throughput, warnings
from metrics.warning_rules import WarningRules
from metrics.weekly_model import TABLE_COLUMNS, IsoWeek, records, review_weeks
from rollups import clean_incidents, disjoint_spans

# ---------------------------------------------------------------------------
# Queries: one row per week (and street) for the figures no other module has


def _span(weeks: Iterable[IsoWeek]) -> tuple[datetime, datetime]:
    ws = list(weeks)
    return min(w.start_ts for w in ws), max(w.end_ts for w in ws)


def _week_label(col: Any, weeks: list[IsoWeek]) -> Any:
    return case(
        *((and_(col >= w.start_ts, col < w.end_ts), literal(w.label)) for w in weeks),
        else_=None,
    )


CASE_MIX_COLUMNS = ["week", "category", "source", "cases"]


def case_mix(
    conn: Connection, f: AreaFilter, now: datetime, weeks: tuple[IsoWeek, ...]
) -> pd.DataFrame:
    """Cases reported in each of ``weeks`` (and by ``now``) per category and source.

    Deduplicated, area and category/source/status filters; the filter's
    dates are ignored. Columns: ``week`` (``YYYY-Www``), ``category``,
    ``source`` (codes; NULL kept), ``cases`` (count). Only non-empty groups.
    """
    parts = []
    for w in weeks:
        inc = clean_incidents(w.area(f), now, rollup=rollups.state(conn, now))
        q = (
            select(literal(w.label).label("week"), inc.c.category, inc.c.source, func.count())
            .group_by(inc.c.category, inc.c.source)
            .order_by(inc.c.category, inc.c.source)
        )
        parts.append(pd.DataFrame(conn.execute(q).all(), columns=CASE_MIX_COLUMNS))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if frame.empty:
        return pd.DataFrame(columns=CASE_MIX_COLUMNS)
    return frame.astype({"cases": "int64"})


CASE_FLOW_COLUMNS = ["week", "street_code", "cases", "closed_by_end", "backlog_at_end"]


def case_flow(
    conn: Connection,
    f: AreaFilter,
    now: datetime,
    weeks: tuple[IsoWeek, ...],
    by: str = "area",
) -> pd.DataFrame:
    """Per week (and street when ``by="street"``): ``cases`` reported in the
    week, ``closed_by_end`` (of those, status closed with ``closed_at``
    before the week's end), ``backlog_at_end`` (cases of the area reported
    before the week's end, whenever, not cancelled and not closed by then;
    a closed case without ``closed_at`` counts as closed). Counts; each week
    as of its end capped at ``now``. ``street_code`` is NULL for the area;
    with ``by="street"`` only streets with a non-zero figure are listed.
    """
    if by not in ("area", "street"):
        raise ValueError(f"unknown grouping {by!r}")
    if not weeks:
        return pd.DataFrame(columns=CASE_FLOW_COLUMNS)
    state = rollups.state(conn, now)
    inc = clean_incidents(
        f, now, window=False, rollup=state, rolled_spans=_flow_spans(weeks, now, state)
    )
    r, c, status = inc.c.reported_at, inc.c.closed_at, inc.c.status
    cols: list[Any] = []
    for i, w in enumerate(weeks):
        end = w.as_of(now)
        closed_by_end = and_(status == "closed", or_(c.is_(None), c < end))
        in_week = and_(r >= w.start_ts, r < end)
        cols += [
            count_if(in_week).label(f"cases_{i}"),
            count_if(and_(in_week, status == "closed", c < end)).label(f"closed_{i}"),
            count_if(and_(r < end, status != "cancelled", ~closed_by_end)).label(f"backlog_{i}"),
        ]
    group = [inc.c.street_code] if by == "street" else []
    q = (
        select(*group, *cols)
        .select_from(inc)
        .where(r < _span(weeks)[1])
        .group_by(*group)
        .order_by(*group)
    )
    rows = []
    for rec in conn.execute(q).mappings().all():
        for i, w in enumerate(weeks):
            vals = [int(rec[f"{k}_{i}"] or 0) for k in ("cases", "closed", "backlog")]
            if by == "street" and not any(vals):
                continue
            rows.append([w.label, rec["street_code"] if by == "street" else None, *vals])
    if by == "area" and not rows:
        rows = [[w.label, None, 0, 0, 0] for w in weeks]
    frame = pd.DataFrame(rows, columns=CASE_FLOW_COLUMNS)
    return frame.astype({k: "int64" for k in CASE_FLOW_COLUMNS[2:]})


def _flow_spans(
    weeks: tuple[IsoWeek, ...], now: datetime, state: rollups.RollupState | None
) -> list[tuple[datetime, datetime]] | None:
    """The ``reported_at`` ranges of the rolled-up cases that can count in
    :func:`case_flow`: each week, and the time before its end within which a
    rolled-up case may still have been open then (the longest
    reported-to-closed time in the rollup, plus a minute). Every other
    rolled-up case was closed or cancelled before the week and reported
    outside it. None (read everything) without a rollup."""
    if state is None or state.max_closed_min is None:
        return None
    reach = timedelta(minutes=state.max_closed_min + 1)
    return disjoint_spans([(min(w.start_ts, w.as_of(now) - reach), w.as_of(now)) for w in weeks])


#: Key under which :func:`weekly_series` leaves its by-street case flow in
#: the shared ``ontime`` memo for :func:`street_league`.
_FLOW_BY_STREET = "__case_flow_by_street__"


def _area_flow(by_street: pd.DataFrame, weeks: tuple[IsoWeek, ...]) -> pd.DataFrame:
    """:func:`case_flow` ``by="area"`` from its ``by="street"`` frame: every
    clean case has one street, so the area's counts are the sums (a week
    without a listed street is all zeros, as the area query gives it)."""
    sums = by_street.groupby("week")[CASE_FLOW_COLUMNS[2:]].sum()
    rows = [
        [
            w.label,
            None,
            *(
                int(sums.at[w.label, c]) if w.label in sums.index else 0  # type: ignore[arg-type]
                for c in CASE_FLOW_COLUMNS[2:]
            ),
        ]
        for w in weeks
    ]
    frame = pd.DataFrame(rows, columns=CASE_FLOW_COLUMNS)
    return frame.astype({k: "int64" for k in CASE_FLOW_COLUMNS[2:]})


PETITION_COLUMNS = ["week", "petitions_opened"]


def petitions_opened(
    conn: Connection, f: AreaFilter, now: datetime, weeks: tuple[IsoWeek, ...]
) -> pd.DataFrame:
    """Petitions of the area received in each week (and by ``now``).

    Columns: ``week``, ``petitions_opened`` (count); every week listed.
    """
    if not weeks:
        return pd.DataFrame(columns=PETITION_COLUMNS)
    label = _week_label(petition.c.received_at, list(weeks))
    start, end = _span(weeks)
    q = (
        select(label.label("week"), func.count())
        .where(
            in_area(petition.c.street_code, f),
            petition.c.received_at >= start,
            petition.c.received_at < end,
            petition.c.received_at <= now,
            label.is_not(None),
        )
        .group_by(label)
    )
    got: dict[Any, Any] = {row[0]: row[1] for row in conn.execute(q)}
    return pd.DataFrame(
        [(w.label, int(got.get(w.label, 0) or 0)) for w in weeks], columns=PETITION_COLUMNS
    )


CROWD_PEAK_COLUMNS = ["week", "peak_cell_people", "peak_area_people", "peak_area_at"]


def crowd_peaks(
    conn: Connection, f: AreaFilter, now: datetime, weeks: tuple[IsoWeek, ...]
) -> pd.DataFrame:
    """Peak crowds of each week (readings at or before ``now``).

    Columns: ``week``, ``peak_cell_people`` (largest head count of one cell
    in one reading, persons), ``peak_area_people`` (largest total of the
    area's cells at one reading time, persons), ``peak_area_at`` (that
    reading's start, naive local time). NaN/NaT for a week without readings.
    Totals per reading time are summed in the database; at most one row per
    15-minute reading reaches Python.
    """
    if not weeks:
        return pd.DataFrame(columns=CROWD_PEAK_COLUMNS)
    c = crowd_reading.c
    # One scan for all the weeks: per reading time, the area's total and its
    # busiest cell (two scans per week took 1.2 s for 拱墅 at city scale).
    per_ts = pd.DataFrame(
        conn.execute(
            select(c.ts, func.sum(c.people), func.max(c.people))
            .where(
                in_area(c.street_code, f),
                or_(*(and_(c.ts >= w.start_ts, c.ts < w.end_ts) for w in weeks)),
                c.ts <= now,
                c.people.is_not(None),
            )
            .group_by(c.ts)
        ).all(),
        columns=["ts", "total", "cell_max"],
    )
    per_ts["ts"] = pd.to_datetime(per_ts["ts"])
    rows: list[tuple[str, float, float, Any]] = []
    for w in weeks:
        week = per_ts[(per_ts["ts"] >= w.start_ts) & (per_ts["ts"] < w.end_ts)]
        if week.empty:
            rows.append((w.label, math.nan, math.nan, pd.NaT))
            continue
        # Busiest total; the earliest reading time on a tie.
        top = week.sort_values(["total", "ts"], ascending=[False, True]).iloc[0]
        rows.append(
            (w.label, float(week["cell_max"].max()), float(top["total"]), pd.Timestamp(top["ts"]))
        )
    frame = pd.DataFrame(rows, columns=CROWD_PEAK_COLUMNS)
    frame["peak_area_at"] = pd.to_datetime(frame["peak_area_at"])
    return frame


def first_case_at(conn: Connection, f: AreaFilter, now: datetime) -> datetime | None:
    """The area's earliest ``reported_at`` at or before ``now`` (None without cases)."""
    r = incident.c.reported_at
    q = area_extreme(func.min, r, incident.c.street_code, f, r <= now, dialect=conn.dialect.name)
    value = conn.execute(q).scalar()
    return None if value is None else pd.Timestamp(value).to_pydatetime()


# ---------------------------------------------------------------------------
# The series: every figure of every week of the review


def _long(week: str, section: str, metric: str, code: str, kind: str, value: float) -> tuple:
    return (week, section, metric, code, kind, value)


def ontime_per_street(
    conn: Connection, f: AreaFilter, now: datetime, cfg: SiteConfig, w: IsoWeek
) -> pd.DataFrame:
    """:func:`metrics.throughput.ontime_by_milestone` per street for the
    week's cases, judged as of the week's end (columns as there)."""
    return throughput.ontime_by_milestone(conn, w.area(f), w.as_of(now), cfg, by="street")


def area_ontime(per_street: pd.DataFrame) -> pd.DataFrame:
    """Per-street on-time figures summed to the area: ``milestone``,
    ``judged``, ``on_time``, ``on_time_share`` (0-1, NaN when nothing judged)."""
    cols = ["milestone", "judged", "on_time", "on_time_share"]
    if per_street.empty:
        return pd.DataFrame(columns=cols)
    out = per_street.groupby("milestone", sort=False)[["judged", "on_time"]].sum().reset_index()
    out["on_time_share"] = (out["on_time"] / out["judged"].where(out["judged"] > 0)).astype(float)
    return out[cols]


#: The columns naming one figure of :func:`weekly_series` (all but week and value).
SERIES_KEYS = ["section", "metric", "code", "kind"]


def _total_keys(cfg: SiteConfig, rules: WarningRules | None) -> pd.DataFrame:
    """The figures of :func:`weekly_series` that do not depend on which
    categories and sources occur, in its row order."""
    keys = [
        ("cases", "cases", "", "count"),
        ("handling", "closure_rate", "", "share"),
        ("handling", "backlog_at_end", "", "stock"),
        *(("handling", "ontime_share", m, "share") for m in MILESTONES if cfg.judges(m)),
        ("petitions", "opened", "", "count"),
        ("petitions", "closed", "", "count"),
        *(
            ("warnings", colour, domain, "stock")
            for domain in (rules.domains if rules is not None else ())
            for colour in ("red", "yellow", "green")
        ),
        ("crowds", "peak_area_people", "", "stock"),
        ("crowds", "peak_cell_people", "", "stock"),
    ]
    return pd.DataFrame(keys, columns=SERIES_KEYS)


def weekly_series(
    conn: Connection,
    f: AreaFilter,
    now: datetime,
    cfg: SiteConfig,
    week: IsoWeek,
    rules: WarningRules | None = None,
    ontime: dict[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Every figure of every week the review reads, long format.

    Columns: ``week`` (``YYYY-Www``), ``section`` (``cases``, ``handling``,
    ``warnings``, ``petitions``, ``crowds``), ``metric``, ``code`` (the
    category / source / milestone / colour-domain code, ``""`` for totals),
    ``kind`` (``count``, ``share``, ``stock``), ``value`` (count, share 0-1
    or persons; NaN when the week has no data). See the module docstring for
    each metric's definition.
    """
    weeks = review_weeks(week)
    first = first_case_at(conn, f, now)
    # A week that ended before the first recorded case has no data, not
    # zeros: its case, handling and warning figures are NaN, not queried.
    ordered = tuple(sorted(set(weeks.values())))
    no_data = [w for w in ordered if first is None or w.as_of(now) <= first]
    ordered = tuple(w for w in ordered if w not in no_data)
    ontime = {} if ontime is None else ontime
    rows: list[tuple] = []

    mix = case_mix(conn, f, now, ordered)
    categories = sorted(mix["category"].dropna().unique().tolist())
    sources = sorted(mix["source"].dropna().unique().tolist())
    # By street once: the area's flow is its sum, and the street league
    # reads this and last week's rows from it (one statement, not two).
    by_street = case_flow(conn, f, now, ordered, by="street")
    ontime[_FLOW_BY_STREET] = by_street
    flow: dict[Any, Any] = _area_flow(by_street, ordered).set_index("week").to_dict("index")
    opened: dict[Any, Any] = (
        petitions_opened(conn, f, now, ordered).set_index("week").to_dict("index")
    )
    peaks: dict[Any, Any] = crowd_peaks(conn, f, now, ordered).set_index("week").to_dict("index")
    colours: dict[str, pd.DataFrame] = {}
    if rules is not None:
        # One trend query per run of consecutive weeks (the recent block, last year's week).
        runs: list[list[IsoWeek]] = []
        for w in ordered:
            if runs and runs[-1][-1].shift(1) == w:
                runs[-1].append(w)
            else:
                runs.append([w])
        for domain in rules.domains:
            parts = [
                warnings.trend(
                    conn,
                    replace(f, start=run[0].monday, end=run[-1].sunday),
                    now,
                    rules,
                    domain,
                    freq="week",
                )
                for run in runs
            ]
            if parts:  # no week with data: no colours to read
                colours[domain] = pd.concat(parts, ignore_index=True)

    for w in ordered:
        wk = w.label
        mw = mix[mix["week"] == wk]
        rows.append(_long(wk, "cases", "cases", "", "count", float(mw["cases"].sum())))
        for code in categories:
            n = float(mw.loc[mw["category"] == code, "cases"].sum())
            rows.append(_long(wk, "cases", "category", code, "count", n))
        for code in sources:
            n = float(mw.loc[mw["source"] == code, "cases"].sum())
            rows.append(_long(wk, "cases", "source", code, "count", n))

        fw = flow[wk]
        cases = float(fw["cases"])
        closure = float(fw["closed_by_end"]) / cases if cases else math.nan
        rows.append(_long(wk, "handling", "closure_rate", "", "share", closure))
        rows.append(
            _long(wk, "handling", "backlog_at_end", "", "stock", float(fw["backlog_at_end"]))
        )
        if wk not in ontime:
            ontime[wk] = ontime_per_street(conn, f, now, cfg, w)
        for rec in records(area_ontime(ontime[wk])):
            rows.append(
                _long(wk, "handling", "ontime_share", rec.milestone, "share", rec.on_time_share)
            )

        closed: dict[Any, Any] = (
            warnings.petition_closures(conn, w.area(f), w.as_of(now)).iloc[0].to_dict()
        )
        rows.append(
            _long(wk, "petitions", "opened", "", "count", float(opened[wk]["petitions_opened"]))
        )
        rows.append(
            _long(
                wk,
                "petitions",
                "closed",
                "",
                "count",
                float(closed["closed_on_time"] + closed["closed_late"]),
            )
        )
        for domain, frame in colours.items():
            hit = frame.loc[frame["bucket"] == w.monday.isoformat()]
            for colour in ("red", "yellow", "green"):
                value = float(hit[colour].iloc[0]) if not hit.empty else math.nan
                rows.append(_long(wk, "warnings", colour, domain, "stock", value))

        pk = peaks[wk]
        rows.append(_long(wk, "crowds", "peak_area_people", "", "stock", pk["peak_area_people"]))
        rows.append(_long(wk, "crowds", "peak_cell_people", "", "stock", pk["peak_cell_people"]))

    frame = pd.DataFrame(rows, columns=TABLE_COLUMNS["weeks"])
    if no_data:
        # The rows of a week with data, else (no week has any: a review
        # before the first case) the totals every week has, so the page and
        # the pack show "—" instead of finding no row at all.
        keys = (
            frame[frame["week"] == frame["week"].iloc[0]][SERIES_KEYS]
            if len(frame)
            else _total_keys(cfg, rules)
        )
        empty = [keys.assign(week=w.label, value=math.nan) for w in no_data]
        frame = pd.concat([*empty, frame], ignore_index=True)[TABLE_COLUMNS["weeks"]]
        frame = frame.sort_values("week", kind="stable").reset_index(drop=True)
    frame["value"] = frame["value"].astype(float)
    return frame


__all__ = [
    "case_flow",
    "case_mix",
    "crowd_peaks",
]
