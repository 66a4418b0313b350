"""Mapping files: how the columns of one export become the contract's ``incident`` columns.

A mapping is a TOML file (reference: ``docs/import.md``; shipped ones in
``importer/mappings/``). :func:`load_mapping` parses and checks it; every
error names the file and the key, and nothing is guessed.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping as TomlTable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from data_access.config import COORD_SYSTEMS, PROJECT_ROOT
from data_access.schema import incident

MAPPINGS_DIR = Path(__file__).resolve().parent / "mappings"

#: Contract columns a ``[fields]`` entry may fill (coordinates and the
#: street have sections of their own).
FIELD_TARGETS = tuple(c.name for c in incident.c if c.name not in ("lat", "lon", "street_code"))
TIMESTAMP_TARGETS = tuple(c for c in FIELD_TARGETS if c.endswith("_at"))
GROUP_RULES = ("first", "last", "min", "max")
STREET_BY = ("code", "name", "point")
COORD_ORDERS = ("lat_lon", "lon_lat")
#: Quality rules a mapping may ask to reject instead of load-and-flag.
QUALITY_RULES = (
    "unknown_street",
    "missing_coordinates",
    "out_of_area",
    "out_of_order",
    "future_time",
)
DEFAULT_TIMESTAMP_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
)
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the file and key."""


@dataclass(frozen=True)
class FieldRule:
    """One contract column: from a source ``column``, a ``template`` of
    source columns (``"sf-{Incident Number}"``) or a constant ``value``;
    ``values`` maps source values to contract codes (an unmapped value is an
    error unless ``default`` is given; ``default`` also fills empty cells);
    ``formats``: timestamp formats tried in order (strftime codes);
    ``group``: how rows grouped into one case combine (first/last non-empty,
    min/max); ``optional``: a missing column leaves the field NULL instead of
    stopping the file."""

    target: str
    column: str | None = None
    template: str | None = None
    value: str | None = None
    values: tuple[tuple[str, str], ...] = ()
    default: str | None = None
    formats: tuple[str, ...] = ()
    group: str = "first"
    optional: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        """Source columns this field reads."""
        if self.column:
            return (self.column,)
        if self.template:
            return tuple(_PLACEHOLDER.findall(self.template))
        return ()


@dataclass(frozen=True)
class CoordinateRule:
    """Where the coordinates are: one ``column`` holding both numbers (``"(37.7, -122.4)"``,
    ``"POINT (-122.4 37.7)"``) in ``order``, or separate ``lat``/``lon`` columns."""

    column: str | None = None
    order: str = "lat_lon"
    lat: str | None = None
    lon: str | None = None
    optional: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c for c in (self.column, self.lat, self.lon) if c)


@dataclass(frozen=True)
class StreetRule:
    """How a case gets its street code: ``by`` ``code`` (the column holds a
    code, optionally translated by ``codes``), ``name`` (looked up among the
    street names of the staging database and the mapping's geography, plus
    ``names`` aliases), or ``point`` (point-in-polygon against the outlines
    in ``file``, coordinate system ``crs``)."""

    by: str
    column: str | None = None
    codes: tuple[tuple[str, str], ...] = ()
    names: tuple[tuple[str, str], ...] = ()
    file: str | None = None
    crs: str = "wgs84"
    optional: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,) if self.column else ()


@dataclass(frozen=True)
class Geography:
    """Districts and streets written to the staging database with the cases:
    inline rows, and/or GeoJSON files whose features' properties carry
    ``code``, ``name_zh``, ``name_en`` (streets also ``district_code`` and
    optionally ``label_lat``/``label_lon``)."""

    districts: tuple[dict[str, Any], ...] = ()
    streets: tuple[dict[str, Any], ...] = ()
    districts_file: str | None = None
    streets_file: str | None = None


@dataclass(frozen=True)
class ImportMapping:
    """A parsed mapping file (see the module docstring and ``docs/import.md``)."""

    name: str
    path: str
    description: str = ""
    #: The description in Chinese, for the upload page in Chinese.
    description_zh: str = ""
    site_config: str | None = None
    encoding: str = "auto"
    sheet: str | None = None
    timezone: str | None = None
    coord_system: str | None = None
    timestamp_formats: tuple[str, ...] = DEFAULT_TIMESTAMP_FORMATS
    excel_serial_dates: bool = True
    group_by: tuple[str, ...] = ()
    fields: tuple[FieldRule, ...] = ()
    coordinates: CoordinateRule | None = None
    street: StreetRule | None = None
    reject: frozenset[str] = frozenset()
    geography: Geography = field(default_factory=Geography)

    def field(self, target: str) -> FieldRule | None:
        return next((f for f in self.fields if f.target == target), None)

    def required_columns(self) -> tuple[str, ...]:
        """Source columns without which a file cannot be imported."""
        cols: list[str] = list(self.group_by)
        for f in self.fields:
            if not f.optional:
                cols += f.columns
        for rule in (self.coordinates, self.street):
            if rule is not None and not rule.optional:
                cols += rule.columns
        return tuple(dict.fromkeys(cols))

    def optional_columns(self) -> tuple[str, ...]:
        cols: list[str] = []
        for f in self.fields:
            if f.optional:
                cols += f.columns
        for rule in (self.coordinates, self.street):
            if rule is not None and rule.optional:
                cols += rule.columns
        return tuple(dict.fromkeys(cols))


class _Keys:
    """Typed access to a TOML table; errors name ``file: key``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, key: str, message: str) -> MappingError:
        return MappingError(f"{self.path}: {key}: {message}")

    def known(self, table: TomlTable[str, Any], where: str, allowed: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                raise self.fail(
                    f"{where}.{key}" if where else key,
                    f"unknown key (expected one of {', '.join(allowed)})",
                )

    def text(self, table: TomlTable[str, Any], key: str, where: str) -> str | None:
        if key not in table:
            return None
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(f"{where}.{key}" if where else key, f"expected text, got {value!r}")
        return str(value)

    def flag(self, table: TomlTable[str, Any], key: str, where: str, default: bool) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(f"{where}.{key}", f"expected true or false, got {value!r}")
        return value

    def table(self, table: TomlTable[str, Any], key: str, where: str) -> TomlTable[str, Any]:
        value = table.get(key, {})
        if not isinstance(value, TomlTable):
            raise self.fail(f"{where}.{key}" if where else key, "expected a table")
        return value

    def texts(self, table: TomlTable[str, Any], key: str, where: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"{where}.{key}", f"expected a list of text, got {value!r}")
        return tuple(value)

    def pairs(
        self, table: TomlTable[str, Any], key: str, where: str
    ) -> tuple[tuple[str, str], ...]:
        value = self.table(table, key, where)
        out = []
        for k, v in value.items():
            if isinstance(v, bool) or not isinstance(v, str | int | float):
                raise self.fail(f"{where}.{key}.{k}", f"expected text, got {v!r}")
            out.append((str(k), str(v)))
        return tuple(out)

    def choice(
        self,
        table: TomlTable[str, Any],
        key: str,
        where: str,
        allowed: tuple[str, ...],
        default: str,
    ) -> str:
        value = self.text(table, key, where) or default
        if value not in allowed:
            raise self.fail(
                f"{where}.{key}", f"expected one of {', '.join(allowed)}, got {value!r}"
            )
        return value


def _field(k: _Keys, target: str, spec: Any, formats: tuple[str, ...]) -> FieldRule:
    where = f"fields.{target}"
    if target not in FIELD_TARGETS:
        hint = (
            " (coordinates go in [coordinates], the street in [street])"
            if target in ("lat", "lon", "street_code")
            else ""
        )
        raise k.fail(where, f"not a contract column of incident{hint}")
    if isinstance(spec, str):
        spec = {"column": spec}
    if not isinstance(spec, TomlTable):
        raise k.fail(where, 'expected a column name or a table like { column = "..." }')
    k.known(
        spec,
        where,
        ("column", "template", "value", "map", "default", "formats", "group", "optional"),
    )
    sources = [s for s in ("column", "template", "value") if s in spec]
    if len(sources) != 1:
        raise k.fail(where, "give exactly one of column, template or value")
    template = k.text(spec, "template", where)
    if template is not None and not _PLACEHOLDER.search(template):
        raise k.fail(f"{where}.template", "names no {column}")
    own_formats = k.texts(spec, "formats", where)
    if own_formats and target not in TIMESTAMP_TARGETS:
        raise k.fail(f"{where}.formats", "only timestamp fields (…_at) take formats")
    return FieldRule(
        target=target,
        column=k.text(spec, "column", where),
        template=template,
        value=k.text(spec, "value", where),
        values=k.pairs(spec, "map", where),
        default=k.text(spec, "default", where),
        formats=own_formats or (formats if target in TIMESTAMP_TARGETS else ()),
        group=k.choice(spec, "group", where, GROUP_RULES, "first"),
        optional=k.flag(spec, "optional", where, False),
    )


def _rows(k: _Keys, value: Any, where: str, keys: tuple[str, ...]) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, list) or not all(isinstance(v, TomlTable) for v in value):
        raise k.fail(where, "expected a list of tables")
    for i, row in enumerate(value):
        k.known(row, f"{where}[{i}]", keys)
        if not isinstance(row.get("code"), str) or not isinstance(row.get("name_zh"), str):
            raise k.fail(f"{where}[{i}]", "needs code and name_zh (text)")
    return tuple(dict(v) for v in value)


def parse_mapping(data: TomlTable[str, Any], path: str, name: str | None = None) -> ImportMapping:
    """Check parsed TOML and build the mapping; raises :class:`MappingError`."""
    k = _Keys(path)
    k.known(
        data,
        "",
        (
            "name",
            "description",
            "description_zh",
            "site_config",
            "source",
            "fields",
            "coordinates",
            "street",
            "validate",
            "geography",
        ),
    )
    src = k.table(data, "source", "")
    k.known(
        src,
        "source",
        (
            "encoding",
            "sheet",
            "timezone",
            "coord_system",
            "timestamp_formats",
            "excel_serial_dates",
            "group_by",
        ),
    )
    tz = k.text(src, "timezone", "source")
    if tz is not None:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise k.fail("source.timezone", f"unknown time zone {tz!r}") from exc
    crs = k.text(src, "coord_system", "source")
    if crs is not None and crs not in COORD_SYSTEMS:
        raise k.fail("source.coord_system", f"expected one of {', '.join(COORD_SYSTEMS)}")
    formats = k.texts(src, "timestamp_formats", "source") or DEFAULT_TIMESTAMP_FORMATS

    raw_fields = k.table(data, "fields", "")
    fields = tuple(_field(k, str(t), spec, formats) for t, spec in raw_fields.items())
    targets = {f.target for f in fields}
    for required in ("id", "reported_at"):
        if required not in targets:
            raise k.fail(f"fields.{required}", "missing: every case needs it")
    for f in fields:
        if f.values and f.target in TIMESTAMP_TARGETS:
            raise k.fail(f"fields.{f.target}.map", "timestamps take formats, not a map")

    coordinates = None
    if "coordinates" in data:
        c = k.table(data, "coordinates", "")
        k.known(c, "coordinates", ("column", "order", "lat", "lon", "optional"))
        coordinates = CoordinateRule(
            column=k.text(c, "column", "coordinates"),
            order=k.choice(c, "order", "coordinates", COORD_ORDERS, "lat_lon"),
            lat=k.text(c, "lat", "coordinates"),
            lon=k.text(c, "lon", "coordinates"),
            optional=k.flag(c, "optional", "coordinates", False),
        )
        if bool(coordinates.column) == bool(coordinates.lat or coordinates.lon) or (
            not coordinates.column and not (coordinates.lat and coordinates.lon)
        ):
            raise k.fail("coordinates", "give either column, or both lat and lon")

    street = None
    if "street" in data:
        s = k.table(data, "street", "")
        k.known(s, "street", ("by", "column", "codes", "names", "file", "crs", "optional"))
        by = k.choice(s, "by", "street", STREET_BY, "code")
        street = StreetRule(
            by=by,
            column=k.text(s, "column", "street"),
            codes=k.pairs(s, "codes", "street"),
            names=k.pairs(s, "names", "street"),
            file=k.text(s, "file", "street"),
            crs=k.choice(s, "crs", "street", COORD_SYSTEMS, "wgs84"),
            optional=k.flag(s, "optional", "street", False),
        )
        if by in ("code", "name") and not street.column:
            raise k.fail("street.column", f"by = {by!r} needs the column to read")
        if by == "point":
            if not street.file:
                raise k.fail("street.file", "by = 'point' needs the outlines' GeoJSON file")
            if coordinates is None:
                raise k.fail("street.by", "by = 'point' needs [coordinates]")

    v = k.table(data, "validate", "")
    k.known(v, "validate", ("reject",))
    reject = k.texts(v, "reject", "validate")
    for rule in reject:
        if rule not in QUALITY_RULES:
            raise k.fail("validate.reject", f"{rule!r} is not one of {', '.join(QUALITY_RULES)}")

    g = k.table(data, "geography", "")
    k.known(g, "geography", ("districts", "streets", "districts_file", "streets_file"))
    geography = Geography(
        districts=_rows(
            k, g.get("districts", []), "geography.districts", ("code", "name_zh", "name_en")
        ),
        streets=_rows(
            k,
            g.get("streets", []),
            "geography.streets",
            ("code", "district_code", "name_zh", "name_en", "population", "area_km2", "lat", "lon"),
        ),
        districts_file=k.text(g, "districts_file", "geography"),
        streets_file=k.text(g, "streets_file", "geography"),
    )
    for i, row in enumerate(geography.streets):
        if not isinstance(row.get("district_code"), str):
            raise k.fail(f"geography.streets[{i}]", "needs district_code (text)")

    return ImportMapping(
        name=k.text(data, "name", "") or name or Path(path).stem,
        path=path,
        description=k.text(data, "description", "") or "",
        description_zh=k.text(data, "description_zh", "") or "",
        site_config=k.text(data, "site_config", ""),
        encoding=k.text(src, "encoding", "source") or "auto",
        sheet=k.text(src, "sheet", "source"),
        timezone=tz,
        coord_system=crs,
        timestamp_formats=formats,
        excel_serial_dates=k.flag(src, "excel_serial_dates", "source", True),
        group_by=k.texts(src, "group_by", "source"),
        fields=fields,
        coordinates=coordinates,
        street=street,
        reject=frozenset(reject),
        geography=geography,
    )


def mapping_path(name_or_path: str) -> Path:
    """A mapping file by path, or a shipped mapping by name (``sf_fire_calls``)."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        return path
    return MAPPINGS_DIR / f"{name_or_path}.toml"


def shipped_mappings() -> list[str]:
    """Names of the mappings in ``importer/mappings/``."""
    return sorted(p.stem for p in MAPPINGS_DIR.glob("*.toml"))


def load_mapping(name_or_path: str) -> ImportMapping:
    """Read and check a mapping file (path, or a shipped mapping's name)."""
    path = mapping_path(name_or_path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise MappingError(
            f"{path}: no such mapping file (shipped: {', '.join(shipped_mappings())})"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"{path}: not valid TOML ({exc})") from exc
    return parse_mapping(data, str(path))


def parse_mapping_text(text: str, path: str = "uploaded mapping") -> ImportMapping:
    """A mapping from TOML text (the upload page's own mapping file)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"{path}: not valid TOML ({exc})") from exc
    return parse_mapping(data, path)


def resolve(relative: str) -> Path:
    """A path named in a mapping: absolute, or from the project root."""
    path = Path(relative)
    return path if path.is_absolute() else PROJECT_ROOT / path
