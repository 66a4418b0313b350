"""Conversions between the three coordinate systems used on Chinese maps.

- ``wgs84``: GPS and most open data (the boundary assets are in it).
- ``gcj02``: the "Mars" system that AMap/Gaode and Tencent tiles use, and the
  default of the operational database (``site.coord_system``).
- ``bd09``: Baidu's system, an extra offset applied on top of GCJ-02.

All functions take longitudes and latitudes in decimal degrees, either as
scalars (a ``float`` comes back) or as numpy arrays of any shape (arrays come
back, vectorised, NaN stays NaN). Points outside the usual ``out_of_china``
box are not shifted by any conversion. The inverses (to WGS-84 and from
BD-09) iterate the forward formula until the error is below 1e-9 degrees
(well under a millimetre). Pure numpy: no Streamlit, no network.

Known check value: at West Lake, GCJ-02 minus WGS-84 is +0.004720 deg of
longitude and -0.002314 deg of latitude (about 450 m east, 260 m south).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

COORD_SYSTEMS = ("wgs84", "gcj02", "bd09")

_A = 6378245.0  # semi-major axis of Krasovsky 1940, as the GCJ-02 formula uses
_EE = 0.00669342162296594323  # its eccentricity squared
_X_PI = math.pi * 3000.0 / 180.0
_MAX_ITER = 30
_TOL = 1e-9

Floats = NDArray[np.float64]


def _arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats, bool]:
    lo = np.asarray(lon, dtype=np.float64)
    la = np.asarray(lat, dtype=np.float64)
    scalar = lo.ndim == 0 and la.ndim == 0
    lo, la = np.broadcast_arrays(lo, la)
    return lo, la, scalar


def _out(lon: Floats, lat: Floats, scalar: bool) -> tuple[Any, Any]:
    if scalar:
        return float(lon), float(lat)
    return lon, lat


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> Any:
    """True where the point lies outside the box in which GCJ-02 applies a shift."""
    lo = np.asarray(lon, dtype=np.float64)
    la = np.asarray(lat, dtype=np.float64)
    res = (lo < 72.004) | (lo > 137.8347) | (la < 0.8293) | (la > 55.8271)
    return bool(res) if np.ndim(res) == 0 else res


def _transform_lat(x: Floats, y: Floats) -> Floats:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: Floats, y: Floats) -> Floats:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def _gcj_delta(lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
    """GCJ-02 minus WGS-84 at a WGS-84 point (zero outside China)."""
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    outside = out_of_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


@overload
def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]: ...
def wgs84_to_gcj02(lon: Any, lat: Any) -> tuple[Any, Any]:
    """WGS-84 to GCJ-02 (the public forward formula)."""
    lo, la, scalar = _arrays(lon, lat)
    dlon, dlat = _gcj_delta(lo, la)
    return _out(lo + dlon, la + dlat, scalar)


def _invert(
    forward: Callable[[Floats, Floats], tuple[Floats, Floats]],
    lon: Floats,
    lat: Floats,
    first_lon: Floats,
    first_lat: Floats,
) -> tuple[Floats, Floats]:
    """Fixed-point inverse of ``forward`` starting from a first guess."""
    glon, glat = first_lon.copy(), first_lat.copy()
    for _ in range(_MAX_ITER):
        flon, flat = forward(glon, glat)
        elon, elat = flon - lon, flat - lat
        glon = glon - elon
        glat = glat - elat
        err = np.nanmax(np.abs(np.concatenate([elon.ravel(), elat.ravel()])), initial=0.0)
        if err < _TOL:
            break
    return glon, glat


def _wgs_to_gcj_arr(lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
    dlon, dlat = _gcj_delta(lon, lat)
    return lon + dlon, lat + dlat


@overload
def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]: ...
def gcj02_to_wgs84(lon: Any, lat: Any) -> tuple[Any, Any]:
    """GCJ-02 to WGS-84 by iterating the forward formula (error < 1e-9 deg)."""
    lo, la, scalar = _arrays(lon, lat)
    glon, glat = _invert(_wgs_to_gcj_arr, lo, la, lo, la)
    outside = out_of_china(lo, la)
    return _out(np.where(outside, lo, glon), np.where(outside, la, glat), scalar)


def _gcj_to_bd_arr(lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    outside = out_of_china(lon, lat)
    bd_lon = np.where(outside, lon, z * np.cos(theta) + 0.0065)
    bd_lat = np.where(outside, lat, z * np.sin(theta) + 0.006)
    return bd_lon, bd_lat


@overload
def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]: ...
def gcj02_to_bd09(lon: Any, lat: Any) -> tuple[Any, Any]:
    """GCJ-02 to BD-09 (Baidu's published formula)."""
    lo, la, scalar = _arrays(lon, lat)
    return _out(*_gcj_to_bd_arr(lo, la), scalar)


@overload
def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]: ...
def bd09_to_gcj02(lon: Any, lat: Any) -> tuple[Any, Any]:
    """BD-09 to GCJ-02: the published approximate inverse, refined by iteration."""
    lo, la, scalar = _arrays(lon, lat)
    x, y = lo - 0.0065, la - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    glon, glat = _invert(_gcj_to_bd_arr, lo, la, z * np.cos(theta), z * np.sin(theta))
    outside = out_of_china(lo, la)
    return _out(np.where(outside, lo, glon), np.where(outside, la, glat), scalar)


def _check_system(name: str) -> str:
    key = name.lower().replace("-", "").replace("_", "")
    if key not in COORD_SYSTEMS:
        raise ValueError(f"unknown coordinate system {name!r}; expected one of {COORD_SYSTEMS}")
    return key


def convert(lon: Any, lat: Any, src: str, dst: str) -> tuple[Any, Any]:
    """Convert between any two of ``wgs84``, ``gcj02`` and ``bd09``.

    Scalars give a ``(float, float)`` pair, arrays give a pair of arrays.
    """
    s, d = _check_system(src), _check_system(dst)
    lo, la, scalar = _arrays(lon, lat)
    if s != d:
        if s == "wgs84":
            lo, la = wgs84_to_gcj02(lo, la)
        elif s == "bd09":
            lo, la = bd09_to_gcj02(lo, la)
        # now in GCJ-02
        if d == "wgs84":
            lo, la = gcj02_to_wgs84(lo, la)
        elif d == "bd09":
            lo, la = gcj02_to_bd09(lo, la)
    return _out(np.asarray(lo, dtype=np.float64), np.asarray(la, dtype=np.float64), scalar)


def _is_position(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) >= 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value[:2])
    )


def _convert_coords(coords: Any, src: str, dst: str) -> Any:
    if _is_position(coords):
        lon, lat = convert(coords[0], coords[1], src, dst)
        return [lon, lat, *coords[2:]]
    if isinstance(coords, list | tuple) and coords and all(_is_position(c) for c in coords):
        arr = np.array([[c[0], c[1]] for c in coords], dtype=np.float64)
        lon, lat = convert(arr[:, 0], arr[:, 1], src, dst)
        return [[float(x), float(y), *c[2:]] for x, y, c in zip(lon, lat, coords, strict=True)]
    if isinstance(coords, list | tuple):
        return [_convert_coords(c, src, dst) for c in coords]
    return coords


def _convert_geometry(geom: Any, src: str, dst: str) -> None:
    if not isinstance(geom, dict):
        return
    if geom.get("type") == "GeometryCollection":
        for g in geom.get("geometries") or []:
            _convert_geometry(g, src, dst)
    elif "coordinates" in geom:
        geom["coordinates"] = _convert_coords(geom["coordinates"], src, dst)


def convert_geojson(obj: dict[str, Any], src: str, dst: str) -> dict[str, Any]:
    """A converted deep copy of a GeoJSON object (FeatureCollection, Feature or geometry).

    Every position is converted; properties are copied unchanged, except that
    a ``bbox`` member is dropped (it would no longer match).
    """
    s, d = _check_system(src), _check_system(dst)
    out = copy.deepcopy(obj)
    if s == d:
        return out
    kind = out.get("type")
    if kind == "FeatureCollection":
        out.pop("bbox", None)
        for feature in out.get("features") or []:
            feature.pop("bbox", None)
            _convert_geometry(feature.get("geometry"), s, d)
    elif kind == "Feature":
        out.pop("bbox", None)
        _convert_geometry(out.get("geometry"), s, d)
    else:
        out.pop("bbox", None)
        _convert_geometry(out, s, d)
    return out
