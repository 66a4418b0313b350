"""The weekly review's comparisons: this week against last week, the same
week last year and the mean of the four weeks before (:func:`comparison`,
the ``comparison`` table), and the street league table with its movers
(:func:`street_league`, the ``streets`` table).

Changes of counts carry the Poisson significance mark used in CompStat-style
reviews: ``z = 2 * (sqrt(current) - sqrt(previous))``; ``|z| > 2`` is
flagged. Shares are compared in percentage points; stocks (backlog,
colours, crowd peaks) by their absolute change only.
"""

from __future__ import annotations

import math
from datetime import datetime

import pandas as pd
from sqlalchemy import Connection

from data_access.area import area_streets
from data_access.config import SiteConfig
from data_access.filters import AreaFilter
from data_access.schema import street
from metrics import warnings
from metrics.warning_rules import WarningRules
from metrics.weekly_figures import _FLOW_BY_STREET, case_flow, ontime_per_street
from metrics.weekly_model import TABLE_COLUMNS, TREND_OFFSETS, IsoWeek, review_weeks

# ---------------------------------------------------------------------------
# Significance (pure Python)

SIGNIFICANCE_Z = 2.0


def poisson_z(current: float, previous: float) -> float:
    """``2 * (sqrt(current) - sqrt(previous))`` for two counts; NaN when
    either is missing or negative. Under "no change" it is roughly standard
    normal, so ``|z| > 2`` marks a change unlikely to be chance."""
    if current is None or previous is None:
        return math.nan
    c, p = float(current), float(previous)
    if math.isnan(c) or math.isnan(p) or c < 0 or p < 0:
        return math.nan
    return 2.0 * (math.sqrt(c) - math.sqrt(p))


def significant(z: float) -> bool:
    """True when ``|z| > 2`` (NaN is never significant)."""
    return bool(not math.isnan(z) and abs(z) > SIGNIFICANCE_Z)


def proportion_z(k1: float, n1: float, k0: float, n0: float) -> float:
    """Two-proportion z score of ``k1/n1`` against ``k0/n0`` (pooled); NaN
    when either denominator is 0 or every case went the same way."""
    if not n1 or not n0:
        return math.nan
    p = (k1 + k0) / (n1 + n0)
    se = math.sqrt(p * (1 - p) * (1 / n1 + 1 / n0))
    if se == 0:
        return math.nan
    return (k1 / n1 - k0 / n0) / se


# ---------------------------------------------------------------------------
# This week against the others

#: The milestone the league table and movers rank on.
HEADLINE_MILESTONE = "arrived"
#: A street is a mover candidate only with at least this many judged cases
#: in both weeks: below it one late case swings the rate by 10+ points.
MOVER_MIN_JUDGED = 10
#: Movers listed each way.
MOVERS_EACH_WAY = 3


def comparison(series: pd.DataFrame, week: IsoWeek) -> pd.DataFrame:
    """This week against last week, the same week last year and the mean of
    the four weeks before, one row per (section, metric, code) of
    :func:`weekly_series`. Columns: see ``TABLE_COLUMNS["comparison"]``;
    ``change`` = this - other (counts/stocks in their unit, shares in 0-1,
    i.e. 0.05 = 5 percentage points); ``z``/``significant`` only for counts.
    """
    w = review_weeks(week)
    keys = ["section", "metric", "code", "kind"]
    order = series[keys].drop_duplicates()
    wide = series.set_index([*keys, "week"])["value"].unstack("week")
    wide = wide.reindex(pd.MultiIndex.from_frame(order))
    before = [w[f"w{k}"].label for k in TREND_OFFSETS[:-1]]
    out = pd.DataFrame(index=wide.index).reset_index()

    def col(label: str) -> pd.Series:
        return (
            wide[label].reset_index(drop=True)
            if label in wide.columns
            else pd.Series([math.nan] * len(out))
        )

    out["this_week"] = col(w["this"].label)
    out["last_week"] = col(w["last"].label)
    out["last_year"] = col(w["last_year"].label)
    out["mean_4_weeks_before"] = pd.concat([col(b) for b in before], axis=1).mean(
        axis=1, skipna=False
    )
    for other, suffix in (("last_week", ""), ("last_year", "_last_year")):
        out[f"change{suffix}"] = out["this_week"] - out[other]
        zs = [
            poisson_z(a, b) if kind == "count" else math.nan
            for a, b, kind in zip(out["this_week"], out[other], out["kind"], strict=True)
        ]
        out[f"z{suffix}"] = zs
        out[f"significant{suffix}"] = [significant(z) for z in zs]
    return out[TABLE_COLUMNS["comparison"]].reset_index(drop=True)


def street_league(
    conn: Connection,
    f: AreaFilter,
    now: datetime,
    cfg: SiteConfig,
    week: IsoWeek,
    rules: WarningRules | None = None,
    ontime: dict[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """One row per street of the area: the week's cases against last week's
    (Poisson mark), closure rate and backlog at the week's end, on-time
    share of ``HEADLINE_MILESTONE`` this and last week, red warning items at
    the week's end (all domains), ``rank`` (1 = best on-time share; streets
    with nothing judged are unranked) and ``mover`` (``improved`` /
    ``slipped`` / ``""``: the ``MOVERS_EACH_WAY`` largest changes of on-time
    share each way among streets with at least ``MOVER_MIN_JUDGED`` judged
    cases in both weeks). Columns: ``TABLE_COLUMNS["streets"]``; shares 0-1.
    """
    this, last = week, week.shift(-1)
    base = pd.DataFrame(
        [r[0] for r in conn.execute(area_streets(f).order_by(street.c.code))],
        columns=["street_code"],
    )
    # weekly_series leaves the by-street flow of every review week (this and
    # last week included; a week before the first case has no rows, i.e.
    # zeros, exactly as the query would give).
    flow = (ontime or {}).get(_FLOW_BY_STREET)
    if flow is None:
        flow = case_flow(conn, f, now, (this, last), by="street")
    cur = flow[flow["week"] == this.label].set_index("street_code")
    prev = flow[flow["week"] == last.label].set_index("street_code")
    out = base.copy()
    codes = out["street_code"]
    out["cases"] = codes.map(cur["cases"]).fillna(0).astype("int64")
    out["cases_last_week"] = codes.map(prev["cases"]).fillna(0).astype("int64")
    out["change"] = out["cases"] - out["cases_last_week"]
    out["z"] = [poisson_z(a, b) for a, b in zip(out["cases"], out["cases_last_week"], strict=True)]
    out["significant"] = [significant(z) for z in out["z"]]
    closed = codes.map(cur["closed_by_end"]).fillna(0)
    out["closure_rate"] = (closed / out["cases"].where(out["cases"] > 0)).astype(float)
    out["backlog_at_end"] = codes.map(cur["backlog_at_end"]).fillna(0).astype("int64")

    known = {} if ontime is None else ontime

    def headline(w: IsoWeek) -> pd.DataFrame:
        got = known.get(w.label)
        if got is None:
            got = ontime_per_street(conn, f, now, cfg, w)
        return got[got["milestone"] == HEADLINE_MILESTONE].set_index("street_code")

    on_now, on_prev = headline(this), headline(last)
    out["judged"] = codes.map(on_now["judged"]).fillna(0).astype("int64")
    out["ontime_share"] = codes.map(on_now["on_time_share"]).astype(float)
    out["judged_last_week"] = codes.map(on_prev["judged"]).fillna(0).astype("int64")
    out["ontime_share_last_week"] = codes.map(on_prev["on_time_share"]).astype(float)
    out["ontime_change"] = out["ontime_share"] - out["ontime_share_last_week"]
    k1 = codes.map(on_now["on_time"]).fillna(0)
    k0 = codes.map(on_prev["on_time"]).fillna(0)
    out["ontime_z"] = [
        proportion_z(a, n, b, m)
        for a, n, b, m in zip(k1, out["judged"], k0, out["judged_last_week"], strict=True)
    ]
    red = pd.Series(0, index=codes.values, dtype="int64")
    if rules is not None:
        for domain in rules.domains:
            dist = warnings.distribution(conn, f, this.as_of(now), rules, domain)
            red = red.add(dist.set_index("street_code")["red"], fill_value=0)
    out["red_at_end"] = codes.map(red).fillna(0).astype("int64")

    ranked = out[out["judged"] > 0].sort_values(
        ["ontime_share", "judged", "street_code"], ascending=[False, False, True]
    )
    out["rank"] = codes.map(
        pd.Series(range(1, len(ranked) + 1), index=ranked["street_code"])
    ).astype("Int64")
    eligible = out[
        (out["judged"] >= MOVER_MIN_JUDGED) & (out["judged_last_week"] >= MOVER_MIN_JUDGED)
    ]
    up = eligible[eligible["ontime_change"] > 0].nlargest(MOVERS_EACH_WAY, "ontime_change")
    down = eligible[eligible["ontime_change"] < 0].nsmallest(MOVERS_EACH_WAY, "ontime_change")
    out["mover"] = ""
    out.loc[out["street_code"].isin(up["street_code"]), "mover"] = "improved"
    out.loc[out["street_code"].isin(down["street_code"]), "mover"] = "slipped"
    out = out.sort_values(["rank", "street_code"], na_position="last", kind="stable")
    return out[TABLE_COLUMNS["streets"]].reset_index(drop=True)


__all__ = [
    "comparison",
    "poisson_z",
    "street_league",
]
