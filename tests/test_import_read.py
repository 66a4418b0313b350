"""Reading exports and turning their values into contract values: encodings,
headers, Excel, timestamps, time zones, coordinates, streets, mappings."""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from data_access.config import load_site_config
from data_access.coords import wgs84_to_gcj02
from importer.mapping import MappingError, load_mapping, parse_mapping_text
from importer.read import ReadError, decode, read_export
from importer.transform import (
    StreetIndex,
    parse_timestamps,
    street_by_point,
    to_site_time,
    transform,
)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"

SMALL = """
name = "small"
[source]
timestamp_formats = ["%m/%d/%Y %I:%M:%S %p", "%Y-%m-%d %H:%M"]
[fields]
id = { template = "t-{Case No}" }
reported_at = "Opened"
closed_at = { column = "Closed", optional = true }
category = { column = "Type", map = { "Noise" = "renovation_noise", "Parking" = "illegal_parking" } }
[street]
by = "code"
column = "Street"
"""


def small_mapping(extra: str = ""):
    return parse_mapping_text(SMALL + extra, "small.toml")


def csv_bytes(text: str, encoding: str = "utf-8") -> bytes:
    return text.replace("\n", "\r\n").encode(encoding)


ROWS = (
    "Case No,Opened,Closed,Type,Street\n"
    "1,04/07/2020 11:53:08 PM,04/08/2020 12:15:40 AM,Noise,330105001\n"
    "2,2020-04-08 09:30,,Parking,330105002\n"
)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xef\xbb\xbf" + "受理时间".encode(), "utf-8-sig"),
        ("受理时间".encode(), "utf-8"),
        ("受理时间".encode("gbk"), "gb18030"),
        ("𠮷受理".encode("gb18030"), "gb18030"),
    ],
)
def test_encodings_are_detected(data, expected):
    text, encoding = decode(data, "x.csv")
    assert encoding == expected
    assert "受理" in text


def test_a_file_in_no_known_encoding_is_refused_by_name():
    with pytest.raises(ReadError, match="x.csv: neither UTF-8 nor GB18030"):
        decode(b"\x81\x20\xff\xfe\x80", "x.csv")


def test_headers_match_by_name_whatever_the_case_spaces_bom_and_order():
    text = "\ufeff  street ,TYPE,case   no,Opened\n330105001,Noise,7,2020-04-08 09:30\n"
    raw = read_export(csv_bytes(text), "h.csv", small_mapping())
    assert set(raw.frame.columns) >= {"Street", "Type", "Case No", "Opened", "Closed"}
    assert raw.frame.loc[0, "Case No"] == "7"
    assert raw.frame.loc[0, "Closed"] == ""  # optional and absent: empty


def test_a_missing_required_column_stops_the_file_with_a_clear_message():
    text = "Case No,Closed,Street\n1,,330105001\n"
    with pytest.raises(ReadError) as err:
        read_export(csv_bytes(text), "short.csv", small_mapping())
    message = str(err.value)
    assert message.startswith("short.csv: missing required columns 'Opened', 'Type'")
    assert "'Case No', 'Closed', 'Street'" in message  # what the file has


def test_twelve_hour_mixed_formats_and_excel_serials():
    values = pd.Series(
        [
            "04/07/2020 11:53:08 PM",
            "04/08/2020 12:00:00 AM",
            "04/08/2020 12:30:05 PM",
            "2020-04-08 09:30",
            43929.5,  # an Excel serial day number: 2020-04-08 12:00
            "43929.25",  # the same, as text
            datetime(2020, 4, 9, 8, 0),
            "",
            "yesterday",
        ],
        dtype=object,
    )
    ts, failed = parse_timestamps(values, ("%m/%d/%Y %I:%M:%S %p", "%Y-%m-%d %H:%M"))
    assert list(ts[:7]) == [
        pd.Timestamp("2020-04-07 23:53:08"),
        pd.Timestamp("2020-04-08 00:00:00"),
        pd.Timestamp("2020-04-08 12:30:05"),
        pd.Timestamp("2020-04-08 09:30"),
        pd.Timestamp("2020-04-08 12:00"),
        pd.Timestamp("2020-04-08 06:00"),
        pd.Timestamp("2020-04-09 08:00"),
    ]
    assert pd.isna(ts[7]) and not failed[7]  # empty: not happened yet
    assert pd.isna(ts[8]) and failed[8]


def test_source_time_zone_becomes_the_site_zone_naive():
    ts = pd.Series(pd.to_datetime(["2020-04-07 23:53:08", "2020-11-01 01:30:00"]))
    out = to_site_time(ts, "America/New_York", "Asia/Shanghai")
    # EDT is UTC-4, Shanghai UTC+8: twelve hours later. 01:30 on the
    # morning New York leaves summer time is read as summer time.
    assert list(out) == [pd.Timestamp("2020-04-08 11:53:08"), pd.Timestamp("2020-11-01 13:30:00")]
    assert out.dt.tz is None


def test_coordinates_are_converted_to_the_site_system():
    m = parse_mapping_text(
        SMALL.replace("[source]", '[source]\ncoord_system = "wgs84"')
        + '[coordinates]\ncolumn = "Where"\norder = "lon_lat"\n',
        "c.toml",
    )
    text = (
        "Case No,Opened,Type,Street,Where\n"
        '1,2020-04-08 09:30,Noise,330105001,"POINT (120.16 30.27)"\n'
        "2,2020-04-08 09:40,Noise,330105001,\n"
        "3,2020-04-08 09:50,Noise,330105001,somewhere\n"
    )
    cfg = load_site_config(ROOT / "config" / "site.toml")  # gcj02
    out = transform(read_export(csv_bytes(text), "c.csv", m), m, cfg, StreetIndex())
    lon, lat = wgs84_to_gcj02(120.16, 30.27)
    cases = out.cases.set_index("id")
    assert cases.loc["t-1", "lon"] == pytest.approx(lon)
    assert cases.loc["t-1", "lat"] == pytest.approx(lat)
    assert pd.isna(cases.loc["t-2", "lat"])  # no position: allowed, flagged later
    [p] = out.problems
    assert (p.row, p.column, p.value, p.rule) == (4, "Where", "somewhere", "bad_coordinates")


def test_unmapped_values_reject_their_row_unless_a_default_is_given():
    text = ROWS + "3,2020-04-08 10:00,,Graffiti,330105002\n"
    cfg = load_site_config(ROOT / "config" / "site.toml")
    strict = small_mapping()
    out = transform(read_export(csv_bytes(text), "u.csv", strict), strict, cfg, StreetIndex())
    assert list(out.cases["id"]) == ["t-1", "t-2"]
    [p] = out.problems
    assert (p.file, p.row, p.column, p.value, p.rule) == (
        "u.csv",
        4,
        "Type",
        "Graffiti",
        "unmapped_value",
    )
    lenient = parse_mapping_text(
        SMALL.replace('"illegal_parking" }', '"illegal_parking" }, default = "other"')
    )
    out = transform(read_export(csv_bytes(text), "u.csv", lenient), lenient, cfg, StreetIndex())
    assert list(out.cases["category"]) == ["renovation_noise", "illegal_parking", "other"]
    assert not out.problems


def test_status_is_derived_from_the_milestones_when_not_mapped():
    cfg = load_site_config(ROOT / "config" / "site.toml")
    m = small_mapping()
    out = transform(read_export(csv_bytes(ROWS), "s.csv", m), m, cfg, StreetIndex()).cases
    assert list(out["status"]) == ["closed", "open"]


def test_rows_grouped_into_one_case_take_first_and_last_milestones():
    text = (
        "Call,Unit,Received,On Scene,Available,Type,Street\n"
        "9,E1,2020-04-08 09:00,2020-04-08 09:07,2020-04-08 10:00,Noise,330105001\n"
        "9,T2,2020-04-08 09:00,2020-04-08 09:05,2020-04-08 10:30,,330105001\n"
        "9,M3,2020-04-08 09:00,,2020-04-08 09:40,Noise,330105001\n"
        "10,E1,2020-04-08 11:00,,,Parking,330105002\n"
    )
    m = parse_mapping_text(
        """
[source]
group_by = ["Call"]
timestamp_formats = ["%Y-%m-%d %H:%M"]
[fields]
id = { template = "c-{Call}" }
reported_at = { column = "Received", group = "min" }
arrived_at = { column = "On Scene", group = "min" }
closed_at = { column = "Available", group = "max" }
category = { column = "Type", map = { Noise = "renovation_noise", Parking = "illegal_parking" } }
[street]
by = "code"
column = "Street"
""",
        "g.toml",
    )
    cfg = load_site_config(ROOT / "config" / "site.toml")
    out = transform(read_export(csv_bytes(text), "g.csv", m), m, cfg, StreetIndex())
    assert out.rows_read == 4 and not out.problems
    first = out.cases.set_index("id").loc["c-9"]
    assert first["arrived_at"] == pd.Timestamp("2020-04-08 09:05")  # first unit on scene
    assert first["closed_at"] == pd.Timestamp("2020-04-08 10:30")  # last unit available
    assert first["category"] == "renovation_noise"  # first non-empty
    assert first["_row"] == 2
    assert list(out.cases["status"]) == ["closed", "open"]


def test_point_in_polygon_agrees_with_shapely_on_the_shipped_outlines():
    shapely = pytest.importorskip("shapely", reason="shapely is in the test extra")
    from shapely.geometry import Point, shape

    path = ROOT / "assets" / "geo" / "streets_approx.geojson"
    rule = load_mapping("hangzhou_12345").street
    assert rule is not None
    rule = rule.__class__(by="point", file=str(path), crs="wgs84")
    idx = StreetIndex.build([], rule, "wgs84")
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    shapes = [(f["properties"]["code"], shape(f["geometry"])) for f in features]
    import random

    rng = random.Random(3)
    pts = [(rng.uniform(119.9, 120.6), rng.uniform(30.05, 30.45)) for _ in range(400)]
    got = street_by_point(idx, pd.Series([p[0] for p in pts]), pd.Series([p[1] for p in pts]))
    expected = [next((c for c, s in shapes if s.contains(Point(x, y))), None) for x, y in pts]
    assert list(got) == expected
    assert sum(e is not None for e in expected) > 150
    assert shapely is not None


def test_excel_with_serial_and_date_cells(tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    ws = book.active
    ws.append(["Case No", "Opened", "Closed", "Type", "Street"])
    ws.append([1, datetime(2020, 4, 8, 9, 30), 43929.75, "Noise", "330105001"])
    ws.append([2, 43929.5, None, "Parking", 330105002])
    ws.append([None, None, None, None, None])  # an empty row is skipped
    ws.append([3, "04/08/2020 01:15:00 PM", "", "Noise", "330105001"])
    buf = io.BytesIO()
    book.save(buf)
    m = small_mapping()
    raw = read_export(buf.getvalue(), "export.xlsx", m)
    assert raw.encoding == "excel" and raw.rows == [2, 3, 5]
    cfg = load_site_config(ROOT / "config" / "site.toml")
    out = transform(raw, m, cfg, StreetIndex())
    assert not out.problems
    cases = out.cases.set_index("id")
    assert cases.loc["t-1", "reported_at"] == pd.Timestamp("2020-04-08 09:30")
    assert cases.loc["t-1", "closed_at"] == pd.Timestamp("2020-04-08 18:00")
    assert cases.loc["t-2", "reported_at"] == pd.Timestamp("2020-04-08 12:00")
    assert cases.loc["t-2", "street_code"] == "330105002"  # a number cell, as text
    assert cases.loc["t-3", "reported_at"] == pd.Timestamp("2020-04-08 13:15")


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[fields]\nreported_at = "x"\n', "fields.id: missing"),
        ('[fields]\nid = "a"\nreported_at = "x"\nlat = "y"\n', "fields.lat: not a contract column"),
        (
            '[fields]\nid = { column = "a", value = "b" }\nreported_at = "x"\n',
            "fields.id: give exactly one",
        ),
        (
            '[source]\ntimezone = "Mars/Base"\n[fields]\nid = "a"\nreported_at = "x"\n',
            "source.timezone",
        ),
        (
            '[fields]\nid = "a"\nreported_at = { column = "x", group = "median" }\n',
            "fields.reported_at.group",
        ),
        ('[fields]\nid = "a"\nreported_at = "x"\n[street]\nby = "point"\n', "street.file"),
        (
            '[fields]\nid = "a"\nreported_at = "x"\n[validate]\nreject = ["typo"]\n',
            "validate.reject",
        ),
        ('[feilds]\nid = "a"\n', "feilds: unknown key"),
    ],
)
def test_mapping_errors_name_the_key(toml, message):
    with pytest.raises(MappingError, match=message.replace(".", r"\.")):
        parse_mapping_text(toml, "bad.toml")


def test_every_shipped_mapping_parses():
    from importer.mapping import shipped_mappings

    names = shipped_mappings()
    assert {"sf_fire_calls", "nyc_311", "hangzhou_12345", "contract_incident"} <= set(names)
    for name in names:
        assert load_mapping(name).name == name
