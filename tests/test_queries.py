"""The foundation's query functions against independent pandas computations,
on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from data_access import geography
from data_access.config import load_site_config
from data_access.filters import AreaFilter
from metrics import overview, quality, throughput
from tests import reference
from tests.conftest import FIXTURE_DAYS, FIXTURE_END

NOW = FIXTURE_END
CFG = load_site_config()


@pytest.fixture(scope="module")
def raw(backend):
    return {
        t: reference.read(backend.raw_engine, t)
        for t in ("street", "district", "incident", "crowd_reading", "warning")
    }


def filters_for(raw) -> list[AreaFilter]:
    """A whole-database filter, a district, a pair of streets, and a short window."""
    end = NOW.date()
    start = end - timedelta(days=FIXTURE_DAYS - 1)
    streets = raw["street"]
    district = "330102"
    pair = tuple(streets.loc[streets["district_code"] == district, "code"].head(2))
    return [
        AreaFilter(start=start, end=end),
        AreaFilter(start=start, end=end, district=district),
        AreaFilter(start=end - timedelta(days=6), end=end, district=district, streets=pair),
        AreaFilter(start=end - timedelta(days=2), end=end, district="330114"),
        AreaFilter(
            start=start,
            end=end,
            categories=("renovation_noise", "neighbour_dispute"),
            sources=("110", "hotline"),
        ),
        AreaFilter(
            start=start, end=end, district="330105", statuses=("open", "dispatched", "on_site")
        ),
    ]


def test_geography_lists_every_street(backend, raw):
    with backend.engine.connect() as conn:
        d = geography.districts(conn)
        s = geography.streets(conn)
        s_one = geography.streets(conn, "330105")
    assert list(s["code"]) == sorted(raw["street"]["code"])
    assert set(d["code"]) == set(raw["street"]["district_code"])
    assert (
        d.set_index("code")["streets"].to_dict()
        == raw["street"].groupby("district_code").size().to_dict()
    )
    assert set(s_one["district_code"]) == {"330105"} and len(s_one) == 18


def test_case_counts_match_pandas(backend, raw):
    for f in filters_for(raw):
        with backend.engine.connect() as conn:
            got = overview.case_counts(conn, f, NOW).iloc[0].to_dict()
        want = reference.case_counts(raw["incident"], raw["street"], f, NOW)
        assert got == want, f
    assert want["in_window"] > 0


def test_street_summary_matches_pandas(backend, raw):
    for f in filters_for(raw):
        with backend.engine.connect() as conn:
            got = overview.street_summary(conn, f, NOW).set_index("street_code")
        inc = reference.clean_incidents(raw["incident"], raw["street"], f, NOW)
        assert set(got.index) == reference.area_codes(raw["street"], f)
        want = inc.groupby("street_code")["status"].agg(
            cases="size",
            closed=lambda s: (s == "closed").sum(),
            cancelled=lambda s: (s == "cancelled").sum(),
            open_backlog=lambda s: s.isin(["open", "dispatched", "on_site"]).sum(),
        )
        want = want.reindex(got.index, fill_value=0).astype("int64")
        pd.testing.assert_frame_equal(got[want.columns], want, check_names=False)


def test_street_figures_are_the_summary_and_ontime_by_street(backend, raw):
    """The overview reads both from one statement: the same frames."""
    for f in filters_for(raw):
        with backend.engine.connect() as conn:
            summary, ontime = overview.street_figures(conn, f, NOW, CFG)
            want_summary = overview.street_summary(conn, f, NOW)
            want_ontime = throughput.ontime_by_milestone(conn, f, NOW, CFG, by="street")
        assert len(summary) and len(ontime)
        pd.testing.assert_frame_equal(summary, want_summary)
        pd.testing.assert_frame_equal(ontime, want_ontime)


@pytest.mark.parametrize("by", ["area", "street"])
def test_ontime_matches_pandas(backend, raw, by):
    for f in filters_for(raw):
        with backend.engine.connect() as conn:
            got = throughput.ontime_by_milestone(conn, f, NOW, CFG, by=by)
        want = reference.ontime(
            raw["incident"], raw["street"], f, NOW, CFG, by_street=by == "street"
        )
        keys = ["street_code", "milestone"] if by == "street" else ["milestone"]
        got = got.sort_values(keys).reset_index(drop=True)
        want = want.sort_values(keys).reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want[got.columns], check_dtype=False)
        if by == "street":  # the area's figures as the sum of the streets' (the overview)
            area = throughput.ontime_from_streets(got, CFG)
            with backend.engine.connect() as conn:
                direct = throughput.ontime_by_milestone(conn, f, NOW, CFG)
            pd.testing.assert_frame_equal(area, direct, check_dtype=False)
    # The whole window judges real numbers of cases, with some breaches.
    with backend.engine.connect() as conn:
        whole = throughput.ontime_by_milestone(conn, filters_for(raw)[0], NOW, CFG).set_index(
            "milestone"
        )
    assert whole.loc["arrived", "judged"] > 100
    assert 0.6 < whole.loc["arrived", "on_time_share"] < 1.0
    assert "dispatched" in whole.index  # judged where an override (四季青, 河庄) sets it


def test_ontime_uses_each_streets_own_target(backend, raw):
    """四季青 is judged on 5 minutes on site, its neighbours on 8."""
    end = NOW.date()
    f = AreaFilter(start=end - timedelta(days=FIXTURE_DAYS - 1), end=end, district="330102")
    inc = reference.clean_incidents(raw["incident"], raw["street"], f, NOW)
    inc = inc[(inc["status"] != "cancelled") & inc["arrived_at"].notna()]
    mins = (inc["arrived_at"] - inc["reported_at"]).dt.total_seconds() / 60
    between = inc[(mins > 5) & (mins <= 8) & (inc["arrived_at"] >= inc["reported_at"])]
    assert (between["street_code"] == "330102014").any(), (
        "fixture has no 四季青 case between 5 and 8 min"
    )
    with backend.engine.connect() as conn:
        got = throughput.ontime_by_milestone(conn, f, NOW, CFG, by="street")
    sjq = got[(got["street_code"] == "330102014") & (got["milestone"] == "arrived")].iloc[0]
    want = reference.ontime(raw["incident"], raw["street"], f, NOW, CFG, by_street=True)
    want = want[(want["street_code"] == "330102014") & (want["milestone"] == "arrived")].iloc[0]
    assert sjq["late"] == want["late"]
    # Judged on 8 minutes instead, 四季青 would have fewer late cases.
    sjq_rows = between[between["street_code"] == "330102014"]
    assert sjq["late"] >= len(sjq_rows)


def test_data_quality_counts_the_generators_bad_rows(backend, raw):
    end = NOW.date()
    f = AreaFilter(start=end - timedelta(days=FIXTURE_DAYS + 30), end=end)
    with backend.engine.connect() as conn:
        got = quality.data_quality(conn, f, NOW, CFG).set_index(["table", "check"])["rows"]
    inc = raw["incident"]
    known = set(raw["street"]["code"])
    b = CFG.bounds
    win = inc[(inc["reported_at"] >= f.start_ts) & (inc["reported_at"] < f.end_ts)]
    area = win[win["street_code"].isin(known)]
    assert got[("incident", "unknown_street")] == (~win["street_code"].isin(known)).sum()
    assert (
        got[("incident", "missing_coordinates")] == (area["lat"].isna() | area["lon"].isna()).sum()
    )
    has = area.dropna(subset=["lat", "lon"])
    outside = ~(has["lat"].between(b.min_lat, b.max_lat) & has["lon"].between(b.min_lon, b.max_lon))
    assert got[("incident", "out_of_area")] == outside.sum()
    assert (
        got[("incident", "future_time")]
        == (inc[inc["street_code"].isin(known)]["reported_at"] > NOW).sum()
    )
    assert got[("incident", "duplicate_id")] == len(area) - area["id"].nunique()
    ts = area[reference.TS_COLS]
    bad_order = np.zeros(len(area), dtype=bool)
    for i, m in enumerate(reference.TS_COLS[1:], start=1):
        for prev in reference.TS_COLS[:i]:
            bad_order |= (ts[m] < ts[prev]).fillna(False).to_numpy()
    assert got[("incident", "out_of_order")] == bad_order.sum()
    # The generator's deliberate bad rows are all found.
    rows = backend.summary.rows
    for check in ("unknown_street", "future_time", "duplicate_id", "out_of_order"):
        assert got[("incident", check)] > 0, check
    if "bad_incident_unknown_street" in rows:
        assert got[("incident", "unknown_street")] == rows["bad_incident_unknown_street"]


def test_bad_rows_never_reach_the_metrics(backend, raw):
    """Future and unknown-street rows are excluded; duplicates count once."""
    end = NOW.date()
    f = AreaFilter(start=end - timedelta(days=FIXTURE_DAYS + 30), end=end + timedelta(days=1))
    with backend.engine.connect() as conn:
        counts = overview.case_counts(conn, f, NOW).iloc[0]
    inc = raw["incident"]
    plain = inc[inc["street_code"].isin(set(raw["street"]["code"])) & (inc["reported_at"] <= NOW)]
    assert counts["in_window"] == plain["id"].nunique() < len(inc)


def test_largest_crowd_and_red_warnings_match_pandas(backend, raw):
    f = filters_for(raw)[1]
    with backend.engine.connect() as conn:
        crowd = overview.largest_crowd(conn, f, NOW)
        reds = overview.active_red_warnings(conn, f, NOW)
        fresh = overview.data_freshness(conn, NOW).set_index("table")["latest"]
    codes = reference.area_codes(raw["street"], f)
    cr = raw["crowd_reading"]
    cr = cr[cr["street_code"].isin(codes) & (cr["ts"] <= NOW)]
    latest = cr[cr["ts"] == cr["ts"].max()].dropna(subset=["people"])
    assert crowd.iloc[0]["people"] == latest["people"].max()
    w = raw["warning"]
    w = w[
        (w["colour"] == "red")
        & w["street_code"].isin(codes)
        & (w["raised_at"] <= NOW)
        & (w["cleared_at"].isna() | (w["cleared_at"] > NOW))
    ]
    assert reds.set_index("domain")["red"].to_dict() == w.groupby("domain").size().to_dict()
    inc = raw["incident"]
    assert fresh["incident"] == inc.loc[inc["reported_at"] <= NOW, "reported_at"].max()


def test_empty_area_and_window_give_zeros_not_errors(backend):
    f = AreaFilter(start=date(2001, 1, 1), end=date(2001, 1, 2), district="330105")
    with backend.engine.connect() as conn:
        counts = overview.case_counts(conn, f, NOW).iloc[0]
        ot = throughput.ontime_by_milestone(conn, f, NOW, CFG)
        streets = overview.street_summary(conn, f, NOW)
    assert counts["in_window"] == 0
    assert ot.empty or (ot["judged"] == 0).all()
    assert len(streets) == 18 and streets["cases"].sum() == 0
