"""The case-throughput page's data layer against independent pandas
computations (tests/reference_throughput.py), on SQLite, PostgreSQL and
MariaDB; the percentile helper on hand-checked values; the page under AppTest."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, literal, select, union_all

from data_access import sqlfn
from data_access.config import load_site_config
from data_access.filters import AreaFilter
from data_access.schema import MILESTONES
from metrics import throughput, throughput_backlog, throughput_stages
from tests import reference
from tests import reference_throughput as ref
from tests.conftest import FIXTURE_DAYS, FIXTURE_END
from ui.i18n import translate

NOW = FIXTURE_END
CFG = load_site_config()
END = NOW.date()
WHOLE = AreaFilter(start=END - timedelta(days=FIXTURE_DAYS - 1), end=END)
SHANGCHENG = AreaFilter(start=END - timedelta(days=FIXTURE_DAYS - 1), end=END, district="330102")
GONGSHU_WEEK = AreaFilter(start=END - timedelta(days=6), end=END, district="330105")
HEZHUANG = AreaFilter(
    start=END - timedelta(days=13), end=END, district="330114", streets=("330114003",)
)


@pytest.fixture(scope="module")
def raw(backend):
    return {t: reference.read(backend.raw_engine, t) for t in ("street", "incident")}


def _compare(got: pd.DataFrame, want: pd.DataFrame, keys: list[str]) -> None:
    got = got.sort_values(keys, na_position="last").reset_index(drop=True)
    want = want.sort_values(keys, na_position="last").reset_index(drop=True)
    pd.testing.assert_frame_equal(
        got[want.columns], want, check_dtype=False, check_exact=False, rtol=1e-9, atol=1e-9
    )


@pytest.mark.parametrize(
    "f", [WHOLE, GONGSHU_WEEK, HEZHUANG], ids=["whole", "gongshu_week", "hezhuang"]
)
def test_street_table_matches_pandas(backend, raw, f):
    with backend.engine.connect() as conn:
        got = throughput.case_throughput(conn, f, NOW, CFG, by="street")
    assert list(got.columns) == throughput.throughput_columns("street")
    assert set(got["street_code"]) == reference.area_codes(raw["street"], f)
    # The page's headline on-time figures come from this table: the same as
    # the area query's.
    with backend.engine.connect() as conn:
        direct = throughput.ontime_by_milestone(conn, f, NOW, CFG)
    pd.testing.assert_frame_equal(throughput.ontime_from_table(got, CFG), direct, check_dtype=False)
    want = ref.case_throughput(raw["incident"], raw["street"], f, NOW, CFG, by="street")
    _compare(got[got["street_code"].isin(want["street_code"])], want, ["street_code"])
    idle = got[~got["street_code"].isin(want["street_code"])]
    assert (idle["cases"] == 0).all() and idle["arrived_median_min"].isna().all()
    assert got["cases"].sum() > 0


@pytest.mark.parametrize("by", ["grid", "category", "source"])
def test_breakdowns_match_pandas(backend, raw, by):
    f = GONGSHU_WEEK if by != "grid" else HEZHUANG
    with backend.engine.connect() as conn:
        got = throughput.case_throughput(conn, f, NOW, CFG, by=by)
    want = ref.case_throughput(raw["incident"], raw["street"], f, NOW, CFG, by=by)
    assert list(got.columns) == throughput.throughput_columns(by)
    key = throughput.GROUPS[by]
    _compare(got, want, [key])


def test_targets_and_exclusions(backend, raw):
    """Each street shows its own targets; bad milestones are counted, not judged."""
    with backend.engine.connect() as conn:
        table = throughput.case_throughput(conn, WHOLE, NOW, CFG).set_index("street_code")
    sjq, hz, other = table.loc["330102014"], table.loc["330114003"], table.loc["330105001"]
    assert (sjq["target_accepted_min"], sjq["target_dispatched_min"]) == (1, 3)
    assert sjq["target_arrived_min"] == 5 and hz["target_arrived_min"] == 8
    assert np.isnan(other["target_dispatched_min"]) and other["target_closed_min"] == 1440
    assert other["dispatched_judged"] == 0  # no target, nothing judged
    # The generator's out-of-order rows are excluded from the stages they break.
    assert table["excluded_cases"].sum() > 0
    excluded = table[[f"{m}_excluded" for m in MILESTONES]].sum(axis=1)
    assert (table["excluded_cases"] <= excluded).all()
    # Cancelled cases are never late.
    inc = reference.clean_incidents(raw["incident"], raw["street"], WHOLE, NOW)
    cancelled = inc[inc["status"] == "cancelled"]
    assert len(cancelled) > 0
    with backend.engine.connect() as conn:
        listed = throughput_backlog.attention_cases(conn, WHOLE, NOW, CFG)
    assert not set(listed["id"]) & set(cancelled["id"])


@pytest.mark.parametrize("grain", ["day", "week"])
def test_trend_matches_pandas(backend, raw, grain):
    with backend.engine.connect() as conn:
        got = throughput.ontime_trend(conn, SHANGCHENG, NOW, CFG, "arrived", grain)
    want = ref.ontime_trend(raw["incident"], raw["street"], SHANGCHENG, NOW, CFG, "arrived", grain)
    _compare(got, want[got.columns], ["street_code", "period"])
    assert got["period"].nunique() == (FIXTURE_DAYS if grain == "day" else 5)


def test_backlog_ageing_matches_pandas(backend, raw):
    with backend.engine.connect() as conn:
        got = throughput_backlog.backlog_ageing(conn, SHANGCHENG, NOW)
    want = ref.backlog_ageing(raw["incident"], raw["street"], SHANGCHENG, NOW)
    merged = got.merge(want, on=["key", "age_bucket"], how="outer", suffixes=("", "_want"))
    assert (merged["cases"] == merged["cases_want"].fillna(0)).all()
    assert set(got["age_bucket"]) == {b for b, _ in throughput_backlog.AGE_BUCKETS}
    assert got["cases"].sum() == want["cases"].sum() > 0


def test_attention_cases_match_pandas_and_are_masked(backend, raw):
    with backend.engine.connect() as conn:
        got = throughput_backlog.attention_cases(conn, GONGSHU_WEEK, NOW, CFG)
    want = ref.attention_ids(raw["incident"], raw["street"], GONGSHU_WEEK, NOW, CFG)
    assert dict(zip(got["id"], got["late_milestones"], strict=True)) == want
    assert list(got.columns) == throughput_backlog.CASE_LIST_COLUMNS
    phones = got["reporter_phone"].dropna()
    assert len(phones) and phones.str.contains(r"\*").all()
    names = got["reporter_name"].dropna()
    assert names.str.contains(r"\*").all()
    assert got["reported_at"].is_monotonic_decreasing
    with backend.engine.connect() as conn:
        capped = throughput_backlog.attention_cases(conn, GONGSHU_WEEK, NOW, CFG, limit=5)
    assert list(capped["id"]) == list(got["id"].head(5))


def test_percentiles_match_pandas_on_hand_values(backend):
    groups = {"a": [5.0], "b": [1.0, 2.0], "c": [3.0, 1.0, 2.0, 2.0], "d": list(range(11))}
    groups["e"] = [0.5, 7.25, 1.0, 9.0, 3.5, 3.5, 100.0, 42.0, 8.0, 6.0]
    rows = [
        select(literal(k).label("g"), literal(float(v)).label("x"))
        for k, vs in groups.items()
        for v in vs
    ]
    values = union_all(*rows).subquery("vals")
    qs = (("p0", 0.0), ("p25", 0.25), ("median", 0.5), ("p90", 0.9), ("p100", 1.0))
    # The portable window-function spelling, and on PostgreSQL also its own
    # (percentile_cont with a FILTER, what the throughput page runs there).
    spellings = {"portable": sqlfn.group_percentiles(values, ["g"], "x", qs)}
    if backend.dialect == "postgresql":
        x = values.c.x
        spellings["percentile_cont"] = select(
            values.c.g,
            func.count(x).label("n"),
            *(sqlfn.percentile_where(x, p, x.is_not(None)).label(label) for label, p in qs),
        ).group_by(values.c.g)
    for spelling, q in spellings.items():
        with backend.engine.connect() as conn:
            got = pd.DataFrame(conn.execute(q).mappings().all()).set_index("g")
        for k, vs in groups.items():
            s = pd.Series(vs)
            assert got.loc[k, "n"] == len(vs)
            for label, p in qs:
                want = s.quantile(p)
                assert float(got.loc[k, label]) == pytest.approx(want, rel=1e-9), (spelling, k, p)
    with pytest.raises(ValueError):
        sqlfn.group_percentiles(values, ["g"], "x", [("bad", 1.5)])


def test_exact_quantiles_are_numpys_bit_for_bit():
    """The stored-week merge takes its percentiles from a partitioned array
    with numpy's own interpolation: equal, not merely close, and the
    values are left as they were."""
    rng = np.random.default_rng(7)
    ps = [0.0, 0.1, 0.25, 0.5, 0.9, 0.99, 1.0]
    for n in (1, 2, 3, 10, 11, 999, 1000):
        for values in (rng.exponential(40.0, n), rng.integers(0, 5, n) / 60.0):
            before = values.copy()
            assert throughput_stages.exact_quantiles(values, ps) == list(np.quantile(values, ps)), n
            np.testing.assert_array_equal(values, before)
            assert throughput_stages.exact_quantiles(values, [0.5, 0.9]) == [
                pd.Series(values).quantile(0.5),
                pd.Series(values).quantile(0.9),
            ]


def test_empty_window_gives_empty_frames(backend):
    from datetime import date

    f = AreaFilter(start=date(2001, 1, 1), end=date(2001, 1, 2), district="330105")
    with backend.engine.connect() as conn:
        table = throughput.case_throughput(conn, f, NOW, CFG)
        grids = throughput.case_throughput(conn, f, NOW, CFG, by="grid")
        trend = throughput.ontime_trend(conn, f, NOW, CFG)
        cases = throughput_backlog.attention_cases(conn, f, NOW, CFG)
    assert len(table) == 18 and table["cases"].sum() == 0
    assert grids.empty and list(grids.columns) == throughput.throughput_columns("grid")
    assert trend.empty and cases.empty


def test_ranking_calls_out_top_and_bottom_three():
    table = pd.DataFrame(
        {
            "street_code": [f"s{i}" for i in range(8)],
            "arrived_judged": [10, 10, 0, 5, 10, 10, 20, 10],
            "arrived_on_time_share": [0.9, 0.5, np.nan, 1.0, 0.7, 0.8, 0.9, 0.6],
        }
    )
    ranked = throughput.rank_by_ontime(table, "arrived")
    assert list(ranked["street_code"]) == ["s3", "s6", "s0", "s5", "s4", "s7", "s1"]
    assert list(ranked["callout"]) == ["top"] * 3 + [""] + ["bottom"] * 3
    few = throughput.rank_by_ontime(table.head(4), "arrived")
    assert list(few["callout"]) == ["top", "top", "top"]


def test_exports_have_stable_columns(sqlite_demo):
    with sqlite_demo.engine.connect() as conn:
        table = throughput.case_throughput(conn, SHANGCHENG, NOW, CFG)
    out = throughput.export_frame(table, {"330102014": "四季青街道"})
    assert list(out.columns) == ["street_code", "name", *throughput.throughput_columns()[1:]]
    assert "四季青街道" in set(out["name"])
    back = pd.read_excel(io.BytesIO(throughput.excel_bytes({"streets": out})), dtype={0: str})
    assert list(back.columns) == list(out.columns) and len(back) == len(out)


# --- The page ---------------------------------------------------------------------


@pytest.fixture
def pinned_clock(monkeypatch):
    monkeypatch.setenv("OPS_NOW", NOW.isoformat())


def _no_errors(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_page_runs_only_the_open_tab(app_test, sqlite_demo, pinned_clock):
    """The tabs track state: only the open one runs its queries, and each
    one, opened, shows its own chart or table."""
    at = app_test("pages/throughput.py", sqlite_demo.url)
    _no_errors(at)

    def metas() -> set[str]:
        return {json.loads(c.proto.spec)["layout"].get("meta") for c in at.get("plotly_chart")}

    assert not metas() & {"trend", "ageing", "breakdown_category", "breakdown_source"}
    expected = {
        translate(f"throughput.tab_{key}", "zh"): meta
        for key, meta in (
            ("trend", "trend"),
            ("ageing", "ageing"),
            ("category", "breakdown_category"),
            ("source", "breakdown_source"),
        )
    }
    for label, meta in expected.items():
        at.session_state["tp_tab"] = label
        at.run()
        _no_errors(at)
        shown = metas()
        assert meta in shown, (label, shown)
        assert not (set(expected.values()) - {meta}) & shown, (label, shown)


def test_page_ranks_streets_and_drills_down(app_test, sqlite_demo, pinned_clock):
    """The ranking chart is the SQL's ranking; picking a street shows its grids
    and its late or open cases, masked; a district change clears the pick."""
    at = app_test("pages/throughput.py", sqlite_demo.url, query_params={"lang": "en"})
    _no_errors(at)
    f = AreaFilter(start=END - timedelta(days=CFG.default_window_days - 1), end=END)
    f = AreaFilter(start=f.start, end=f.end, district=CFG.default_district or None)
    with sqlite_demo.engine.connect() as conn:
        table = throughput.case_throughput(conn, f, NOW, CFG)
    ranked = throughput.rank_by_ontime(table, "arrived")
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    rank_chart = next(c for c in charts if c["layout"].get("meta") == "ranking")
    bars = rank_chart["data"][0]
    assert [c[0] for c in bars["customdata"]] == list(ranked["street_code"])[::-1]
    assert bars["x"] == pytest.approx(list(ranked["on_time_share"])[::-1])
    assert "8 min" in rank_chart["layout"]["title"]["text"]  # the target beside the figure
    assert at.dataframe, "no per-street table"

    worst = ranked["street_code"].iloc[-1]
    at.selectbox(key="tp_drill").set_value(worst).run()
    _no_errors(at)
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert any(c["layout"].get("meta") == "grid_ranking" for c in charts)
    cases = [d.value for d in at.dataframe if "late_milestones" in d.value.columns]
    assert cases and (cases[0]["street_code"] == worst).all()
    assert cases[0]["reporter_phone"].dropna().str.contains(r"\*").all()

    # Another district: the drilled street is not in it, so the drill-down resets.
    at.selectbox(key="f_district").set_value("330102").run()
    _no_errors(at)
    assert at.selectbox(key="tp_drill").value == ""
