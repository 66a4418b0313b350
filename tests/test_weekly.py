"""The weekly review (周例会): week arithmetic, the Poisson mark, the figures
against independent pandas computations on SQLite/PostgreSQL/MariaDB, the
summary's numbers traced to the tables, the PDF + Excel pack, and the page."""

from __future__ import annotations

import json
import math
import re
import subprocess
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from data_access.config import load_site_config
from data_access.filters import AreaFilter, FilterError
from metrics import (
    weekly,
    weekly_compare,
    weekly_figures,
    weekly_lists,
    weekly_model,
    weekly_summary,
)
from metrics.warning_rules import load_warning_rules
from tests import reference
from tests.conftest import FIXTURE_END

NOW = FIXTURE_END
CFG = load_site_config()
RULES = load_warning_rules()
WEEK = weekly_model.parse_week("2026-W46")  # the last complete week before FIXTURE_END
ALL = AreaFilter(start=NOW.date(), end=NOW.date())
GONGSHU = AreaFilter(start=NOW.date(), end=NOW.date(), district="330105")


# --- week arithmetic -------------------------------------------------------------


def test_week_arithmetic_and_year_boundaries():
    assert weekly_model.last_complete_week(NOW) == WEEK
    assert weekly_model.week_of(NOW.date()).label == "2026-W47"
    assert (WEEK.monday, WEEK.sunday) == (date(2026, 11, 9), date(2026, 11, 15))
    assert WEEK.end_ts == datetime(2026, 11, 16) and WEEK.as_of(NOW) == WEEK.end_ts
    # Monday 00:00 exactly: the week that just ended is complete.
    assert weekly_model.last_complete_week(datetime(2026, 11, 16)) == WEEK
    # ISO years differ from calendar years at the edges.
    assert weekly_model.week_of(date(2027, 1, 1)).label == "2026-W53"
    assert weekly_model.week_of(date(2024, 12, 30)).label == "2025-W01"
    assert weekly_model.weeks_in_year(2026) == 53 and weekly_model.weeks_in_year(2025) == 52
    w53 = weekly_model.parse_week("2026-W53")
    assert w53.monday == date(2026, 12, 28) and w53.shift(1).label == "2027-W01"
    assert w53.last_year().label == "2025-W52"  # 2025 has no W53
    assert weekly_model.parse_week("2027w1").last_year().label == "2026-W01"
    assert weekly_model.parse_week("2020-W53").last_year().label == "2019-W52"
    assert weekly_model.parse_week("2026-W01").shift(-1).label == "2025-W52"
    for bad in ("2025-W53", "2026-W00", "W47", "2026-47", ""):
        with pytest.raises(FilterError):
            weekly_model.parse_week(bad)
    weeks = weekly_model.review_weeks(WEEK)
    assert [weeks[k].label for k in ("w-4", "w-3", "w-2", "w-1", "last")] == [
        "2026-W42",
        "2026-W43",
        "2026-W44",
        "2026-W45",
        "2026-W45",
    ]
    assert weeks["last_year"].label == "2025-W46"
    assert WEEK.area(GONGSHU) == AreaFilter(
        start=date(2026, 11, 9), end=date(2026, 11, 15), district="330105"
    )


def test_poisson_z():
    assert weekly_compare.poisson_z(4, 1) == pytest.approx(2.0)
    assert not weekly_compare.significant(weekly_compare.poisson_z(4, 1))  # |z| > 2, strictly
    assert weekly_compare.poisson_z(2, 1) == pytest.approx(2 * (math.sqrt(2) - 1))
    assert not weekly_compare.significant(weekly_compare.poisson_z(2, 1))  # 1 -> 2 is noise
    assert weekly_compare.significant(weekly_compare.poisson_z(100, 64))  # z = 4
    assert weekly_compare.significant(weekly_compare.poisson_z(0, 9))  # z = -6
    assert weekly_compare.poisson_z(0, 0) == 0.0
    assert math.isnan(weekly_compare.poisson_z(math.nan, 3)) and not weekly_compare.significant(
        math.nan
    )
    assert weekly_compare.proportion_z(9, 10, 9, 10) == 0.0
    assert math.isnan(weekly_compare.proportion_z(1, 0, 1, 1))


# --- figures against pandas --------------------------------------------------------


@pytest.fixture(scope="module")
def raw(backend):
    out = {t: reference.read(backend.raw_engine, t) for t in ("street", "incident", "petition")}
    inc = out["incident"]
    for c in ("reported_at", "closed_at"):
        inc[c] = pd.to_datetime(inc[c])
    # Cases as the dashboards count them: known street, one row per id (earliest), none after now.
    inc = inc[inc["street_code"].isin(out["street"]["code"]) & (inc["reported_at"] <= NOW)]
    inc = inc.sort_values(["reported_at", "accepted_at"]).drop_duplicates("id")
    out["cases"] = inc.merge(
        out["street"][["code", "district_code"]], left_on="street_code", right_on="code"
    )
    return out


_REVIEWS: dict[str, dict[str, pd.DataFrame]] = {}


def _review(backend) -> dict[str, pd.DataFrame]:
    """The reviewed week's tables for Gongshu, computed once per backend."""
    if backend.name not in _REVIEWS:
        with backend.engine.connect() as conn:
            _REVIEWS[backend.name] = weekly.review_tables(
                conn, GONGSHU, NOW, CFG, WEEK.label, RULES
            )
    return _REVIEWS[backend.name]


@pytest.fixture(scope="module")
def tables(backend):
    return _review(backend)


def _cases(raw, f: AreaFilter, w: weekly_model.IsoWeek) -> pd.DataFrame:
    c = raw["cases"]
    if f.district:
        c = c[c["district_code"] == f.district]
    return c[(c["reported_at"] >= w.start_ts) & (c["reported_at"] < w.as_of(NOW))]


def _value(tables, week, metric, code=""):
    s = tables["weeks"]
    hit = s[(s["week"] == week) & (s["metric"] == metric) & (s["code"] == code)]
    assert len(hit) == 1, (week, metric, code)
    return hit["value"].iloc[0]


def test_case_counts_flow_and_petitions_match_pandas(raw, tables):
    c = raw["cases"]
    c = c[c["district_code"] == "330105"]
    for w in (WEEK, WEEK.shift(-1), WEEK.shift(-3)):
        mine = _cases(raw, GONGSHU, w)
        assert _value(tables, w.label, "cases") == len(mine)
        for code, n in mine.groupby("category").size().items():
            assert _value(tables, w.label, "category", code) == n
        for code, n in mine.groupby("source").size().items():
            assert _value(tables, w.label, "source", code) == n
        end = w.as_of(NOW)
        closed = (mine["status"] == "closed") & (mine["closed_at"] < end)
        assert _value(tables, w.label, "closure_rate") == pytest.approx(closed.sum() / len(mine))
        before = c[c["reported_at"] < end]
        closed_by_end = (before["status"] == "closed") & ~(before["closed_at"] >= end)
        backlog = (before["status"] != "cancelled") & ~closed_by_end
        assert _value(tables, w.label, "backlog_at_end") == backlog.sum()
        p = raw["petition"].merge(
            raw["street"][["code", "district_code"]], left_on="street_code", right_on="code"
        )
        p = p[p["district_code"] == "330105"]
        rec = pd.to_datetime(p["received_at"])
        opened = ((rec >= w.start_ts) & (rec < w.end_ts) & (rec <= NOW)).sum()
        assert _value(tables, w.label, "opened") == opened
    # The last-year week and W42 precede the fixture's first case: no data, not zero.
    assert math.isnan(_value(tables, "2025-W46", "cases"))
    assert math.isnan(_value(tables, "2026-W42", "cases"))


def test_crowd_peaks_match_pandas(backend):
    weeks = (WEEK, WEEK.shift(-1), WEEK.shift(1), WEEK.shift(-30))  # the last has no readings
    with backend.engine.connect() as conn:
        got = weekly_figures.crowd_peaks(conn, GONGSHU, NOW, weeks).set_index("week")
    crowd = reference.read(backend.raw_engine, "crowd_reading")
    streets = reference.read(backend.raw_engine, "street")
    crowd = crowd[
        crowd["street_code"].isin(reference.area_codes(streets, GONGSHU))
        & (crowd["ts"] <= NOW)
        & crowd["people"].notna()
    ]
    for w in weeks:
        rows = crowd[(crowd["ts"] >= w.start_ts) & (crowd["ts"] < w.end_ts)]
        if rows.empty:
            assert math.isnan(got.loc[w.label, "peak_cell_people"]), w.label
            assert pd.isna(got.loc[w.label, "peak_area_at"]), w.label
            continue
        totals = rows.groupby("ts")["people"].sum()
        top = totals[totals == totals.max()].index.min()
        assert got.loc[w.label, "peak_cell_people"] == rows["people"].max(), w.label
        assert got.loc[w.label, "peak_area_people"] == totals.max(), w.label
        assert got.loc[w.label, "peak_area_at"] == top, w.label
    assert got["peak_cell_people"].notna().sum() >= 2


def test_comparison_and_league(raw, tables):
    cmp_ = tables["comparison"].set_index(["metric", "code"])
    row = cmp_.loc[("cases", "")]
    this, last = len(_cases(raw, GONGSHU, WEEK)), len(_cases(raw, GONGSHU, WEEK.shift(-1)))
    assert (row["this_week"], row["last_week"], row["change"]) == (this, last, this - last)
    assert row["z"] == pytest.approx(2 * (math.sqrt(this) - math.sqrt(last)))
    assert bool(row["significant"]) == (abs(row["z"]) > 2)
    before = [len(_cases(raw, GONGSHU, WEEK.shift(k))) for k in (-4, -3, -2, -1)]
    assert math.isnan(row["mean_4_weeks_before"])  # W42 has no data
    assert before[0] == 0
    assert math.isnan(cmp_.loc[("cases", ""), "last_year"])
    # Shares carry no Poisson mark.
    assert cmp_.loc[("closure_rate", ""), "z"] != cmp_.loc[("closure_rate", ""), "z"]

    league = tables["streets"]
    mine = _cases(raw, GONGSHU, WEEK).groupby("street_code").size()
    got = league.set_index("street_code")["cases"]
    assert set(got.index) == reference.area_codes(raw["street"], GONGSHU)
    pd.testing.assert_series_equal(
        got[got > 0].sort_index(), mine.sort_index(), check_names=False, check_dtype=False
    )
    assert league["cases"].sum() == row["this_week"]
    movers = league[league["mover"] != ""]
    assert (movers["judged"] >= weekly_compare.MOVER_MIN_JUDGED).all()
    assert (movers["judged_last_week"] >= weekly_compare.MOVER_MIN_JUDGED).all()
    assert (movers.loc[movers["mover"] == "improved", "ontime_change"] > 0).all()
    assert (movers.loc[movers["mover"] == "slipped", "ontime_change"] < 0).all()
    ranked = league.dropna(subset=["rank"])
    assert list(ranked["rank"]) == list(range(1, len(ranked) + 1))
    assert ranked["ontime_share"].is_monotonic_decreasing
    # Red items at the week's end per street add up to the comparison's red rows.
    reds = tables["comparison"]
    total_red = reds[(reds["section"] == "warnings") & (reds["metric"] == "red")]["this_week"]
    assert league["red_at_end"].sum() == total_red.sum()


def test_red_items_are_from_earlier_weeks(tables):
    red = tables["red_open"]
    assert len(red) > 0
    assert (red["since"].isna() | (red["since"] < pd.Timestamp(WEEK.start_ts))).all()


# --- summary ----------------------------------------------------------------------

#: A number as the summary prints it: counts grouped by thousands (12,528).
NUMBER = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?%?|[+-]?\d+(?:\.\d+)?%?")


def test_every_number_of_the_summary_is_a_figure_of_the_tables(tables, backend):
    from data_access import geography
    from reports.weekly import display_names, tr_for

    with backend.engine.connect() as conn:
        names = display_names(geography.districts(conn), geography.streets(conn), CFG, RULES, "zh")
    for lang in ("zh", "en"):
        sentences = weekly_summary.summary(tables, tr_for(lang), names)
        assert len(sentences) >= 4
        for s in sentences:
            printed = {
                weekly_summary.format_figure(weekly_summary.figure_value(tables, f), f.fmt)
                for f in s.figures
            }
            for p in printed:
                assert p in s.text, (s.key, p, s.text)
            # Names may hold digits ("110非警务警情", "12345热线"): they are not figures.
            text = s.text
            for name in sorted(names.values(), key=len, reverse=True):
                if any(ch.isdigit() for ch in name):
                    text = text.replace(name, "")
            for number in NUMBER.findall(text):
                assert number in printed, (s.key, number, s.text)


def test_summary_counts_have_thousands_separators_in_both_languages(tables):
    """12,528, not 12528 (issue #24), in the Chinese summary as in the
    English one (the same comma grouping): the week's case counts and
    backlog scaled past a thousand; hand values for the formats."""
    from reports.weekly import tr_for

    assert weekly_summary.format_figure(12528, "int") == "12,528"
    assert weekly_summary.format_figure(753451.4, "int") == "753,451"
    assert weekly_summary.format_figure(1204, "signed") == "+1,204"
    assert weekly_summary.format_figure(-1204, "signed") == "-1,204"
    assert weekly_summary.format_figure(999, "int") == "999"
    cmp_ = tables["comparison"].copy()
    counts = cmp_["metric"].isin(["cases", "backlog_at_end"]) & (cmp_["code"] == "")
    for column in ("this_week", "last_week", "change"):
        cmp_[column] = cmp_[column].astype(float)
        cmp_.loc[counts, column] = cmp_.loc[counts, column] * 100 + 28
    big = {**tables, "comparison": cmp_}
    figures = cmp_.loc[counts, ["this_week", "last_week"]].to_numpy().ravel()
    assert (abs(figures) >= 1000).all(), figures
    for lang in ("zh", "en"):
        text = " ".join(s.text for s in weekly_summary.summary(big, tr_for(lang), {}))
        for value in figures:
            assert f"{round(value):,d}" in text, (lang, value, text)
            assert str(round(value)) not in text, (lang, value, text)


# --- the pack ------------------------------------------------------------------------


def test_pack_pdf_and_workbook(sqlite_demo, tmp_path):
    """The command writes both files; the PDF's text has the street names and
    figures; the workbook's cells equal the SQL results."""
    from openpyxl import load_workbook

    from reports.__main__ import main

    # The pack is rendered once, from SQLite; its figures are tested on all three backends above.
    backend = sqlite_demo
    rc = main(
        [
            "weekly",
            "--week",
            WEEK.label,
            "--out",
            str(tmp_path),
            "--db",
            backend.url,
            "--district",
            "330105",
            "--now",
            NOW.isoformat(),
        ]
    )
    assert rc == 0
    pdf = tmp_path / f"weekly-{WEEK.label}.pdf"
    xlsx = tmp_path / f"weekly-{WEEK.label}.xlsx"
    assert pdf.stat().st_size > 10_000 and xlsx.stat().st_size > 5_000

    tables = _review(backend)
    streets = reference.read(backend.raw_engine, "street").set_index("code")
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert text.strip(), (
        "pdftotext read no text from the pack: the Chinese font's CMaps are missing "
        "(apt-get install poppler-data; .ci/run does)"
    )
    assert "周例会" in text and WEEK.label in text
    league = tables["streets"]
    for code in league.dropna(subset=["rank"])["street_code"].head(10):
        assert streets.loc[code, "name_zh"] in text, code
    cmp_ = tables["comparison"].set_index(["metric", "code"])
    for key in (("cases", ""), ("backlog_at_end", "")):
        assert weekly_summary.format_figure(cmp_.loc[key, "this_week"], "int") in text
    assert weekly_summary.format_figure(cmp_.loc[("closure_rate", ""), "this_week"], "pct") in text

    wb = load_workbook(xlsx, read_only=True)
    assert {"summary", "names", *weekly_model.TABLE_COLUMNS} <= set(wb.sheetnames)
    for name, columns in weekly.TABLE_COLUMNS.items():
        sheet = pd.read_excel(xlsx, sheet_name=name)
        assert list(sheet.columns) == columns, name
        want = tables[name]
        assert len(sheet) == len(want), name
        for col in columns:
            a, b = sheet[col], want[col]
            if pd.api.types.is_numeric_dtype(b) and not pd.api.types.is_bool_dtype(b):
                np.testing.assert_allclose(
                    pd.to_numeric(a, errors="coerce").astype(float),
                    pd.to_numeric(b, errors="coerce").astype(float),
                    rtol=1e-9,
                    equal_nan=True,
                    err_msg=f"{name}.{col}",
                )
            elif pd.api.types.is_datetime64_any_dtype(b):
                assert (
                    pd.to_datetime(a).fillna(pd.Timestamp(0)) == b.fillna(pd.Timestamp(0))
                ).all()
            else:
                got = a.fillna("").astype(str).str.replace(r"\.0$", "", regex=True)
                exp = b.fillna("").astype(str).str.replace(r"\.0$", "", regex=True)
                assert list(got) == list(exp), f"{name}.{col}"


def test_bad_week_is_a_clear_error(sqlite_demo, tmp_path):
    from reports.__main__ import main

    assert main(["weekly", "--week", "2026-W99", "--out", str(tmp_path)]) == 2
    with sqlite_demo.engine.connect() as conn, pytest.raises(FilterError):
        weekly.review_tables(conn, ALL, NOW, CFG, "2026-W48", RULES)


# --- the page -------------------------------------------------------------------------


def test_page_shows_the_sql_figures(app_test, sqlite_demo, monkeypatch):
    monkeypatch.setenv("OPS_NOW", NOW.isoformat())
    at = app_test("weekly-review", sqlite_demo.url, query_params={"district": "330105"})
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    tables = _review(sqlite_demo)  # the page's dates differ; the review ignores them
    frames = [df.value for df in at.dataframe]
    comparison, league = frames[0], frames[1]
    cmp_ = tables["comparison"]
    total = cmp_[(cmp_["metric"] == "cases") & (cmp_["code"] == "")].iloc[0]
    assert weekly_summary.format_figure(total["this_week"], "int") == comparison.iloc[0, 2]
    assert weekly_summary.format_figure(total["last_week"], "int") == comparison.iloc[0, 3]
    assert len(league) == len(tables["streets"])
    summary = " ".join(m.value for m in at.markdown)
    assert weekly_summary.format_figure(total["this_week"], "int") in summary
    spec = [c.proto.spec for c in at.get("plotly_chart")]
    assert spec, "no chart"
    assert at.selectbox(key="weekly_week").value == WEEK.label


def test_new_hotspots_are_the_weeks_not_matched_last_week(backend):
    """Every hot spot at the week's end with a case in the week and no hot
    spot of its category within one square of it at last week's end:
    checked pair by pair against the two weeks' hot spots."""
    from dataclasses import replace

    from metrics import heatmap

    # Smaller, wider hot spots than the site's: the small fixture has some
    # of each kind then (some three dozen at the week's end, half of them new).
    cfg = replace(CFG, hotspots=replace(CFG.hotspots, min_cases=3, grid_m=300.0))
    last = WEEK.shift(-1)
    with backend.engine.connect() as conn:
        got = weekly_lists.new_hotspots(conn, ALL, NOW, cfg, WEEK)
        cur = heatmap.repeat_hotspots(conn, WEEK.area(ALL), WEEK.as_of(NOW), cfg)
        prev = heatmap.repeat_hotspots(conn, last.area(ALL), last.as_of(NOW), cfg)

    def near(a, b) -> bool:
        dy = (a.lat - b.lat) * heatmap.M_PER_DEG_LAT
        dx = (a.lon - b.lon) * heatmap.M_PER_DEG_LON * math.cos(math.radians(a.lat))
        return dx * dx + dy * dy <= cfg.hotspots.grid_m**2

    old = list(prev.itertuples())
    want = [
        (r.category, r.lat, r.lon)
        for r in cur.itertuples()
        if r.last_at >= pd.Timestamp(WEEK.start_ts)
        and not any(p.category == r.category and near(r, p) for p in old)
    ]
    assert want, "the fixture has no new hot spot"
    assert len(want) < len(cur), "the fixture has no hot spot that was one last week"
    assert list(zip(got["category"], got["lat"], got["lon"], strict=True)) == want


# --- the cases-per-week chart: each week once, equal to its table -------------------


def test_case_trend_reads_each_week_once_and_equals_pandas(raw, tables):
    """``last`` is ``w-1`` under a second name: the chart's frame lists the
    five weeks once each, with the cases counted independently."""
    trend = weekly.case_trend(tables)
    assert list(trend["period"]) == ["w-4", "w-3", "w-2", "w-1", "this"]
    assert list(trend["week"]) == [WEEK.shift(k).label for k in (-4, -3, -2, -1, 0)]
    assert trend["week"].is_unique
    first = raw["cases"]["reported_at"].min()
    for rec in trend.itertuples():
        w = weekly_model.parse_week(rec.week)
        if w.as_of(NOW) <= first:
            assert math.isnan(rec.cases) and not rec.has_data, rec.week
        else:
            assert rec.cases == len(_cases(raw, GONGSHU, w)), rec.week


def _plotted_pdf_charts(monkeypatch) -> list:
    """Every matplotlib figure the pack draws, as (x tick labels, bar heights, texts) per axes."""
    from reports import weekly as pack

    drawn: list = []
    real_png = pack._png

    def png(fig):
        ax = fig.axes[0]
        drawn.append(
            (
                [tick.get_text() for tick in ax.get_xticklabels()],
                [p.get_height() for p in ax.patches],
                [text.get_text() for text in ax.texts],
            )
        )
        return real_png(fig)

    monkeypatch.setattr(pack, "_png", png)
    return drawn


def test_trend_chart_on_page_and_pdf_equals_the_weeks_cases(app_test, sqlite_demo, monkeypatch):
    """The page's bars and the PDF's bars are the five weeks' case counts,
    once each (last week's bar was drawn twice: stacked to twice its height
    on the page, a sixth bar in the PDF)."""
    from reports.weekly import pdf_bytes, tr_for

    monkeypatch.setenv("OPS_NOW", NOW.isoformat())
    at = app_test("weekly-review", sqlite_demo.url, query_params={"district": "330105"})
    assert not at.exception, at.exception
    tables = _review(sqlite_demo)
    trend = weekly.case_trend(tables)
    want_y = [None if math.isnan(v) else v for v in trend["cases"]]
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    bar = spec["data"][0]
    assert bar["x"] == trend["week"].tolist()
    assert bar["y"] == want_y
    assert bar["text"] == [weekly_summary.format_figure(v, "int") for v in trend["cases"]]
    this = tables["comparison"].set_index(["metric", "code"]).loc[("cases", ""), "this_week"]
    assert bar["y"][-1] == this

    drawn = _plotted_pdf_charts(monkeypatch)
    sentences = weekly_summary.summary(tables, tr_for("zh"), {})
    pdf_bytes(tables, sentences, {}, "zh", WEEK.label, "", NOW)
    ticks, heights, texts = drawn[0]
    assert ticks == trend["week"].tolist()
    assert heights == [0.0 if v is None else v for v in want_y]
    assert texts == bar["text"]


# --- headings in the page's language -------------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_column_heading_is_in_the_pages_language(app_test, sqlite_demo, monkeypatch, lang):
    """Every table's headings are catalogue strings of the page's language
    (the comparison's first column read "section" on the Chinese page)."""
    from ui.i18n import catalogue

    monkeypatch.setenv("OPS_NOW", NOW.isoformat())
    at = app_test(
        "weekly-review", sqlite_demo.url, query_params={"district": "330105", "lang": lang}
    )
    assert not at.exception, at.exception
    texts = {entry[lang] for key, entry in catalogue().items() if key.startswith("weekly.col.")}
    frames = [df.value for df in at.dataframe]
    assert len(frames) >= 3
    for frame in frames:
        assert [c for c in frame.columns if c not in texts] == [], list(frame.columns)
    assert frames[0].columns[0] == catalogue()["weekly.col.section"][lang]


# --- a database whose cases begin after the compared weeks (NYC 311 sample) ---------------


@pytest.fixture(scope="module")
def nyc_311(tmp_path_factory):
    """The NYC 311 sample loaded by the shipped mapping, as tests/test_import_load.py
    does (18 cases, 2010-03-23 .. 2020-05-21, New York site)."""
    from importer.load import import_export, site_for, staging_engine
    from importer.mapping import load_mapping
    from tests.conftest import ROOT

    folder = tmp_path_factory.mktemp("nyc")
    url = f"sqlite:///{folder / 'nyc.sqlite'}"
    m = load_mapping("nyc_311")
    engine = staging_engine(url)
    data = (ROOT / "tests" / "fixtures" / "nyc_311_sample.csv").read_bytes()
    result = import_export(engine, data, "nyc.csv", m, site_for(m), report_dir=folder)
    engine.dispose()
    assert result.cases == 18
    return url


NYC_SITE = "config/sites/nyc/site.toml"
#: The first case's day: every compared week (2010-W11 and before) ended before it.
NYC_FIRST_DAY = datetime(2010, 3, 24, 12, 0)


def _nyc_page(app_test, monkeypatch, url, now, week=None):
    monkeypatch.setenv("OPS_NOW", now.isoformat())
    monkeypatch.setenv("OPS_SITE_CONFIG", NYC_SITE)
    at = app_test("weekly-review", url, query_params={"week": week} if week else None)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def test_week_before_the_first_case_says_no_data(app_test, monkeypatch, nyc_311):
    """On the first case's day every compared week precedes it: the page said
    "unexpected problem" (IndexError: the series had no row to chart)."""
    from ui.i18n import catalogue, translate

    at = _nyc_page(app_test, monkeypatch, nyc_311, NYC_FIRST_DAY)
    assert at.selectbox(key="weekly_week").value == "2010-W11"
    assert "{week}" in catalogue()["weekly.no_data_this_week"]["en"]
    notice = translate("weekly.no_data_this_week", "zh", week="2010-W11")
    assert notice in [i.value for i in at.info]
    comparison = at.dataframe[0].value
    assert len(comparison) > 0 and (comparison.iloc[:, 2] == "—").all()
    assert not at.get("plotly_chart")  # nothing to draw


def test_week_parameter_opens_the_week_that_holds_the_data(app_test, monkeypatch, nyc_311):
    # The running week (not yet complete, not in the picker's list).
    at = _nyc_page(app_test, monkeypatch, nyc_311, NYC_FIRST_DAY, week="2010-W12")
    assert at.selectbox(key="weekly_week").value == "2010-W12"
    assert at.query_params["week"] == "2010-W12"
    bar = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert bar["x"][-1] == "2010-W12" and bar["y"][-1] == 1
    # A week years before the latest complete ones, written without the leading zero.
    at = _nyc_page(app_test, monkeypatch, nyc_311, datetime(2020, 5, 21, 18, 33), week="2011w9")
    assert at.selectbox(key="weekly_week").value == "2011-W09"
    bar = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert bar["y"][-1] == 9  # the nine cases of 1 March 2011
    assert not at.warning or all("week=" not in w.value for w in at.warning)


@pytest.mark.parametrize(
    ("value", "problem"),
    [("2020-W5x", "format"), ("2019-W53", "no_such_week"), ("2020-W22", "not_started")],
)
def test_a_wrong_week_parameter_is_named(app_test, monkeypatch, nyc_311, value, problem):
    from ui.i18n import translate

    at = _nyc_page(app_test, monkeypatch, nyc_311, datetime(2020, 5, 21, 18, 33), week=value)
    assert at.selectbox(key="weekly_week").value == "2020-W20"
    want = translate(f"weekly.bad_week.{problem}", "zh", value=value, opened="2020-W20")
    assert want in [w.value for w in at.warning]
    assert weekly_model.week_problem(value, datetime(2020, 5, 21, 18, 33)) == problem


def test_pack_before_the_first_case(nyc_311, tmp_path):
    """The command builds the pack of a week before the first case (it
    crashed on the chart's missing row)."""
    from reports.__main__ import main

    rc = main(
        [
            "weekly",
            "--week",
            "2010-W11",
            "--out",
            str(tmp_path),
            "--db",
            nyc_311,
            "--now",
            NYC_FIRST_DAY.isoformat(),
        ]
    )
    assert rc == 0
    assert (tmp_path / "weekly-2010-W11.pdf").stat().st_size > 5_000
    sheet = pd.read_excel(tmp_path / "weekly-2010-W11.xlsx", sheet_name="comparison")
    assert sheet.loc[sheet["metric"] == "cases", "this_week"].isna().all()
