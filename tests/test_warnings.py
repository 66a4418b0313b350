"""Warning colours (三色预警): rule boundaries on crafted rows, the fixture
distribution against an independent pandas evaluation, the "as of" history,
the rules file's validation, and the page under AppTest; on SQLite,
PostgreSQL and MariaDB."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, insert

from data_access.connection import make_engine
from data_access.filters import AreaFilter
from data_access.schema import district, grid, housing_record, metadata, petition, street, warning
from metrics import warnings as w
from metrics.warning_rules import (
    HousingRules,
    WarningRulesError,
    load_warning_rules,
    parse_warning_rules,
)
from tests import reference
from tests.conftest import BACKEND_PARAMS, FIXTURE_END, scratch_database
from ui.i18n import translate

NOW = FIXTURE_END  # 2026-11-20 18:00
RULES = load_warning_rules()
D, S = timedelta(days=1), timedelta(seconds=1)
STREET = "330105001"
AREA = AreaFilter(start=NOW.date() - timedelta(days=9), end=NOW.date())

# --------------------------------------------------------------------------
# Crafted rows: one item per grid, so the per-grid distribution is each
# item's colour. Expected colour as of NOW with the shipped rules
# (repeat_red 3, due_soon_days 7, used_percent_yellow 80, green 182 days).


def _p(pid, received, due, closed=None, repeats=0, escalated=False):
    return {
        "id": pid,
        "street_code": STREET,
        "grid_code": f"G-{pid}",
        "category": "other",
        "received_at": received,
        "due_at": due,
        "closed_at": closed,
        "repeat_count": repeats,
        "escalated": escalated,
    }


PETITIONS = [
    # due exactly now: not yet overdue, due within 7 days -> yellow
    (_p("due_now", NOW - 5 * D, NOW), "yellow"),
    # one second past due -> red, overdue by 0 whole days
    (_p("overdue_1s", NOW - 59 * D, NOW - S), "red"),
    (_p("overdue_3d", NOW - 63 * D, NOW - 3 * D - 5 * S), "red"),
    # due in exactly 7 days -> yellow; one second later -> green (1/8 of time used)
    (_p("due_7d", NOW - D, NOW + 7 * D), "yellow"),
    (_p("due_7d_1s", NOW - D, NOW + 7 * D + S), "green"),
    # exactly 80 % of 100 days used -> green; one minute more -> yellow
    (_p("used_80", NOW - 80 * D, NOW + 20 * D), "green"),
    (
        _p("used_80_1m", NOW - 80 * D - timedelta(minutes=1), NOW + 20 * D - timedelta(minutes=1)),
        "yellow",
    ),
    # exactly 3 repeats -> red; 2 -> green
    (_p("repeat_3", NOW - D, NOW + 59 * D, repeats=3), "red"),
    (_p("repeat_2", NOW - D, NOW + 59 * D, repeats=2), "green"),
    (_p("escalated", NOW - D, NOW + 59 * D, escalated=True), "red"),
    (_p("no_due", NOW - 90 * D, None), "green"),
    # closed exactly now leaves; closed after now still counts (as of now)
    (_p("closed_now", NOW - 90 * D, NOW - 30 * D, closed=NOW), None),
    (_p("closed_later", NOW - 90 * D, NOW - 30 * D, closed=NOW + S), "red"),
    # received after now: does not exist yet
    (_p("future", NOW + S, NOW + 60 * D), None),
    # due before received: a bad row, left out
    (_p("due_before_received", NOW - 5 * D, NOW - 6 * D), None),
]


def _h(hid, verified):
    return {
        "id": hid,
        "street_code": STREET,
        "grid_code": f"G-{hid}",
        "lat": None,
        "lon": None,
        "last_verified_at": verified,
        "risk_grade": "A",
    }


HOUSING = [
    (_h("h_182d", NOW - 182 * D), "green"),
    (_h("h_182d_1s", NOW - 182 * D - S), "yellow"),
    (_h("h_365d_1s", NOW - 365 * D - S), "yellow"),
    (_h("h_never", None), "red"),
    (_h("h_after_now", NOW + S), None),
    # Verified exactly at a midnight: the trend's instants are midnights.
    (_h("h_midnight", datetime(2026, 11, 19)), "green"),
]


def _w(wid, colour, raised, cleared=None, domain="enforcement"):
    return {
        "id": wid,
        "domain": domain,
        "street_code": STREET,
        "grid_code": f"G-{wid}",
        "colour": colour,
        "raised_at": raised,
        "cleared_at": cleared,
        "note": "王记餐馆：占道",
    }


WARNINGS = [
    (_w("w_red", "red", NOW - D), "red"),
    (_w("w_yellow", "yellow", NOW), "yellow"),
    (_w("w_cleared_now", "red", NOW - D, NOW), None),
    (_w("w_cleared_later", "green", NOW - D, NOW + S), "green"),
    (_w("w_bad_colour", "purple", NOW - D), None),
    (_w("w_future", "red", NOW + S), None),
    (_w("w_other_domain", "red", NOW - D, domain="risk"), None),
]


@pytest.fixture(scope="module", params=BACKEND_PARAMS)
def crafted(request, tmp_path_factory):
    """A small database of the contract tables holding only the crafted rows."""
    url, drop = scratch_database(request.param, tmp_path_factory)
    writer = create_engine(url)
    try:
        metadata.create_all(writer)
        with writer.begin() as conn:
            conn.execute(insert(district), [{"code": "330105", "name_zh": "拱墅区"}])
            conn.execute(
                insert(street),
                [{"code": STREET, "district_code": "330105", "name_zh": "测试街道"}],
            )
            conn.execute(
                insert(grid), [{"code": "G-h_never", "street_code": STREET, "name_zh": "一格"}]
            )
            conn.execute(insert(petition), [row for row, _ in PETITIONS])
            conn.execute(insert(housing_record), [row for row, _ in HOUSING])
            conn.execute(insert(warning), [row for row, _ in WARNINGS])
        engine = make_engine(url)
        yield engine
        engine.dispose()
    finally:
        writer.dispose()
        if drop:
            drop()


def colours(engine, domain, rules=RULES, now=NOW) -> dict[str, str]:
    """Item id -> colour as of ``now``, read from the per-grid distribution."""
    with engine.connect() as conn:
        grids = w.distribution(conn, AREA, now, rules, domain, STREET)
    out = {}
    for row in grids.itertuples():
        assert row.total == 1, row
        out[row.grid_code.removeprefix("G-")] = next(
            c for c in ("red", "yellow", "green") if getattr(row, c) == 1
        )
    return out


def expected(items) -> dict[str, str]:
    return {row["id"]: colour for row, colour in items if colour}


def test_petition_rules_at_their_boundaries(crafted):
    assert colours(crafted, "petition") == expected(PETITIONS)


def test_housing_rules_at_their_boundaries(crafted):
    assert colours(crafted, "housing") == expected(HOUSING)
    stricter = replace(RULES, housing=HousingRules(green_within_days=182, red_after_days=365))
    got = colours(crafted, "housing", stricter)
    assert got["h_365d_1s"] == "red" and got["h_182d_1s"] == "yellow"
    with crafted.connect() as conn:
        reds = w.red_list(conn, AREA, NOW, stricter, "housing", 100).set_index("id")
    assert reds.loc["h_365d_1s", "reasons"] == "verified_too_long_ago"
    assert reds.loc["h_never", "reasons"] == "never_verified"
    assert reds.loc["h_never", "grid_name"] == "一格"


def test_warning_colours_as_given(crafted):
    assert colours(crafted, "enforcement") == expected(WARNINGS)
    assert colours(crafted, "risk") == {"w_other_domain": "red"}
    with crafted.connect() as conn, pytest.raises(w.UnknownDomain):
        w.distribution(conn, AREA, NOW, RULES, "nonsense")


def test_petition_red_list_reasons(crafted):
    with crafted.connect() as conn:
        reds = w.red_list(conn, AREA, NOW, RULES, "petition", 100).set_index("id")
    assert set(reds.index) == {k for k, c in expected(PETITIONS).items() if c == "red"}
    assert reds.loc["overdue_3d", "overdue_days"] == 3
    assert reds.loc["overdue_1s", "overdue_days"] == 0
    assert reds.loc["overdue_3d", "reasons"] == "overdue_days"
    assert reds.loc["repeat_3", "reasons"] == "repeats"
    assert reds.loc["repeat_3", "repeat_count"] == 3
    assert reds.loc["escalated", "reasons"] == "escalated"
    assert bool(reds.loc["escalated", "escalated"])
    assert reds.loc["closed_later", "age_days"] == 90
    # most overdue first
    assert list(reds.index[:2]) == ["closed_later", "overdue_3d"]
    with crafted.connect() as conn:
        assert len(w.red_list(conn, AREA, NOW, RULES, "petition", 2)) == 2


def test_as_of_a_past_instant(crafted):
    """The same rule as of an earlier T: petitions received later do not exist
    yet, a petition closed later is open, deadlines are not yet passed."""
    earlier = NOW - 4 * D
    got = colours(crafted, "petition", now=earlier)
    assert "due_now" in got and got["due_now"] == "yellow"  # due in 4 days then
    assert got["overdue_3d"] == "yellow"  # due 1 day after `earlier`
    assert got["closed_now"] == "red"  # still open then, already overdue
    assert "due_7d" not in got  # received 1 day before NOW
    with crafted.connect() as conn:
        history = w.trend(conn, AREA, NOW, RULES, "petition", "day").set_index("bucket")
    for bucket, row in history.iterrows():
        at = row["at"].to_pydatetime()
        want = pd.Series(colours(crafted, "petition", now=at)).value_counts()
        for c in ("red", "yellow", "green"):
            assert row[c] == want.get(c, 0), (bucket, c)
    assert history.index[-1] == NOW.date().isoformat()
    assert history["at"].iloc[-1] == pd.Timestamp(NOW)
    assert history["at"].iloc[0] == pd.Timestamp(AREA.start + D)


def test_petition_closures(crafted):
    with crafted.connect() as conn:
        got = w.petition_closures(conn, AREA, NOW).iloc[0]
    # closed_now: closed at NOW, 30 days after its due date
    assert (got["closed_on_time"], got["closed_late"]) == (0, 1)


# --------------------------------------------------------------------------
# The demo fixture against an independent pandas evaluation of the rules.


def ref_colours(raw, domain, at, rules=RULES) -> pd.DataFrame:
    """Items counting at ``at`` with their colour: pandas, from the raw rows."""
    known = set(raw["street"]["code"])
    if domain == "petition":
        p, r = raw["petition"], rules.petition
        live = p[
            (p["received_at"] <= at)
            & (p["closed_at"].isna() | (p["closed_at"] > at))
            & (p["due_at"].isna() | (p["due_at"] >= p["received_at"]))
        ]
        due, rec = live["due_at"], live["received_at"]
        red = (
            (due.notna() & (at > due))
            | live["escalated"].fillna(False).astype(bool)
            | (live["repeat_count"].fillna(0) >= r.repeat_red)
        )
        used = (at - rec).dt.total_seconds() * 100 > r.used_percent_yellow * (
            due - rec
        ).dt.total_seconds()
        yellow = due.notna() & ((due <= at + timedelta(days=r.due_soon_days)) | used)
        colour = np.select([red, yellow], ["red", "yellow"], "green")
    elif domain == "housing":
        h = raw["housing_record"]
        last = h["last_verified_at"]
        live = h[last.isna() | (last <= at)]
        last = live["last_verified_at"]
        fresh = (at - last) <= timedelta(days=rules.housing.green_within_days)
        limit = rules.housing.red_after_days
        stale = (at - last) > timedelta(days=limit) if limit else pd.Series(False, last.index)
        colour = np.select([last.isna(), stale, fresh], ["red", "red", "green"], "yellow")
    else:
        x = raw["warning"]
        live = x[
            (x["domain"] == domain)
            & x["colour"].isin(["red", "yellow", "green"])
            & (x["raised_at"] <= at)
            & (x["cleared_at"].isna() | (x["cleared_at"] > at))
        ]
        colour = live["colour"].to_numpy()
    out = live[["id", "street_code"]].assign(colour=colour)
    return out[out["street_code"].isin(known)]


@pytest.fixture(scope="module")
def raw(backend):
    return {
        t: reference.read(backend.raw_engine, t)
        for t in ("street", "petition", "housing_record", "warning")
    }


def test_distribution_matches_pandas(backend, raw):
    seen = {}
    for domain in RULES.domains:
        with backend.engine.connect() as conn:
            got = w.distribution(conn, AREA, NOW, RULES, domain).set_index("street_code")
        ref = ref_colours(raw, domain, NOW)
        want = (
            ref.groupby(["street_code", "colour"])
            .size()
            .unstack(fill_value=0)
            .reindex(index=got.index, columns=["red", "yellow", "green"], fill_value=0)
        )
        want["total"] = want.sum(axis=1)
        assert set(got.index) == set(raw["street"]["code"])
        pd.testing.assert_frame_equal(got, want.astype("int64"), check_names=False)
        seen[domain] = got[["red", "yellow", "green"]].sum().to_dict()
        # every colour present, so the comparison means something
        assert all(v > 0 for v in seen[domain].values()), (domain, seen[domain])


def test_district_and_grid_drill_down_match_pandas(backend, raw):
    f = AreaFilter(start=AREA.start, end=AREA.end, district="330105")
    with backend.engine.connect() as conn:
        per_street = w.distribution(conn, f, NOW, RULES, "housing")
        top = per_street.sort_values("total").iloc[-1]["street_code"]
        grids = w.distribution(conn, f, NOW, RULES, "housing", top).set_index("grid_code")
    assert set(per_street["street_code"]) == set(
        raw["street"].loc[raw["street"]["district_code"] == "330105", "code"]
    )
    ref = ref_colours(raw, "housing", NOW)
    ref = ref[ref["street_code"] == top].merge(raw["housing_record"][["id", "grid_code"]], on="id")
    want = ref.groupby(["grid_code", "colour"]).size().unstack(fill_value=0)
    for c in ("red", "yellow", "green"):
        assert grids[c].to_dict() == want.get(c, pd.Series(0, index=want.index)).to_dict()
    assert grids["total"].sum() == per_street.set_index("street_code").loc[top, "total"]


def test_trend_is_the_rule_as_of_each_day(backend, raw):
    f = AreaFilter(start=NOW.date() - timedelta(days=20), end=NOW.date())
    for domain, freq in (("petition", "day"), ("housing", "week"), ("risk", "day")):
        with backend.engine.connect() as conn:
            history = w.trend(conn, f, NOW, RULES, domain, freq)
        assert len(history) == (21 if freq == "day" else 4)
        for row in history.itertuples():
            counts = ref_colours(raw, domain, row.at.to_pydatetime())["colour"].value_counts()
            got = (row.red, row.yellow, row.green)
            assert got == tuple(counts.get(c, 0) for c in ("red", "yellow", "green")), (
                domain,
                row.bucket,
            )


@pytest.mark.parametrize(
    "housing",
    [HousingRules(), HousingRules(green_within_days=182, red_after_days=365)],
)
def test_housing_trend_at_midnights_is_the_rule(backend, raw, housing):
    """The housing trend's midnight instants come from a per-day histogram
    (warnings._housing_at_midnights); the last instant (now) is evaluated
    row by row. Both are the rule as pandas applies it, with a red limit."""
    rules = replace(RULES, housing=housing)
    f = AreaFilter(start=NOW.date() - timedelta(days=400), end=NOW.date())
    for freq in ("week", "day"):
        with backend.engine.connect() as conn:
            history = w.trend(conn, f, NOW, rules, "housing", freq)
        assert history["at"].iloc[-1] == pd.Timestamp(NOW)  # one instant not at midnight
        for row in history.itertuples():
            ref = ref_colours(raw, "housing", row.at.to_pydatetime(), rules)
            counts = ref["colour"].value_counts()
            got = (row.red, row.yellow, row.green, row.total)
            want = (*(counts.get(c, 0) for c in ("red", "yellow", "green")), len(ref))
            assert got == want, (freq, row.bucket)


def test_housing_trend_counts_a_verification_at_its_instant(crafted):
    """A record verified exactly at a trend instant (midnight) counts at
    that instant, not before: the histogram path agrees with the row-by-row
    distribution at every instant."""
    f = replace(AREA, start=date(2026, 11, 16), end=date(2026, 11, 19))
    with crafted.connect() as conn:
        history = w.trend(conn, f, NOW, RULES, "housing", "day").set_index("bucket")
        for bucket, row in history.iterrows():
            at = row["at"].to_pydatetime()
            want = w.distribution(conn, f, at, RULES, "housing")[w.DISTRIBUTION_COLUMNS].sum()
            assert row[w.DISTRIBUTION_COLUMNS].tolist() == want.tolist(), bucket
    assert history.loc["2026-11-18", "total"] == history.loc["2026-11-17", "total"] + 1


def test_petition_trend_at_the_boundaries_is_the_distribution(crafted):
    """The petition trend is evaluated outside the database
    (warnings._petitions_at); at every instant, the last one ``now`` where
    the crafted petitions sit on their boundaries (due exactly now, 80 %
    used exactly, closed exactly now), it gives the SQL distribution."""
    f = replace(AREA, start=date(2026, 11, 14), end=NOW.date())
    with crafted.connect() as conn:
        history = w.trend(conn, f, NOW, RULES, "petition", "day").set_index("bucket")
        assert history["at"].iloc[-1] == pd.Timestamp(NOW)
        for bucket, row in history.iterrows():
            at = row["at"].to_pydatetime()
            want = w.distribution(conn, f, at, RULES, "petition")[w.DISTRIBUTION_COLUMNS].sum()
            assert row[w.DISTRIBUTION_COLUMNS].tolist() == want.tolist(), bucket
    expected = Counter(colour for _, colour in PETITIONS if colour)
    last = history.iloc[-1]
    assert (last["red"], last["yellow"], last["green"]) == tuple(
        expected[c] for c in ("red", "yellow", "green")
    )


def test_red_list_matches_pandas(backend, raw):
    for domain in ("petition", "housing", "enforcement"):
        with backend.engine.connect() as conn:
            reds = w.red_list(conn, AREA, NOW, RULES, domain, 5000)
        ref = ref_colours(raw, domain, NOW)
        assert set(reds["id"]) == set(ref.loc[ref["colour"] == "red", "id"])
        assert reds["reasons"].str.len().gt(0).all()
        assert list(reds.columns) == w.RED_LIST_COLUMNS


def test_trend_instants_are_bounded():
    f = AreaFilter(start=NOW.date() - timedelta(days=400), end=NOW.date())
    assert len(w.trend_instants(f, NOW, "day")) == w.MAX_BUCKETS
    weeks = w.trend_instants(f, NOW, "week")
    assert weeks[-1] == ("2026-11-16", NOW)
    assert all(datetime.fromisoformat(b).weekday() == 0 for b, _ in weeks)
    with pytest.raises(ValueError, match="freq"):
        w.trend_instants(f, NOW, "hour")


# --------------------------------------------------------------------------
# The rules file.


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('[petition]\nrepeat_red = "three"\n', "petition.repeat_red"),
        ("[petition]\nrepeat_red = 0\n", "petition.repeat_red"),
        ("[petition]\nused_percent_yellow = 120\n", "petition.used_percent_yellow"),
        ("[petition]\ndue_soon_dayz = 7\n", "petition.due_soon_dayz"),
        ("[housing]\ngreen_within_days = 18.5\n", "housing.green_within_days"),
        ("[housing]\nred_after_days = 100\n", "housing.red_after_days"),
        ("[warning.domains.risk]\nen = 'Risk'\n", "warning.domains.risk.zh"),
        ("[warning.domains.petition]\nzh = '信访'\n", "warning.domains.petition"),
        ("housing = 3\n", "housing"),
        ("[petition\n", "not valid TOML"),
    ],
)
def test_broken_rules_file_names_the_key(tmp_path, body, key):
    path = tmp_path / "rules.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(WarningRulesError, match=key.replace(".", r"\.")) as info:
        load_warning_rules(path)
    assert str(path) in str(info.value)


def test_rules_file_from_env_and_missing(tmp_path, monkeypatch):
    path = tmp_path / "mine.toml"
    path.write_text("[petition]\nrepeat_red = 5\n", encoding="utf-8")
    monkeypatch.setenv("OPS_WARNING_RULES", str(path))
    rules = load_warning_rules()
    assert rules.petition.repeat_red == 5 and rules.domains == ("petition", "housing")
    with pytest.raises(WarningRulesError, match="file not found"):
        load_warning_rules(tmp_path / "absent.toml")


def test_shipped_rules():
    assert RULES.domains == ("petition", "housing", "enforcement", "risk")
    assert RULES.housing.green_within_days == 182 and RULES.petition.repeat_red == 3
    assert parse_warning_rules({}).domains == ("petition", "housing")


# --------------------------------------------------------------------------
# The page.


@pytest.fixture
def pinned(monkeypatch):
    monkeypatch.setenv("OPS_NOW", NOW.isoformat())


def _metric(at, label):
    hits = [m.value for m in at.metric if m.label == label]
    assert hits, (label, [m.label for m in at.metric])
    return hits[0]


def test_page_numbers_match_sql(app_test, sqlite_demo, pinned):
    at = app_test("pages/warnings.py", sqlite_demo.url)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    f = AreaFilter(start=NOW.date() - timedelta(days=6), end=NOW.date(), district="330105")
    with sqlite_demo.engine.connect() as conn:
        dist = w.distribution(conn, f, NOW, RULES, "petition")
        reds = w.red_list(conn, f, NOW, RULES, "petition", 5000)
        closures = w.petition_closures(conn, f, NOW).iloc[0]
    for c, zh in (("red", "▲ 红"), ("yellow", "◆ 黄"), ("green", "● 绿")):
        assert _metric(at, zh) == f"{int(dist[c].sum()):,}"
    assert _metric(at, translate("warnings.total", "zh")) == f"{int(dist['total'].sum()):,}"
    for key in ("closed_on_time", "closed_late"):
        assert _metric(at, translate(f"warnings.{key}", "zh")) == f"{int(closures[key]):,}"
    # stacked bars: one trace per level, named with icon + label, summing to the counts
    bars = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [tr["name"] for tr in bars["data"]] == ["▲ 红", "◆ 黄", "● 绿"]
    assert sum(bars["data"][0]["x"]) == dist["red"].sum()
    shown = dist[dist["total"] > 0]
    assert len(bars["data"][0]["y"]) == len(shown)
    assert {y.rsplit(" · ", 1)[1] for y in bars["data"][0]["y"]} == {
        f"{n:,}" for n in shown["total"]
    }
    assert any(str(x).startswith("▲") for x in bars["data"][0]["text"])
    # the red list: every red item, the reason in words, no other data
    table = at.dataframe[0].value
    assert len(table) == len(reds) > 0
    assert set(table[translate("warnings.col.id", "zh")]) == set(reds["id"])
    assert table[translate("warnings.col.reason", "zh")].str.contains("逾期|已升级|重复信访").all()
    assert list(table.columns) == [
        translate(f"warnings.col.{k}", "zh")
        for k in ("level", "id", "street", "grid", "since_petition", "age_days", "reason")
    ]


def test_page_domains_and_drill_down(app_test, sqlite_demo, pinned):
    at = app_test("pages/warnings.py", sqlite_demo.url)
    at.segmented_control(key="w_domain").set_value("housing").run()
    assert not at.exception, [e.value for e in at.exception]
    f = AreaFilter(start=NOW.date() - timedelta(days=6), end=NOW.date(), district="330105")
    with sqlite_demo.engine.connect() as conn:
        dist = w.distribution(conn, f, NOW, RULES, "housing")
    assert _metric(at, "▲ 红") == f"{int(dist['red'].sum()):,}"
    reasons = set(at.dataframe[0].value[translate("warnings.col.reason", "zh")])
    assert "从未核验" in reasons
    at.segmented_control(key="w_mode").set_value("share").run()
    share = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert share["layout"]["xaxis"]["tickformat"] == ".0%"
    assert all(0 <= x <= 1 for tr in share["data"] for x in tr["x"])
    top = at.selectbox(key="w_street").options[1]
    at.selectbox(key="w_street").select_index(1).run()
    assert not at.exception, [e.value for e in at.exception]
    charts = at.get("plotly_chart")
    assert len(charts) == 3, top  # streets, grids of the chosen street, trend
    street = at.selectbox(key="w_street").value
    grids = json.loads(charts[1].proto.spec)
    assert (
        sum(sum(tr["customdata"]) for tr in grids["data"])
        == (dist.set_index("street_code").loc[street, "total"])
    )
    at.segmented_control(key="w_domain").set_value("enforcement").run()
    assert not at.exception
    cells = " ".join(at.dataframe[0].value.astype(str).to_numpy().ravel())
    assert "记" not in cells and "：" not in cells  # the free-text note is not shown


def test_page_in_english(app_test, sqlite_demo, pinned):
    at = app_test("pages/warnings.py", sqlite_demo.url, query_params={"lang": "en"})
    assert not at.exception and not at.error
    assert _metric(at, "▲ Red")
    reasons = at.dataframe[0].value["Why red"]
    assert len(reasons) > 0
    assert reasons.str.contains("overdue by|escalated|repeated").all()
    bars = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [tr["name"] for tr in bars["data"]] == ["▲ Red", "◆ Yellow", "● Green"]


def test_page_broken_rules_shows_the_key(app_test, sqlite_demo, pinned, monkeypatch, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[petition]\nrepeat_red = -1\n", encoding="utf-8")
    monkeypatch.setenv("OPS_WARNING_RULES", str(path))
    at = app_test("pages/warnings.py", sqlite_demo.url)
    assert not at.exception
    assert any("petition.repeat_red" in e.value for e in at.error), [e.value for e in at.error]
