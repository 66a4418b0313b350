"""Loads into the staging database on every backend: round trips, the same
file twice, overlapping exports, bad rows, the shipped mappings on real rows,
the command line."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from data_access.config import load_site_config
from data_access.connection import make_engine
from data_access.filters import AreaFilter
from data_access.schema import incident
from importer.load import batches, import_export, site_for, staging_engine
from importer.mapping import load_mapping, parse_mapping_text
from importer.transform import INCIDENT_COLUMNS, REPORT_COLUMNS
from metrics import quality
from tests.conftest import BACKEND_PARAMS, scratch_database

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
SF_SAMPLE = ROOT / "samples" / "sf_fire_calls" / "sf_fire_calls_2020-04_sample.csv"
HANGZHOU = load_site_config(ROOT / "config" / "site.toml")


@pytest.fixture(params=BACKEND_PARAMS)
def staging(request, tmp_path_factory) -> Iterator[Engine]:
    """A fresh, empty staging database on each backend."""
    url, drop = scratch_database(request.param, tmp_path_factory)
    engine = staging_engine(url)
    yield engine
    engine.dispose()
    if drop is not None:
        drop()


def incidents(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(select(incident).order_by(incident.c.id)).all()
    return pd.DataFrame(rows, columns=INCIDENT_COLUMNS)


def load(engine, data: bytes, name: str, mapping, cfg=HANGZHOU, tmp_path=None, **kw):
    return import_export(
        engine, data, name, mapping, cfg, report_dir=tmp_path, now=kw.pop("now", None), **kw
    )


def test_round_trip_through_every_contract_column(staging, sqlite_demo, tmp_path):
    """Rows of the demo generator (its deliberately bad ones included),
    exported as CSV with the contract's header, imported, read back: every
    column equal; and what the importer flagged is what the 数据质量 page
    counts on the imported rows, rule by rule."""
    from data_access.schema import district, street
    from importer.load import ensure_tables
    from tests.conftest import FIXTURE_END

    with sqlite_demo.raw_engine.connect() as conn:
        every = pd.read_sql(select(incident).order_by(incident.c.id), conn)
        streets = pd.read_sql(select(street), conn)
        districts = pd.read_sql(select(district), conn)
    every = every.drop_duplicates("id", keep=False)
    for col in INCIDENT_COLUMNS:
        if col.endswith("_at"):
            every[col] = pd.to_datetime(every[col])
    b = HANGZHOU.bounds
    odd = (
        every["lat"].isna()
        | ~every["street_code"].isin(streets["code"])
        | (every["accepted_at"] < every["reported_at"])
        | (every["closed_at"] < every["reported_at"])
        | ~every["lat"].between(b.min_lat, b.max_lat)
        | (every["reported_at"] > FIXTURE_END)
    )
    source = pd.concat([every[~odd].head(300), every[odd]]).reset_index(drop=True)
    assert source["reporter_name"].notna().any() and source["closed_at"].isna().any()
    with staging.begin() as conn:  # the demo's geography, as a site would load it
        ensure_tables(conn)
        conn.execute(
            street.insert(), streets.astype(object).where(streets.notna(), None).to_dict("records")
        )
        conn.execute(district.insert(), districts.to_dict("records"))
    data = source.to_csv(index=False).encode("utf-8")
    mapping = load_mapping("contract_incident")
    result = load(staging, data, "contract.csv", mapping, tmp_path=tmp_path, now=FIXTURE_END)
    assert result.status == "loaded", result.message
    assert not [p for p in result.problems if p.action == "rejected"]
    back = incidents(staging)
    expected = source.sort_values("id").reset_index(drop=True)
    assert list(back["id"]) == list(expected["id"])
    for col in INCIDENT_COLUMNS:
        got, want = back[col], expected[col]
        if col in ("lat", "lon"):
            pd.testing.assert_series_equal(
                got.astype(float), want.astype(float), check_names=False, rtol=1e-12
            )
        elif col.endswith("_at"):
            assert list(pd.to_datetime(got)) == list(want), col
        else:
            assert [None if pd.isna(v) else v for v in got] == [
                None if pd.isna(v) else v for v in want
            ], col
    whole = AreaFilter(start=source["reported_at"].min().date(), end=FIXTURE_END.date())
    reader = make_engine(staging.url.render_as_string(hide_password=False))
    try:
        with reader.connect() as conn:
            found = quality.data_quality(conn, whole, FIXTURE_END, HANGZHOU)
    finally:
        reader.dispose()
    page = found[found["table"] == "incident"].set_index("check")["rows"].astype(int)
    flagged = pd.Series([p.rule for p in result.problems]).value_counts()
    rules = ("unknown_street", "missing_coordinates", "out_of_area", "out_of_order", "future_time")
    for rule in rules:
        assert page[rule] == int(flagged.get(rule, 0)), rule
    assert sum(page[r] > 0 for r in rules) >= 4  # the demo's bad rows reach most rules


def test_the_same_file_twice_changes_nothing(staging, tmp_path):
    data = (FIXTURES / "nyc_311_sample.csv").read_bytes()
    m = load_mapping("nyc_311")
    cfg = site_for(m)
    first = load(staging, data, "nyc.csv", m, cfg, tmp_path)
    before = incidents(staging)
    again = load(staging, data, "renamed copy.csv", m, cfg, tmp_path)
    assert (first.status, again.status) == ("loaded", "skipped")
    assert f"batch {first.batch_id}" in again.message and "nothing changed" in again.message
    pd.testing.assert_frame_equal(incidents(staging), before)
    history = batches(staging)
    assert list(history["status"]) == ["loaded"] and int(history["cases"][0]) == 18


OVERLAP_MAPPING = """
[source]
timestamp_formats = ["%Y-%m-%d %H:%M"]
[fields]
id = "Case"
reported_at = "Opened"
closed_at = { column = "Closed" }
address = { column = "Address" }
category = { column = "Type", map = { Noise = "renovation_noise" } }
[street]
by = "code"
column = "Street"
"""


def test_overlapping_exports_update_in_place_and_never_overwrite_with_null(staging, tmp_path):
    m = parse_mapping_text(OVERLAP_MAPPING, "overlap.toml")
    monday = (
        "Case,Opened,Closed,Address,Type,Street\n"
        "A1,2026-11-16 09:00,2026-11-16 10:00,1 West Lake Rd,Noise,330105001\n"
        "A2,2026-11-16 11:00,,2 West Lake Rd,Noise,330105001\n"
    )
    tuesday = (  # A2 closed since; its address not exported this time; A3 new
        "Case,Opened,Closed,Address,Type,Street\n"
        "A2,2026-11-16 11:00,2026-11-17 08:30,,Noise,330105001\n"
        "A3,2026-11-17 09:00,,3 West Lake Rd,Noise,330105002\n"
    )
    now = datetime(2026, 11, 20, 18, 0)
    r1 = load(staging, monday.encode(), "monday.csv", m, tmp_path=tmp_path, now=now)
    r2 = load(staging, tuesday.encode(), "tuesday.csv", m, tmp_path=tmp_path, now=now)
    assert (r1.inserted, r1.updated, r2.inserted, r2.updated) == (2, 0, 1, 1)
    rows = incidents(staging).set_index("id")
    assert list(rows.index) == ["A1", "A2", "A3"]
    assert pd.Timestamp(rows.loc["A2", "closed_at"]) == pd.Timestamp("2026-11-17 08:30")
    assert rows.loc["A2", "status"] == "closed"  # derived again from the new milestones
    assert rows.loc["A2", "address"] == "2 West Lake Rd"  # not overwritten with NULL
    assert rows.loc["A1", "address"] == "1 West Lake Rd"  # untouched


def test_bad_rows_are_reported_and_the_valid_rows_loaded(staging, tmp_path):
    m = load_mapping("hangzhou_12345")
    data = (FIXTURES / "hangzhou_12345_gbk.csv").read_bytes()
    now = datetime(2026, 11, 20, 18, 0)
    result = load(staging, data, "hangzhou_12345_gbk.csv", m, tmp_path=tmp_path, now=now)
    assert result.status == "loaded"
    assert (result.rows_read, result.cases, result.rejected_rows) == (25, 22, 3)
    with result.report_path.open(encoding="utf-8-sig", newline="") as fh:
        report = list(csv.DictReader(fh))
    assert result.report_path == tmp_path / "hangzhou_12345_gbk.bad-rows.csv"
    assert list(report[0]) == REPORT_COLUMNS
    got = [
        (r["file"], int(r["row"]), r["column"], r["value"], r["rule"], r["action"]) for r in report
    ]
    f = "hangzhou_12345_gbk.csv"
    assert got == [
        (f, 7, "受理时间", "待补录", "bad_timestamp", "rejected"),
        (f, 11, "诉求类型", "政策咨询", "unmapped_value", "rejected"),
        (f, 15, "所属街道", "不存在街道", "unknown_street", "loaded"),
        (f, 26, "12345-{工单编号}", "12345-HZ12345-202601102", "duplicate_id", "rejected"),
    ]
    # Every valid row is there, none of the rejected ones; the unknown street
    # is loaded without a street, and the data-quality page counts it.
    raw = pd.read_csv(FIXTURES / "hangzhou_12345_gbk.csv", encoding="gbk", dtype=str)
    loaded = incidents(staging)
    expected_ids = {f"12345-{i}" for i in raw["工单编号"]} - {
        f"12345-{raw['工单编号'][5]}",
        f"12345-{raw['工单编号'][9]}",
    }
    assert set(loaded["id"]) == expected_ids
    assert loaded["street_code"].isna().sum() == 1
    by_name = {r["name_zh"]: r["code"] for r in _streets(staging)}
    row = loaded.set_index("id").loc[f"12345-{raw['工单编号'][0]}"]
    assert row["street_code"] == by_name[raw["所属街道"][0]]
    assert row["reporter_phone"] == raw["联系电话"][0]
    f_all = AreaFilter(start=datetime(2026, 11, 14).date(), end=datetime(2026, 11, 20).date())
    reader = make_engine(staging.url.render_as_string(hide_password=False))
    try:
        with reader.connect() as conn:
            found = quality.data_quality(conn, f_all, now, HANGZHOU).set_index(["table", "check"])
    finally:
        reader.dispose()
    assert int(found.loc[("incident", "unknown_street"), "rows"]) == 1


def _streets(engine: Engine) -> list[dict]:
    from data_access.schema import street

    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(street))]


def test_more_rejected_rows_than_max_errors_loads_nothing(staging, tmp_path):
    m = load_mapping("hangzhou_12345")
    data = (FIXTURES / "hangzhou_12345_gbk.csv").read_bytes()
    result = load(staging, data, "hz.csv", m, tmp_path=tmp_path, max_errors=2)
    assert result.status == "stopped" and "more than --max-errors 2" in result.message
    assert incidents(staging).empty
    assert list(batches(staging)["status"]) == ["stopped"]
    # The limit is not a skip: with a higher limit the same file loads.
    assert load(staging, data, "hz.csv", m, tmp_path=tmp_path, max_errors=3).status == "loaded"


def test_a_missing_required_column_stops_that_file(staging, tmp_path):
    m = load_mapping("nyc_311")
    text = (FIXTURES / "nyc_311_sample.csv").read_text(encoding="utf-8")
    header, rest = text.split("\n", 1)
    data = (header.replace("Created Date", "Date Created") + "\n" + rest).encode()
    result = load(staging, data, "renamed.csv", m, site_for(m), tmp_path)
    assert result.status == "stopped"
    assert result.message.startswith("renamed.csv: missing required column 'Created Date'")
    assert incidents(staging).empty


def sf_raw() -> pd.DataFrame:
    raw = pd.read_csv(SF_SAMPLE, dtype=str, keep_default_na=False)
    for col in ("Received DtTm", "Dispatch DtTm", "On Scene DtTm", "Available DtTm"):
        raw[col] = pd.to_datetime(raw[col], format="%m/%d/%Y %I:%M:%S %p")
    return raw


def test_sf_fire_calls_on_the_real_sample(staging, tmp_path):
    m = load_mapping("sf_fire_calls")
    result = load(staging, SF_SAMPLE.read_bytes(), SF_SAMPLE.name, m, site_for(m), tmp_path)
    assert result.status == "loaded", result.message
    raw = sf_raw()
    assert (result.rows_read, result.cases) == (10_410, 5_292)
    assert result.cases == raw["Incident Number"].nunique()
    rows = incidents(staging).set_index("id")
    per = raw.groupby("Incident Number").agg(
        received=("Received DtTm", "min"),
        dispatched=("Dispatch DtTm", "min"),
        on_scene=("On Scene DtTm", "min"),
        available=("Available DtTm", "max"),
        call_type=("Call Type", "first"),
    )
    per.index = "sf-" + per.index.astype(str)
    per = per.loc[rows.index]
    assert list(pd.to_datetime(rows["reported_at"])) == list(per["received"])
    assert list(pd.to_datetime(rows["dispatched_at"])) == list(per["dispatched"])
    assert list(pd.to_datetime(rows["arrived_at"]).fillna(pd.NaT)) == list(per["on_scene"])
    assert list(pd.to_datetime(rows["closed_at"])) == list(per["available"])
    closed = per["available"].notna()
    assert (rows["status"] == "closed").sum() == int(closed.sum())
    assert (rows.loc[~closed.to_numpy(), "status"] == "on_site").all()
    assert (rows["category"][per["call_type"] == "Medical Incident"] == "medical").all()
    # The two incidents whose neighbourhood the export gives as "None".
    unknown = [p for p in result.problems if p.rule == "unknown_street"]
    assert [(p.row, p.value, p.action) for p in unknown] == [
        (823, "None", "loaded"),
        (8452, "None", "loaded"),
    ]
    assert rows["street_code"].isna().sum() == 2
    assert rows["street_code"].dropna().str.match(r"^060750\d{3}$").all()
    # What the importer flagged is what the 数据质量 page counts, rule by rule.
    cfg = site_for(m)
    whole = AreaFilter(start=datetime(2020, 4, 1).date(), end=datetime(2020, 4, 30).date())
    reader = make_engine(staging.url.render_as_string(hide_password=False))
    try:
        with reader.connect() as conn:
            found = quality.data_quality(conn, whole, datetime(2020, 5, 1), cfg)
    finally:
        reader.dispose()
    page = found[found["table"] == "incident"].set_index("check")["rows"].astype(int)
    flagged = pd.Series([p.rule for p in result.problems]).value_counts()
    for rule in ("unknown_street", "missing_coordinates", "out_of_area", "out_of_order"):
        assert page[rule] == int(flagged.get(rule, 0)), rule
    assert int(flagged.sum()) == len(result.problems)


def test_nyc_311_on_real_rows(staging, tmp_path):
    m = load_mapping("nyc_311")
    data = (FIXTURES / "nyc_311_sample.csv").read_bytes()
    result = load(staging, data, "nyc.csv", m, site_for(m), tmp_path)
    raw = pd.read_csv(FIXTURES / "nyc_311_sample.csv", dtype=str, keep_default_na=False)
    assert (result.rows_read, result.cases, result.rejected_rows) == (18, 18, 0)
    rows = incidents(staging).set_index("id")
    first = rows.loc["nyc311-42254749"]
    assert pd.Timestamp(first["reported_at"]) == pd.Timestamp("2019-04-18 21:55:45")
    assert pd.Timestamp(first["closed_at"]) == pd.Timestamp("2019-04-19 03:45:24")
    assert first["street_code"] == "360470015"  # 15 BROOKLYN
    assert first["category"] == "noise_residential" and first["source"] == "hotline"
    assert (rows["status"] == "closed").all()
    no_position = raw["Latitude"] == ""
    flagged = sorted(p.row for p in result.problems if p.rule == "missing_coordinates")
    assert flagged == sorted(int(i) + 2 for i in raw.index[no_position])
    assert [p.value for p in result.problems if p.rule == "unknown_street"] == ["0 Unspecified"]


def test_the_command_line_dry_run_writes_nothing_then_loads(tmp_path):
    db = tmp_path / "staging.sqlite"
    url = f"sqlite:///{db}"
    fixture = FIXTURES / "hangzhou_12345_gbk.csv"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "importer", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    dry = run(
        "load",
        str(fixture),
        "--mapping",
        "hangzhou_12345",
        "--db",
        url,
        "--dry-run",
        "--report-dir",
        str(tmp_path),
        "--now",
        "2026-11-20T18:00",
    )
    assert dry.returncode == 0, dry.stderr
    assert "dry_run, 25 rows read, 22 cases would load" in dry.stdout
    assert not db.exists() or "import_batch" not in db.read_bytes().decode("latin-1")
    done = run(
        "load",
        str(fixture),
        "--mapping",
        "hangzhou_12345",
        "--db",
        url,
        "--report-dir",
        str(tmp_path),
        "--now",
        "2026-11-20T18:00",
    )
    assert done.returncode == 0, done.stderr
    assert "loaded, 25 rows read, 22 cases loaded (22 new, 0 updated)" in done.stdout
    assert (tmp_path / "hangzhou_12345_gbk.bad-rows.csv").is_file()
    stopped = run("load", str(fixture), "--mapping", "nyc_311", "--db", url)
    assert stopped.returncode == 1 and "missing required columns" in stopped.stdout
    bad = run("load", str(fixture), "--mapping", "no_such_mapping", "--db", url)
    assert bad.returncode == 2 and "no such mapping file" in bad.stderr
    away = run(
        "load",
        str(fixture),
        "--mapping",
        "hangzhou_12345",
        "--db",
        "postgresql+psycopg://postgres@127.0.0.1:1/none",
    )  # nothing listens on port 1
    assert away.returncode == 1 and "staging database" in away.stderr
    assert "Traceback" not in away.stderr
    history = run("batches", "--db", url)
    assert "hangzhou_12345_gbk.csv" in history.stdout


def test_report_values_keep_chinese_text_readable_in_excel(tmp_path):
    from importer.transform import Problem
    from importer.validate import write_report

    path = write_report(
        tmp_path / "r.csv", [Problem("a.csv", 3, "所属街道", "不存在街道", "unknown_street")]
    )
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))[1][3] == "不存在街道"


def test_two_first_loads_at_once_into_an_empty_staging_database_both_load(
    staging, tmp_path, monkeypatch
):
    """Two different files, the first ever, at the same moment: both find
    no tables. Without a lock around the check and the CREATE TABLE one of
    them failed (PostgreSQL's catalogue key, MariaDB's "already exists");
    now the second waits for the first's tables and both load."""
    import threading

    import importer.load as load_mod

    real_has_table = staging.dialect.has_table

    def slow_has_table(*args, **kwargs):
        time.sleep(0.05)  # both threads' checks overlap, before either creates
        return real_has_table(*args, **kwargs)

    monkeypatch.setattr(staging.dialect, "has_table", slow_has_table)
    start = threading.Barrier(2, timeout=30)
    files = [
        ("nyc.csv", (FIXTURES / "nyc_311_sample.csv").read_bytes(), load_mapping("nyc_311")),
        (
            "hz.csv",
            (FIXTURES / "hangzhou_12345_gbk.csv").read_bytes(),
            load_mapping("hangzhou_12345"),
        ),
    ]
    results: dict[str, object] = {}

    def run(name: str, data: bytes, mapping) -> None:
        cfg = HANGZHOU if mapping.name == "hangzhou_12345" else site_for(mapping)
        start.wait()
        try:
            results[name] = load(staging, data, name, mapping, cfg, tmp_path)
        except Exception as exc:  # the failure this test is about
            results[name] = exc

    threads = [threading.Thread(target=run, args=f) for f in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    statuses = {
        name: getattr(r, "status", None) or f"{type(r).__name__}: {r}"
        for name, r in results.items()
    }
    assert statuses == {"nyc.csv": "loaded", "hz.csv": "loaded"}, statuses
    assert sorted(batches(staging)["status"]) == ["loaded", "loaded"]
    assert load_mod.SCHEMA_LOCK  # the lock's name, for a DBA who sees it held


def test_two_loads_of_the_same_file_at_once_load_it_once(staging, tmp_path, monkeypatch):
    """The upload page and a scheduled job, say: both pass the "loaded
    before?" check before either commits. The second waits for the first's
    transaction and is then skipped, on every backend."""
    import threading

    import importer.load as load_mod

    data = (FIXTURES / "nyc_311_sample.csv").read_bytes()
    m = load_mapping("nyc_311")
    cfg = site_for(m)
    # The staging tables exist (a first file loaded earlier), as at a site.
    load(
        staging,
        (FIXTURES / "hangzhou_12345_gbk.csv").read_bytes(),
        "hz.csv",
        load_mapping("hangzhou_12345"),
        HANGZHOU,
        tmp_path,
    )
    before = len(incidents(staging))

    both_checked = threading.Barrier(2, timeout=30)
    checked = threading.local()
    real_loaded, real_upsert = load_mod.loaded_batch, load_mod._upsert

    def loaded_batch(*args):
        found = real_loaded(*args)
        if not getattr(checked, "done", False):  # the check before the load
            checked.done = True
            both_checked.wait()  # neither has committed: both go on to load
        return found

    def slow_upsert(conn, table, rows, key):
        real_upsert(conn, table, rows, key)
        if table is load_mod.staged_incident:
            time.sleep(1.0)  # the winner holds its transaction open a while

    monkeypatch.setattr(load_mod, "loaded_batch", loaded_batch)
    monkeypatch.setattr(load_mod, "_upsert", slow_upsert)
    results: list = []

    def run(name: str) -> None:
        results.append(load(staging, data, name, m, cfg, tmp_path))

    threads = [threading.Thread(target=run, args=(f"copy{i}.csv",)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    by_status = {r.status: r for r in results}
    assert sorted(by_status) == ["loaded", "skipped"], [(r.status, r.message) for r in results]
    won, lost = by_status["loaded"], by_status["skipped"]
    assert "meanwhile" in lost.message and lost.batch_id == won.batch_id
    assert won.inserted == 18 and lost.inserted == lost.updated == 0
    assert len(incidents(staging)) == before + 18
    history = batches(staging)
    assert list(history["status"]) == ["loaded", "loaded"]  # this file's and the first's
    with staging.connect() as conn:
        claimed = conn.execute(select(load_mod.import_file)).all()
    assert sorted(r.batch_id for r in claimed) == sorted(history["id"].astype(int))


# --- where the bad-row report goes ------------------------------------------

SF_REPORT = "sf_fire_calls_2020-04_sample.bad-rows.csv"
#: The sample's rows with a problem: the two incidents whose neighbourhood
#: the export gives as "None" (loaded, reported).
SF_BAD_ROWS = 2


def importer_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m importer ARGS`` run in ``cwd`` (the project on the path)."""
    return subprocess.run(
        [sys.executable, "-m", "importer", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=180,
    )


def load_sf(db_url: str, cwd: Path, *more: str, export: Path = SF_SAMPLE):
    """The SF sample loaded by the command line; the run and its incidents."""
    run = importer_cli(
        "load", str(export), "--mapping", "sf_fire_calls", "--db", db_url, *more, cwd=cwd
    )
    assert "Traceback" not in run.stderr + run.stdout, run.stderr
    engine = make_engine(db_url)
    try:
        cases = incidents(engine)
    finally:
        engine.dispose()
    return run, cases


def report_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def writes_fail(folder: Path) -> bool:
    """True when creating a file in ``folder`` is refused (not so for root)."""
    try:
        (folder / ".probe").touch()
    except OSError:
        return True
    (folder / ".probe").unlink()
    return False


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder nobody can write a report into: a read-only one (mode 0o555)
    if the file system refuses this user there, else (root writes anyway) a
    folder under a regular file, which cannot be created for anyone."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if writes_fail(locked):
        return locked
    (tmp_path / "a-file").write_text("not a folder\n")
    return tmp_path / "a-file" / "reports"


@pytest.fixture
def sf_export_read_only(tmp_path) -> Iterator[Path]:
    """The SF sample in a read-only folder (mode 0o555), as on a share."""
    folder = tmp_path / "exports"
    folder.mkdir()
    export = folder / SF_SAMPLE.name
    export.write_bytes(SF_SAMPLE.read_bytes())
    folder.chmod(0o555)
    yield export
    folder.chmod(0o755)  # so that pytest can clean up


def test_an_export_in_a_read_only_folder_loads_with_its_report_beside_the_database(
    tmp_path, sf_export_read_only
):
    """The report went beside the export: in a read-only folder the load
    ended in a PermissionError traceback, exit 1, nothing loaded. By default
    it now goes to import-reports/ beside a SQLite staging database."""
    work = tmp_path / "work"
    work.mkdir()
    db = tmp_path / "staging" / "sf.sqlite"
    run, cases = load_sf(f"sqlite:///{db}", work, export=sf_export_read_only)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "5,292 cases loaded (5,292 new, 0 updated)" in run.stdout
    assert len(cases) == 5_292
    report = db.parent / "import-reports" / SF_REPORT
    assert f"bad-row report: {report}" in run.stdout
    assert len({r["row"] for r in report_rows(report)}) == SF_BAD_ROWS
    assert sorted(p.name for p in sf_export_read_only.parent.iterdir()) == [SF_SAMPLE.name]


@pytest.mark.backend
def test_with_a_server_database_the_report_goes_under_the_current_directory(
    tmp_path, tmp_path_factory
):
    url, drop = scratch_database("postgresql", tmp_path_factory)
    try:
        run, cases = load_sf(url, tmp_path)
    finally:
        if drop is not None:
            drop()
    assert run.returncode == 0, run.stdout + run.stderr
    assert len(cases) == 5_292
    report = tmp_path / "var" / "import-reports" / SF_REPORT
    assert f"bad-row report: {report}" in run.stdout
    assert len({r["row"] for r in report_rows(report)}) == SF_BAD_ROWS


def test_report_dir_puts_the_report_where_it_says(tmp_path):
    db = tmp_path / "sf.sqlite"
    chosen = tmp_path / "reports" / "april"  # created as needed
    run, cases = load_sf(f"sqlite:///{db}", tmp_path, "--report-dir", str(chosen))
    assert run.returncode == 0, run.stdout + run.stderr
    assert len(cases) == 5_292
    assert f"bad-row report: {chosen / SF_REPORT}" in run.stdout
    assert len({r["row"] for r in report_rows(chosen / SF_REPORT)}) == SF_BAD_ROWS
    assert not (tmp_path / "import-reports").exists()  # not the default as well


def test_a_report_that_cannot_be_written_is_said_and_the_file_loads(tmp_path):
    nowhere = unwritable_folder(tmp_path)
    db = tmp_path / "sf.sqlite"
    run, cases = load_sf(f"sqlite:///{db}", tmp_path, "--report-dir", str(nowhere))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "5,292 cases loaded (5,292 new, 0 updated)" in run.stdout
    assert len(cases) == 5_292
    said = next(line for line in run.stdout.splitlines() if "NOT written" in line)
    assert f"could not write {nowhere / SF_REPORT}" in said
    why = "Permission denied" if nowhere.name == "locked" else "Not a directory"
    assert why in said and "loaded all the same" in said
    assert f"its {SF_BAD_ROWS} rows with a problem are listed nowhere" in said
    engine = staging_engine(f"sqlite:///{db}")
    try:
        history = batches(engine)
    finally:
        engine.dispose()
    assert list(history["status"]) == ["loaded"] and list(history["bad_rows"]) == [SF_BAD_ROWS]


def test_without_its_report_a_file_over_max_errors_still_stops_cleanly(staging, tmp_path):
    """The report is not needed to stop a file: the message just no longer
    points at a report that does not exist."""
    data = (FIXTURES / "hangzhou_12345_gbk.csv").read_bytes()
    m = load_mapping("hangzhou_12345")
    nowhere = unwritable_folder(tmp_path)
    result = load(staging, data, "hz.csv", m, HANGZHOU, nowhere, max_errors=0)
    assert result.status == "stopped" and result.report_path is None
    assert "more than --max-errors 0: nothing loaded" in result.message
    assert "see the bad-row report" not in result.message
    assert result.report_error.startswith(f"could not write {nowhere / 'hz.bad-rows.csv'}")
