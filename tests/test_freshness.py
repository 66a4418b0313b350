"""Every feed has its own age (issue 24, "stale data is said"), and the
footer names the data source, never its URL, to users who are not
administrators.

- ``[freshness]`` settings: defaults, and a bad value named by its key;
- :func:`metrics.overview.feed_status` on every backend against pandas: the
  newest row at or before now per feed, its age, the edge of its interval
  (exactly at it is current, a second more is stale), an empty feed, a
  user's scope and an area;
- the overview's 当前最大人流 and the wall's crowd figure say their real
  time once the readings are older than their interval, and the header badge
  and the wall's header name the stale feeds (AppTest);
- the footer shows the source's name to a leader, the URL (password hidden)
  only to an administrator, and a password never;
- in Chromium, the wall's stale mark is on screen, large and clear of the
  clock at 1920x1080.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from data_access.config import FEEDS, FreshnessConfig, load_site_config, parse_site_config
from data_access.filters import AreaFilter
from i18n import catalogue, translate
from metrics import overview
from tests.conftest import FIXTURE_END, ROOT
from tests.test_browser import (  # noqa: F401 (fixtures)
    browser,
    chromium_path,
    open_page,
    streamlit_server,
)
from ui.screen import loading as ui_loading

NOW = FIXTURE_END
#: Three hours after the fixture's last data: every quick feed is stale.
LATER = FIXTURE_END + timedelta(hours=3)
CFG = load_site_config()
DISTRICT = "330105"
#: Each feed's time column (the data contract's).
TIME_COLUMN = {
    "incident": "reported_at",
    "crowd_reading": "ts",
    "warning": "raised_at",
    "petition": "received_at",
    "housing_record": "last_verified_at",
}
PASSWORD = "s3cret-Pw9"


# ---------------------------------------------------------------------------
# Settings


def test_freshness_defaults_fit_each_feed_and_bad_values_name_their_key():
    cfg = load_site_config()
    assert cfg.problems == ()
    f = cfg.freshness
    # A crowd reading is stamped at the start of its 15-minute interval.
    assert f.expected_s("crowd_reading") == 30 * 60
    assert f.expected_s("incident") == 3600
    assert f.expected_s("housing_record") > f.expected_s("petition") > f.expected_s("incident")
    assert set(FEEDS) == set(TIME_COLUMN)
    assert all(f"feed.{feed}" in catalogue() for feed in FEEDS)

    bad = parse_site_config(
        {
            "freshness": {
                "incident_min": 0,
                "crowd_reading_min": "fast",
                "petition_min": 90,
                "crowd_min": 15,
            }
        }
    )
    problems = "\n".join(bad.problems)
    for key in ("freshness.incident_min", "freshness.crowd_reading_min", "freshness.crowd_min"):
        assert key in problems, key
    assert bad.freshness.incident_min == FreshnessConfig().incident_min
    assert bad.freshness.crowd_reading_min == FreshnessConfig().crowd_reading_min
    assert bad.freshness.petition_min == 90.0
    site = parse_site_config({"site": {"source_name_zh": "区数据仓", "source_name_en": ""}})
    assert (site.source_name_zh, site.source_name_en) == ("区数据仓", "区数据仓")
    assert "site.source_name_zh" in "\n".join(
        parse_site_config({"site": {"source_name_zh": 3}}).problems
    )


# ---------------------------------------------------------------------------
# The metric, on every backend


@pytest.fixture(scope="module")
def raw(backend) -> dict[str, pd.DataFrame]:
    """Each feed's times and streets, read plainly."""
    out = {}
    for feed, col in TIME_COLUMN.items():
        frame = pd.read_sql(
            text(f"SELECT {col} AS ts, street_code FROM {feed}"), backend.raw_engine
        )
        frame["ts"] = pd.to_datetime(frame["ts"], errors="coerce", format="mixed")
        out[feed] = frame.dropna(subset=["ts"])
    return out


def newest(raw: dict[str, pd.DataFrame], feed: str, now: datetime, streets=None) -> Any:
    frame = raw[feed]
    own = frame["ts"] <= now
    if streets is not None:
        own &= frame["street_code"].isin(set(streets))
    return frame.loc[own, "ts"].max()


def expected_status(raw, now: datetime, cfg, streets=None) -> pd.DataFrame:
    rows = []
    for feed in FEEDS:
        latest = newest(raw, feed, now, streets)
        exp = cfg.freshness.expected_s(feed)
        if pd.isna(latest):
            rows.append((feed, pd.NaT, float("nan"), exp, False))
        else:
            age = (pd.Timestamp(now) - latest).total_seconds()
            rows.append((feed, latest, age, exp, age > exp))
    return pd.DataFrame(rows, columns=overview.FEED_STATUS_COLUMNS)


def same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == overview.FEED_STATUS_COLUMNS
    assert list(got["feed"]) == list(FEEDS)
    for g, w in zip(got.itertuples(), want.itertuples(), strict=True):
        assert (pd.isna(g.latest) and pd.isna(w.latest)) or g.latest == w.latest, (g, w)
        assert (pd.isna(g.age_s) and pd.isna(w.age_s)) or g.age_s == pytest.approx(w.age_s), g
        assert g.expected_s == w.expected_s and bool(g.stale) == bool(w.stale), (g, w)


def test_feed_status_matches_pandas_with_the_edge_of_each_interval(backend, raw):
    with backend.engine.connect() as conn:
        same(overview.feed_status(conn, NOW, CFG), expected_status(raw, NOW, CFG))
        same(overview.feed_status(conn, LATER, CFG), expected_status(raw, LATER, CFG))
        # Each feed exactly at its interval is current; a second more, stale.
        for feed in FEEDS:
            latest = newest(raw, feed, NOW)
            at_edge = latest.to_pydatetime() + timedelta(seconds=CFG.freshness.expected_s(feed))
            over = at_edge + timedelta(seconds=1)
            assert newest(raw, feed, over) == latest, feed  # nothing newer meanwhile
            edge = overview.feed_status(conn, at_edge, CFG).set_index("feed").loc[feed]
            late = overview.feed_status(conn, over, CFG).set_index("feed").loc[feed]
            assert edge["latest"] == latest and late["latest"] == latest, feed
            assert edge["age_s"] == CFG.freshness.expected_s(feed) and not edge["stale"], feed
            assert late["stale"], feed


def test_feed_status_of_a_scope_an_area_and_an_empty_feed(backend, raw):
    q = text("SELECT code FROM street WHERE district_code = :d ORDER BY code")
    with backend.raw_engine.connect() as conn:
        streets = [str(c) for c in conn.execute(q, {"d": DISTRICT}).scalars()]
    one = streets[:1]
    area = AreaFilter(start=NOW.date(), end=NOW.date(), district=DISTRICT)
    with backend.engine.connect() as conn:
        scoped = overview.feed_status(conn, NOW, CFG, scope=tuple(one))
        district = overview.feed_status(conn, NOW, CFG, area=area)
        # The area within the user's scope: that scope's streets only.
        both = overview.feed_status(conn, NOW, CFG, area=area, scope=tuple(one))
        nobody = overview.feed_status(conn, NOW, CFG, scope=("000000000",))
    same(scoped, expected_status(raw, NOW, CFG, one))
    same(district, expected_status(raw, NOW, CFG, streets))
    same(both, expected_status(raw, NOW, CFG, one))
    # A scope whose feeds are empty: no time, no age, not stale (nothing is old).
    assert nobody["latest"].isna().all() and nobody["age_s"].isna().all()
    assert not nobody["stale"].any()
    assert list(nobody["expected_s"]) == [CFG.freshness.expected_s(f) for f in FEEDS]


# ---------------------------------------------------------------------------
# Pages and the wall (AppTest)


def _texts(node: Any) -> Iterator[str]:
    """Every proto of the run's element tree, as text (help tooltips too)."""
    proto = getattr(node, "proto", None)
    if proto is not None:
        yield str(proto)
    for child in getattr(node, "children", {}).values():
        yield from _texts(child)


def everything(at: Any) -> str:
    return "\n".join(_texts(at._tree))


def crowd_metric(at: Any) -> Any:
    label = translate("overview.largest_crowd", "zh")
    return next(m for m in at.metric if m.label == label)


def test_overview_marks_a_stale_crowd_figure_and_names_the_stale_feeds(
    app_test, sqlite_demo, monkeypatch
):
    monkeypatch.setenv("OPS_NOW", NOW.isoformat())
    at = app_test("Home.py", sqlite_demo.url)
    assert not at.exception and not at.error
    assert not crowd_metric(at).proto.delta  # 17:45's reading at 18:00: current
    assert not at.main.warning  # every feed current

    monkeypatch.setenv("OPS_NOW", LATER.isoformat())
    at.run()
    assert not at.exception and not at.error
    # 17:45's reading at 21:00: its real time and age, in the stale colour.
    crowd = crowd_metric(at)
    assert crowd.proto.delta == "截至 17:45（3 小时 15 分前）"
    assert crowd.proto.color == crowd.proto.MetricColor.ORANGE
    warned = "\n".join(w.value for w in at.main.warning)
    assert "人流数据截至 17:45（3 小时 15 分前）" in warned, warned
    assert "应有的更新间隔（30 分钟）" in warned
    assert warned.index("人流") < warned.index("案件")  # the stalest first
    assert "信访" not in warned  # 5 hours is within its 3 days


def test_the_crowd_map_says_the_crowd_feeds_time(app_test, sqlite_demo, monkeypatch):
    monkeypatch.setenv("OPS_NOW", LATER.isoformat())
    at = app_test("pages/crowd-map.py", sqlite_demo.url)
    assert not at.exception and not at.error
    captions = [c.value for c in at.caption]
    assert any("数据截至 2026-11-20 17:45" in c for c in captions), captions
    warned = "\n".join(w.value for w in at.main.warning)
    assert "人流" in warned and "案件" not in warned  # the page shows no cases


def test_the_wall_marks_stale_feeds_in_its_header_and_its_crowd_figure(
    app_test, sqlite_demo, monkeypatch
):
    ui_loading.clear_cache()
    monkeypatch.setenv("OPS_NOW", NOW.isoformat())
    at = app_test("pages/command-screen.py", sqlite_demo.url, query_params={"view": "warnings"})
    body = "\n".join(h.proto.body for h in at.get("html"))
    assert 'data-key="as_of"' in body and "data-feed-stale" not in body

    ui_loading.clear_cache()
    monkeypatch.setenv("OPS_NOW", LATER.isoformat())
    at.run()
    body = "\n".join(h.proto.body for h in at.get("html"))
    header = body[body.index('class="scr-top"') :]
    assert 'data-feed-stale="crowd_reading incident"' in header
    assert "⚠ 人流 17:45 · 案件 17:" in header
    crowd = body[body.index('data-feed-stale="crowd_reading"><div class="scr-fig"') :]
    assert "截至 17:45（3 小时 15 分前）" in crowd.split("</div></div>")[0]
    ui_loading.clear_cache()


# ---------------------------------------------------------------------------
# The footer


def leader_without_login(monkeypatch, tmp_path: Path) -> None:
    access = tmp_path / "leader-access.toml"
    access.write_text('[login]\nno_login_role = "leader"\n')
    monkeypatch.setenv("OPS_ACCESS_CONFIG", str(access))


def test_the_footer_names_the_source_not_its_url_to_a_leader(
    app_test, sqlite_demo, monkeypatch, tmp_path
):
    monkeypatch.setenv("OPS_NOW", NOW.isoformat())
    leader_without_login(monkeypatch, tmp_path)
    at = app_test("Home.py", sqlite_demo.url)
    assert not at.exception and at.session_state["_principal"].role == "leader"
    footer = [c for c in at.caption if "数据来源" in c.value]
    assert [c.value for c in footer] == [":material/database: 数据来源：ops_fixture (SQLite)"]
    assert not footer[0].proto.help
    path = make_url(sqlite_demo.url).database
    tree = everything(at)
    assert path not in tree and os.path.dirname(path) not in tree
    assert "sqlite:" not in tree


@pytest.mark.backend
def test_an_administrator_sees_the_url_without_its_password(app_test, databases, monkeypatch):
    """On PostgreSQL (trust: any password is accepted) with a password in
    the URL: the administrator's footer says the URL with ``***``; the
    password is nowhere in what the page sent."""
    pg = databases.get("postgresql")
    url = make_url(pg.url).set(password=PASSWORD).render_as_string(hide_password=False)
    monkeypatch.setenv("OPS_NOW", NOW.isoformat())
    at = app_test("Home.py", url)
    assert not at.exception and at.session_state["_principal"].role == "admin"
    footer = next(c for c in at.caption if "数据来源" in c.value)
    database = make_url(pg.url).database
    assert footer.value == f":material/database: 数据来源：{database} (PostgreSQL)"
    assert "postgresql+psycopg://postgres:***@127.0.0.1" in footer.proto.help
    assert PASSWORD not in everything(at)


# ---------------------------------------------------------------------------
# The wall in Chromium


@pytest.fixture(scope="module")
def crowd_due_every_5_min(tmp_path_factory) -> Iterator[None]:
    """The shipped site settings with crowd readings due every 5 minutes,
    for the server started after it: at the fixture's end (18:00) the last
    reading (17:45) is then stale, the cases (17:57) are not."""
    site = tmp_path_factory.mktemp("site") / "site.toml"
    shipped = (ROOT / "config" / "site.toml").read_text(encoding="utf-8")
    assert "crowd_reading_min = 30" in shipped
    site.write_text(shipped.replace("crowd_reading_min = 30", "crowd_reading_min = 5"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPS_SITE_CONFIG", str(site))
        yield


def test_the_walls_stale_mark_is_on_screen_and_large(
    crowd_due_every_5_min,
    streamlit_server,  # noqa: F811 (the fixture)
    browser,  # noqa: F811 (the fixture)
) -> None:
    open_page(browser, streamlit_server.url + "command-screen?view=warnings")
    page = browser.page
    mark = page.wait_for_selector(".scr-top [data-feed-stale]", timeout=30_000)
    box, clock = mark.bounding_box(), page.query_selector('[data-key="clock"]').bounding_box()
    size = page.evaluate("e => parseFloat(getComputedStyle(e).fontSize)", mark)
    viewport = page.viewport_size
    assert mark.get_attribute("data-feed-stale") == "crowd_reading"
    assert box and clock and viewport
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
    assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"] * 0.15
    # Not under the clock: side by side, or on a line of its own.
    apart = box["x"] + box["width"] <= clock["x"] or box["y"] + box["height"] <= clock["y"]
    apart = apart or box["y"] >= clock["y"] + clock["height"]
    assert apart, (box, clock)
    assert size >= 0.024 * viewport["height"], size  # 2.5vh: readable across the room
    assert "人流 17:45" in mark.inner_text() and "案件" not in mark.inner_text()
