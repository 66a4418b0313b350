"""The demo generator: determinism, calibration, bad rows, backends, atomic writes.

The shared ``backend`` fixture (conftest) is the demo built on SQLite,
PostgreSQL and MariaDB; the few extra builds here are tiny SQLite files.
Checks recompute figures independently with pandas on the raw rows.
"""

from __future__ import annotations

import csv
import json
import math
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from data_access import schema
from data_access.config import Bounds
from data_access.coords import gcj02_to_wgs84, wgs84_to_gcj02
from demo import build as demo
from demo import crowds, incidents
from demo import geography as geo
from tests.conftest import FIXTURE_DAYS, FIXTURE_END, Backend

TINY = {"days": 3, "scale": 0.03, "end": datetime(2026, 3, 14, 23, 45)}
MILESTONES = ["accepted_at", "dispatched_at", "arrived_at", "closed_at"]


def _table(backend: Backend, name: str) -> pd.DataFrame:
    with backend.raw_engine.connect() as conn:
        return pd.read_sql(select(schema.CONTRACT_TABLES[name]), conn)


def _incidents(backend: Backend) -> pd.DataFrame:
    df = _table(backend, "incident")
    for col in ["reported_at", *MILESTONES]:
        df[col] = pd.to_datetime(df[col])
    return df


def _dump(path: Path) -> dict[str, list[tuple]]:
    con = sqlite3.connect(path)
    try:
        return {
            name: con.execute(f"SELECT * FROM {name} ORDER BY 1, 2").fetchall()
            for name in schema.CONTRACT_TABLES
        }
    finally:
        con.close()


# --- the shared fixture database on every backend -------------------------


def test_summary_counts_are_the_rows_in_the_database(backend: Backend):
    with backend.raw_engine.connect() as conn:
        for name, table in schema.CONTRACT_TABLES.items():
            n = conn.execute(select(func.count()).select_from(table)).scalar_one()
            assert n > 0, name
            assert n == backend.summary.rows[name], name


def test_bad_row_counts_match_what_is_stored(backend: Backend):
    rows = backend.summary.rows
    inc = _incidents(backend)
    streets = set(_table(backend, "street")["code"])
    end = FIXTURE_END
    b = Bounds()
    has_xy = inc["lon"].notna() & inc["lat"].notna()
    out_of_box = has_xy & ~(
        inc["lon"].between(b.min_lon, b.max_lon) & inc["lat"].between(b.min_lat, b.max_lat)
    )
    assert (~inc["street_code"].isin(streets)).sum() == rows["bad_incident_unknown_street"] > 0
    assert inc["lat"].isna().sum() == rows["bad_incident_null_coords"] > 0
    assert out_of_box.sum() == rows["bad_incident_out_of_area"] > 0
    acc_early = (inc["accepted_at"] < inc["reported_at"]).sum()
    arr_early = (inc["arrived_at"] < inc["dispatched_at"]).sum()
    assert acc_early == rows["bad_incident_accepted_before_reported"] > 0
    assert arr_early == rows["bad_incident_arrived_before_dispatched"] > 0
    assert acc_early + arr_early == rows["bad_incident_out_of_order"]
    # No other ordering problem hides in the good rows.
    assert (inc["dispatched_at"] < inc["accepted_at"]).sum() == 0
    assert (inc["closed_at"] < inc["arrived_at"]).sum() == 0
    assert (inc["reported_at"] > pd.Timestamp(end)).sum() == rows["bad_incident_future"] > 0
    assert len(inc) - inc["id"].nunique() == rows["bad_incident_duplicate_id"] > 0

    crowd = schema.crowd_reading
    with backend.raw_engine.connect() as conn:
        null_xy = conn.execute(select(func.count()).where(crowd.c.lat.is_(None))).scalar_one()
        unknown = conn.execute(
            select(func.count()).where(crowd.c.street_code.not_in(sorted(streets)))
        ).scalar_one()
    assert null_xy == rows["bad_crowd_null_coords"] > 0
    assert unknown == rows["bad_crowd_unknown_street"] > 0


@pytest.mark.backend
@pytest.mark.parametrize("name", ["postgresql", "mariadb"])
def test_every_backend_stores_the_same_rows(name: str, databases, sqlite_demo: Backend):
    backend = databases.get(name)
    for name, cols in {
        "incident": ["id", "status", "reported_at", "closed_at", "address", "reporter_name"],
        "petition": ["id", "due_at", "closed_at", "repeat_count", "escalated"],
        "warning": ["id", "colour", "raised_at", "cleared_at", "note"],
    }.items():
        ours = _table(backend, name)[cols].sort_values(cols).reset_index(drop=True)
        ref = _table(sqlite_demo, name)[cols].sort_values(cols).reset_index(drop=True)
        pd.testing.assert_frame_equal(ours, ref, check_dtype=False, obj=name)
    # MariaDB's FLOAT is single precision: coordinates agree to about a metre.
    ours = _table(backend, "housing_record").sort_values("id")
    ref = _table(sqlite_demo, "housing_record").sort_values("id")
    assert np.allclose(ours["lat"], ref["lat"], atol=2e-5, equal_nan=True)


def test_statuses_agree_with_milestones(backend: Backend):
    inc = _incidents(backend)
    st = inc["status"]
    assert set(st) <= set(schema.INCIDENT_STATUSES)
    closed = inc[st == "closed"]
    assert closed["closed_at"].notna().all() and closed["outcome"].notna().all()
    assert set(closed["outcome"]) <= set(schema.INCIDENT_OUTCOMES)
    assert inc.loc[st != "closed", "outcome"].isna().all()
    opened = inc[st == "open"]
    assert opened[["dispatched_at", "arrived_at", "closed_at"]].isna().all().all()
    disp = inc[st == "dispatched"]
    assert disp["dispatched_at"].notna().all()
    assert disp[["arrived_at", "closed_at"]].isna().all().all()
    on_site = inc[st == "on_site"]
    assert on_site["arrived_at"].notna().all() and on_site["closed_at"].isna().all()
    assert inc.loc[st == "cancelled", "arrived_at"].isna().all()
    # Nothing but the deliberate future rows happens after ``end``.
    late = inc[MILESTONES].gt(pd.Timestamp(FIXTURE_END)).any(axis=1)
    assert late.sum() == 0


def test_calibration_of_cases(backend: Backend):
    inc = _incidents(backend)
    good = inc[(inc["reported_at"] <= pd.Timestamp(FIXTURE_END)) & inc["lat"].notna()]
    old = good[
        (good["reported_at"] < pd.Timestamp(FIXTURE_END - timedelta(days=3)))
        & (good["status"] != "cancelled")
    ]
    assert 0.95 <= (old["status"] == "closed").mean() <= 0.995
    share = good["source"].value_counts(normalize=True)
    assert share["110"] == pytest.approx(0.30, abs=0.05)
    assert share["camera_ai"] == pytest.approx(0.25, abs=0.05)
    camera = good[good["source"] == "camera_ai"]
    assert camera["reporter_name"].isna().all() and camera["reporter_phone"].isna().all()
    assert (camera["status"] == "cancelled").mean() == pytest.approx(0.08, abs=0.04)
    phones = good["reporter_phone"].dropna()
    assert phones.str.fullmatch(r"1[3-9]\d{9}").all()
    arrive = (good["arrived_at"] - good["reported_at"]).dt.total_seconds() / 60
    sijiqing = good["street_code"] == geo.SIJIQING
    assert arrive[sijiqing].median() == pytest.approx(4.5, abs=0.5)
    assert arrive[~sijiqing].median() == pytest.approx(6.0, abs=0.6)
    breach = (arrive[~sijiqing].dropna() > 8).mean()
    assert 0.04 <= breach <= 0.13
    # Quiet at night, busy late morning.
    hours = good["reported_at"].dt.hour.value_counts()
    assert hours.get(3, 0) * 8 < hours[10]


def test_hot_spot_repeats_at_one_place(backend: Backend):
    inc = _incidents(backend)
    spot = inc[inc["address"].str.contains("云上澜苑", na=False)]
    noise = spot[spot["category"] == "renovation_noise"]
    assert len(noise) == backend.summary.rows[incidents.HOTSPOT_KEY]
    assert len(noise) >= 10  # FIXTURE_DAYS = 28; about one call every three days
    assert (noise["street_code"] == geo.HEZHUANG).all()
    spread_m = (noise["lat"].max() - noise["lat"].min()) * 110_574
    assert spread_m < 100


def test_fireworks_exceed_the_city_balcony_capacity_and_nothing_else_does(sqlite_demo: Backend):
    venues = _table(sqlite_demo, "venue").set_index("id")
    crowd = _table(sqlite_demo, "crowd_reading").dropna(subset=["lat", "lon"])
    crowd["ts"] = pd.to_datetime(crowd["ts"])
    cells = crowd.drop_duplicates("cell_id")
    peaks = {}
    for vid, v in venues.iterrows():
        kx = 111_320 * math.cos(math.radians(v["lat"]))
        d = np.hypot((cells["lon"] - v["lon"]) * kx, (cells["lat"] - v["lat"]) * 110_574)
        inside = set(cells.loc[d <= v["radius_m"], "cell_id"])
        head = crowd[crowd["cell_id"].isin(inside)].groupby("ts")["people"].sum()
        peaks[vid] = head
    balcony = peaks[crowds.FIREWORKS_VENUE]
    show = crowds.fireworks_day(FIXTURE_END)
    evening = balcony[show + timedelta(hours=20) : show + timedelta(hours=20, minutes=45)]
    assert evening.min() > 300_000 > venues.loc[crowds.FIREWORKS_VENUE, "capacity"]
    over = balcony[balcony > venues.loc[crowds.FIREWORKS_VENUE, "capacity"]]
    assert over.index.min() >= show + timedelta(hours=18)
    assert over.index.max() <= show + timedelta(hours=22, minutes=30)
    for vid, head in peaks.items():
        if vid not in (crowds.FIREWORKS_VENUE, "V02"):
            assert (head <= venues.loc[vid, "capacity"]).all(), vid


def test_windows_and_grid_codes(backend: Backend):
    inc = _incidents(backend)
    good = inc[inc["reported_at"] <= pd.Timestamp(FIXTURE_END)]
    assert good["reported_at"].min() > pd.Timestamp(FIXTURE_END - timedelta(days=FIXTURE_DAYS))
    grid = _table(backend, "grid")
    assert grid["code"].str.fullmatch(r"\d{9}\d{3}").all()
    assert (grid["code"].str[:9] == grid["street_code"]).all()
    assert set(grid["kind"]) <= set(schema.GRID_KINDS)
    per_street = grid.groupby("street_code").size()
    assert per_street.between(15, 40).all()
    kinds = grid.groupby(["street_code", "kind"]).size()
    assert kinds[(geo.SIJIQING, "building")] == 9
    assert kinds[(geo.HEZHUANG, "village")] == 17 and kinds[(geo.HEZHUANG, "dedicated")] == 5
    known = set(grid["code"])
    assert inc["grid_code"].dropna().isin(known).all()


# --- geography, checked with shapely (independent of the numpy sampler) ---


def test_coordinates_are_gcj02_and_inside_their_street(sqlite_demo: Backend):
    shapely = pytest.importorskip("shapely")
    from shapely.geometry import shape

    fc = json.loads((geo.GEO_DIR / "streets_approx.geojson").read_text(encoding="utf-8"))
    outlines = {f["properties"]["code"]: shape(f["geometry"]) for f in fc["features"]}
    with (geo.GEO_DIR / "streets.csv").open(encoding="utf-8") as fh:
        labels = {
            r["code"]: (float(r["label_lon"]), float(r["label_lat"])) for r in csv.DictReader(fh)
        }
    streets = _table(sqlite_demo, "street")
    for _, s in streets.iterrows():
        lon, lat = wgs84_to_gcj02(*labels[s["code"]])
        assert (s["lon"], s["lat"]) == pytest.approx((lon, lat), abs=2e-6)

    inc = _incidents(sqlite_demo)
    good = inc[inc["street_code"].isin(outlines) & inc["lat"].between(29, 31)]
    sample = good.sample(min(400, len(good)), random_state=1)
    lon, lat = gcj02_to_wgs84(sample["lon"].to_numpy(), sample["lat"].to_numpy())
    inside = [
        outlines[code].buffer(1e-5).contains(shapely.Point(x, y))
        for code, x, y in zip(sample["street_code"], lon, lat, strict=True)
    ]
    assert all(inside)


# --- extra small builds -----------------------------------------------------


def test_same_arguments_give_identical_databases(tmp_path: Path):
    a, b, c = tmp_path / "a.sqlite", tmp_path / "b.sqlite", tmp_path / "c.sqlite"
    sa = demo.build_demo(f"sqlite:///{a}", **TINY)
    sb = demo.build_demo(f"sqlite:///{b}", **TINY)
    assert sa.rows == sb.rows
    assert _dump(a) == _dump(b)
    demo.build_demo(f"sqlite:///{c}", seed=1, **TINY)
    assert _dump(c)["incident"] != _dump(a)["incident"]


def test_without_bad_rows_every_row_is_clean(tmp_path: Path):
    path = tmp_path / "clean.sqlite"
    summary = demo.build_demo(f"sqlite:///{path}", bad_rows=False, **TINY)
    assert not [k for k in summary.rows if k.startswith("bad_")]
    con = sqlite3.connect(path)
    try:
        q = {
            "unknown street": "SELECT COUNT(*) FROM incident WHERE street_code NOT IN (SELECT code FROM street)",
            "null coords": "SELECT COUNT(*) FROM incident WHERE lat IS NULL OR lon IS NULL",
            "duplicate ids": "SELECT COUNT(*) - COUNT(DISTINCT id) FROM incident",
            "out of order": "SELECT COUNT(*) FROM incident WHERE accepted_at < reported_at "
            "OR dispatched_at < accepted_at OR arrived_at < dispatched_at OR closed_at < arrived_at",
            "future": "SELECT COUNT(*) FROM incident WHERE reported_at > '2026-03-14 23:45:00.000000'",
            "crowd": "SELECT COUNT(*) FROM crowd_reading WHERE lat IS NULL "
            "OR street_code NOT IN (SELECT code FROM street)",
        }
        for what, sql in q.items():
            assert con.execute(sql).fetchone()[0] == 0, what
    finally:
        con.close()


def test_hot_spot_over_five_months_has_twenty_plus_calls(tmp_path: Path):
    summary = demo.build_demo(
        f"sqlite:///{tmp_path / 'long.sqlite'}",
        days=150,
        scale=0.01,
        end=datetime(2026, 9, 30, 18, 0),
        districts=("330114",),
    )
    assert summary.rows[incidents.HOTSPOT_KEY] >= 20


def test_interrupted_build_leaves_the_old_file_alone(tmp_path: Path):
    path = tmp_path / "sub" / "demo.sqlite"  # parent created by the build
    demo.build_demo(f"sqlite:///{path}", **TINY)
    before = _dump(path)

    def explode(stage: str, fraction: float) -> None:
        if stage.startswith("loading incident"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        demo.build_demo(f"sqlite:///{path}", seed=99, progress=explode, **TINY)
    assert _dump(path) == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["demo.sqlite"]


def test_progress_is_reported_in_order(tmp_path: Path):
    seen: list[tuple[str, float]] = []
    demo.build_demo(
        f"sqlite:///{tmp_path / 'p.sqlite'}",
        progress=lambda s, f: seen.append((s, f)),
        **TINY,
    )
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(s.startswith("loading") for s, _ in seen)


def test_default_end_is_now_in_shanghai_floored_to_15_minutes():
    assert demo.default_end(datetime(2026, 5, 1, 10, 44, 59)) == datetime(2026, 5, 1, 10, 30)
    end = demo.default_end()
    assert end.minute % 15 == 0 and end.second == 0 and end.tzinfo is None


def test_cli_prints_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    assert (
        demo.main(["--url", url, "--days", "3", "--scale", "0.02", "--end", "2026-01-10T08:00"])
        == 0
    )
    out = capsys.readouterr().out
    assert "incident" in out and "crowd_reading" in out and "built in" in out


def test_unknown_district_is_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="330199"):
        demo.build_demo(f"sqlite:///{tmp_path / 'x.sqlite'}", districts=("330199",), **TINY)
