"""The wall's URL parameters and its playlist (pure logic, no Streamlit).

Which views a wall shows (``?playlist=``, ``?view=``, ``?rotate=``,
``?cycle=streets``) within the user's scope, the view on screen at a given
second of the loop, and the wall's ``?scale=`` with the map's size on it.
They take plain values and are tested without Streamlit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

import pandas as pd

from data_access.config import SCREEN_PAGES, ScreenConfig, ScreenView


def views_from_params(
    params: Mapping[str, str], cfg: ScreenConfig
) -> tuple[tuple[ScreenView, ...], list[tuple[str, str]]]:
    """The views a screen shows, from its URL, and the rejected parameters.

    ``?playlist=NAME`` (default ``default``) picks a configured playlist;
    ``?view=crowd-map`` (or a comma list) shows those views instead (an
    unknown name in the list is reported and left out);
    ``?rotate=N`` sets every view's seconds; ``?cycle=streets`` shows every
    view once per street (see :func:`expand_views`). Bad values fall back
    and are returned as ``(name, value)`` notices.
    """
    notices: list[tuple[str, str]] = []
    default = cfg.playlist("default") or ()
    views: tuple[ScreenView, ...] = default
    wanted = (params.get("view") or "").strip()
    name = (params.get("playlist") or "").strip()
    if wanted:
        pages = [p.strip() for p in wanted.split(",") if p.strip()]
        known = [p for p in pages if p in SCREEN_PAGES]
        if known:  # a typo in one view leaves the wall on the others
            views = tuple(ScreenView(p) for p in known)
        unknown = [p for p in pages if p not in SCREEN_PAGES]
        if unknown or not pages:
            notices.append(("view", ",".join(unknown) or wanted))
    elif name:
        chosen = cfg.playlist(name)
        if chosen:
            views = chosen
        else:
            notices.append(("playlist", name))
    rotate = (params.get("rotate") or "").strip()
    if rotate:
        if rotate.isdigit() and 5 <= int(rotate) <= 86400:
            views = tuple(replace(v, seconds=int(rotate)) for v in views)
        else:
            notices.append(("rotate", rotate))
    cycle = (params.get("cycle") or "").strip()
    if cycle == "streets":
        views = tuple(replace(v, each_street=True) for v in views)
    elif cycle:
        notices.append(("cycle", cycle))
    return views, notices


def left_out(params: Mapping[str, str]) -> frozenset[str]:
    """The wall's rejected parameters that are only left out, not replaced
    by a default: ``view`` when the list names a known view besides the
    typo (the wall shows the others). See :func:`ui.filters.notice_text`."""
    pages = [p.strip() for p in (params.get("view") or "").split(",")]
    return frozenset({"view"}) if any(p in SCREEN_PAGES for p in pages) else frozenset()


def expand_views(
    views: Sequence[ScreenView], streets: pd.DataFrame, wall_district: str | None
) -> tuple[ScreenView, ...]:
    """Each ``each_street`` view replaced by one view per street (code order)
    of its district, else of the wall's district, else of the whole city;
    ``streets`` has ``code`` and ``district_code``. A district without
    streets keeps the view as it is."""
    out: list[ScreenView] = []
    for v in views:
        if not v.each_street:
            out.append(v)
            continue
        district = v.district or wall_district
        codes = list(v.streets) or sorted(
            streets.loc[streets["district_code"] == district if district else slice(None), "code"]
        )
        if not codes:
            out.append(replace(v, each_street=False))
            continue
        out += [
            ScreenView(v.page, district=code[:6], streets=(code,), seconds=v.seconds)
            for code in codes
        ]
    return tuple(out)


def views_in_scope(
    views: Sequence[ScreenView], streets: pd.DataFrame, scope: tuple[str, ...] | None
) -> tuple[ScreenView, ...]:
    """The views whose own area has a street in ``scope`` (a user's street
    codes, ``None`` = all; a view without an area of its own shows the
    wall's, which is within it): a wall scoped to one district does not
    rotate through the others' empty figures under their names. When none
    is left, the views on the wall's own area."""
    if scope is None:
        return tuple(views)
    allowed = set(scope)

    def inside(v: ScreenView) -> bool:
        if v.streets:
            return bool(allowed & set(v.streets))
        if v.district:
            return bool(allowed & set(streets.loc[streets["district_code"] == v.district, "code"]))
        return True

    kept = tuple(v for v in views if inside(v))
    return kept or tuple(replace(v, district="", streets=(), each_street=False) for v in views[:1])


#: ``?scale=`` values: how much larger than 1920x1080 the wall is (2 = 4K).
WALL_SCALES = {"1": 1.0, "1.5": 1.5, "2": 2.0}
#: Session key of the wall's scale (set by the page from its URL).
WALL_SCALE = "_screen_wall_scale"
#: Height of the stage's map at 1080 lines, pixels.
MAP_HEIGHT_PX = 680


def wall_scale(params: Mapping[str, str]) -> tuple[float, list[tuple[str, str]]]:
    """The wall's ``?scale=`` (1, 1.5 or 2; default 1) and the rejected value.

    Text and panels are sized in vh/vw and scale by themselves; the map is
    drawn in pixels, so a 4K wall (``scale=2``) gets a map twice as high and
    one zoom level closer, showing the same area at the same share of the
    screen."""
    raw = (params.get("scale") or "").strip()
    if not raw:
        return 1.0, []
    if raw in WALL_SCALES:
        return WALL_SCALES[raw], []
    return 1.0, [("scale", raw)]


def map_geometry(zoom: float, scale: float) -> tuple[float, int]:
    """``(zoom, height px)`` of the stage's map on a wall of ``scale``: the
    stage is larger than a page's map (+0.6), and each doubling of the
    wall's size is one zoom level."""
    return zoom + 0.6 + math.log2(scale), round(MAP_HEIGHT_PX * scale)


def view_seconds(views: Sequence[ScreenView], rotate_s: int) -> list[int]:
    """Seconds each view stays up (``0`` means ``rotate_s``)."""
    return [v.seconds or rotate_s for v in views]


def playlist_position(seconds: Sequence[int], elapsed_s: float) -> tuple[int, float]:
    """``(index, seconds left)`` of the view on screen ``elapsed_s`` seconds
    into a playlist that loops forever. Counting from the Unix epoch makes
    every wall with the same playlist show the same view at the same time."""
    total = sum(seconds)
    if not seconds or total <= 0:
        return 0, math.inf
    pos = elapsed_s % total
    for i, s in enumerate(seconds):
        if pos < s:
            return i, s - pos
        pos -= s
    return len(seconds) - 1, 0.0  # only reached through float rounding
