"""The 导入数据 page: check, load, history, audit, and the role check."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine, select

from appstate import audit
from data_access.schema import incident
from tests.conftest import export_buttons

ROOT = Path(__file__).resolve().parent.parent
GBK = ROOT / "tests" / "fixtures" / "hangzhou_12345_gbk.csv"


@pytest.fixture
def stores(monkeypatch, tmp_path):
    """A fresh staging database and app-state database for the page."""
    staging = f"sqlite:///{tmp_path / 'import.sqlite'}"
    appstate = f"sqlite:///{tmp_path / 'appstate.sqlite'}"
    monkeypatch.setenv("OPS_IMPORT_DB_URL", staging)
    monkeypatch.setenv("OPS_APPSTATE_URL", appstate)
    monkeypatch.setenv("OPS_NOW", "2026-11-20T18:00")
    return staging, appstate


def no_errors(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_check_then_load_a_gbk_export(app_test, sqlite_demo, stores):
    staging, appstate = stores
    at = app_test("pages/import.py", sqlite_demo.url)
    no_errors(at)
    at.selectbox(key="imp_mapping").set_value("hangzhou_12345").run()
    at.file_uploader[0].set_value((GBK.name, GBK.read_bytes(), "text/csv")).run()
    at.button[0].click().run()  # check: writes nothing
    no_errors(at)
    texts = " ".join(s.value for s in at.success)
    assert "25" in texts and "22" in texts  # rows read, cases that would load
    report = next(df.value for df in at.dataframe if "rule" in df.value.columns)
    assert list(report["rule"]) == [
        "bad_timestamp",
        "unmapped_value",
        "unknown_street",
        "duplicate_id",
    ]
    engine = create_engine(staging)
    try:
        with engine.connect() as conn:
            assert not conn.dialect.has_table(conn, "incident")
        at.button[1].click().run()  # load
        no_errors(at)
        with engine.connect() as conn:
            ids = conn.execute(select(incident.c.id)).scalars().all()
        assert len(ids) == 22
        history = next(df.value for df in at.dataframe if "rows_read" in df.value.columns)
        assert list(history["status"]) == ["loaded"] and int(history["cases"][0]) == 22
        # The report is kept beside the staging database, for later download.
        assert at.selectbox(key="imp_saved").options == ["hangzhou_12345_gbk.bad-rows.csv"]
        assert (Path(staging.removeprefix("sqlite:///")).parent / "import-reports").is_dir()
        # Again: the same file changes nothing.
        at.button[1].click().run()
        assert any("batch 1" in i.value for i in at.info)
        with engine.connect() as conn:
            assert conn.execute(select(incident.c.id)).scalars().all() == ids
    finally:
        engine.dispose()
    logged = audit.recent(create_engine(appstate), actions=["import"])[::-1]  # oldest first
    assert list(logged["target"]) == [GBK.name] * 6
    # Each upload: a row before it is read (no row, no import), one with its result.
    assert list(logged["outcome"]) == ["started", "dry_run", "started", "loaded"] + [
        "started",
        "skipped",
    ]
    started = logged[logged["outcome"] == "started"]
    assert list(started["query"]) == [
        "mapping=hangzhou_12345 dry_run=True",
        *["mapping=hangzhou_12345 dry_run=False"] * 2,
    ]
    assert "cases=22" in logged["query"].iloc[3]
    assert isinstance(logged, pd.DataFrame)


def test_an_uploaded_mapping_with_an_error_names_the_key(app_test, sqlite_demo, stores):
    at = app_test("pages/import.py", sqlite_demo.url)
    at.selectbox(key="imp_mapping").set_value("__own__").run()
    bad = b'[fields]\nid = "a"\nreported_at = { column = "x", group = "median" }\n'
    at.file_uploader(key="imp_own").set_value(("mine.toml", bad, "text/plain")).run()
    assert not at.exception
    assert any("fields.reported_at.group" in e.value for e in at.error)


def test_a_role_without_the_import_permission_sees_no_upload(
    app_test, sqlite_demo, stores, monkeypatch
):
    from data_access.access import Principal
    from ui import auth

    monkeypatch.setattr(
        auth,
        "current_principal",
        lambda: Principal(name="w", role="wall", scope=None, permissions=frozenset()),
    )
    at = app_test("pages/import.py", sqlite_demo.url)
    assert not at.exception
    assert not at.file_uploader
    assert at.info and at.info[0].value == "当前角色无导入权限。"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_each_shipped_mapping_is_described_in_the_pages_language(
    app_test, sqlite_demo, stores, lang
):
    from importer.mapping import load_mapping, shipped_mappings

    at = app_test("pages/import.py", sqlite_demo.url, query_params={"lang": lang})
    for name in shipped_mappings():
        at.selectbox(key="imp_mapping").set_value(name).run()
        no_errors(at)
        mapping = load_mapping(name)
        assert mapping.description_zh and mapping.description
        expected = mapping.description_zh if lang == "zh" else mapping.description
        assert expected in [c.value for c in at.caption], name


def test_a_report_the_server_cannot_keep_is_said_and_the_file_loads(
    app_test, sqlite_demo, stores, tmp_path
):
    """The page keeps reports in import-reports/ beside the staging file;
    when that cannot be created (here a regular file holds its name, which
    stops root too), the page says so and loads: no error, no exception,
    and the report is still offered for download."""
    staging, _ = stores
    (tmp_path / "import-reports").write_text("not a folder\n")
    at = app_test("pages/import.py", sqlite_demo.url, query_params={"lang": "en"})
    at.selectbox(key="imp_mapping").set_value("hangzhou_12345").run()
    at.file_uploader[0].set_value((GBK.name, GBK.read_bytes(), "text/csv")).run()
    at.button[1].click().run()  # load
    no_errors(at)
    assert any("22 cases loaded" in s.value for s in at.success)
    said = " ".join(w.value for w in at.warning)
    assert "bad-row report could not be kept on the server" in said
    assert (
        f"could not write {tmp_path / 'import-reports' / 'hangzhou_12345_gbk.bad-rows.csv'}" in said
    )
    [report] = export_buttons(at)  # the report is still offered for download
    report.click().run()
    no_errors(at)
    _, name, body, _ = at.session_state[report.key.removesuffix(":prepare")]
    assert name == "hangzhou_12345_gbk.bad-rows.csv"
    assert len(pd.read_csv(io.BytesIO(body), encoding="utf-8-sig")) > 0
    engine = create_engine(staging)
    try:
        with engine.connect() as conn:
            assert len(conn.execute(select(incident.c.id)).scalars().all()) == 22
    finally:
        engine.dispose()
