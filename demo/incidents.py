"""The ``incident`` table: about 10-40 cases per street per day in proportion
to population, with the diurnal and weekly rhythm and the source and category
mix of the domain brief; each case's milestones (accepted, dispatched,
arrived, closed) with a right tail past the arrival target, stalled and
cancelled cases, and the status and outcome that follow; reporters' names,
phones and addresses; and the repeat hot spots (云上澜苑 in 河庄 and three
smaller ones). ``build_incidents`` appends the wrong rows of
:mod:`demo.bad_rows` when asked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from data_access import schema
from data_access.coords import wgs84_to_gcj02
from demo.bad_rows import _bad_incidents
from demo.common import GIVEN, SURNAMES, Rows, _floats, _rng, _ts_strings
from demo.geography import (
    HEZHUANG,
    SIJIQING,
    StreetExtras,
    StreetGeo,
    _nearest_grid,
    sample_in_street,
)

SOURCES = ("110", "patrol", "camera_ai", "hotline", "walk_in")
SOURCE_P = np.array([0.30, 0.25, 0.25, 0.15, 0.05])
CATEGORIES = (
    "neighbour_dispute",
    "family_dispute",
    "property_dispute",
    "renovation_noise",
    "market_dispute",
    "illegal_parking",
    "street_vending",
    "shop_spillover",
    "construction_waste",
    "other",
)
#: P(category | source), rows in SOURCES order, columns in CATEGORIES order.
CATEGORY_GIVEN_SOURCE = np.array(
    [
        [0.26, 0.16, 0.08, 0.14, 0.05, 0.12, 0.02, 0.02, 0.03, 0.12],  # 110
        [0.06, 0.02, 0.05, 0.04, 0.06, 0.20, 0.18, 0.22, 0.09, 0.08],  # patrol
        [0.00, 0.00, 0.00, 0.00, 0.00, 0.42, 0.24, 0.24, 0.10, 0.00],  # camera_ai
        [0.12, 0.03, 0.25, 0.22, 0.04, 0.12, 0.03, 0.04, 0.05, 0.10],  # hotline
        [0.30, 0.20, 0.20, 0.05, 0.10, 0.00, 0.00, 0.00, 0.00, 0.15],  # walk_in
    ]
)
#: Weekend multiplier per category (renovation noise and disputes up, works down).
WEEKEND_FACTOR = np.array([1.15, 1.2, 1.0, 1.3, 1.1, 0.9, 1.1, 1.0, 0.7, 1.0])
#: Day-of-week factor, Monday first.
WEEKDAY_FACTOR = np.array([1.03, 0.99, 0.97, 0.99, 1.04, 1.0, 0.96])
DISPUTES = {"neighbour_dispute", "family_dispute", "property_dispute", "market_dispute"}
#: Hour-of-day weights: daytime (peaks late morning and afternoon) and evening.
HOURS_DAY = np.array(
    [0.5, 0.3, 0.2, 0.2, 0.2, 0.4, 1.0, 2.0, 3.5, 5.0, 6.2, 6.5]
    + [5.0, 4.5, 5.5, 6.0, 6.0, 5.2, 4.5, 4.0, 3.5, 2.8, 1.8, 1.0]
)
HOURS_EVENING = np.array(
    [0.8, 0.4, 0.2, 0.2, 0.2, 0.3, 0.8, 1.8, 3.0, 3.8, 4.2, 4.0]
    + [3.5, 3.2, 3.5, 3.8, 4.0, 4.2, 4.8, 5.8, 6.2, 5.2, 3.2, 1.6]
)
EVENING_CATEGORIES = {"neighbour_dispute", "family_dispute", "renovation_noise"}

#: Incidents per resident per day in the urban core (四季青: 120,000 -> 35 a day).
INCIDENT_RATE = 35 / 120_000
#: Rate multiplier for the newer, sparser 钱塘区 (700+ cases in 河庄 in six months).
DISTRICT_RATE = {"330114": 0.45}
KIND_RATE = {"street": 1.0, "town": 0.6, "township": 0.5, "other": 0.6}


@dataclass(frozen=True)
class HotSpot:
    street: str
    name_zh: str
    lon: float  # WGS-84
    lat: float
    category: str
    sources: tuple[str, ...]
    per_day: float
    minimum: int
    maximum: int
    address: str
    evening: bool = True


HOT_SPOTS = (
    # 20+ renovation-noise calls at one resettlement estate (domain brief).
    HotSpot(
        HEZHUANG,
        "云上澜苑",
        120.4745,
        30.3035,
        "renovation_noise",
        ("110", "hotline"),
        0.30,
        12,
        60,
        "杭州市钱塘区河庄街道云上澜苑{b}幢{u}单元",
    ),
    HotSpot(
        "330105009",
        "祥符农贸市场",
        120.1150,
        30.3180,
        "market_dispute",
        ("110", "walk_in", "patrol"),
        0.10,
        4,
        30,
        "杭州市拱墅区祥符街道祥符农贸市场{b}号摊位",
        evening=False,
    ),
    HotSpot(
        SIJIQING,
        "来福士广场东侧",
        120.2115,
        30.2525,
        "illegal_parking",
        ("camera_ai", "patrol"),
        0.12,
        4,
        30,
        "杭州市上城区四季青街道新业路{b}号来福士广场东侧",
        evening=False,
    ),
    HotSpot(
        "330106013",
        "文新某小区",
        120.1000,
        30.2950,
        "neighbour_dispute",
        ("110", "hotline"),
        0.07,
        3,
        20,
        "杭州市西湖区文新街道文新花园{b}幢{u}单元",
    ),
)
HOTSPOT_KEY = "hotspot_yunshang_lanyuan"


def _lognormal(rng: np.random.Generator, median: float, sigma: float, n: int) -> np.ndarray:
    return np.asarray(median * np.exp(sigma * rng.standard_normal(n)))


def _names(rng: np.random.Generator, n: int) -> list[str]:
    sur = rng.integers(0, len(SURNAMES), n)
    g1 = rng.integers(0, len(GIVEN), n)
    g2 = rng.integers(0, len(GIVEN), n)
    two = rng.random(n) < 0.7
    return [
        SURNAMES[a] + GIVEN[b] + (GIVEN[c] if t else "")
        for a, b, c, t in zip(sur.tolist(), g1.tolist(), g2.tolist(), two.tolist(), strict=True)
    ]


def _phones(rng: np.random.Generator, n: int) -> list[str]:
    second = np.array([3, 5, 7, 8, 9])[rng.integers(0, 5, n)]
    rest = rng.integers(0, 10**9, n)
    return [f"1{a}{b:09d}" for a, b in zip(second.tolist(), rest.tolist(), strict=True)]


def _addresses(
    rng: np.random.Generator, street: StreetGeo, district_zh: str, extras: StreetExtras, n: int
) -> list[str]:
    prefix = f"杭州市{district_zh}{street.name_zh}"
    home = rng.random(n) < 0.55
    road = rng.integers(0, len(extras.roads), n)
    est = rng.integers(0, len(extras.estates), n)
    num = rng.integers(1, 400, n)
    b = rng.integers(1, 30, n)
    u = rng.integers(1, 5, n)
    fl = rng.integers(1, 19, n)
    rm = rng.integers(1, 5, n)
    out = []
    for i in range(n):
        if home[i]:
            out.append(f"{prefix}{extras.estates[est[i]]}{b[i]}幢{u[i]}单元{fl[i]}0{rm[i]}室")
        else:
            out.append(f"{prefix}{extras.roads[road[i]]}{num[i]}号")
    return out


def _street_rate(street: StreetGeo) -> float:
    """Expected incidents per day at scale 1."""
    return (
        street.population
        * INCIDENT_RATE
        * DISTRICT_RATE.get(street.district_code, 1.0)
        * KIND_RATE.get(street.kind, 1.0)
    )


INCIDENT_COLUMNS = [c.name for c in schema.incident.columns]


@dataclass
class _IncidentFrame:
    """Incident columns as arrays; times in seconds after the window start (NaN = NULL)."""

    street: list[str]
    grid: list[str | None]
    source: list[str]
    category: list[str]
    lon: np.ndarray  # GCJ-02
    lat: np.ndarray
    reported: np.ndarray
    accepted: np.ndarray
    dispatched: np.ndarray
    arrived: np.ndarray
    closed: np.ndarray
    status: list[str]
    outcome: list[str | None]
    address: list[str]
    reporter_name: list[str | None]
    reporter_phone: list[str | None]
    #: When a cancelled case is (or will be) cancelled; NaN for the others.
    cancelled_at: np.ndarray

    def __len__(self) -> int:
        return len(self.street)


def _concat(frames: Sequence[_IncidentFrame]) -> _IncidentFrame:
    def cat_list(name: str) -> list[Any]:
        out: list[Any] = []
        for f in frames:
            out.extend(getattr(f, name))
        return out

    def cat_arr(name: str) -> np.ndarray:
        return np.concatenate([getattr(f, name) for f in frames]) if frames else np.zeros(0)

    arrays = {
        "lon",
        "lat",
        "reported",
        "accepted",
        "dispatched",
        "arrived",
        "closed",
        "cancelled_at",
    }
    fields: dict[str, Any] = {
        name: (cat_arr(name) if name in arrays else cat_list(name))
        for name in _IncidentFrame.__dataclass_fields__
    }
    return _IncidentFrame(**fields)


def case_life(
    rng: np.random.Generator,
    street: StreetGeo,
    reported: np.ndarray,
    source: np.ndarray,
    category: Sequence[str],
) -> dict[str, Any]:
    """Each case's whole life, in the seconds of ``reported``: the times of
    its milestones (NaN = never: a stalled or cancelled case), when it is
    cancelled (``cancelled_at``, NaN = never) and its final ``outcome``.
    :func:`as_of` cuts a life at an instant; the live source
    (:mod:`demo.live`) applies the rest as its times pass."""
    n = reported.size
    camera = source == SOURCES.index("camera_ai")
    acc_min = np.where(camera, _lognormal(rng, 0.3, 0.5, n), _lognormal(rng, 0.5, 0.5, n))
    disp_min = acc_min + _lognormal(rng, 1.4, 0.45, n)
    if street.code == SIJIQING:
        target, body_a, body_b, p_breach = 5.0, 9.0, 1.2, 0.07
    else:
        target, body_a, body_b = 8.0, 5.0, 1.8
        p_breach = float(_rng(0, "breach", street.code).uniform(0.05, 0.10))
    hour = (reported % 86400) // 3600
    p = np.where((hour >= 17) & (hour <= 19), p_breach * 1.5, p_breach)
    p = np.where(hour < 6, p_breach * 1.3, p)
    breach = rng.random(n) < p
    arr_min = np.where(
        breach,
        target + _lognormal(rng, 2.5, 0.9, n),
        target * rng.beta(body_a, body_b, n),
    )
    arr_min = np.maximum(arr_min, disp_min + 0.3 + 0.5 * rng.random(n))
    cats = np.array(category)
    close_median_h = np.where(
        cats == "property_dispute",
        8.0,
        np.where(np.isin(cats, list(DISPUTES)), 2.5, np.where(camera, 0.7, 1.5)),
    )
    close_h = close_median_h * np.exp(1.15 * rng.standard_normal(n))
    close_min = arr_min + np.maximum(close_h * 60.0, 5.0)

    acc = np.round(reported + acc_min * 60)
    disp = np.round(reported + disp_min * 60)
    arr = np.round(reported + arr_min * 60)
    clo = np.round(reported + close_min * 60)

    # Cases that stall (never closed yet), and cancelled ones.
    u = rng.random(n)
    stuck_on_site = u < 0.015
    stuck_dispatched = (u >= 0.015) & (u < 0.018)
    false_alarm = camera & (rng.random(n) < 0.08)
    withdrawn = (source == SOURCES.index("110")) & (rng.random(n) < 0.01)
    cancelled = false_alarm | withdrawn
    cancel_at = np.where(rng.random(n) < 0.5, disp, acc) + np.round(60 + 600 * rng.random(n))
    cancel_closed = rng.random(n) < 0.6

    clo = np.where(stuck_on_site | stuck_dispatched, np.nan, clo)
    arr = np.where(stuck_dispatched, np.nan, arr)
    disp_c = np.where(rng.random(n) < 0.5, disp, np.nan)  # cancelled: sometimes dispatched
    disp = np.where(cancelled, np.where(cancel_at > disp, disp_c, np.nan), disp)
    arr = np.where(cancelled, np.nan, arr)
    clo = np.where(cancelled, np.where(cancel_closed, cancel_at, np.nan), clo)

    dispute = np.isin(cats, list(DISPUTES | {"renovation_noise"}))
    v = rng.random(n)
    outcome = np.where(
        dispute,
        np.where(
            v < 0.60,
            "mediated",
            np.where(v < 0.97, "resolved", np.where(v < 0.985, "unresolved", "referred")),
        ),
        np.where(v < 0.975, "resolved", np.where(v < 0.985, "unresolved", "referred")),
    ).astype(object)
    return {
        "accepted": acc,
        "dispatched": disp,
        "arrived": arr,
        "closed": clo,
        "cancelled_at": np.where(cancelled, cancel_at, np.nan),
        "outcome": outcome,
    }


def as_of(life: dict[str, Any], horizon: float | np.ndarray) -> dict[str, Any]:
    """Cases' lives (:func:`case_life`) as recorded at ``horizon`` (same
    seconds; one instant, or one per case): the milestones that have
    happened, the status they give, and the outcome once closed."""
    acc, disp, arr, clo = (life[m] for m in ("accepted", "dispatched", "arrived", "closed"))
    cancel_at = life["cancelled_at"]
    cancelled = ~np.isnan(cancel_at)
    cancelled_now = cancelled & (cancel_at <= horizon)
    # Nothing after ``end`` has happened yet.
    acc = np.where(acc <= horizon, acc, np.nan)
    disp = np.where(disp <= horizon, disp, np.nan)
    arr = np.where(arr <= horizon, arr, np.nan)
    clo = np.where(clo <= horizon, clo, np.nan)
    clo = np.where(cancelled & ~cancelled_now, np.nan, clo)

    status = np.full(acc.shape, "open", dtype=object)
    status[~np.isnan(disp)] = "dispatched"
    status[~np.isnan(arr)] = "on_site"
    status[~np.isnan(clo)] = "closed"
    status[cancelled_now] = "cancelled"
    outcome = np.array(life["outcome"], dtype=object)
    outcome[status != "closed"] = None
    return {
        "accepted": acc,
        "dispatched": disp,
        "arrived": arr,
        "closed": clo,
        "status": status.tolist(),
        "outcome": outcome.tolist(),
    }


def _incidents_for_street(
    seed: int,
    street: StreetGeo,
    district_zh: str,
    extras: StreetExtras,
    dates: list[datetime],
    t0: datetime,
    horizon: float,
    scale: float,
    cut: bool = True,
    since: float = 0.0,
) -> _IncidentFrame:
    """One street's cases reported in ``(t0 + since, t0 + horizon]``
    (``t0`` a midnight for the hourly rules to read the time of day); their
    milestones as of ``horizon`` (``cut``), or their whole lives (the live
    source applies the rest later)."""
    rng = _rng(seed, "incident", street.code)
    lam = _street_rate(street) * scale
    joint = SOURCE_P[:, None] * CATEGORY_GIVEN_SOURCE  # (source, category)
    day_off = np.array([(d - t0).total_seconds() for d in dates])
    dow = np.array([d.weekday() for d in dates])
    weekend = dow >= 5
    cat_factor = np.where(weekend[:, None], WEEKEND_FACTOR[None, :], 1.0)  # (day, category)
    mean = lam * WEEKDAY_FACTOR[dow][:, None, None] * joint[None, :, :] * cat_factor[:, None, :]
    counts = rng.poisson(mean)  # (day, source, category)
    flat = counts.ravel()
    idx = np.repeat(np.arange(flat.size), flat)
    d_i, s_i, c_i = np.unravel_index(idx, counts.shape)
    n = idx.size
    evening = np.array([c in EVENING_CATEGORIES for c in CATEGORIES])[c_i]
    cdf_day = np.cumsum(HOURS_DAY) / HOURS_DAY.sum()
    cdf_eve = np.cumsum(HOURS_EVENING) / HOURS_EVENING.sum()
    u = rng.random(n)
    hour = np.where(evening, np.searchsorted(cdf_eve, u), np.searchsorted(cdf_day, u))
    reported = day_off[d_i] + hour * 3600 + rng.integers(0, 3600, n)
    keep = (reported > since) & (reported <= horizon)
    d_i, s_i, c_i, reported = d_i[keep], s_i[keep], c_i[keep], reported[keep].astype(np.float64)
    n = reported.size
    if n == 0:  # none in the window (the live source's windows are short)
        return _concat([])
    category = [CATEGORIES[i] for i in c_i.tolist()]
    source = [SOURCES[i] for i in s_i.tolist()]
    life = case_life(rng, street, reported, s_i, category)
    ms = as_of(life, horizon if cut else np.inf)
    lon_w, lat_w = sample_in_street(rng, street, n)
    grid = _nearest_grid(extras, lon_w, lat_w)
    lon, lat = wgs84_to_gcj02(lon_w, lat_w)
    names = _names(rng, n)
    phones = _phones(rng, n)
    camera = s_i == SOURCES.index("camera_ai")
    return _IncidentFrame(
        street=[street.code] * n,
        grid=list(grid),
        source=source,
        category=category,
        lon=np.asarray(lon),
        lat=np.asarray(lat),
        reported=reported,
        accepted=ms["accepted"],
        dispatched=ms["dispatched"],
        arrived=ms["arrived"],
        closed=ms["closed"],
        status=ms["status"],
        outcome=ms["outcome"],
        address=_addresses(rng, street, district_zh, extras, n),
        reporter_name=[None if c else x for c, x in zip(camera.tolist(), names, strict=True)],
        reporter_phone=[None if c else x for c, x in zip(camera.tolist(), phones, strict=True)],
        cancelled_at=life["cancelled_at"],
    )


def _hotspot_incidents(
    seed: int,
    spot: HotSpot,
    street: StreetGeo,
    extras: StreetExtras,
    days: int,
    t0: datetime,
    horizon: float,
    n: int | None = None,
) -> _IncidentFrame:
    """A hot spot's cases over ``days`` days from the midnight after
    ``t0``: its rate, clipped to its minimum and maximum (or ``n`` of them)."""
    rng = _rng(seed, "hotspot", spot.name_zh)
    if n is None:
        n = int(np.clip(round(days * spot.per_day), spot.minimum, spot.maximum))
    # Spread over the window, evenings and weekend mornings for noise.
    day = np.sort(rng.choice(max(days, 1), size=n, replace=n > max(days, 1)))
    hours = (
        np.array([8, 9, 10, 18, 19, 20, 21])
        if spot.evening
        else np.array([8, 9, 10, 11, 14, 15, 16])
    )
    hour = hours[rng.integers(0, hours.size, n)]
    start_day = (t0 + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    base = (start_day - t0).total_seconds()
    reported = base + day * 86400.0 + hour * 3600 + rng.integers(0, 3600, n)
    reported = np.where(reported > horizon, horizon - rng.integers(600, 7200, n), reported)
    reported = np.maximum(reported, 1.0)
    src_idx = np.array([SOURCES.index(s) for s in spot.sources])[
        rng.integers(0, len(spot.sources), n)
    ]
    category = [spot.category] * n
    life = case_life(rng, street, reported, src_idx, category)
    ms = as_of(life, horizon)
    jitter_lon = spot.lon + rng.normal(0, 0.00008, n)
    jitter_lat = spot.lat + rng.normal(0, 0.00008, n)
    grid = _nearest_grid(extras, jitter_lon, jitter_lat)
    lon, lat = wgs84_to_gcj02(jitter_lon, jitter_lat)
    # A handful of repeat callers from the same building.
    callers = _names(rng, 5)
    caller_phones = _phones(rng, 5)
    who = rng.integers(0, 5, n)
    camera = src_idx == SOURCES.index("camera_ai")
    b = rng.integers(1, 4, n) if spot.evening else rng.integers(1, 60, n)
    units = rng.integers(1, 3, n)
    address = [
        spot.address.format(b=3 if spot.evening else bb, u=uu)
        for bb, uu in zip(b.tolist(), units.tolist(), strict=True)
    ]
    return _IncidentFrame(
        street=[street.code] * n,
        grid=list(grid),
        source=[SOURCES[i] for i in src_idx.tolist()],
        category=category,
        lon=np.asarray(lon),
        lat=np.asarray(lat),
        reported=reported.astype(np.float64),
        accepted=ms["accepted"],
        dispatched=ms["dispatched"],
        arrived=ms["arrived"],
        closed=ms["closed"],
        status=ms["status"],
        outcome=ms["outcome"],
        address=address,
        reporter_name=[
            None if c else callers[w] for c, w in zip(camera.tolist(), who.tolist(), strict=True)
        ],
        reporter_phone=[
            None if c else caller_phones[w]
            for c, w in zip(camera.tolist(), who.tolist(), strict=True)
        ],
        cancelled_at=life["cancelled_at"],
    )


def _incident_rows(frame: _IncidentFrame, t0: datetime, ids: Sequence[str]) -> Rows:
    cols = [
        list(ids),
        frame.source,
        frame.category,
        frame.street,
        frame.grid,
        _floats(frame.lat),
        _floats(frame.lon),
        _ts_strings(t0, frame.reported),
        _ts_strings(t0, frame.accepted),
        _ts_strings(t0, frame.dispatched),
        _ts_strings(t0, frame.arrived),
        _ts_strings(t0, frame.closed),
        frame.status,
        frame.outcome,
        frame.address,
        frame.reporter_name,
        frame.reporter_phone,
    ]
    return list(zip(*cols, strict=True))


# Column order of ``_incident_rows``: must match INCIDENT_COLUMNS.
_INCIDENT_ORDER = [
    "id",
    "source",
    "category",
    "street_code",
    "grid_code",
    "lat",
    "lon",
    "reported_at",
    "accepted_at",
    "dispatched_at",
    "arrived_at",
    "closed_at",
    "status",
    "outcome",
    "address",
    "reporter_name",
    "reporter_phone",
]


def build_incidents(
    seed: int,
    streets: Sequence[StreetGeo],
    district_names: dict[str, str],
    extras: dict[str, StreetExtras],
    days: int,
    t0: datetime,
    end: datetime,
    scale: float,
    bad_rows: bool,
    progress: Callable[[float], None],
) -> tuple[Rows, dict[str, int]]:
    horizon = (end - t0).total_seconds()
    first = t0.replace(hour=0, minute=0, second=0, microsecond=0)
    dates = [first + timedelta(days=i) for i in range((end.date() - first.date()).days + 1)]
    frames = []
    counts: dict[str, int] = {}
    for i, s in enumerate(streets):
        frames.append(
            _incidents_for_street(
                seed, s, district_names[s.district_code], extras[s.code], dates, t0, horizon, scale
            )
        )
        progress((i + 1) / len(streets))
    by_code = {s.code: s for s in streets}
    for spot in HOT_SPOTS:
        if spot.street in by_code:
            f = _hotspot_incidents(
                seed, spot, by_code[spot.street], extras[spot.street], days, t0, horizon
            )
            frames.append(f)
            if spot.street == HEZHUANG:
                counts[HOTSPOT_KEY] = len(f)
    counts.setdefault(HOTSPOT_KEY, 0)
    frame = _concat(frames)
    order = np.lexsort((np.arange(len(frame)), frame.reported))
    frame = _take(frame, order)
    day_text = [t[:10].replace("-", "") for t in _ts_strings(t0, frame.reported) if t]
    ids = [f"E{d}{i + 1:07d}" for i, d in enumerate(day_text)]
    rows = _incident_rows(frame, t0, ids)
    if bad_rows:
        bad, bad_counts = _bad_incidents(seed, rows, len(ids), t0, end, horizon)
        rows.extend(bad)
        counts.update(bad_counts)
    return rows, counts


def _take(frame: _IncidentFrame, order: np.ndarray) -> _IncidentFrame:
    idx = order.tolist()
    out: dict[str, Any] = {}
    for name in _IncidentFrame.__dataclass_fields__:
        v = getattr(frame, name)
        out[name] = v[order] if isinstance(v, np.ndarray) else [v[i] for i in idx]
    return _IncidentFrame(**out)


assert _INCIDENT_ORDER == INCIDENT_COLUMNS, "incident column order drifted from the schema"
