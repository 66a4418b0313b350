"""A database URL that is not one (a typo in OPS_DB_URL, a password with an
unescaped '@', an unknown driver) gets a message naming the setting and
the expected form: on every command line and on the pages, never a
traceback, and never blamed on another database."""

from __future__ import annotations

import pytest

from data_access.connection import DatabaseUrlError, parse_url

MALFORMED = [
    ("notaurl", "not a database URL"),
    ("postgresql://ops:s3cret@db:port/ops", "not a database URL"),
    ("postgresql+nosuchdriver://ops:s3cret@db/ops", "postgresql.nosuchdriver"),
]


@pytest.mark.parametrize(("url", "reason"), MALFORMED)
def test_a_malformed_url_is_named_with_its_setting_and_no_password(url, reason):
    with pytest.raises(DatabaseUrlError) as caught:
        parse_url(url, "OPS_DB_URL")
    message = str(caught.value)
    assert message.startswith("OPS_DB_URL: ")
    assert reason in message
    assert "s3cret" not in message
    assert "postgresql+psycopg://" in message  # the expected form


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///var/ops.sqlite",
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        "mysql+pymysql://root@127.0.0.1:3306/test",
    ],
)
def test_a_good_url_parses(url):
    assert parse_url(url, "OPS_DB_URL").render_as_string() == url


def _importer(argv: list[str]) -> int:
    from importer.__main__ import main

    return main(argv)


def _reports(argv: list[str]) -> int:
    from reports.__main__ import main

    return main(argv)


def _alerts(argv: list[str]) -> int:
    from alerts.__main__ import main

    return main(argv)


def _rollups(argv: list[str]) -> int:
    from jobs.refresh_rollups import main

    return main(argv)


def _demo(argv: list[str]) -> int:
    from demo.build import main

    return main(argv)


@pytest.mark.parametrize(
    ("cli", "argv", "setting"),
    [
        (_importer, ["load", "{csv}", "--mapping", "sf_fire_calls", "--db", "notaurl"], "--db"),
        (_importer, ["batches", "--db", "notaurl"], "--db"),
        (_reports, ["weekly", "--week", "2026-W47", "--out", "{tmp}", "--db", "notaurl"], "--db"),
        (_alerts, ["--db-url", "notaurl", "once"], "--db-url"),
        (_alerts, ["--state-db", "notaurl", "status"], "OPS_APPSTATE_URL"),
        (_rollups, ["refresh", "--url", "notaurl"], "--url"),
        (_demo, ["--url", "notaurl"], "--url"),
    ],
)
def test_every_command_line_names_a_malformed_url_and_exits_2(
    cli, argv, setting, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("OPS_APPSTATE_PATH", str(tmp_path / "appstate.sqlite"))
    csv = tmp_path / "calls.csv"
    csv.write_text("a,b\n1,2\n")
    argv = [a.format(csv=csv, tmp=tmp_path / "out") for a in argv]
    assert cli(argv) == 2
    err = capsys.readouterr().err
    assert setting in err and "'notaurl': not a database URL" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("cli", "argv"),
    [
        (_importer, ["load", "{csv}", "--mapping", "sf_fire_calls", "--now", "yesterday"]),
        (_demo, ["--end", "yesterday", "--url", "sqlite:///{tmp}/demo.sqlite"]),
    ],
)
def test_a_malformed_time_is_refused_before_anything_is_written(cli, argv, tmp_path, capsys):
    csv = tmp_path / "calls.csv"
    csv.write_text("a,b\n1,2\n")
    argv = [a.format(csv=csv, tmp=tmp_path) for a in argv]
    try:
        code = cli(argv)
    except SystemExit as exc:  # argparse's own refusal
        code = exc.code
    assert code == 2
    assert "'yesterday'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [csv]


def _errors(at) -> str:
    assert not at.exception, [e.value for e in at.exception]
    return " ".join(e.value for e in at.error)


def test_a_malformed_operational_url_is_named_on_the_page(app_test):
    text = _errors(app_test("Home.py", "postgresql://ops:s3cret@db:port/ops"))
    assert "OPS_DB_URL" in text and "not a database URL" in text
    assert "s3cret" not in text
    assert "无法连接" not in text  # not "unreachable": nothing was tried


@pytest.mark.parametrize("page", ["pages/alerts.py", "pages/audit.py"])
def test_a_malformed_app_state_url_is_blamed_on_the_app_state_database(
    app_test, sqlite_demo, monkeypatch, page
):
    monkeypatch.setenv("OPS_APPSTATE_URL", "notaurl")
    text = _errors(app_test(page, sqlite_demo.url))
    assert "应用状态数据库" in text and "OPS_APPSTATE_URL" in text
    assert "业务数据库" not in text  # the operational database is fine


def test_a_malformed_staging_url_is_named_on_the_import_page(app_test, sqlite_demo, monkeypatch):
    monkeypatch.setenv("OPS_IMPORT_DB_URL", "notaurl")
    text = _errors(app_test("pages/import.py", sqlite_demo.url))
    assert "OPS_IMPORT_DB_URL" in text and "not a database URL" in text
    assert "业务数据库" not in text
