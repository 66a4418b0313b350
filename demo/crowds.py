"""The ``crowd_reading`` and ``venue`` tables: 15-minute head counts on a
fixed ~500 m grid (cell ``g<ix>_<iy>``) over the dense urban core and the
venues' surroundings, for the last ``CROWD_DAYS`` days (fewer below scale
1): residents and workers by street, each venue's own visitors on its hourly
profile, and the fireworks evening at 城市阳台 on the most recent Saturday
whose show ended before ``end``. A venue's capacity is set from the
readings, so that only the fireworks exceed 城市阳台's and only the busiest
rush hours 杭州东站's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from data_access.coords import gcj02_to_wgs84, wgs84_to_gcj02
from demo.bad_rows import _bad_crowd
from demo.common import Rows, _rng, _ts_strings
from demo.geography import BUSINESS_WEIGHT, StreetGeo, _in_lake, street_of_points

#: Days of crowd readings at scale 1 (the most recent ones).
CROWD_DAYS = 14
#: Crowd coverage: every cell in streets at least this dense (residents per km²),
#: plus the cells around each venue and the fireworks riverside.
DENSE_PER_KM2 = 8000
FIREWORKS_ZONE_M = 2000
#: Crowd grid: origin and step in degrees (GCJ-02), about 500 m x 500 m.
CELL_LON0, CELL_LAT0, CELL_DLON, CELL_DLAT = 118.0, 29.0, 0.0052, 0.0045
CELL_KM2 = 0.25
STEP_S = 900  # crowd interval, seconds


@dataclass(frozen=True)
class VenueSpec:
    id: str
    name_zh: str
    name_en: str
    lon: float  # WGS-84
    lat: float
    radius_m: float
    #: Fallback alert threshold; the build sets it from the readings (see ``_capacity``).
    capacity: int
    #: Extra people at the venue at peak, weekday and weekend.
    peak_weekday: float
    peak_weekend: float
    #: Hour-of-day profile (24 weights, 1 = peak).
    profile: tuple[float, ...]


_RETAIL = (0.05, 0.03, 0.02, 0.02, 0.02, 0.05, 0.2, 0.45, 0.6, 0.7, 0.8, 0.85) + (
    0.85,
    0.85,
    0.9,
    0.95,
    0.95,
    0.95,
    1.0,
    1.0,
    0.9,
    0.6,
    0.3,
    0.1,
)
_HUB = (0.15, 0.05, 0.03, 0.03, 0.05, 0.25, 0.6, 0.9, 1.0, 0.85, 0.75, 0.75) + (
    0.8,
    0.8,
    0.8,
    0.85,
    0.9,
    1.0,
    1.0,
    0.9,
    0.8,
    0.7,
    0.55,
    0.3,
)
_RIVERSIDE = (0.05, 0.02, 0.01, 0.01, 0.01, 0.03, 0.1, 0.15, 0.2, 0.25, 0.3, 0.3) + (
    0.3,
    0.3,
    0.3,
    0.3,
    0.35,
    0.45,
    0.7,
    1.0,
    1.0,
    0.7,
    0.35,
    0.12,
)
_SCENIC = (0.02, 0.01, 0.01, 0.01, 0.02, 0.1, 0.3, 0.5, 0.7, 0.85, 0.95, 1.0) + (
    1.0,
    1.0,
    1.0,
    0.95,
    0.9,
    0.8,
    0.75,
    0.7,
    0.55,
    0.35,
    0.15,
    0.05,
)

VENUES = (
    VenueSpec(
        "V01",
        "武林商圈",
        "Wulin business circle",
        120.1625,
        30.2725,
        700,
        45_000,
        6_000,
        9_000,
        _RETAIL,
    ),
    VenueSpec(
        "V02",
        "杭州东站",
        "Hangzhou East railway hub",
        120.2130,
        30.2910,
        700,
        60_000,
        32_000,
        40_000,
        _HUB,
    ),
    VenueSpec(
        "V03",
        "城市阳台",
        "City Balcony (Qianjiang riverside)",
        120.2110,
        30.2430,
        1200,
        120_000,
        6_000,
        18_000,
        _RIVERSIDE,
    ),
    VenueSpec(
        "V04",
        "湖滨步行街",
        "Hubin pedestrian street",
        120.1620,
        30.2560,
        500,
        40_000,
        9_000,
        16_000,
        _RETAIL,
    ),
    VenueSpec(
        "V05", "嘉里中心", "Kerry Centre", 120.1665, 30.2665, 400, 25_000, 5_000, 8_000, _RETAIL
    ),
    VenueSpec(
        "V06",
        "西湖断桥",
        "Broken Bridge, West Lake",
        120.1510,
        30.2595,
        500,
        30_000,
        6_000,
        15_000,
        _SCENIC,
    ),
    VenueSpec(
        "V07", "西溪湿地", "Xixi Wetland", 120.0650, 30.2700, 1000, 40_000, 4_000, 14_000, _SCENIC
    ),
    VenueSpec(
        "V08", "金沙湖", "Jinsha Lake", 120.3220, 30.3050, 800, 30_000, 3_000, 9_000, _RIVERSIDE
    ),
)
FIREWORKS_VENUE = "V03"
FIREWORKS_PEAK = 380_000
#: Fireworks evening, (hour, share of the peak) on the Saturday; linear in between.
FIREWORKS_CURVE = (
    (17.5, 0.0),
    (18.0, 0.05),
    (19.0, 0.35),
    (19.75, 0.8),
    (20.0, 1.0),
    (21.0, 1.0),
    (21.5, 0.6),
    (22.0, 0.2),
    (22.5, 0.0),
)


def _piecewise(hours: np.ndarray, curve: Sequence[tuple[float, float]]) -> np.ndarray:
    xs = np.array([c[0] for c in curve])
    ys = np.array([c[1] for c in curve])
    return np.asarray(np.interp(hours, xs, ys, left=0.0, right=0.0))


#: Residents' share present by hour (1 = everyone home), weekday and weekend.
_RES_WEEKDAY = (1.0, 1.0, 1.0, 1.0, 1.0, 0.98, 0.95, 0.85, 0.75, 0.7, 0.7, 0.72) + (
    0.75,
    0.72,
    0.7,
    0.7,
    0.72,
    0.8,
    0.88,
    0.93,
    0.96,
    0.98,
    1.0,
    1.0,
)
_RES_WEEKEND = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.98, 0.95, 0.9, 0.85, 0.82, 0.82) + (
    0.84,
    0.84,
    0.82,
    0.82,
    0.84,
    0.88,
    0.92,
    0.95,
    0.97,
    0.98,
    1.0,
    1.0,
)
#: Workers and visitors in business streets, relative to residents.
_BIZ_WEEKDAY = (0.3, 0.25, 0.25, 0.25, 0.25, 0.3, 0.5, 0.9, 1.5, 1.9, 2.0, 2.0) + (
    1.9,
    2.0,
    2.0,
    2.0,
    1.9,
    1.7,
    1.3,
    1.0,
    0.8,
    0.6,
    0.45,
    0.35,
)
_BIZ_WEEKEND = (0.35, 0.3, 0.25, 0.25, 0.25, 0.3, 0.4, 0.6, 0.8, 1.0, 1.15, 1.2) + (
    1.2,
    1.25,
    1.25,
    1.25,
    1.2,
    1.15,
    1.1,
    1.0,
    0.85,
    0.65,
    0.5,
    0.4,
)


def _hourly(profile: Sequence[float], hours: np.ndarray) -> np.ndarray:
    """Linear interpolation of a 24-value profile at fractional hours (wrapping)."""
    xs = np.arange(25, dtype=np.float64)
    ys = np.array([*profile, profile[0]], dtype=np.float64)
    return np.asarray(np.interp(hours % 24.0, xs, ys))


def _metres(lon1: np.ndarray, lat1: np.ndarray, lon2: float, lat2: float) -> np.ndarray:
    kx = 111_320.0 * math.cos(math.radians(lat2))
    return np.asarray(np.hypot((lon1 - lon2) * kx, (lat1 - lat2) * 110_574.0))


def crowd_window(days: int, scale: float) -> int:
    """Days of crowd readings: ``CROWD_DAYS`` at scale 1, shorter below (at least 8)."""
    if scale >= 1.0:
        return min(days, CROWD_DAYS)
    return min(days, max(8, math.ceil(CROWD_DAYS * scale)))


def fireworks_day(end: datetime) -> datetime:
    """Midnight of the most recent Saturday whose show (to 22:30) ended by ``end``."""
    day = end.replace(hour=0, minute=0, second=0, microsecond=0)
    while day.weekday() != 5 or day + timedelta(hours=22, minutes=30) > end:
        day -= timedelta(days=1)
    return day


@dataclass
class _Cells:
    ids: list[str]
    lon: np.ndarray  # GCJ-02 cell centres
    lat: np.ndarray
    lon_w: np.ndarray  # the same in WGS-84
    lat_w: np.ndarray
    street: list[str]
    base: np.ndarray  # residents in the cell
    business: np.ndarray  # 0-1


def _crowd_cells(
    seed: int, streets: Sequence[StreetGeo], venues: Sequence[VenueSpec], scale: float
) -> _Cells:
    lo = np.array([s.bbox[0] for s in streets] + [s.bbox[2] for s in streets])
    la = np.array([s.bbox[1] for s in streets] + [s.bbox[3] for s in streets])
    glo, gla = wgs84_to_gcj02(lo, la)
    ix = np.arange(
        math.floor((glo.min() - CELL_LON0) / CELL_DLON),
        math.floor((glo.max() - CELL_LON0) / CELL_DLON) + 1,
    )
    iy = np.arange(
        math.floor((gla.min() - CELL_LAT0) / CELL_DLAT),
        math.floor((gla.max() - CELL_LAT0) / CELL_DLAT) + 1,
    )
    mesh_x, mesh_y = np.meshgrid(ix, iy, indexing="ij")
    gx, gy = mesh_x.ravel(), mesh_y.ravel()
    clon = CELL_LON0 + (gx + 0.5) * CELL_DLON
    clat = CELL_LAT0 + (gy + 0.5) * CELL_DLAT
    wlon, wlat = gcj02_to_wgs84(clon, clat)
    owner = street_of_points(wlon, wlat, streets)
    ok = (owner >= 0) & ~_in_lake(wlon, wlat)
    gx, gy, clon, clat, wlon, wlat, owner = (a[ok] for a in (gx, gy, clon, clat, wlon, wlat, owner))
    density = np.array([s.population / max(s.area_km2, 0.1) for s in streets])[owner]
    venue_core = np.zeros(owner.size, dtype=bool)
    venue_ring = np.zeros(owner.size, dtype=bool)
    for v in venues:
        d = _metres(wlon, wlat, v.lon, v.lat)
        zone = FIREWORKS_ZONE_M if v.id == FIREWORKS_VENUE and scale >= 1.0 else v.radius_m
        venue_core |= d <= zone
        venue_ring |= d <= v.radius_m + 600
    dense = density >= DENSE_PER_KM2
    if scale >= 1.0:
        covered = venue_core | venue_ring | dense
    else:  # fast fixtures: the venues and the densest cells only
        others = np.flatnonzero(dense & ~venue_core)
        ranked = others[np.argsort(-density[others], kind="stable")][
            : math.ceil(others.size * scale / 2)
        ]
        covered = venue_core.copy()
        covered[ranked] = True
    sel = np.flatnonzero(covered)
    factors = np.array(
        [
            np.exp(0.35 * np.random.default_rng([seed, 7, int(a), int(b)]).standard_normal())
            for a, b in zip(gx[sel], gy[sel], strict=True)
        ]
    )
    base = np.minimum(density[sel], 25_000) * CELL_KM2 * factors
    biz = np.array([BUSINESS_WEIGHT.get(streets[o].code, 0.0) for o in owner[sel]])
    return _Cells(
        ids=[f"g{a}_{b}" for a, b in zip(gx[sel].tolist(), gy[sel].tolist(), strict=True)],
        lon=np.round(clon[sel], 6),
        lat=np.round(clat[sel], 6),
        lon_w=wlon[sel],
        lat_w=wlat[sel],
        street=[streets[o].code for o in owner[sel].tolist()],
        base=base,
        business=biz,
    )


def venue_cells(
    lon: np.ndarray, lat: np.ndarray, venue_lon: float, venue_lat: float, radius_m: float
) -> np.ndarray:
    """Cells counted in a venue's head count: centre within ``radius_m`` (same coordinate system)."""
    return _metres(lon, lat, venue_lon, venue_lat) <= radius_m


def _capacity(
    spec: VenueSpec, row: tuple[Any, ...], cells: _Cells, people: np.ndarray, fireworks: np.ndarray
) -> int:
    """The alert threshold: above every ordinary reading of the venue's head count.

    Only the fireworks evening exceeds 城市阳台's; the railway hub's is set so
    that its busiest rush hours (top 0.5 % of readings) go over it.
    """
    mask = venue_cells(cells.lon, cells.lat, row[5], row[4], spec.radius_m)
    if not mask.any():
        return spec.capacity
    head = people[:, mask].sum(axis=1)
    show = fireworks if spec.id == FIREWORKS_VENUE else np.zeros_like(fireworks)
    ordinary = head[~show] if (~show).any() else head
    if spec.id == "V02":
        return int(round(float(np.quantile(ordinary, 0.995)), -3))
    return int(math.ceil(float(ordinary.max()) * 1.1 / 1000.0) * 1000)


#: A venue placed in the demo's streets: spec, street code, GCJ-02 lon, lat.
PlacedVenue = tuple[VenueSpec, str, float, float]


def place_venues(streets: Sequence[StreetGeo]) -> list[PlacedVenue]:
    """The watched venues that lie in ``streets``, with their street and GCJ-02 position."""
    codes = [s.code for s in streets]
    venues: list[PlacedVenue] = []
    for v in VENUES:
        owner = street_of_points(np.array([v.lon]), np.array([v.lat]), streets)[0]
        if owner >= 0:
            glon, glat = wgs84_to_gcj02(v.lon, v.lat)
            venues.append((v, codes[owner], round(glon, 6), round(glat, 6)))
    return venues


def crowd_people(
    rng: np.random.Generator,
    cells: _Cells,
    venues: Sequence[PlacedVenue],
    first: datetime,
    n_steps: int,
    fireworks: datetime | None,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Head counts per reading interval (rows, every ``STEP_S`` from
    ``first``) and cell (columns): residents and workers on the daily and
    weekly rhythm, each venue's visitors on its hourly profile, and the
    fireworks evening of the day ``fireworks`` (midnight; None = no show).
    Returns (people, the fireworks' crowd per interval, whether it was
    spread over cells)."""
    secs = np.arange(n_steps, dtype=np.float64) * STEP_S
    hours = first.hour + first.minute / 60.0 + secs / 3600.0  # hours since first midnight
    day_idx = (hours // 24).astype(np.int64)
    hod = hours % 24.0 + 7.5 / 60.0  # middle of the interval
    start_dow = first.weekday()
    dow = (start_dow + day_idx) % 7
    weekend = dow >= 5
    res = np.where(weekend, _hourly(_RES_WEEKEND, hod), _hourly(_RES_WEEKDAY, hod))
    biz = np.where(weekend, _hourly(_BIZ_WEEKEND, hod), _hourly(_BIZ_WEEKDAY, hod))
    presence = (1.0 - cells.business)[None, :] * res[:, None] + cells.business[None, :] * biz[
        :, None
    ]
    people = cells.base[None, :] * presence
    people *= np.exp(0.05 * rng.standard_normal(people.shape))
    for v, *_ in venues:
        d = _metres(cells.lon_w, cells.lat_w, v.lon, v.lat)
        w = np.where(d <= v.radius_m * 1.5, np.exp(-0.5 * (d / (v.radius_m / 1.5)) ** 2), 0.0)
        if w.sum() == 0:
            continue
        w /= w.sum()
        peak = np.where(weekend, v.peak_weekend, v.peak_weekday)
        if v.id == "V02":  # the hub: Friday evening and Sunday afternoon rushes
            peak = np.where(dow == 4, peak * 1.25, np.where(dow == 6, peak * 1.15, peak))
        total = peak * _hourly(v.profile, hod) * np.exp(0.06 * rng.standard_normal(n_steps))
        people += total[:, None] * w[None, :]
    fw = np.zeros(n_steps)
    if fireworks is not None:
        fw_hours = (secs + (first - fireworks).total_seconds()) / 3600.0 + 7.5 / 60.0
        fw = FIREWORKS_PEAK * _piecewise(fw_hours, FIREWORKS_CURVE)
    fv = next((v for v, *_ in venues if v.id == FIREWORKS_VENUE), None)
    spread = False
    if fv is not None and fw.max() > 0:
        # Spread along the river bank (running about 40 degrees north of east).
        kx = 111_320.0 * math.cos(math.radians(fv.lat))
        dx = (cells.lon_w - fv.lon) * kx
        dy = (cells.lat_w - fv.lat) * 110_574.0
        ang = math.radians(40)
        along = dx * math.cos(ang) + dy * math.sin(ang)
        across = -dx * math.sin(ang) + dy * math.cos(ang)
        w = np.exp(-0.5 * ((along / 1200.0) ** 2 + (across / 550.0) ** 2))
        w[np.hypot(dx, dy) > 3000] = 0.0
        if w.sum() > 0:
            w /= w.sum()
            people += fw[:, None] * w[None, :] * np.exp(0.03 * rng.standard_normal((n_steps, 1)))
            spread = True
    return people, fw, spread


def crowd_rows(cells: _Cells, first: datetime, ints: np.ndarray) -> Rows:
    """``crowd_reading`` rows of the head counts ``ints`` (intervals x cells) from ``first``."""
    n_steps = ints.shape[0]
    ts_text = _ts_strings(first, np.arange(n_steps, dtype=np.float64) * STEP_S)
    n_cells = len(cells.ids)
    ts_col = [t for t in ts_text for _ in range(n_cells)]
    return list(
        zip(
            ts_col,
            cells.ids * n_steps,
            cells.lat.tolist() * n_steps,
            cells.lon.tolist() * n_steps,
            cells.street * n_steps,
            ints.ravel().tolist(),
            strict=True,
        )
    )


def build_crowd(
    seed: int,
    streets: Sequence[StreetGeo],
    end: datetime,
    days: int,
    scale: float,
    bad_rows: bool,
) -> tuple[Rows, Rows, dict[str, int]]:
    """Crowd readings and venues. Returns (crowd rows, venue rows, counts)."""
    venues = place_venues(streets)
    venue_rows: Rows = [
        (v.id, street, v.name_zh, v.name_en, glat, glon, float(v.radius_m), v.capacity)
        for v, street, glon, glat in venues
    ]
    counts = {"crowd_days": crowd_window(days, scale)}
    if not streets:
        return [], venue_rows, counts
    cells = _crowd_cells(seed, streets, [v for v, *_ in venues], scale)
    rng = _rng(seed, "crowd")
    last = end.replace(minute=end.minute - end.minute % 15, second=0, microsecond=0) - timedelta(
        minutes=15
    )
    n_steps = counts["crowd_days"] * 96
    first = last - timedelta(seconds=STEP_S * (n_steps - 1))
    fw_day = fireworks_day(end)
    people, fw, spread = crowd_people(rng, cells, venues, first, n_steps, fw_day)
    counts["fireworks_in_window"] = int(spread)
    counts["fireworks_day"] = int(fw_day.strftime("%Y%m%d"))
    ints = np.rint(people).astype(np.int64)
    venue_rows = [
        (*row[:7], _capacity(spec, row, cells, ints, fw > 0))
        for row, (spec, *_rest) in zip(venue_rows, venues, strict=True)
    ]
    rows = crowd_rows(cells, first, ints)
    counts["crowd_cells"] = len(cells.ids)
    if bad_rows:
        ts_text = _ts_strings(first, np.arange(n_steps, dtype=np.float64) * STEP_S)
        bad, bad_counts = _bad_crowd(
            rng, ts_text, cells.street[0], float(cells.lat[0]), float(cells.lon[0])
        )
        rows.extend(bad)
        counts.update(bad_counts)
    return rows, venue_rows, counts
