"""Site configuration: time zone, coordinate system, handling targets, names.

Read from ``config/site.toml`` (or the file named by ``OPS_SITE_CONFIG``).
Every key has a default. A bad value never stops the dashboards: it is
replaced by its default and described in ``SiteConfig.problems`` so a page
can show which key to fix.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from data_access.schema import MILESTONES

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "config" / "site.toml"
COORD_SYSTEMS = ("wgs84", "gcj02", "bd09")


@dataclass(frozen=True)
class Bounds:
    """Area box in degrees, in the site's coordinate system."""

    min_lon: float = 118.33
    max_lon: float = 120.73
    min_lat: float = 29.18
    max_lat: float = 30.57


@dataclass(frozen=True)
class TargetSet:
    """Handling targets: minutes from ``reported_at`` per milestone.

    ``minutes`` maps a milestone name (``accepted``, ``dispatched``,
    ``arrived``, ``closed``) to its target; a milestone without a target is
    not judged.
    """

    label_zh: str
    label_en: str
    minutes: tuple[tuple[str, float], ...]
    #: Share of judged cases (0-1] that must meet the minutes for a street to
    #: meet its target (``on_time_goal``): the line on the ranking charts,
    #: a bar below it is red.
    on_time_goal: float = 0.9

    def get(self, milestone: str) -> float | None:
        return dict(self.minutes).get(milestone)


DEFAULT_TARGETS = TargetSet(
    label_zh="杭州街道指挥标准（1分钟响应，8分钟到场，24小时办结）",
    label_en="Hangzhou street-command standard (respond 1 min, on site 8 min, close 24 h)",
    minutes=(("accepted", 1.0), ("arrived", 8.0), ("closed", 1440.0)),
)


@dataclass(frozen=True)
class MapConfig:
    """The ``[map]`` section: basemap tiles and the heat maps' fixed colour scales.

    ``tiles_url``: an XYZ raster tile URL with ``{z}``, ``{x}``, ``{y}``; empty
    means the offline basemap (no request leaves the server). ``tiles_crs``:
    the coordinate system of those tiles (wgs84, gcj02, bd09); the maps draw
    data and outlines in it. ``crowd_max_people_per_cell``: people per crowd
    cell at the top (darkest) of the crowd colour scale, whatever the zoom or
    time step. ``incident_max_cases_per_cell``: the same for cases per
    ``incident_cell_m`` cell. ``crowd_cell_m``: size of one crowd cell in the
    source data, metres. ``incident_cell_m``: finest incident cell, metres.
    ``max_cells``: most cells one map sends (coarser cells beyond that).
    ``venue_warn_share``/``venue_alert_share``: venue load (people / capacity)
    at which a venue turns yellow / red and is listed as an alert.
    """

    tiles_url: str = ""
    tiles_crs: str = "gcj02"
    tiles_attribution: str = ""
    crowd_max_people_per_cell: float = 12000.0
    incident_max_cases_per_cell: float = 10.0
    crowd_cell_m: float = 500.0
    incident_cell_m: float = 300.0
    max_cells: int = 3000
    venue_warn_share: float = 0.8
    venue_alert_share: float = 1.0


@dataclass(frozen=True)
class HotspotConfig:
    """The ``[hotspots]`` section: a repeat hot spot is ``min_cases`` or more
    cases of one category within ``within_days`` days inside one square of
    ``grid_m`` metres."""

    min_cases: int = 5
    within_days: int = 30
    grid_m: float = 150.0


#: Views the command screen can show in its centre (``[screen]`` playlists).
SCREEN_PAGES = ("crowd-map", "incident-map", "throughput", "warnings")


@dataclass(frozen=True)
class ScreenView:
    """One view of a command-screen playlist: ``page`` (one of
    ``SCREEN_PAGES``), an optional ``district`` (6-digit) or ``streets``
    (9-digit codes) it shows instead of the screen's area, ``seconds`` on
    screen (0 = ``screen.rotate_s``), and ``each_street``: show the view
    once per street of its district (or of the wall's area), in code order."""

    page: str
    district: str = ""
    streets: tuple[str, ...] = ()
    seconds: int = 0
    each_street: bool = False


DEFAULT_PLAYLIST = tuple(ScreenView(p) for p in SCREEN_PAGES)


@dataclass(frozen=True)
class ScreenConfig:
    """The ``[screen]`` section (command-room big screen).

    ``refresh_s``: seconds between refreshes of each tile, and the cache TTL
    of its queries. ``rotate_s``: default seconds a playlist view stays up.
    ``max_backoff_s``: longest wait between retries while the database is
    unreachable. ``case_alert_hours`` / ``warning_alert_hours``: how far back
    the alert strip lists cases past their on-site target / new red warnings.
    ``playlists``: named lists of views (``?playlist=name`` in the URL).
    """

    refresh_s: int = 30
    rotate_s: int = 60
    max_backoff_s: int = 300
    case_alert_hours: int = 1
    warning_alert_hours: int = 24
    playlists: tuple[tuple[str, tuple[ScreenView, ...]], ...] = (("default", DEFAULT_PLAYLIST),)

    def playlist(self, name: str) -> tuple[ScreenView, ...] | None:
        return dict(self.playlists).get(name)


#: The fact tables whose newest row says how fresh the data is, in the
#: order the pages list them (the ``[freshness]`` section's keys).
FEEDS = ("incident", "crowd_reading", "warning", "petition", "housing_record")


@dataclass(frozen=True)
class FreshnessConfig:
    """The ``[freshness]`` section: per feed, the minutes its newest row may
    be old (at or before now) before the feed counts as stale
    (``<feed>_min``, one key per :data:`FEEDS` entry).

    Cases arrive every few minutes in a district by day: an hour without
    one is worth saying. A crowd reading is stamped with the start of its
    15-minute interval and delivered after the interval ends, so the newest
    is 15-30 minutes old: 30. Warnings and petitions come on working days
    (a weekend without one is normal: 72 h); housing records are verified
    in rounds (a week).
    """

    incident_min: float = 60.0
    crowd_reading_min: float = 30.0
    warning_min: float = 4320.0
    petition_min: float = 4320.0
    housing_record_min: float = 10080.0

    def expected_s(self, feed: str) -> float:
        """Seconds the newest row of ``feed`` may be old."""
        return float(getattr(self, f"{feed}_min")) * 60.0

    def stale(self, feed: str, age_s: float) -> bool:
        """Whether a feed whose newest row is ``age_s`` seconds old is stale:
        older than its expected interval (exactly at it is not)."""
        return age_s > self.expected_s(feed)


@dataclass(frozen=True)
class SiteConfig:
    name_zh: str = "杭州市"
    name_en: str = "Hangzhou"
    source_name_zh: str = ""
    source_name_en: str = ""
    timezone: str = "Asia/Shanghai"
    coord_system: str = "gcj02"
    bounds: Bounds = Bounds()
    default_district: str = ""
    default_window_days: int = 7
    statement_timeout_s: float = 20.0
    row_cap: int = 5000
    cache_ttl_s: int = 60
    #: ``[database] clock_step_s``: the pages' and tiles' "now" is floored
    #: to this many seconds (1-60), so sessions asking within one step share
    #: every cached figure; a new row waits at most this long on top of the
    #: refresh.
    clock_step_s: int = 2
    use_rollups: bool = True
    districts_file: str = "assets/geo/districts.geojson"
    streets_file: str = "assets/geo/streets_approx.geojson"
    boundaries_crs: str = "wgs84"
    streets_approximate: bool = True
    reference_file: str = "assets/geo/reference.geojson"
    reference_crs: str = "wgs84"
    default_targets: TargetSet = DEFAULT_TARGETS
    target_overrides: tuple[tuple[str, TargetSet], ...] = ()
    #: ``[ranking] min_judged``: judged cases a street or grid needs before
    #: a ranking may name it among the top or bottom three.
    ranking_min_judged: int = 20
    categories: tuple[tuple[str, str, str], ...] = ()
    sources: tuple[tuple[str, str, str], ...] = ()
    map: MapConfig = MapConfig()
    hotspots: HotspotConfig = HotspotConfig()
    screen: ScreenConfig = ScreenConfig()
    freshness: FreshnessConfig = FreshnessConfig()
    source_path: str = ""
    problems: tuple[str, ...] = field(default=(), compare=False)

    def targets_for(self, street_code: str | None, district_code: str | None) -> TargetSet:
        """The targets that judge a case in this street (street beats district beats default)."""
        overrides = dict(self.target_overrides)
        for code in (street_code, district_code):
            if code and code in overrides:
                return overrides[code]
        return self.default_targets

    def judges(self, milestone: str) -> bool:
        """Whether any street of the site has a target for ``milestone`` (in
        the default set or an override). Without one the milestone is judged
        nowhere (e.g. a site that judges closure only): its on-time figures,
        rankings and alerts are "not judged", not zero."""
        sets = (self.default_targets, *(ts for _, ts in self.target_overrides))
        return any(ts.get(milestone) is not None for ts in sets)

    def display_name(self, kind: str, code: str | None, lang: str = "zh") -> str:
        """Display name of a category or source code; unknown codes show as the code."""
        table = self.categories if kind == "category" else self.sources
        for c, zh, en in table:
            if c == code:
                return zh if lang == "zh" else en
        return "—" if code is None else str(code)

    def resolve_path(self, relative: str) -> Path:
        path = Path(relative)
        return path if path.is_absolute() else PROJECT_ROOT / path


class _Reader:
    """Pulls typed values out of a TOML mapping, recording problems by key."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def get(self, data: Mapping[str, Any], key: str, path: str, kind: type, default: Any) -> Any:
        if key not in data:
            return default
        value = data[key]
        ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            self.problems.append(
                f"{path}.{key}: expected {kind.__name__}, got {value!r}; using {default!r}"
            )
            return default
        return value

    def table(self, data: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, Mapping):
            self.problems.append(f"{path}.{key}: expected a table; ignored")
            return {}
        return value


def _targets(r: _Reader, data: Mapping[str, Any], path: str, fallback: TargetSet) -> TargetSet:
    minutes: list[tuple[str, float]] = []
    for key, value in data.items():
        if key in ("label_zh", "label_en", "on_time_goal"):
            continue
        if key not in MILESTONES:
            r.problems.append(
                f"{path}.{key}: unknown milestone (expected one of {', '.join(MILESTONES)}); ignored"
            )
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            r.problems.append(f"{path}.{key}: expected minutes > 0, got {value!r}; ignored")
            continue
        minutes.append((key, float(value)))
    if not minutes:
        r.problems.append(f"{path}: no valid milestone targets; using the default targets")
        return fallback
    order = {m: i for i, m in enumerate(MILESTONES)}
    minutes.sort(key=lambda kv: order[kv[0]])
    goal = r.get(data, "on_time_goal", path, float, fallback.on_time_goal)
    if not 0 < goal <= 1:
        r.problems.append(
            f"{path}.on_time_goal: expected a share in (0, 1], got {goal!r}; "
            f"using {fallback.on_time_goal!r}"
        )
        goal = fallback.on_time_goal
    return TargetSet(
        label_zh=r.get(data, "label_zh", path, str, fallback.label_zh),
        label_en=r.get(data, "label_en", path, str, fallback.label_en),
        minutes=tuple(minutes),
        on_time_goal=goal,
    )


def _names(r: _Reader, data: Mapping[str, Any], path: str) -> tuple[tuple[str, str, str], ...]:
    out = []
    for code, value in data.items():
        if not isinstance(value, Mapping) or not isinstance(value.get("zh"), str):
            r.problems.append(f'{path}.{code}: expected {{ zh = "…", en = "…" }}; ignored')
            continue
        out.append((str(code), value["zh"], str(value.get("en", value["zh"]))))
    return tuple(out)


def _map_section(r: _Reader, m: Mapping[str, Any]) -> MapConfig:
    d = MapConfig()

    def positive(key: str, kind: type) -> Any:
        default = getattr(d, key)
        value = r.get(m, key, "map", kind, default)
        if value <= 0:
            r.problems.append(f"map.{key}: must be > 0, got {value!r}; using {default!r}")
            return default
        return value

    url = r.get(m, "tiles_url", "map", str, d.tiles_url).strip()
    if url and (
        not url.startswith(("http://", "https://", "/"))
        or not all(p in url for p in ("{z}", "{x}", "{y}"))
    ):
        r.problems.append(
            f"map.tiles_url: expected an http(s) URL with {{z}}, {{x}} and {{y}}, got {url!r}; "
            "using the offline basemap"
        )
        url = ""
    crs = r.get(m, "tiles_crs", "map", str, d.tiles_crs).lower()
    if crs not in COORD_SYSTEMS:
        r.problems.append(
            f"map.tiles_crs: expected one of {', '.join(COORD_SYSTEMS)}, got {crs!r}; using {d.tiles_crs!r}"
        )
        crs = d.tiles_crs
    warn = positive("venue_warn_share", float)
    alert = positive("venue_alert_share", float)
    if warn > alert:
        r.problems.append(
            "map.venue_warn_share: must not exceed map.venue_alert_share; using the defaults"
        )
        warn, alert = d.venue_warn_share, d.venue_alert_share
    return MapConfig(
        tiles_url=url,
        tiles_crs=crs,
        tiles_attribution=r.get(m, "tiles_attribution", "map", str, d.tiles_attribution),
        crowd_max_people_per_cell=positive("crowd_max_people_per_cell", float),
        incident_max_cases_per_cell=positive("incident_max_cases_per_cell", float),
        crowd_cell_m=positive("crowd_cell_m", float),
        incident_cell_m=positive("incident_cell_m", float),
        max_cells=positive("max_cells", int),
        venue_warn_share=warn,
        venue_alert_share=alert,
    )


def _freshness_section(r: _Reader, m: Mapping[str, Any]) -> FreshnessConfig:
    d = FreshnessConfig()
    known = [f"{feed}_min" for feed in FEEDS]
    for key in m:
        if key not in known:
            r.problems.append(
                f"freshness.{key}: unknown key (expected one of {', '.join(known)}); ignored"
            )
    values: dict[str, float] = {}
    for key in known:
        default = getattr(d, key)
        value = r.get(m, key, "freshness", float, default)
        if value <= 0:
            r.problems.append(
                f"freshness.{key}: must be > 0 minutes, got {value!r}; using {default!r}"
            )
            value = default
        values[key] = float(value)
    return FreshnessConfig(**values)


def _screen_view(r: _Reader, item: Any, path: str) -> ScreenView | None:
    if not isinstance(item, Mapping):
        r.problems.append(f'{path}: expected {{ page = "crowd-map", seconds = 60 }}; ignored')
        return None
    page = r.get(item, "page", path, str, "")
    if page not in SCREEN_PAGES:
        r.problems.append(
            f"{path}.page: expected one of {', '.join(SCREEN_PAGES)}, got {page!r}; view ignored"
        )
        return None
    seconds = r.get(item, "seconds", path, int, 0)
    if seconds < 0:
        r.problems.append(f"{path}.seconds: must be >= 0, got {seconds!r}; using 0")
        seconds = 0
    params = r.table(item, "params", path)
    district = r.get(params, "district", f"{path}.params", str, "")
    if district and not (len(district) == 6 and district.isdigit()):
        r.problems.append(f"{path}.params.district: expected a 6-digit code; ignored")
        district = ""
    raw_streets = r.get(params, "streets", f"{path}.params", list, [])
    streets = tuple(
        str(s) for s in raw_streets if isinstance(s, str) and len(s) == 9 and s.isdigit()
    )
    if len(streets) != len(raw_streets) or any(
        district and not s.startswith(district) for s in streets
    ):
        r.problems.append(f"{path}.params.streets: expected 9-digit codes of the district; ignored")
        streets = ()
    each_street = r.get(item, "each_street", path, bool, False)
    return ScreenView(
        page=page, district=district, streets=streets, seconds=seconds, each_street=each_street
    )


def _screen_section(r: _Reader, m: Mapping[str, Any]) -> ScreenConfig:
    d = ScreenConfig()

    def positive(key: str) -> int:
        default = getattr(d, key)
        value = r.get(m, key, "screen", int, default)
        if value <= 0:
            r.problems.append(f"screen.{key}: must be > 0, got {value!r}; using {default!r}")
            return int(default)
        return int(value)

    playlists: list[tuple[str, tuple[ScreenView, ...]]] = []
    for name, items in r.table(m, "playlists", "screen").items():
        path = f"screen.playlists.{name}"
        if not isinstance(items, list):
            r.problems.append(f"{path}: expected a list of views; ignored")
            continue
        views = [_screen_view(r, item, f"{path}[{i}]") for i, item in enumerate(items)]
        kept = tuple(v for v in views if v is not None)
        if kept:
            playlists.append((str(name), kept))
        else:
            r.problems.append(f"{path}: no valid view; ignored")
    if not any(name == "default" for name, _ in playlists):
        playlists.insert(0, ("default", DEFAULT_PLAYLIST))
    return ScreenConfig(
        refresh_s=positive("refresh_s"),
        rotate_s=positive("rotate_s"),
        max_backoff_s=positive("max_backoff_s"),
        case_alert_hours=positive("case_alert_hours"),
        warning_alert_hours=positive("warning_alert_hours"),
        playlists=tuple(playlists),
    )


def parse_site_config(data: Mapping[str, Any], source_path: str = "") -> SiteConfig:
    """Build a validated ``SiteConfig`` from parsed TOML; never raises on bad values."""
    r = _Reader()
    d = SiteConfig()
    site = r.table(data, "site", "site")
    db = r.table(data, "database", "database")
    geo = r.table(data, "geo", "geo")
    targets = r.table(data, "targets", "targets")

    tz = r.get(site, "timezone", "site", str, d.timezone)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        r.problems.append(f"site.timezone: unknown time zone {tz!r}; using {d.timezone!r}")
        tz = d.timezone
    coord = r.get(site, "coord_system", "site", str, d.coord_system).lower()
    if coord not in COORD_SYSTEMS:
        r.problems.append(
            f"site.coord_system: expected one of {', '.join(COORD_SYSTEMS)}, got {coord!r}; using {d.coord_system!r}"
        )
        coord = d.coord_system
    crs = r.get(geo, "boundaries_crs", "geo", str, d.boundaries_crs).lower()
    if crs not in COORD_SYSTEMS:
        r.problems.append(
            f"geo.boundaries_crs: expected one of {', '.join(COORD_SYSTEMS)}; using wgs84"
        )
        crs = d.boundaries_crs
    ref_crs = r.get(geo, "reference_crs", "geo", str, d.reference_crs).lower()
    if ref_crs not in COORD_SYSTEMS:
        r.problems.append(
            f"geo.reference_crs: expected one of {', '.join(COORD_SYSTEMS)}; using wgs84"
        )
        ref_crs = d.reference_crs

    b = r.table(site, "bounds", "site")
    bounds = Bounds(
        **{
            k: r.get(b, k, "site.bounds", float, getattr(d.bounds, k))
            for k in Bounds.__dataclass_fields__
        }
    )
    if bounds.min_lon >= bounds.max_lon or bounds.min_lat >= bounds.max_lat:
        r.problems.append("site.bounds: min must be below max; using the default box")
        bounds = d.bounds

    def positive(table: Mapping[str, Any], key: str, path: str, kind: type, default: Any) -> Any:
        value = r.get(table, key, path, kind, default)
        if value <= 0:
            r.problems.append(f"{path}.{key}: must be > 0, got {value!r}; using {default!r}")
            return default
        return value

    clock_step = positive(db, "clock_step_s", "database", int, d.clock_step_s)
    if clock_step > 60:
        r.problems.append(
            f"database.clock_step_s: must be at most 60, got {clock_step!r}; "
            f"using {d.clock_step_s!r}"
        )
        clock_step = d.clock_step_s

    default_targets = (
        _targets(r, r.table(targets, "default", "targets"), "targets.default", DEFAULT_TARGETS)
        if "default" in targets
        else DEFAULT_TARGETS
    )
    overrides = []
    for code, value in r.table(targets, "overrides", "targets").items():
        if not isinstance(value, Mapping):
            r.problems.append(f"targets.overrides.{code}: expected a table; ignored")
            continue
        overrides.append(
            (str(code), _targets(r, value, f"targets.overrides.{code}", default_targets))
        )

    source_zh = r.get(site, "source_name_zh", "site", str, d.source_name_zh).strip()
    map_cfg = _map_section(r, r.table(data, "map", "map"))
    hot = r.table(data, "hotspots", "hotspots")
    dh = HotspotConfig()
    hotspots = HotspotConfig(
        min_cases=positive(hot, "min_cases", "hotspots", int, dh.min_cases),
        within_days=positive(hot, "within_days", "hotspots", int, dh.within_days),
        grid_m=positive(hot, "grid_m", "hotspots", float, dh.grid_m),
    )

    return SiteConfig(
        name_zh=r.get(site, "name_zh", "site", str, d.name_zh),
        name_en=r.get(site, "name_en", "site", str, d.name_en),
        source_name_zh=source_zh,
        source_name_en=r.get(site, "source_name_en", "site", str, source_zh).strip() or source_zh,
        timezone=tz,
        coord_system=coord,
        bounds=bounds,
        default_district=r.get(site, "default_district", "site", str, d.default_district),
        default_window_days=positive(
            site, "default_window_days", "site", int, d.default_window_days
        ),
        statement_timeout_s=positive(
            db, "statement_timeout_s", "database", float, d.statement_timeout_s
        ),
        row_cap=positive(db, "row_cap", "database", int, d.row_cap),
        cache_ttl_s=positive(db, "cache_ttl_s", "database", int, d.cache_ttl_s),
        clock_step_s=clock_step,
        use_rollups=r.get(db, "use_rollups", "database", bool, d.use_rollups),
        districts_file=r.get(geo, "districts_file", "geo", str, d.districts_file),
        streets_file=r.get(geo, "streets_file", "geo", str, d.streets_file),
        boundaries_crs=crs,
        streets_approximate=r.get(geo, "streets_approximate", "geo", bool, d.streets_approximate),
        reference_file=r.get(geo, "reference_file", "geo", str, d.reference_file),
        reference_crs=ref_crs,
        default_targets=default_targets,
        target_overrides=tuple(overrides),
        ranking_min_judged=positive(
            r.table(data, "ranking", "ranking"), "min_judged", "ranking", int, d.ranking_min_judged
        ),
        categories=_names(r, r.table(data, "categories", ""), "categories"),
        sources=_names(r, r.table(data, "sources", ""), "sources"),
        map=map_cfg,
        hotspots=hotspots,
        screen=_screen_section(r, r.table(data, "screen", "screen")),
        freshness=_freshness_section(r, r.table(data, "freshness", "freshness")),
        source_path=source_path,
        problems=tuple(r.problems),
    )


def load_site_config(path: str | os.PathLike[str] | None = None) -> SiteConfig:
    """Load the site configuration; an unreadable file yields defaults plus a problem."""
    chosen = Path(path or os.environ.get("OPS_SITE_CONFIG") or DEFAULT_CONFIG_PATH)
    try:
        with chosen.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        cfg = parse_site_config({}, str(chosen))
        return _with_problem(cfg, f"{chosen}: file not found; using built-in defaults")
    except tomllib.TOMLDecodeError as exc:
        cfg = parse_site_config({}, str(chosen))
        return _with_problem(cfg, f"{chosen}: not valid TOML ({exc}); using built-in defaults")
    return parse_site_config(data, str(chosen))


def _with_problem(cfg: SiteConfig, problem: str) -> SiteConfig:
    from dataclasses import replace

    return replace(cfg, problems=(*cfg.problems, problem))
