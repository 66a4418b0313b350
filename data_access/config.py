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

    def get(self, milestone: str) -> float | None:
        return dict(self.minutes).get(milestone)


DEFAULT_TARGETS = TargetSet(
    label_zh="杭州街道指挥标准（1分钟响应，8分钟到场，24小时办结）",
    label_en="Hangzhou street-command standard (respond 1 min, on site 8 min, close 24 h)",
    minutes=(("accepted", 1.0), ("arrived", 8.0), ("closed", 1440.0)),
)


@dataclass(frozen=True)
class SiteConfig:
    name_zh: str = "杭州市"
    name_en: str = "Hangzhou"
    timezone: str = "Asia/Shanghai"
    coord_system: str = "gcj02"
    bounds: Bounds = Bounds()
    default_district: str = ""
    default_window_days: int = 7
    statement_timeout_s: float = 20.0
    row_cap: int = 5000
    cache_ttl_s: int = 60
    districts_file: str = "assets/geo/districts.geojson"
    streets_file: str = "assets/geo/streets_approx.geojson"
    boundaries_crs: str = "wgs84"
    streets_approximate: bool = True
    default_targets: TargetSet = DEFAULT_TARGETS
    target_overrides: tuple[tuple[str, TargetSet], ...] = ()
    categories: tuple[tuple[str, str, str], ...] = ()
    sources: tuple[tuple[str, str, str], ...] = ()
    source_path: str = ""
    problems: tuple[str, ...] = field(default=(), compare=False)

    def targets_for(self, street_code: str | None, district_code: str | None) -> TargetSet:
        """The targets that judge a case in this street (street beats district beats default)."""
        overrides = dict(self.target_overrides)
        for code in (street_code, district_code):
            if code and code in overrides:
                return overrides[code]
        return self.default_targets

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
        if key in ("label_zh", "label_en"):
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
    return TargetSet(
        label_zh=r.get(data, "label_zh", path, str, fallback.label_zh),
        label_en=r.get(data, "label_en", path, str, fallback.label_en),
        minutes=tuple(minutes),
    )


def _names(r: _Reader, data: Mapping[str, Any], path: str) -> tuple[tuple[str, str, str], ...]:
    out = []
    for code, value in data.items():
        if not isinstance(value, Mapping) or not isinstance(value.get("zh"), str):
            r.problems.append(f'{path}.{code}: expected {{ zh = "…", en = "…" }}; ignored')
            continue
        out.append((str(code), value["zh"], str(value.get("en", value["zh"]))))
    return tuple(out)


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

    return SiteConfig(
        name_zh=r.get(site, "name_zh", "site", str, d.name_zh),
        name_en=r.get(site, "name_en", "site", str, d.name_en),
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
        districts_file=r.get(geo, "districts_file", "geo", str, d.districts_file),
        streets_file=r.get(geo, "streets_file", "geo", str, d.streets_file),
        boundaries_crs=crs,
        streets_approximate=r.get(geo, "streets_approximate", "geo", bool, d.streets_approximate),
        default_targets=default_targets,
        target_overrides=tuple(overrides),
        categories=_names(r, r.table(data, "categories", ""), "categories"),
        sources=_names(r, r.table(data, "sources", ""), "sources"),
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
