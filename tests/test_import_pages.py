"""Every page on a database imported from the San Francisco fire calls
export, with the SF site config, its figures checked against pandas on the
raw export."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from importer.load import import_export, site_for, staging_engine
from importer.mapping import load_mapping

ROOT = Path(__file__).resolve().parent.parent
SF_SAMPLE = ROOT / "samples" / "sf_fire_calls" / "sf_fire_calls_2020-04_sample.csv"
SF_SITE = ROOT / "config" / "sites" / "sf" / "site.toml"
PAGES = ["Home.py", *sorted(f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py"))]
#: Inside the sample's span (2020-04-07 .. 2020-04-20, local time): the
#: last day's evening calls come after it.
NOW = datetime(2020, 4, 20, 18, 0)


@pytest.fixture(scope="module")
def sf_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    if not SF_SAMPLE.is_file():
        pytest.fail(f"{SF_SAMPLE} is missing (see samples/sf_fire_calls/SOURCES.md)")
    url = f"sqlite:///{tmp_path_factory.mktemp('sf') / 'sf.sqlite'}"
    mapping = load_mapping("sf_fire_calls")
    engine = staging_engine(url)
    result = import_export(
        engine,
        SF_SAMPLE.read_bytes(),
        SF_SAMPLE.name,
        mapping,
        site_for(mapping),
        now=NOW,
        report_dir=tmp_path_factory.mktemp("sf_reports"),
    )
    engine.dispose()
    assert result.status == "loaded", result.message
    return url


@pytest.fixture(scope="module")
def sf_rolled(sf_db: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A copy of the SF database with the rollup job run on it, as a site
    runs it nightly (its command line, the SF site's configuration)."""
    import shutil

    from jobs import refresh_rollups

    copy = tmp_path_factory.mktemp("sf_rolled") / "sf.sqlite"
    shutil.copy(sf_db.removeprefix("sqlite:///"), copy)
    url = f"sqlite:///{copy}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPS_SITE_CONFIG", str(SF_SITE))
        args = ["refresh", "--url", url, "--now", NOW.isoformat(), "--reviews", "0"]
        assert refresh_rollups.main(args) == 0
    import rollups
    from data_access.connection import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:  # the pages will read it
        state = rollups.state(conn, NOW)
    engine.dispose()
    rollups.forget()
    assert state is not None and state.rows > 2000, state
    return url


#: The SF database as imported, and with its rollup (the figures must not move).
SF_DATABASES = ["sf_db", "sf_rolled"]


@pytest.fixture(autouse=True)
def sf_site(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_SITE_CONFIG", str(SF_SITE))
    monkeypatch.setenv("OPS_NOW", NOW.isoformat())


def no_errors(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_on_the_imported_sf_database(app_test, sf_db, page):
    at = app_test(page, sf_db)
    no_errors(at)
    assert at.title


def raw_cases() -> pd.DataFrame:
    """The sample's incidents computed with pandas alone from the raw CSV:
    one row per Incident Number, its neighbourhood, first received, first
    entry and first dispatch times."""
    raw = pd.read_csv(SF_SAMPLE, dtype=str, keep_default_na=False)
    fmt = "%m/%d/%Y %I:%M:%S %p"
    for col in ("Received DtTm", "Entry DtTm", "Dispatch DtTm"):
        raw[col] = pd.to_datetime(raw[col], format=fmt)
    return raw.groupby("Incident Number").agg(
        hood=("Neighborhooods - Analysis Boundaries", "first"),
        received=("Received DtTm", "min"),
        entered=("Entry DtTm", "min"),
        dispatched=("Dispatch DtTm", "min"),
    )


def in_default_window(cases: pd.DataFrame) -> pd.DataFrame:
    """The SF site's default window: the 7 days ending on NOW's date, and
    nothing reported after NOW (the dashboards' clock)."""
    start = pd.Timestamp(NOW.date()) - pd.Timedelta(days=6)
    end = min(pd.Timestamp(NOW.date()) + pd.Timedelta(days=1), pd.Timestamp(NOW))
    return cases[(cases["received"] >= start) & (cases["received"] <= end)]


def street_codes() -> dict[str, str]:
    """Neighbourhood name (the export's) -> generated street code (the mapping's)."""
    mapping = load_mapping("sf_fire_calls")
    return {s["name_en"]: s["code"] for s in mapping.geography.streets}


@pytest.mark.parametrize("db", SF_DATABASES)
def test_overview_cases_per_neighbourhood_equal_pandas_on_the_raw_export(app_test, request, db):
    import json

    sf_db = request.getfixturevalue(db)

    at = app_test("Home.py", sf_db, query_params={"lang": "en"})
    no_errors(at)
    expected = in_default_window(raw_cases()).groupby("hood").size()
    expected = {street_codes()[h]: int(n) for h, n in expected.items() if h in street_codes()}
    assert sum(expected.values()) > 2000  # a week of the city's fire calls
    spec = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    points = next(layer for layer in spec["layers"] if layer["id"] == "street-points")
    drawn = {row["code"]: row["cases"] for row in points["data"] if row["cases"]}
    assert drawn == expected
    # The map is centred on the site (San Francisco), not on Hangzhou.
    view = spec["initialViewState"]
    assert -122.53 < view["longitude"] < -122.34 and 37.69 < view["latitude"] < 37.84
    table = next(df.value for df in at.dataframe if "cases" in df.value.columns)
    names = set(street_codes())
    assert set(table["name"]) == names  # every neighbourhood, in English
    shown = dict(zip(table["name"], table["cases"], strict=True))
    by_name = in_default_window(raw_cases()).groupby("hood").size()
    assert {k: int(v) for k, v in shown.items() if v} == {
        k: int(v) for k, v in by_name.items() if k in names
    }


@pytest.mark.parametrize("db", SF_DATABASES)
def test_throughput_median_dispatch_minutes_equal_pandas_on_the_raw_export(app_test, request, db):
    at = app_test("pages/throughput.py", request.getfixturevalue(db))
    no_errors(at)
    cases = in_default_window(raw_cases())
    minutes = (cases["dispatched"] - cases["received"]).dt.total_seconds() / 60
    # The dashboards leave a case out of the stage its times break.
    in_order = (cases["dispatched"] >= cases["received"]) & (
        cases["dispatched"] >= cases["entered"]
    )
    expected = minutes[in_order].groupby(cases.loc[in_order, "hood"]).median()
    table = next(df.value for df in at.dataframe if "dispatched_median_min" in df.value.columns)
    shown = table.dropna(subset=["dispatched_median_min"]).set_index("name")[
        "dispatched_median_min"
    ]
    zh = {s["name_zh"]: s["name_en"] for s in load_mapping("sf_fire_calls").geography.streets}
    assert len(shown) >= 35
    for name, value in shown.items():
        assert value == pytest.approx(expected[zh[name]], abs=1e-6), name
    # Every neighbourhood with a timed dispatch is shown; the export's two
    # incidents with "None" for a neighbourhood belong to no street.
    assert {zh[n] for n in shown.index} == set(expected.index) - {"None"}


OTHER_SITES = [
    pytest.param(
        "nyc_311", "nyc_311_sample.csv", "config/sites/nyc/site.toml", "2011-03-07T12:00", id="nyc"
    ),
    pytest.param(
        "hangzhou_12345",
        "hangzhou_12345_gbk.csv",
        "config/site.toml",
        "2026-11-20T18:00",
        id="12345",
    ),
]


@pytest.mark.parametrize(("mapping_name", "fixture", "site", "now"), OTHER_SITES)
def test_the_dashboards_run_on_the_other_imported_databases(
    app_test, monkeypatch, tmp_path, mapping_name, fixture, site, now
):
    url = f"sqlite:///{tmp_path / 'imported.sqlite'}"
    mapping = load_mapping(mapping_name)
    engine = staging_engine(url)
    data = (ROOT / "tests" / "fixtures" / fixture).read_bytes()
    result = import_export(
        engine,
        data,
        fixture,
        mapping,
        site_for(mapping, str(ROOT / site)),
        now=datetime.fromisoformat(now),
        report_dir=tmp_path,
    )
    engine.dispose()
    assert result.status == "loaded", result.message
    monkeypatch.setenv("OPS_SITE_CONFIG", str(ROOT / site))
    monkeypatch.setenv("OPS_NOW", now)
    for page in (
        "Home.py",
        "pages/throughput.py",
        "pages/incident-map.py",
        "pages/data-quality.py",
    ):
        at = app_test(page, url)
        no_errors(at)
    # The data-quality page counts the rows the importer reported as flagged.
    shown = next(df.value for df in at.dataframe if "rows" in df.value.columns)
    assert int(shown["rows"].sum()) > 0


def test_the_incident_map_centres_on_the_site_without_outlines(app_test, sf_db):
    """(The crowd map has no readings to draw here: a fire-calls export has none.)"""
    import json

    at = app_test("pages/incident-map.py", sf_db)
    no_errors(at)
    spec = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    view = spec["initialViewState"]
    assert -122.53 < view["longitude"] < -122.34 and 37.69 < view["latitude"] < 37.84


def drawn_cases(at) -> dict[str, int]:
    import json

    spec = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    points = next(layer for layer in spec["layers"] if layer["id"] == "street-points")
    return {row["code"]: row["cases"] for row in points["data"] if row["cases"]}


def test_an_export_older_than_the_window_offers_its_own_last_week(app_test, sf_db, monkeypatch):
    """Months after the export, the default window is empty: the page says
    the dates are after the data and one button shows the data's last week
    (the same figures as the test run on the export's own date)."""
    monkeypatch.setenv("OPS_NOW", "2020-09-01T12:00:00")
    at = app_test("Home.py", sf_db, query_params={"lang": "en"})
    no_errors(at)
    assert drawn_cases(at) == {}
    assert any("after the newest data" in c.value for c in at.caption)
    at.button(key="jump_to_data").click().run()
    no_errors(at)
    assert [d.isoformat() for d in at.date_input(key="f_dates").value] == [
        "2020-04-14",
        "2020-04-20",
    ]
    # The whole of the last day this time: the clock is long past it.
    cases = raw_cases()
    start, end = pd.Timestamp("2020-04-14"), pd.Timestamp("2020-04-21")
    week = cases[(cases["received"] >= start) & (cases["received"] < end)]
    expected = week.groupby("hood").size()
    assert drawn_cases(at) == {
        street_codes()[h]: int(n) for h, n in expected.items() if h in street_codes()
    }
    # The view is in the URL, so the link to it can be shared.
    assert at.query_params["start"] == "2020-04-14"


@pytest.mark.parametrize(
    ("start", "end", "refused"),
    [("2019-01-01", "2019-01-07", False), ("1999-12-25", "1999-12-31", True)],
)
def test_a_link_to_old_dates_opens_them_or_says_why_not(
    app_test, sf_db, monkeypatch, start, end, refused
):
    """A bookmarked link years old (before the date picker's old floor of
    six years) used to stop the page; dates before 2000 are refused with a
    notice and the default window shown."""
    monkeypatch.delenv("OPS_NOW")
    at = app_test("Home.py", sf_db, query_params={"start": start, "end": end, "lang": "en"})
    no_errors(at)
    warnings = " ".join(w.value for w in at.warning)
    assert (f"start={start}" in warnings) is refused
    shown = at.date_input(key="f_dates").value
    if refused:
        assert shown[0].year >= 2026
    else:
        assert [d.isoformat() for d in shown] == [start, end]
