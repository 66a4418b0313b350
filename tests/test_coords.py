"""Coordinate conversions against published reference values."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from data_access import coords

WEST_LAKE_WGS = (120.145, 30.242)  # middle of West Lake, WGS-84


def test_west_lake_offset_matches_the_published_shift():
    lon, lat = coords.wgs84_to_gcj02(*WEST_LAKE_WGS)
    assert isinstance(lon, float) and isinstance(lat, float)
    assert lon - WEST_LAKE_WGS[0] == pytest.approx(0.004720, abs=2e-6)
    assert lat - WEST_LAKE_WGS[1] == pytest.approx(-0.002314, abs=2e-6)


def test_shift_is_hundreds_of_metres_across_hangzhou():
    lon = np.linspace(119.0, 120.7, 12)
    lat = np.linspace(29.3, 30.5, 12)
    glon, glat = coords.wgs84_to_gcj02(lon, lat)
    metres = np.hypot((glon - lon) * 96_000, (glat - lat) * 111_000)
    assert ((metres > 300) & (metres < 700)).all()


def test_known_bd09_pair():
    # Baidu's published formula on Tiananmen (GCJ-02 116.404, 39.915).
    bd = coords.gcj02_to_bd09(116.404, 39.915)
    assert bd == pytest.approx((116.41036949371029, 39.92133699351022), abs=1e-9)
    gcj = coords.bd09_to_gcj02(116.41036949371029, 39.92133699351022)
    assert gcj == pytest.approx((116.404, 39.915), abs=1e-8)


@pytest.mark.parametrize("src,dst", list(itertools.permutations(coords.COORD_SYSTEMS, 2)))
def test_outside_china_is_unchanged(src, dst):
    for lon, lat in [(2.3522, 48.8566), (-74.006, 40.7128), (151.2093, -33.8688)]:
        assert coords.convert(lon, lat, src, dst) == (lon, lat)


@pytest.mark.parametrize("src,dst", list(itertools.permutations(coords.COORD_SYSTEMS, 2)))
def test_round_trips_within_1e_6_degrees(src, dst):
    rng = np.random.default_rng(7)
    lon = rng.uniform(73.0, 135.0, 2000)
    lat = rng.uniform(18.0, 53.0, 2000)
    there = coords.convert(lon, lat, src, dst)
    back = coords.convert(there[0], there[1], dst, src)
    assert np.abs(back[0] - lon).max() < 1e-6
    assert np.abs(back[1] - lat).max() < 1e-6


def test_inverse_is_exact_at_west_lake():
    glon, glat = coords.wgs84_to_gcj02(*WEST_LAKE_WGS)
    lon, lat = coords.gcj02_to_wgs84(glon, glat)
    assert abs(lon - WEST_LAKE_WGS[0]) < 1e-8 and abs(lat - WEST_LAKE_WGS[1]) < 1e-8


def test_vectorised_matches_scalar_and_keeps_nan_and_shape():
    lon = np.array([[120.1, 120.2], [np.nan, 121.0]])
    lat = np.array([[30.2, 30.3], [30.0, np.nan]])
    out_lon, out_lat = coords.convert(lon, lat, "wgs84", "bd09")
    assert out_lon.shape == (2, 2)
    assert np.isnan(out_lon[1, 0]) and np.isnan(out_lat[1, 1])
    assert (out_lon[0, 1], out_lat[0, 1]) == coords.convert(120.2, 30.3, "wgs84", "bd09")


def test_same_system_is_identity_and_unknown_system_is_refused():
    assert coords.convert(120.1, 30.2, "gcj02", "gcj02") == (120.1, 30.2)
    with pytest.raises(ValueError):
        coords.convert(120.1, 30.2, "wgs84", "mercator")


def test_convert_geojson_returns_a_converted_copy():
    original = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": "330105"},
                "geometry": {
                    "type": "MultiPolygon",
                    "coordinates": [[[[120.1, 30.2], [120.2, 30.2], [120.2, 30.3], [120.1, 30.2]]]],
                },
            },
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "Point", "coordinates": [120.145, 30.242, 12.0]},
            },
            {"type": "Feature", "properties": {}, "geometry": None},
        ],
    }
    out = coords.convert_geojson(original, "wgs84", "gcj02")
    assert original["features"][1]["geometry"]["coordinates"] == [120.145, 30.242, 12.0]
    point = out["features"][1]["geometry"]["coordinates"]
    assert point[0] - 120.145 == pytest.approx(0.004720, abs=2e-6)
    assert point[2] == 12.0
    ring = out["features"][0]["geometry"]["coordinates"][0][0]
    assert ring[0] == ring[-1] and ring[0][0] > 120.1
    assert out["features"][0]["properties"] == {"code": "330105"}
    back = coords.convert_geojson(out, "gcj02", "wgs84")
    assert back["features"][0]["geometry"]["coordinates"][0][0][1] == pytest.approx(
        [120.2, 30.2], abs=1e-8
    )
