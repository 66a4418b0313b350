"""The global filter object and the URL parameters that seed it."""

from __future__ import annotations

from datetime import date

import pytest

from data_access.filters import AreaFilter, FilterError
from ui.filters import parse_url_params

DISTRICTS = {"330105", "330102"}
STREETS = {"330105013": "330105", "330105012": "330105", "330102014": "330102"}
TODAY = date(2026, 11, 22)


def test_filter_validates_and_normalises():
    f = AreaFilter(
        start=date(2026, 11, 1),
        end=date(2026, 11, 7),
        district="330105",
        streets=("330105013", "330105012", "330105013"),
    )
    assert f.streets == ("330105012", "330105013")
    assert f.days == 7 and f.end_ts.isoformat() == "2026-11-08T00:00:00"
    assert hash(f) == hash(
        AreaFilter(
            start=date(2026, 11, 1),
            end=date(2026, 11, 7),
            district="330105",
            streets=("330105012", "330105013"),
        )
    )


def test_known_streets_are_validated_and_normalised():
    f = AreaFilter(
        start=date(2026, 11, 1), end=date(2026, 11, 7), known_streets=("330105013", "330105012")
    )
    assert f.known_streets == ("330105012", "330105013")
    assert AreaFilter(start=f.start, end=f.end).known_streets is None  # not resolved
    with pytest.raises(FilterError, match="known_streets"):
        AreaFilter(start=f.start, end=f.end, known_streets=("330105;",))


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"district": "33010"}, "district"),
        ({"district": "330105", "streets": ("330102014",)}, "streets"),
        ({"streets": ("abc",)}, "streets"),
        ({"categories": ("drop table;",)}, "categories"),
        ({"start": date(2026, 11, 8), "end": date(2026, 11, 7)}, "end"),
        ({"start": date(2020, 1, 1), "end": date(2026, 11, 7)}, "window"),
    ],
)
def test_filter_rejects_bad_values_naming_the_field(kwargs, field):
    base = {"start": date(2026, 11, 1), "end": date(2026, 11, 7)}
    with pytest.raises(FilterError, match=field):
        AreaFilter(**{**base, **kwargs})


def test_url_params_accepted():
    s = parse_url_params(
        {
            "lang": "en",
            "district": "330105",
            "streets": "330105013,330105012",
            "start": "2026-11-01",
            "end": "2026-11-07",
        },
        DISTRICTS,
        STREETS,
        TODAY,
    )
    assert (s.lang, s.district, s.streets, s.start, s.end) == (
        "en",
        "330105",
        ("330105013", "330105012"),
        date(2026, 11, 1),
        date(2026, 11, 7),
    )
    assert s.rejected == ()


@pytest.mark.parametrize(
    "params, rejected",
    [
        ({"lang": "fr"}, "lang"),
        ({"district": "999999"}, "district"),
        ({"district": "330105", "streets": "330102014"}, "streets"),
        ({"streets": "x"}, "streets"),
        ({"start": "yesterday"}, "start"),
        ({"start": "2026-11-09", "end": "2026-11-01"}, "start"),
        ({"start": "2027-01-01", "end": "2027-01-02"}, "end"),
    ],
)
def test_url_params_rejected_fall_back(params, rejected):
    s = parse_url_params(params, DISTRICTS, STREETS, TODAY)
    assert rejected in {name for name, _ in s.rejected}
    if rejected == "district":
        assert s.district is None
    if rejected in ("start", "end"):
        assert s.start is None or s.end is None or s.start <= s.end
