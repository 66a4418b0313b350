"""Where a map looks: the view that fits an area into a panel of known
pixel size (Web Mercator, as deck.gl draws it), and the panels' sizes.

Pure arithmetic, no Streamlit: the pages and the wall pass the size of
their map panel, and the zoom follows from the area's outline bounds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: deck.gl's world is 512 px wide at zoom 0.
TILE_PX = 512
MIN_ZOOM, MAX_ZOOM = 3.0, 16.0


@dataclass(frozen=True)
class Panel:
    """A map panel's size in CSS pixels and the margin kept free around the
    area (a share of each side), so outlines and labels do not touch the edge."""

    width: float
    height: float
    margin: float = 0.05

    def scaled(self, scale: float) -> Panel:
        return Panel(self.width * scale, self.height * scale, self.margin)


#: Map panels as measured in Chromium at 1600x1000 (the browser tests'
#: viewport; at 1920x1080 the page panels are wider and show more around
#: the area, never less of it): the overview's left column and the map
#: pages' full width. The wall's stage (66 vh high, the centre column of
#: 2.5 : 1 : 1.15) at 1920x1080; ``Panel.scaled`` for 1.5x and 4K walls.
OVERVIEW_PANEL = Panel(676, 460)
PAGE_PANEL = Panel(1140, 520)
WALL_PANEL = Panel(997, 713, margin=0.04)

Bounds = tuple[float, float, float, float]  # min_lon, min_lat, max_lon, max_lat


def _merc_y(lat: float) -> float:
    lat = max(-85.0, min(85.0, lat))
    return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def _lat_of(y: float) -> float:
    return math.degrees(2 * math.atan(math.exp(y)) - math.pi / 2)


def bounds_of(points: Iterable[Sequence[float]]) -> Bounds | None:
    """The lon/lat box of ``points`` (``[lon, lat]`` pairs), or None."""
    xs: list[float] = []
    ys: list[float] = []
    for p in points:
        xs.append(float(p[0]))
        ys.append(float(p[1]))
    if not xs:
        return None
    return min(xs), min(ys), max(xs), max(ys)


def fit(bounds: Bounds, panel: Panel) -> tuple[float, float, float]:
    """``(longitude, latitude, zoom)`` that shows ``bounds`` whole and as
    large as it goes in ``panel`` (less its margins): the zoom at which the
    box's Mercator width or height, whichever binds, spans the free pixels."""
    x0, y0, x1, y1 = bounds
    free_w = panel.width * (1 - 2 * panel.margin)
    free_h = panel.height * (1 - 2 * panel.margin)
    dx = max(x1 - x0, 1e-6) / 360
    my0, my1 = _merc_y(y0), _merc_y(y1)
    dy = max(my1 - my0, 1e-8) / (2 * math.pi)
    zoom = math.log2(min(free_w / (TILE_PX * dx), free_h / (TILE_PX * dy)))
    return (x0 + x1) / 2, _lat_of((my0 + my1) / 2), max(MIN_ZOOM, min(MAX_ZOOM, zoom))


def shown_bounds(lon: float, lat: float, zoom: float, panel: Panel) -> Bounds:
    """The lon/lat box a view shows in ``panel`` (the inverse of :func:`fit`
    without margins): what a test checks the area against."""
    world = TILE_PX * 2**zoom
    half_w = panel.width / 2 / world * 360
    half_h = panel.height / 2 / world * 2 * math.pi
    y = _merc_y(lat)
    return lon - half_w, _lat_of(y - half_h), lon + half_w, _lat_of(y + half_h)


def metres_per_pixel(lat: float, zoom: float) -> float:
    """Ground metres one CSS pixel covers at ``lat`` (Web Mercator)."""
    return 40_075_016.686 * math.cos(math.radians(lat)) / (TILE_PX * 2**zoom)


# ---------------------------------------------------------------------------
# Cutting what lies around an area to what a view can show: the reference
# layers send only the part of a district or river within reach, at the
# detail the zoom can draw.


def grown(box: Bounds, share: float) -> Bounds:
    """``box`` widened by ``share`` of its size on every side."""
    x0, y0, x1, y1 = box
    dx, dy = (x1 - x0) * share, (y1 - y0) * share
    return x0 - dx, y0 - dy, x1 + dx, y1 + dy


def clip_ring(ring: Sequence[Sequence[float]], box: Bounds) -> list[list[float]]:
    """The part of polygon ``ring`` inside ``box`` (Sutherland-Hodgman). A
    concave ring may come back with edges along the box: a fill is right,
    so draw its boundary from :func:`runs_inside` instead."""
    pts = [[float(p[0]), float(p[1])] for p in ring]
    for axis, limit, keep_above in ((0, box[0], True), (0, box[2], False),
                                    (1, box[1], True), (1, box[3], False)):  # fmt: skip
        if not pts:
            return []

        def inside(p: list[float], axis: int = axis, limit: float = limit,
                   keep_above: bool = keep_above) -> bool:  # fmt: skip
            return p[axis] >= limit if keep_above else p[axis] <= limit

        out: list[list[float]] = []
        prev = pts[-1]
        for cur in pts:
            if inside(cur) != inside(prev):
                t = (limit - prev[axis]) / (cur[axis] - prev[axis])
                out.append([prev[0] + t * (cur[0] - prev[0]), prev[1] + t * (cur[1] - prev[1])])
            if inside(cur):
                out.append(cur)
            prev = cur
        pts = out
    return pts


def runs_inside(line: Sequence[Sequence[float]], box: Bounds) -> list[list[list[float]]]:
    """The stretches of ``line`` with points inside ``box``, each with one
    point beyond either end so that it still reaches the box's edge."""

    def inside(p: Sequence[float]) -> bool:
        return box[0] <= p[0] <= box[2] and box[1] <= p[1] <= box[3]

    runs: list[list[list[float]]] = []
    current: list[list[float]] = []
    for i, p in enumerate(line):
        if inside(p):
            if not current and i > 0:
                current.append([float(line[i - 1][0]), float(line[i - 1][1])])
            current.append([float(p[0]), float(p[1])])
        elif current:
            current.append([float(p[0]), float(p[1])])
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return [r for r in runs if len(r) >= 2]


def thinned(points: Sequence[Sequence[float]], tol: float, digits: int = 5) -> list[list[float]]:
    """``points`` simplified (Douglas-Peucker: no point of the line moves
    more than ``tol`` degrees; the ends are kept), rounded to ``digits``."""
    n = len(points)
    if n <= 2:
        return [[round(float(p[0]), digits), round(float(p[1]), digits)] for p in points]
    keep = [False] * n
    keep[0] = keep[-1] = True
    stack = [(0, n - 1)]
    while stack:
        i, j = stack.pop()
        (ax, ay), (bx, by) = points[i][:2], points[j][:2]
        dx, dy = bx - ax, by - ay
        norm = math.hypot(dx, dy)
        far, far_d = -1, tol
        for k in range(i + 1, j):
            px, py = points[k][0] - ax, points[k][1] - ay
            d = abs(px * dy - py * dx) / norm if norm else math.hypot(px, py)
            if d > far_d:
                far, far_d = k, d
        if far > 0:
            keep[far] = True
            stack += [(i, far), (far, j)]
    return [
        [round(float(p[0]), digits), round(float(p[1]), digits)]
        for p, kept in zip(points, keep, strict=True)
        if kept
    ]


def degrees_per_pixel(bounds: Bounds, panel: Panel) -> float:
    """Degrees of longitude one pixel of ``panel`` spans when it shows ``bounds``."""
    return (bounds[2] - bounds[0]) / max(panel.width, 1.0)
