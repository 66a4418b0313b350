"""Queries only the command screen needs: its alert strip and street ranking.

Everything else on the screen reuses the overview, heat-map and throughput
queries. Times are naive local time (the contract's rule); durations are in
minutes. No function here returns personal data (no address, reporter name
or phone is selected).
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Connection, and_, literal, or_, select

import rollups
from data_access.area import in_area, milestone_in_order, target_minutes
from data_access.config import SiteConfig
from data_access.filters import AreaFilter
from data_access.schema import OPEN_STATUSES, warning
from data_access.sqlfn import minutes_between
from metrics import heatmap, throughput
from rollups import clean_incidents

#: The milestone whose target the screen judges (到场, on site).
ON_SITE = "arrived"

RANKING_COLUMNS = ["street_code", "judged", "on_time_share", "rank", "callout"]


def street_ranking(
    conn: Connection, f: AreaFilter, now: datetime, cfg: SiteConfig, milestone: str = ON_SITE
) -> pd.DataFrame:
    """Streets of the area ranked by on-time share of ``milestone`` for cases
    reported in the window (judged as in :mod:`metrics.throughput_judging`).

    Columns: ``street_code``, ``judged`` (cases), ``on_time_share`` (0-1),
    ``rank`` (1 = best), ``callout`` (``top``/``bottom``/``""``: only a
    street with ``ranking.min_judged`` judged cases is called out, ties
    together; see :func:`metrics.throughput.rank_by_ontime`). Best first;
    streets with nothing judged are left out.
    """
    per_street = throughput.ontime_by_milestone(conn, f, now, cfg, by="street")
    rows = per_street.loc[per_street["milestone"] == milestone]
    wide = rows.rename(
        columns={"judged": f"{milestone}_judged", "on_time_share": f"{milestone}_on_time_share"}
    )
    if wide.empty:
        return pd.DataFrame(columns=RANKING_COLUMNS)
    ranked = throughput.rank_by_ontime(wide, milestone, min_judged=cfg.ranking_min_judged)
    return ranked[RANKING_COLUMNS]


LATE_ARRIVAL_COLUMNS = [
    "id",
    "street_code",
    "category",
    "status",
    "reported_at",
    "target_min",
    "arrived_min",
    "breached_at",
]


def late_arrivals(
    conn: Connection, f: AreaFilter, now: datetime, cfg: SiteConfig, hours: float = 1.0
) -> pd.DataFrame:
    """Cases of the area whose on-site target (到场) ran out within the last
    ``hours`` before ``now``: the target was missed, whether the worker
    arrived late or has not arrived yet. Newest breach first, at most
    ``database.row_cap`` rows. Dates of the filter are ignored (the window is
    the last ``hours``); category/source/status filters apply.

    A case breaches at ``reported_at + target`` (minutes, the target of its
    street/district, see ``SiteConfig.targets_for``). Judged like
    :mod:`metrics.throughput_judging`: cancelled cases never breach; a case
    without a target, or whose arrival is out of order, is left out; a case
    closed without an arrival time is left out (excluded, not late).

    Columns: ``id``, ``street_code``, ``category``, ``status``,
    ``reported_at``, ``target_min`` (minutes), ``arrived_min`` (minutes from
    report to arrival; NaN when not arrived), ``breached_at``
    (``reported_at + target_min``). Empty, without a query, on a site that
    sets no on-site target anywhere (nothing is judged).
    """
    if not cfg.judges(ON_SITE):
        return _typed_late_arrivals(pd.DataFrame(columns=LATE_ARRIVAL_COLUMNS[:-1]))
    d = conn.dialect.name
    longest = max(
        (
            ts.get(ON_SITE) or 0.0
            for ts in (cfg.default_targets, *(t for _, t in cfg.target_overrides))
        ),
        default=0.0,
    )
    earliest = now - timedelta(hours=hours, minutes=longest + 1)
    # The filter's window narrowed to those days keeps the de-duplication
    # (a scan for repeated ids) to a day or two of rows.
    window = replace(f, start=earliest.date(), end=now.date())
    inc = clean_incidents(window, now, rollup=rollups.state(conn, now))
    target = target_minutes(cfg, ON_SITE, inc)
    waited = minutes_between(inc.c.reported_at, literal(now), d)
    arrived = minutes_between(inc.c.reported_at, inc.c.arrived_at, d)
    closed = or_(inc.c.closed_at.is_not(None), inc.c.status == "closed")
    late = or_(
        and_(inc.c.arrived_at.is_not(None), arrived > target),
        and_(inc.c.arrived_at.is_(None), ~closed, inc.c.status.in_(OPEN_STATUSES)),
    )
    q = (
        select(
            inc.c.id,
            inc.c.street_code,
            inc.c.category,
            inc.c.status,
            inc.c.reported_at,
            target,
            arrived,
        )
        .where(
            inc.c.reported_at >= earliest,
            inc.c.status != "cancelled",
            target.is_not(None),
            milestone_in_order(inc, ON_SITE),
            waited > target,
            waited - target <= literal(hours * 60.0),
            late,
        )
        .order_by((waited - target).asc(), inc.c.id)
        .limit(cfg.row_cap)
    )
    return _typed_late_arrivals(
        pd.DataFrame(conn.execute(q).all(), columns=LATE_ARRIVAL_COLUMNS[:-1])
    )


def _typed_late_arrivals(frame: pd.DataFrame) -> pd.DataFrame:
    frame["reported_at"] = pd.to_datetime(frame["reported_at"])
    frame["target_min"] = pd.to_numeric(frame["target_min"]).astype("float64")
    frame["arrived_min"] = pd.to_numeric(frame["arrived_min"]).astype("float64")
    frame["breached_at"] = frame["reported_at"] + pd.to_timedelta(frame["target_min"], unit="min")
    return frame[LATE_ARRIVAL_COLUMNS]


NEW_RED_COLUMNS = ["id", "domain", "street_code", "raised_at"]


def new_red_warnings(
    conn: Connection, f: AreaFilter, now: datetime, cfg: SiteConfig, hours: float = 24.0
) -> pd.DataFrame:
    """Red warnings (``warning`` table, colours assigned by other systems)
    raised in the last ``hours`` before ``now`` and not cleared by ``now``,
    newest first, at most ``database.row_cap`` rows.

    Columns: ``id``, ``domain``, ``street_code``, ``raised_at``.
    """
    w = warning.c
    q = (
        select(w.id, w.domain, w.street_code, w.raised_at)
        .where(
            w.colour == "red",
            w.raised_at <= now,
            w.raised_at > now - timedelta(hours=hours),
            or_(w.cleared_at.is_(None), w.cleared_at > now),
            in_area(w.street_code, f),
        )
        .order_by(w.raised_at.desc(), w.id)
        .limit(cfg.row_cap)
    )
    frame = pd.DataFrame(conn.execute(q).all(), columns=NEW_RED_COLUMNS)
    frame["raised_at"] = pd.to_datetime(frame["raised_at"])
    return frame


ALERT_COLUMNS = [
    "kind",
    "at",
    "street_code",
    "ref",
    "subject",
    "subject_en",
    "people",
    "capacity",
    "load",
    "target_min",
]


def alerts(
    conn: Connection,
    f: AreaFilter,
    now: datetime,
    cfg: SiteConfig,
    case_hours: float = 1.0,
    warning_hours: float = 24.0,
) -> pd.DataFrame:
    """The alert strip: newest first, at most ``database.row_cap`` rows.

    - ``venue``: venues at or over ``map.venue_alert_share`` of capacity at
      the latest crowd reading (``at`` = start of that reading interval);
    - ``warning``: :func:`new_red_warnings` (``at`` = raised_at);
    - ``case``: :func:`late_arrivals` (``at`` = breached_at).

    Columns: ``kind``, ``at``, ``street_code``, ``ref`` (venue, warning or
    case id), ``subject`` / ``subject_en`` (venue name; warning domain code;
    case category code), ``people`` / ``capacity`` (persons, venues only),
    ``load`` (people / capacity, venues only), ``target_min`` (cases only).
    """
    rows: list[tuple[object, ...]] = []
    nan = math.nan
    latest = heatmap.crowd_span(conn, f, now)["latest"].iloc[0]
    if pd.notna(latest):
        venues = heatmap.venue_load(conn, f, latest.to_pydatetime(), cfg)
        for v in venues.loc[venues["level"] == "red"].itertuples():
            rows.append(
                ("venue", latest, v.street_code, str(v.id), v.name_zh, v.name_en or v.name_zh,
                 float(v.people), float(v.capacity), float(v.load), nan)  # type: ignore[arg-type]
            )  # fmt: skip
    for w in new_red_warnings(conn, f, now, cfg, warning_hours).itertuples():
        rows.append(
            ("warning", w.raised_at, w.street_code, str(w.id), w.domain, w.domain,
             nan, nan, nan, nan)
        )  # fmt: skip
    for c in late_arrivals(conn, f, now, cfg, case_hours).itertuples():
        rows.append(
            ("case", c.breached_at, c.street_code, str(c.id), c.category, c.category,
             nan, nan, nan, float(c.target_min))  # type: ignore[arg-type]
        )  # fmt: skip
    frame = pd.DataFrame(rows, columns=ALERT_COLUMNS)
    frame["at"] = pd.to_datetime(frame["at"])
    frame = frame.sort_values(["at", "kind", "ref"], ascending=[False, True, True], kind="stable")
    return frame.head(cfg.row_cap).reset_index(drop=True)
