"""Every page and every command-screen view on the database of every
shipped mapping, built from its sample as a user builds it
(``python -m importer load SAMPLE --mapping NAME --db URL``) and read with
the mapping's site configuration.

First in AppTest (fast: no exception, no error box, no tile stuck on
"connecting to the database"), then in a real browser (Chromium): the same,
plus the app's own "unexpected problem" message.

``contract_incident`` is left out: it ships neither a sample nor a site
(its streets must already be in the database).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import pytest

from data_access.config import SCREEN_PAGES, SiteConfig, TargetSet, load_site_config
from data_access.connection import make_engine
from data_access.filters import AreaFilter
from data_access.schema import MILESTONES
from metrics import screen, throughput
from tests.conftest import ROOT
from tests.test_browser import (  # noqa: F401 (fixtures)
    Browser,
    StreamlitServer,
    browser,
    chromium_path,
    free_port,
    navigation_links,
    open_page,
    running_streamlit,
)
from ui.i18n import catalogue
from ui.screen import loading as ui_loading


@dataclass(frozen=True)
class Site:
    mapping: str
    samples: tuple[Path, ...]  # the first that exists is loaded
    site_config: str
    now: str  # OPS_NOW: inside the sample's span

    def sample(self) -> Path | None:
        return next((p for p in self.samples if p.is_file()), None)


SF_SAMPLE = "sf_fire_calls_2020-04_sample.csv"
SITES = {
    "nyc": Site(
        "nyc_311",
        (ROOT / "tests" / "fixtures" / "nyc_311_sample.csv",),
        "config/sites/nyc/site.toml",
        # 2011-03-01 holds most of the sample's requests.
        "2011-03-01T18:00",
    ),
    "sf": Site(
        "sf_fire_calls",
        (ROOT / "samples" / "sf_fire_calls" / SF_SAMPLE,),
        "config/sites/sf/site.toml",
        "2020-04-20T18:00",
    ),
    "12345": Site(
        "hangzhou_12345",
        (ROOT / "tests" / "fixtures" / "hangzhou_12345_gbk.csv",),
        "config/site.toml",
        "2026-11-20T18:00",
    ),
}
PAGES = ["Home.py", *sorted(f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py"))]
SCREEN = "pages/command-screen.py"
#: Texts that mean a tile or page failed, in both languages.
WAITING = [catalogue()["screen.waiting"][lang] for lang in ("zh", "en")]
UNEXPECTED = [catalogue()["error.unexpected"][lang].split("{")[0] for lang in ("zh", "en")]


@dataclass(frozen=True)
class Built:
    site: Site
    url: str


def build(site: Site, folder: Path) -> Built:
    """The site's database, loaded by the importer's command line."""
    sample = site.sample()
    if sample is None:
        pytest.skip(f"{site.mapping}: no sample at {', '.join(map(str, site.samples))}")
    url = f"sqlite:///{folder / 'imported.sqlite'}"
    done = subprocess.run(
        [sys.executable, "-m", "importer", "load", str(sample), "--mapping", site.mapping,
         "--db", url, "--site", str(ROOT / site.site_config), "--now", site.now,
         "--report-dir", str(folder)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "loaded" in done.stdout, done.stdout
    return Built(site, url)


@pytest.fixture(scope="module", params=sorted(SITES))
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(SITES[request.param], tmp_path_factory.mktemp(request.param))


@pytest.fixture
def on_site(built: Built, monkeypatch: pytest.MonkeyPatch) -> Iterator[Built]:
    monkeypatch.setenv("OPS_SITE_CONFIG", str(ROOT / built.site.site_config))
    monkeypatch.setenv("OPS_NOW", built.site.now)
    ui_loading.clear_cache()
    yield built
    ui_loading.clear_cache()


def html_of(at) -> str:
    return "\n".join(h.proto.body for h in at.get("html"))


def problems_in(at) -> list[str]:
    """What is wrong on an AppTest run (empty if nothing)."""
    out = [f"exception: {e.value}" for e in at.exception]
    out += [f"error box: {e.value}" for e in at.error]
    body = html_of(at)
    out += [f"tile stuck on {w!r}" for w in WAITING if w in body]
    if "data-tile-stale" in body:
        out.append("a tile shows stale data")
    texts = [*(m.value for m in at.markdown), *(w.value for w in at.warning), body]
    out += [f"{u!r} shown" for u in UNEXPECTED if any(u in s for s in texts)]
    out += unreadable_specs(at)
    return out


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} in the spec")


def unreadable_specs(at) -> list[str]:
    """Each map's and chart's spec as the browser parses it: strict JSON (a
    NaN or Infinity from a site's data is no JSON, and the frontend fails to
    draw the element). What the browser test found on the imported sites,
    asked of every site here without a browser."""
    out = []
    specs = [("map", d.proto.json) for d in at.get("deck_gl_json_chart")]
    specs += [("chart", c.proto.spec) for c in at.get("plotly_chart")]
    for kind, spec in specs:
        try:
            json.loads(spec, parse_constant=_no_constant)
        except ValueError as exc:
            out.append(f"{kind} spec the browser cannot read: {exc}")
    return out


def test_a_spec_the_browser_cannot_read_is_found():
    class Spec:
        def __init__(self, **proto):
            self.proto = type("Proto", (), proto)

    class Run:
        def get(self, kind):
            if kind == "deck_gl_json_chart":
                return [Spec(json='{"layers": [{"data": [{"v": NaN}]}]}')]
            return [Spec(spec='{"data": [{"y": [1, 2]}]}')]

    assert unreadable_specs(Run()) == ["map spec the browser cannot read: NaN in the spec"]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_in_apptest(app_test, on_site, page):
    at = app_test(page, on_site.url)
    assert not problems_in(at), problems_in(at)
    assert at.title


def test_every_command_screen_view_in_apptest(app_test, on_site):
    """(In Chinese only: AppTest does not carry ``?lang=en`` through the
    switch to this page, which has no sidebar; the browser test below reads
    it in both languages.)"""
    report = {}
    for view in SCREEN_PAGES:
        ui_loading.clear_cache()
        at = app_test(SCREEN, on_site.url, query_params={"view": view})
        assert f'data-view="{view}"' in html_of(at)
        report[view] = problems_in(at)
    assert not any(report.values()), report


# --- A site that judges closure only (NYC): nothing on-site is judged ---------


@pytest.fixture(scope="module")
def nyc(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(SITES["nyc"], tmp_path_factory.mktemp("nyc_only"))


def nyc_site() -> SiteConfig:
    return load_site_config(ROOT / SITES["nyc"].site_config)


def test_the_nyc_site_judges_closure_only():
    cfg = nyc_site()
    assert [m for m in MILESTONES if cfg.judges(m)] == ["closed"]


@pytest.mark.parametrize("override", [False, True], ids=["no_target", "one_borough_has_one"])
def test_on_site_checks_without_a_target_run_and_judge_nothing(nyc, override):
    """The strip's late-arrival check and the on-time figures query, they do
    not fail (SQLAlchemy refused ``elapsed > NULL``); with a target for one
    borough only, its cases are judged and the others' are not."""
    cfg = nyc_site()
    if override:
        manhattan = TargetSet("Manhattan", "Manhattan", (("arrived", 1.0),))
        cfg = replace(cfg, target_overrides=(("360610", manhattan),))
    now = datetime.fromisoformat(SITES["nyc"].now)
    f = AreaFilter(start=now.date(), end=now.date())
    engine = make_engine(nyc.url)
    try:
        with engine.connect() as conn:
            late = screen.late_arrivals(conn, f, now, cfg, hours=24 * 365)
            strip = screen.alerts(conn, f, now, cfg, 24, 24)
            ontime = throughput.ontime_by_milestone(conn, f, now, cfg, by="street")
            table = throughput.case_throughput(conn, f, now, cfg, by="street")
    finally:
        engine.dispose()
    # The sample has no arrival times: a case still open past its target is
    # late, and only where a target exists.
    assert set(late["street_code"].str[:6]) <= ({"360610"} if override else set())
    assert set(strip.loc[strip["kind"] == "case", "ref"]) == set(late["id"])
    arrived = ontime.loc[ontime["milestone"] == "arrived"]
    assert arrived.empty != override
    if override:
        assert set(arrived.loc[arrived["judged"] > 0, "street_code"].str[:6]) <= {"360610"}
    assert len(table) > 0


def test_alert_rules_on_a_milestone_without_target_are_not_judged(
    app_test, nyc, tmp_path, monkeypatch
):
    """``python -m alerts once`` on the NYC database: the two on-site rules
    are not judged (a note, exit 0), not unknown with an ArgumentError; the
    alerts page says so in a note, not a warning."""
    env = dict(
        os.environ,
        OPS_SITE_CONFIG=str(ROOT / SITES["nyc"].site_config),
        OPS_NOW=SITES["nyc"].now,
        OPS_ALERTS_CONFIG=str(ROOT / "config" / "alerts.toml"),
    )
    env.pop("OPS_APPSTATE_URL", None)
    state_url = f"sqlite:///{tmp_path / 'appstate.sqlite'}"
    done = subprocess.run(
        [sys.executable, "-m", "alerts", "--db-url", nyc.url, "--state-db", state_url, "once"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "ArgumentError" not in out + done.stderr
    assert "unknown" not in out, out
    assert "rule case_past_on_site_target: not_judged (the site sets no arrived target)" in out
    assert "rule street_on_time_low: not_judged" in out
    assert "rule backlog_high: ok" in out
    # The page reads the same app-state file (app_test's OPS_APPSTATE_PATH).
    monkeypatch.setenv("OPS_SITE_CONFIG", env["OPS_SITE_CONFIG"])
    monkeypatch.setenv("OPS_NOW", env["OPS_NOW"])
    at = app_test("pages/alerts.py", nyc.url)
    assert not problems_in(at), problems_in(at)
    notes = [i.value for i in at.info]
    expected = catalogue()["alerts.rule_not_judged"]["zh"].format(
        rule="case_past_on_site_target", milestone="到场"
    )
    assert expected in notes, notes
    assert not any("case_past_on_site_target" in w.value for w in at.warning)


def test_the_screen_says_on_site_is_not_judged(app_test, nyc, monkeypatch):
    monkeypatch.setenv("OPS_SITE_CONFIG", str(ROOT / SITES["nyc"].site_config))
    monkeypatch.setenv("OPS_NOW", SITES["nyc"].now)
    ui_loading.clear_cache()
    at = app_test(SCREEN, nyc.url, query_params={"view": "throughput"})
    assert not problems_in(at), problems_in(at)
    body = html_of(at)
    note = catalogue()["screen.not_judged"]["zh"]
    assert 'data-key="alerts-not-judged"' in body
    assert catalogue()["screen.alerts_not_judged"]["zh"] in body
    assert 'data-key="not-judged"' in body  # the throughput view
    assert body.count(note) >= 3  # headline, ranking, throughput view
    ui_loading.clear_cache()


# --- Label points: every street with located cases is on the overview map ----


def raw_nyc_boards_located() -> dict[str, tuple[float, float]]:
    """From the raw CSV with pandas alone: per community board (the
    mapping's street code) with a located request, the median lat/lon."""
    import pandas as pd

    from importer.mapping import load_mapping

    raw = pd.read_csv(SITES["nyc"].samples[0], dtype=str, keep_default_na=False)
    raw = raw.loc[(raw["Latitude"] != "") & (raw["Longitude"] != "")]
    codes = dict(load_mapping("nyc_311").street.codes)
    raw = raw.loc[raw["Community Board"].isin(list(codes))]
    raw = raw.assign(
        code=raw["Community Board"].map(codes),
        lat=raw["Latitude"].astype(float),
        lon=raw["Longitude"].astype(float),
    )
    med = raw.groupby("code")[["lat", "lon"]].median()
    return {c: (float(r.lat), float(r.lon)) for c, r in med.iterrows()}


def test_the_importer_gives_each_street_its_cases_median_point(nyc):
    import pandas as pd

    engine = make_engine(nyc.url)
    try:
        streets = pd.read_sql("SELECT code, lat, lon FROM street", engine)
    finally:
        engine.dispose()
    assert len(streets) == 59  # the five boroughs' community boards
    located = streets.dropna(subset=["lat", "lon"]).set_index("code")
    expected = raw_nyc_boards_located()
    assert len(expected) == 11  # the 18-row sample locates requests in 11 boards
    assert set(located.index) == set(expected)
    for code, (lat, lon) in expected.items():
        assert located.at[code, "lat"] == pytest.approx(lat, abs=1e-6)
        assert located.at[code, "lon"] == pytest.approx(lon, abs=1e-6)


def test_the_overview_map_draws_every_located_board_and_names_the_rest(app_test, nyc, monkeypatch):
    monkeypatch.setenv("OPS_SITE_CONFIG", str(ROOT / SITES["nyc"].site_config))
    monkeypatch.setenv("OPS_NOW", SITES["nyc"].now)
    at = app_test("Home.py", nyc.url, query_params={"lang": "en"})
    assert not problems_in(at), problems_in(at)
    spec = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    points = next(layer for layer in spec["layers"] if layer["id"] == "street-points")
    drawn = {row["code"]: row["position"] for row in points["data"]}
    expected = raw_nyc_boards_located()
    assert set(drawn) == set(expected)
    for code, (lat, lon) in expected.items():  # WGS-84 site, WGS-84 drawing
        assert drawn[code] == pytest.approx([lon, lat], abs=1e-5)
    # The 48 boards without a located request are named in a note, not drawn.
    notes = " ".join(c.value for c in at.caption)
    assert "48 streets have no location" in notes, notes


# --- Names: every code a mapping writes has a zh and an en name --------------


@pytest.mark.parametrize("name", sorted(s.mapping for s in SITES.values()))
def test_every_category_and_source_a_mapping_writes_is_named(name):
    """A code without a name shows as itself (``noise_vehicle``) on a
    Chinese page; the site config names every one its mapping can write."""
    from importer.load import site_for
    from importer.mapping import load_mapping

    mapping = load_mapping(name)
    cfg = site_for(mapping)
    for target, table in (("category", cfg.categories), ("source", cfg.sources)):
        rule = next((r for r in mapping.fields if r.target == target), None)
        if rule is None:
            continue
        codes = {c for _, c in rule.values} | {v for v in (rule.default, rule.value) if v}
        names = {code: (zh, en) for code, zh, en in table}
        assert not codes - set(names), f"{name}: {target} codes without a name"
        assert all(zh and en and zh != code for code, (zh, en) in names.items() if code in codes)


# --- The same in a real browser ------------------------------------------------

#: What an error looks like in the browser (Streamlit 1.x test ids).
BROWSER_ERRORS_JS = """
() => [
  ...[...document.querySelectorAll('[data-testid="stException"]')]
      .map(e => 'exception: ' + e.innerText.slice(0, 300)),
  ...[...document.querySelectorAll('[data-testid="stErrorElementStack"]')]
      .map(e => 'element failed to render: ' + e.innerText.slice(0, 300)),
  ...[...document.querySelectorAll('[data-testid="stAlertContentError"]')]
      .map(e => 'error box: ' + e.innerText.slice(0, 300)),
]
"""


#: The site read in the browser: the one least like the demo (outside
#: China, another language's names, a closure-only target). The others are
#: read in AppTest above, their specs parsed as the browser parses them
#: (the browser test of all three was 3.5 min of the suite's 15).
BROWSER_SITES = [s for s in sorted(SITES) if SITES[s].mapping == "nyc_311"]


@pytest.fixture(scope="module", params=BROWSER_SITES)
def site_server(
    request: pytest.FixtureRequest,
    chromium_path: Path,  # noqa: F811 (the fixture)
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Built, StreamlitServer]]:
    """``streamlit run Home.py`` on the site's imported database, with the
    site's configuration, as the README says to run it."""
    folder = tmp_path_factory.mktemp(f"browser_{request.param}")
    built_db = build(SITES[request.param], folder)
    # As AppTest runs it: no login, an administrator (every page opens).
    access = folder / "access.toml"
    access.write_text('[login]\nno_login_role = "admin"\n')
    env = dict(
        os.environ,
        OPS_DB_URL=built_db.url,
        OPS_SITE_CONFIG=str(ROOT / built_db.site.site_config),
        OPS_NOW=built_db.site.now,
        OPS_APPSTATE_PATH=str(folder / "appstate.sqlite"),
        OPS_ACCESS_CONFIG=str(access),
        PYTHONUNBUFFERED="1",
    )
    env.pop("OPS_APPSTATE_URL", None)
    with running_streamlit(env, free_port(), folder / "server.log") as server:
        yield built_db, server


def browser_problems(chromium: Browser) -> list[str]:
    page = chromium.page
    found: list[str] = page.evaluate(BROWSER_ERRORS_JS)
    text = page.inner_text("body")
    found += [f"{u!r} shown" for u in UNEXPECTED if u in text]
    found += [f"tile stuck on {w!r}" for w in WAITING if w in text]
    found += ["'Traceback' in the page text"] if "Traceback" in text else []
    found += [f"page error: {e[:300]}" for e in chromium.page_errors]
    return found


@pytest.mark.browser
def test_every_page_and_screen_view_in_the_browser(site_server, browser):  # noqa: F811
    """Every page of the navigation, then every command-screen view (in
    Chinese, and on NYC in English as well); any problem on any of them
    fails, all listed."""
    built_db, server = site_server
    home = server.url
    open_page(browser, home)
    # Every page file by its path (those the navigation does not offer this
    # role too: their refusal must not be an error either).
    urls = [home, *navigation_links(browser.page, home)]
    urls += [f"{home}{Path(p).stem}" for p in PAGES if p.startswith("pages/")]
    screen_url = f"{home}command-screen"
    # The screen's views in Chinese on every site, and in English too on
    # the site outside China (the English strings are the same on every
    # site; a second language on each would add a minute to the suite).
    langs = ("zh", "en") if built_db.site.mapping == "nyc_311" else ("zh",)
    urls += [f"{screen_url}?view={v}&lang={lang}" for lang in langs for v in SCREEN_PAGES]
    report: dict[str, list[str]] = {}
    for url in dict.fromkeys(urls):
        try:
            if url != home:
                open_page(browser, url)
            if "view=" in url:  # every tile has drawn (not only the first run)
                browser.page.wait_for_selector('[data-key="alerts"]', timeout=30_000)
            report[url] = browser_problems(browser)
        except Exception as exc:  # a page that never settles is a problem too
            report[url] = [f"{type(exc).__name__}: {exc}"[:300]]
    failures = [f"{url}:\n  " + "\n  ".join(p) for url, p in report.items() if p]
    assert not failures, (
        f"{built_db.site.mapping}: {len(failures)} of {len(report)} pages:\n"
        + "\n".join(failures)
        + f"\n--- server log ---\n{server.log_tail(30)}"
    )
