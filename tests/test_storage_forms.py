"""The same contract data in every accepted timestamp storage form gives the
same figures on every page (issue: "Figures you can trust").

One source (the demo generator's rows, plus edge rows exactly on the
boundaries: cases reported at each day's midnight, crowd readings at the
latest instant, a petition due exactly now, a housing record verified
exactly the green limit ago, a warning raised exactly now) is written to
each backend in each form a site's own tools write:

- SQLite: SQLAlchemy's own text (``YYYY-MM-DD HH:MM:SS.ffffff``, the
  reference), ``YYYY-MM-DD HH:MM:SS``, ``YYYY-MM-DDTHH:MM:SS``, and
  ``YYYY-MM-DDTHH:MM:SS.fff`` mixed with date-only values where a value is a
  midnight;
- PostgreSQL: ``timestamp(6)`` (reference), ``timestamp(0)``,
  ``timestamptz`` (written as the site's local time);
- MariaDB: ``DATETIME`` (reference), ``DATETIME(6)``, ``TIMESTAMP``.

Every page is run with AppTest on each form; its metrics, tables and chart
data must equal the reference form's, and the reference must equal
SQLite's (so the three backends agree as well).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from data_access.config import SCREEN_PAGES
from data_access.schema import CONTRACT_TABLES, TIMESTAMP_COLUMNS, metadata
from tests.conftest import FIXTURE_END, scratch_database

NOW = FIXTURE_END
#: Pages whose figures are compared: every page that shows figures, and
#: the command screen once per view (one view at a time, so the
#: playlist's clock does not pick a different one per run).
PAGES = (
    "Home.py",
    "throughput",
    "warnings",
    "weekly-review",
    "crowd-map",
    "incident-map",
    *(f"command-screen?view={view}" for view in SCREEN_PAGES),
)

TS_COLUMNS: dict[str, list[str]] = {
    name: [c for t, c in TIMESTAMP_COLUMNS if t == name] for name in CONTRACT_TABLES
}


# --- the source rows ------------------------------------------------------


def _edge_rows(frames: dict[str, pd.DataFrame]) -> None:
    """Rows exactly on the boundaries the pages compare with."""
    inc = frames["incident"]
    template = inc.iloc[0].to_dict()
    days = pd.date_range(NOW.date() - timedelta(days=27), NOW.date(), freq="D")
    rows = []
    for i, day in enumerate(days):
        at = day.to_pydatetime()
        rows.append(
            {
                **template,
                "id": f"EDGE{i:03d}",
                "reported_at": at,
                "accepted_at": at + timedelta(minutes=1),
                "dispatched_at": at + timedelta(minutes=3),
                "arrived_at": at + timedelta(minutes=15),
                "closed_at": None if i % 2 else at + timedelta(hours=2),
                "status": "on_site" if i % 2 else "closed",
            }
        )
    frames["incident"] = pd.concat([inc, pd.DataFrame(rows)], ignore_index=True)

    pet = frames["petition"]
    p = pet.iloc[0].to_dict()
    frames["petition"] = pd.concat(
        [
            pet,
            pd.DataFrame(
                [
                    {
                        **p,
                        "id": "EDGE-DUE-NOW",
                        "received_at": NOW - timedelta(days=10),
                        "due_at": NOW,
                        "closed_at": None,
                        "repeat_count": 0,
                        "escalated": False,
                    },
                ]
            ),
        ],
        ignore_index=True,
    )
    hr = frames["housing_record"]
    h = hr.iloc[0].to_dict()
    frames["housing_record"] = pd.concat(
        [
            hr,
            pd.DataFrame([{**h, "id": "EDGE-182", "last_verified_at": NOW - timedelta(days=182)}]),
        ],
        ignore_index=True,
    )
    wr = frames["warning"]
    w = wr.iloc[0].to_dict()
    frames["warning"] = pd.concat(
        [
            wr,
            pd.DataFrame(
                [{**w, "id": "EDGE-NOW", "colour": "red", "raised_at": NOW, "cleared_at": None}]
            ),
        ],
        ignore_index=True,
    )


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    """The contract rows, as frames with real datetimes."""
    from demo.build import build_demo

    path = tmp_path_factory.mktemp("forms") / "source.sqlite"
    build_demo(f"sqlite:///{path}", days=28, seed=11, scale=0.08, end=NOW)
    frames: dict[str, pd.DataFrame] = {}
    with sqlite3.connect(path) as conn:
        for name in CONTRACT_TABLES:
            df = pd.read_sql_query(f'SELECT * FROM "{name}"', conn)
            for col in TS_COLUMNS[name]:
                df[col] = pd.to_datetime(df[col], format="ISO8601")
            frames[name] = df
    crowd = frames["crowd_reading"]
    # A week and a day of crowd readings is every window the pages compare;
    # a third of the cells keeps every street's figures and the writes short.
    cells = sorted(crowd["cell_id"].unique())[::3]
    keep = (crowd["ts"] > NOW - timedelta(days=8)) & crowd["cell_id"].isin(cells)
    frames["crowd_reading"] = crowd[keep].reset_index(drop=True)
    _edge_rows(frames)
    for name, df in frames.items():
        frames[name] = df.astype(object).where(df.notna(), None)
    return frames


# --- writing a form ---------------------------------------------------------


def _sqlite_text(form: str) -> Callable[[Any], Any]:
    def fmt(v: Any) -> Any:
        if v is None:
            return None
        v = pd.Timestamp(v).to_pydatetime()
        if form == "native":
            return v.strftime("%Y-%m-%d %H:%M:%S.%f")
        if form == "seconds":
            return v.strftime("%Y-%m-%d %H:%M:%S")
        if form == "iso_t":
            return v.strftime("%Y-%m-%dT%H:%M:%S")
        # iso_ms_or_date: milliseconds with T; a midnight as a bare date
        if v.time() == datetime.min.time():
            return v.strftime("%Y-%m-%d")
        return v.strftime("%Y-%m-%dT%H:%M:%S.") + f"{v.microsecond // 1000:03d}"

    return fmt


def _write_sqlite(url: str, frames: dict[str, pd.DataFrame], form: str) -> None:
    engine = create_engine(url)
    metadata.create_all(engine)
    fmt = _sqlite_text(form)
    with engine.begin() as conn:
        raw = conn.connection.dbapi_connection
        for name, df in frames.items():
            cols = list(df.columns)
            rows = [
                tuple(fmt(v) if c in TS_COLUMNS[name] else v for c, v in zip(cols, r, strict=True))
                for r in df.itertuples(index=False, name=None)
            ]
            marks = ", ".join("?" for _ in cols)
            names = ", ".join(f'"{c}"' for c in cols)
            raw.executemany(f'INSERT INTO "{name}" ({names}) VALUES ({marks})', rows)
    engine.dispose()


_SERVER_TYPES = {
    ("postgresql", "timestamp6"): "timestamp(6) without time zone",
    ("postgresql", "timestamp0"): "timestamp(0) without time zone",
    ("postgresql", "timestamptz"): "timestamp with time zone",
    ("mariadb", "datetime"): "DATETIME",
    ("mariadb", "datetime6"): "DATETIME(6)",
    ("mariadb", "timestamp"): "TIMESTAMP",
}


def _write_server(
    backend: str, url: str, frames: dict[str, pd.DataFrame], form: str, zone: str
) -> None:
    engine = create_engine(url)
    metadata.create_all(engine)
    sql_type = _SERVER_TYPES[(backend, form)]
    with engine.begin() as conn:
        for name, cols in TS_COLUMNS.items():
            for col in cols:
                null = "NOT NULL" if not CONTRACT_TABLES[name].c[col].nullable else "NULL"
                if backend == "postgresql":
                    conn.execute(text(f'ALTER TABLE "{name}" ALTER COLUMN "{col}" TYPE {sql_type}'))
                else:
                    conn.execute(text(f"ALTER TABLE `{name}` MODIFY `{col}` {sql_type} {null}"))
        if backend == "postgresql":
            # Another tool writing the site's local time into timestamptz.
            conn.execute(text("SELECT set_config('TimeZone', :z, true)"), {"z": zone})
        for name, df in frames.items():
            if len(df):
                conn.execute(CONTRACT_TABLES[name].insert(), df.to_dict("records"))
    engine.dispose()


FORMS = [
    pytest.param("sqlite", "native", id="sqlite-native"),
    pytest.param("sqlite", "seconds", id="sqlite-seconds"),
    pytest.param("sqlite", "iso_t", id="sqlite-T"),
    pytest.param("sqlite", "iso_ms_or_date", id="sqlite-T-ms-date"),
    pytest.param("postgresql", "timestamp6", id="pg-timestamp6", marks=pytest.mark.backend),
    pytest.param("postgresql", "timestamp0", id="pg-timestamp0", marks=pytest.mark.backend),
    pytest.param("postgresql", "timestamptz", id="pg-timestamptz", marks=pytest.mark.backend),
    pytest.param("mariadb", "datetime", id="mariadb-datetime", marks=pytest.mark.backend),
    pytest.param("mariadb", "datetime6", id="mariadb-datetime6", marks=pytest.mark.backend),
    pytest.param("mariadb", "timestamp", id="mariadb-timestamp", marks=pytest.mark.backend),
]
REFERENCE = {"sqlite": "native", "postgresql": "timestamp6", "mariadb": "datetime"}


# --- a page's figures -------------------------------------------------------


def _chart_data(spec: str) -> list[Any]:
    fig = json.loads(spec)
    keep = ("x", "y", "z", "values", "labels", "text", "customdata", "lat", "lon", "r", "theta")
    return [{k: t.get(k) for k in keep if k in t} for t in fig.get("data", [])]


def _deck_data(spec: str) -> list[Any]:
    deck = json.loads(spec)
    return [layer.get("data") for layer in deck.get("layers", [])]


_URLISH = re.compile(r"sqlite|postgresql|mysql|ops_test_|form_|source\.sqlite", re.I)


def _texts(bodies: list[str]) -> list[str]:
    """Text of markdown/HTML elements without styles, tags or the database URL."""
    out = []
    for body in bodies:
        body = re.sub(r"<style.*?</style>", "", body, flags=re.S)
        words = " ".join(re.sub(r"<[^>]+>", " ", body).split())
        words = re.sub(r"[（(]\d+ ?(秒|s)[)）]", "", words)  # the playlist's countdown
        if words and not _URLISH.search(words):
            out.append(words)
    return out


def page_figures(at: Any) -> dict[str, Any]:
    """Everything a page shows as a figure: metrics, tables, chart data."""
    assert not at.exception, [e.value for e in at.exception]
    out: dict[str, Any] = {
        "metrics": [(m.label, m.value, m.proto.delta) for m in at.metric],
        "errors": [e.value for e in at.error],
        "tables": [
            df.to_json(orient="split", date_format="iso", default_handler=str)
            for df in (d.value for d in at.dataframe)
            if isinstance(df, pd.DataFrame)
        ],
        "charts": [_chart_data(c.proto.spec) for c in at.get("plotly_chart")],
        "maps": [_deck_data(c.proto.json) for c in at.get("deck_gl_json_chart")],
        "texts": _texts([m.value for m in at.markdown] + [h.proto.body for h in at.get("html")]),
    }
    return out


@pytest.fixture(scope="module")
def written(
    source: dict[str, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str, str], str]]:
    """``written(backend, form)``: the URL of a database holding the source in that form."""
    made: dict[tuple[str, str], str] = {}
    drops: list[Callable[[], None]] = []

    def get(backend: str, form: str) -> str:
        if (backend, form) not in made:
            if backend == "sqlite":
                folder = Path(tmp_path_factory.mktemp(f"form_{form}"))
                url = f"sqlite:///{folder / 'ops.sqlite'}"
                _write_sqlite(url, source, form)
            else:
                url, drop = scratch_database(backend, tmp_path_factory)
                if drop:
                    drops.append(drop)
                _write_server(backend, url, source, form, "Asia/Shanghai")
            made[(backend, form)] = url
        return made[(backend, form)]

    yield get
    for drop in drops:
        drop()


@pytest.fixture(scope="module")
def figures(written: Callable[[str, str], str]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {}


@pytest.fixture
def run_page(
    app_test: Any,
    monkeypatch: pytest.MonkeyPatch,
    written: Callable[[str, str], str],
    figures: dict[tuple[str, str, str], dict[str, Any]],
) -> Callable[[str, str, str], dict[str, Any]]:
    monkeypatch.setenv("OPS_NOW", NOW.isoformat())

    def run(backend: str, form: str, page: str) -> dict[str, Any]:
        key = (backend, form, page)
        if key not in figures:
            script, _, view = page.partition("?view=")
            params = {"view": view} if view else None
            at = app_test(script, written(backend, form), query_params=params, timeout=120)
            figures[key] = page_figures(at)
        return figures[key]

    return run


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize(("backend", "form"), FORMS)
def test_every_form_gives_the_reference_figures(
    run_page: Callable[[str, str, str], dict[str, Any]], backend: str, form: str, page: str
) -> None:
    got = run_page(backend, form, page)
    assert got["errors"] == [], got["errors"]
    assert got["metrics"] or got["charts"] or got["tables"] or got["texts"], f"{page}: no figure"
    want = run_page("sqlite", "native", page)
    reference = run_page(backend, REFERENCE[backend], page)
    for part in ("metrics", "tables", "charts", "maps", "texts"):
        assert got[part] == reference[part], (
            f"{page} {part}: {form} differs from {REFERENCE[backend]}"
        )
        assert got[part] == want[part], f"{page} {part}: {backend} {form} differs from sqlite"


# --- the rollup job on each form ------------------------------------------

#: Forms whose values a session's time zone or the text's shape could move
#: between the source and the rollup the job copies it into.
ROLLED_FORMS = [p for p in FORMS if p.id in {
    "sqlite-T-ms-date", "pg-timestamp0", "pg-timestamptz", "mariadb-datetime6", "mariadb-timestamp",
}]  # fmt: skip


@pytest.mark.parametrize(("backend", "form"), ROLLED_FORMS)
def test_the_rollup_job_gives_each_forms_own_figures(
    source: dict[str, pd.DataFrame],
    tmp_path_factory: pytest.TempPathFactory,
    backend: str,
    form: str,
) -> None:
    """The rollup job run as the README runs it (its command line, on an
    engine of its own, not the dashboards' hardened one) on the source in
    each form: the figures through the rollup equal the source tables'.
    (On a ``timestamptz`` site the job's session read the times in the
    server's zone, not the site's: every rolled-up case was 8 hours off.)"""
    import rollups
    from data_access.config import load_site_config
    from data_access.connection import make_engine
    from data_access.filters import AreaFilter
    from jobs import refresh_rollups
    from metrics import overview, throughput

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp(f'rolled_{form}') / 'ops.sqlite'}"
        _write_sqlite(url, source, form)
        drop = None
    else:
        url, drop = scratch_database(backend, tmp_path_factory)
        _write_server(backend, url, source, form, "Asia/Shanghai")
    cfg = load_site_config()
    rolled, plain = make_engine(url), make_engine(url)
    rollups.disable(plain)
    try:
        args = ["refresh", "--url", url, "--now", NOW.isoformat(), "--reviews", "0"]
        assert refresh_rollups.main(args) == 0
        rollups.forget()
        week = AreaFilter(start=NOW.date() - timedelta(days=13), end=NOW.date())
        district = AreaFilter(start=week.start, end=week.end, district="330105")
        for f in (week, district):
            figures = {
                "counts": lambda c, f=f: overview.case_counts(c, f, NOW),
                "streets": lambda c, f=f: overview.street_summary(c, f, NOW),
                "throughput": lambda c, f=f: throughput.case_throughput(
                    c, f, NOW, cfg, by="street"
                ),
            }
            for name, figure in figures.items():
                with rolled.connect() as conn:
                    assert rollups.state(conn, NOW) is not None
                    got = figure(conn)
                with plain.connect() as conn:
                    want = figure(conn)
                assert len(want) and int(want.select_dtypes("number").sum().sum()) > 0, name
                pd.testing.assert_frame_equal(
                    got.reset_index(drop=True), want.reset_index(drop=True),
                    check_dtype=False, obj=f"{form} {name} {f.district or 'all'}",
                )  # fmt: skip
    finally:
        rolled.dispose()
        plain.dispose()
        rollups.forget()
        if drop:
            drop()
