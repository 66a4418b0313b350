"""From an export's rows to contract ``incident`` rows, as the mapping says.

Renames, id templates, value maps (an unmapped value is an error unless the
field has a default), timestamps (strftime formats tried in order, so one
column may mix formats; Excel serial day numbers; the source time zone
converted to the site's, stored naive as the contract says), coordinates
(converted to the site's system with :mod:`data_access.coords`), grouping
of several rows into one case (first/last/min/max per field), the status
derived from the milestones, and the street by code, by name or by the
point in the site's street outlines.

A value that cannot be turned into its contract column rejects its row with
a :class:`Problem`; nothing is dropped without one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

import numpy as np
import pandas as pd

from data_access.config import SiteConfig
from data_access.coords import convert, convert_geojson
from data_access.schema import INCIDENT_OUTCOMES, INCIDENT_STATUSES, incident
from importer.mapping import FieldRule, ImportMapping, StreetRule, resolve
from importer.read import RawExport, header_key

#: The contract's incident columns, in schema order.
INCIDENT_COLUMNS = [c.name for c in incident.c]
TIMESTAMP_COLUMNS = [c for c in INCIDENT_COLUMNS if c.endswith("_at")]
#: Longest text each contract column holds (longer values are rejected:
#: PostgreSQL and MariaDB would refuse the whole batch).
MAX_LENGTH: dict[str, int] = {
    c.name: int(getattr(c.type, "length", 0))
    for c in incident.c
    if getattr(c.type, "length", None) is not None and c.name not in TIMESTAMP_COLUMNS
}
EXCEL_EPOCH = pd.Timestamp("1899-12-30")
#: Excel serial day numbers accepted as dates (1900-01-01 .. 9999-12-31).
EXCEL_SERIAL_RANGE = (1.0, 2958466.0)
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_POINT = re.compile(rf"^\s*(?:POINT\s*)?\(?\s*({_NUMBER})\s*[,\s]\s*({_NUMBER})\s*\)?\s*$", re.I)
_SERIAL = re.compile(r"^\d+(?:\.\d+)?$")
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


#: One polygon of a street outline: its code, bounding box (min lon, min
#: lat, max lon, max lat) and rings (outer first, then holes) as arrays.
Polygon = tuple[str, tuple[float, float, float, float], list[np.ndarray]]


@dataclass(frozen=True)
class Problem:
    """One bad value: the file, its spreadsheet row (header = 1), the source
    column, the value, the rule it broke, and what was done: ``rejected``
    (the row was not loaded) or ``loaded`` (loaded, and counted by the
    data-quality page)."""

    file: str
    row: int
    column: str
    value: str
    rule: str
    action: str = "rejected"


REPORT_COLUMNS = ["file", "row", "column", "value", "rule", "action"]


@dataclass
class StreetIndex:
    """The streets a case can be given: ``codes`` (every known street code),
    ``by_name`` (normalised zh/en name or alias -> code) and ``polygons``
    (code, bounding box, rings as arrays; site coordinate system)."""

    codes: set[str] = field(default_factory=set)
    by_name: dict[str, str] = field(default_factory=dict)
    polygons: list[Polygon] = field(default_factory=list)

    @classmethod
    def build(
        cls, streets: Iterable[dict[str, Any]], rule: StreetRule | None, site_crs: str
    ) -> StreetIndex:
        idx = cls()
        for s in streets:
            code = str(s["code"])
            idx.codes.add(code)
            for key in ("name_zh", "name_en"):
                if s.get(key):
                    idx.by_name.setdefault(name_key(str(s[key])), code)
        if rule is not None:
            for alias, code in rule.names:
                idx.by_name[name_key(alias)] = code
            if rule.by == "point" and rule.file:
                idx.polygons = _polygons(rule.file, rule.crs, site_crs)
        return idx


def name_key(name: str) -> str:
    """A street name as compared: trimmed, case-folded, inner whitespace collapsed."""
    return header_key(name)


def _polygons(path: str, crs: str, site_crs: str) -> list[Polygon]:
    with resolve(path).open(encoding="utf-8") as fh:
        data = convert_geojson(json.load(fh), crs, site_crs)
    out = []
    for feat in data.get("features", []):
        code = str((feat.get("properties") or {}).get("code", ""))
        geom = feat.get("geometry") or {}
        polys = geom.get("coordinates", [])
        if geom.get("type") == "Polygon":
            polys = [polys]
        elif geom.get("type") != "MultiPolygon":
            continue
        for poly in polys:
            rings = [np.asarray(r, dtype=float)[:, :2] for r in poly if len(r) >= 3]
            if not rings or not code:
                continue
            outer = rings[0]
            bbox = (
                float(outer[:, 0].min()),
                float(outer[:, 1].min()),
                float(outer[:, 0].max()),
                float(outer[:, 1].max()),
            )
            out.append((code, bbox, rings))
    return out


def _inside(ring: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Even-odd ray casting: which points (x, y) lie inside the closed ring."""
    inside = np.zeros(len(x), dtype=bool)
    xi, yi = ring[:, 0], ring[:, 1]
    xj, yj = np.roll(xi, 1), np.roll(yi, 1)
    for ax, ay, bx, by in zip(xi, yi, xj, yj, strict=True):
        if ay == by:
            continue
        crosses = (ay > y) != (by > y)
        inside ^= crosses & (x < (bx - ax) * (y - ay) / (by - ay) + ax)
    return inside


def street_by_point(idx: StreetIndex, lon: pd.Series, lat: pd.Series) -> pd.Series:
    """The code of the outline each point falls in (first match), else None."""
    out = pd.Series([None] * len(lon), index=lon.index, dtype=object)
    x = lon.to_numpy(dtype=float, na_value=np.nan)
    y = lat.to_numpy(dtype=float, na_value=np.nan)
    todo = ~(np.isnan(x) | np.isnan(y))
    for code, (x0, y0, x1, y1), rings in idx.polygons:
        cand = np.flatnonzero(todo & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
        if not len(cand):
            continue
        hit = _inside(rings[0], x[cand], y[cand])
        for hole in rings[1:]:
            hit &= ~_inside(hole, x[cand], y[cand])
        found = cand[hit]
        out.iloc[found] = code
        todo[found] = False
    return out


def as_text(value: Any) -> str:
    """A cell as text: trimmed; whole floats without ``.0`` (Excel numbers);
    dates in ISO form."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return str(value).strip()


def _texts(frame: pd.DataFrame, column: str) -> pd.Series:
    s = frame[column]
    if pd.api.types.infer_dtype(s, skipna=False) == "string":
        return s.astype(str).str.strip()
    return s.map(as_text)


def parse_timestamps(
    values: pd.Series, formats: tuple[str, ...], excel_serial: bool = True
) -> tuple[pd.Series, pd.Series]:
    """``(naive datetimes, failed)``: each value tried against ``formats``
    in order (so one column may mix them), Excel serial day numbers (as
    numbers, or digits when ``excel_serial``), and date/datetime cells
    as they are. ``failed`` marks non-empty values that matched nothing."""
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    if pd.api.types.infer_dtype(values, skipna=False) == "string":  # CSV: text only
        is_native = is_number = pd.Series(False, index=values.index)
        text = values.astype(str).str.strip()
    else:  # Excel: dates, numbers and text
        is_native = values.map(lambda v: isinstance(v, datetime | date) and not isinstance(v, time))
        if is_native.any():
            out[is_native] = pd.to_datetime(values[is_native].map(pd.Timestamp))
        is_number = values.map(lambda v: isinstance(v, int | float) and not isinstance(v, bool))
        text = values.where(~(is_native | is_number), "").map(as_text)
    serial_text = text.str.match(_SERIAL) if excel_serial else pd.Series(False, index=text.index)
    serial = pd.to_numeric(values.where(is_number, text.where(serial_text, "")), errors="coerce")
    serial = serial.where(serial.between(*EXCEL_SERIAL_RANGE))
    if serial.notna().any():
        days = serial[serial.notna()].astype(float)
        out[days.index] = (EXCEL_EPOCH + pd.to_timedelta(days * 86400.0, unit="s")).dt.round("s")
    todo = (text != "") & out.isna()
    for fmt in formats:
        if not todo.any():
            break
        parsed = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        ok = parsed.notna()
        out[parsed.index[ok]] = parsed[ok]
        todo[parsed.index[ok]] = False
    empty = (text == "") & ~(is_native | is_number)
    failed = out.isna() & ~empty
    return out, failed


def to_site_time(ts: pd.Series, source_tz: str | None, site_tz: str) -> pd.Series:
    """Naive source-local times as naive site-local times (an ambiguous
    hour at the end of summer time is read as summer time; a skipped one
    is moved forward)."""
    if not source_tz or source_tz == site_tz:
        return ts
    local = ts.dt.tz_localize(
        source_tz, ambiguous=np.ones(len(ts), dtype=bool), nonexistent="shift_forward"
    )
    return local.dt.tz_convert(site_tz).dt.tz_localize(None)


@dataclass
class Transformed:
    """The cases of one file: ``cases`` (the contract's incident columns,
    plus ``_row``: the first source row of the case, and ``_street_value``:
    the source value the street came from), ``rows_read`` and ``problems``."""

    cases: pd.DataFrame
    rows_read: int
    problems: list[Problem]


class _Rows:
    """The source rows, a mask of rejected ones and the problems found."""

    def __init__(self, raw: RawExport) -> None:
        self.raw = raw
        self.frame = raw.frame.reset_index(drop=True)
        self.rows = pd.Series(raw.rows, index=self.frame.index)
        self.rejected = pd.Series(False, index=self.frame.index)
        self.problems: list[Problem] = []

    def reject(self, mask: pd.Series, column: str, values: pd.Series, rule: str) -> None:
        mask = mask.fillna(False).astype(bool)
        for i in mask[mask].index:
            self.problems.append(
                Problem(self.raw.name, int(self.rows[i]), column, as_text(values[i]), rule)
            )
        self.rejected |= mask


def _template(frame: pd.DataFrame, template: str) -> pd.Series:
    parts = _PLACEHOLDER.split(template)  # literal, column, literal, column, ...
    out = pd.Series("", index=frame.index, dtype=object)
    empty = pd.Series(False, index=frame.index)
    for i, part in enumerate(parts):
        if i % 2:
            cell = _texts(frame, part)
            empty |= cell == ""
            out = out + cell
        else:
            out = out + part
    return out.where(~empty, "")


def _field_values(rows: _Rows, rule: FieldRule, mapping: ImportMapping, cfg: SiteConfig) -> Any:
    frame = rows.frame
    label = rule.column or rule.template or rule.target
    if rule.target in TIMESTAMP_COLUMNS:
        if rule.column:
            raw = frame[rule.column]
        else:
            raw = pd.Series(rule.value or "", index=frame.index, dtype=object)
        ts, failed = parse_timestamps(raw, rule.formats, mapping.excel_serial_dates)
        rows.reject(failed, label, raw, "bad_timestamp")
        return to_site_time(ts, mapping.timezone, cfg.timezone)
    if rule.column:
        text = _texts(frame, rule.column)
    elif rule.template:
        text = _template(frame, rule.template)
    else:
        text = pd.Series(rule.value or "", index=frame.index, dtype=object)
    if rule.values:
        mapped = text.map(dict(rule.values))
        unmapped = (text != "") & mapped.isna()
        if rule.default is None:
            rows.reject(unmapped, label, text, "unmapped_value")
        else:
            mapped = mapped.where(~unmapped, rule.default)
        text = mapped
    text = text.where(text.notna() & (text != ""), rule.default)
    allowed = {"status": INCIDENT_STATUSES, "outcome": INCIDENT_OUTCOMES}.get(rule.target)
    if allowed:
        rows.reject(text.notna() & ~text.isin(allowed), label, text, f"bad_{rule.target}")
    return text.astype(object).where(text.notna(), None)


def _coordinates(rows: _Rows, mapping: ImportMapping, cfg: SiteConfig) -> tuple[Any, Any]:
    rule = mapping.coordinates
    n = len(rows.frame)
    if rule is None:
        return pd.Series(np.nan, index=rows.frame.index), pd.Series(np.nan, index=rows.frame.index)
    if rule.column:
        text = _texts(rows.frame, rule.column)
        parts = text.str.extract(_POINT)
        a, b = pd.to_numeric(parts[0], errors="coerce"), pd.to_numeric(parts[1], errors="coerce")
        lat, lon = (a, b) if rule.order == "lat_lon" else (b, a)
        rows.reject((text != "") & (lat.isna() | lon.isna()), rule.column, text, "bad_coordinates")
        label = rule.column
    else:
        assert rule.lat and rule.lon
        lat_text, lon_text = _texts(rows.frame, rule.lat), _texts(rows.frame, rule.lon)
        lat, lon = (
            pd.to_numeric(lat_text, errors="coerce"),
            pd.to_numeric(lon_text, errors="coerce"),
        )
        rows.reject((lat_text != "") & lat.isna(), rule.lat, lat_text, "bad_coordinates")
        rows.reject((lon_text != "") & lon.isna(), rule.lon, lon_text, "bad_coordinates")
        text, label = lat_text + "," + lon_text, f"{rule.lat},{rule.lon}"
    impossible = (lat.abs() > 90) | (lon.abs() > 180)
    rows.reject(impossible, label, text, "bad_coordinates")
    # Exports write 0,0 for "no position".
    zero = (lat == 0) & (lon == 0)
    lat, lon = lat.where(~(impossible | zero)), lon.where(~(impossible | zero))
    src = mapping.coord_system or cfg.coord_system
    have = lat.notna() & lon.notna()
    if src != cfg.coord_system and have.any() and n:
        x, y = convert(lon[have].to_numpy(), lat[have].to_numpy(), src, cfg.coord_system)
        lon, lat = lon.copy(), lat.copy()
        lon[have], lat[have] = x, y
    return lat, lon


def _group(cases: pd.DataFrame, keys: list[str], rules: dict[str, str]) -> pd.DataFrame:
    """One row per key: each column combined by its rule (first/last skip empty cells)."""
    grouped = cases.groupby(keys, sort=False, dropna=False)
    parts = {}
    for col in cases.columns:
        if col in keys:
            continue
        how = rules.get(col, "first")
        parts[col] = getattr(grouped[col], how)()
    out = pd.DataFrame(parts).reset_index(drop=True)
    return out


def derived_status(cases: pd.DataFrame) -> pd.Series:
    """The status the milestones say: closed, on site, dispatched, else open."""
    return pd.Series(
        np.select(
            [
                cases["closed_at"].notna(),
                cases["arrived_at"].notna(),
                cases["dispatched_at"].notna(),
            ],
            ["closed", "on_site", "dispatched"],
            "open",
        ),
        index=cases.index,
        dtype=object,
    )


def transform(
    raw: RawExport, mapping: ImportMapping, cfg: SiteConfig, streets: StreetIndex
) -> Transformed:
    """The contract rows of one export (see the module docstring)."""
    rows = _Rows(raw)
    cases = pd.DataFrame(index=rows.frame.index)
    for col in INCIDENT_COLUMNS:
        rule = mapping.field(col)
        if rule is not None:
            cases[col] = _field_values(rows, rule, mapping, cfg)
        elif col in TIMESTAMP_COLUMNS:
            cases[col] = pd.Series(pd.NaT, index=cases.index, dtype="datetime64[ns]")
        else:
            cases[col] = None
    cases["lat"], cases["lon"] = _coordinates(rows, mapping, cfg)
    street = mapping.street
    cases["_street_value"] = None
    if street is not None and street.column:
        value = _texts(rows.frame, street.column)
        cases["_street_value"] = value.where(value != "", None)  # grouping skips empties
    id_rule = mapping.field("id")
    id_label = (id_rule.column or id_rule.template or "id") if id_rule else "id"
    rows.reject(cases["id"].isna(), id_label, cases["id"], "missing_value")
    reported = mapping.field("reported_at")
    assert reported is not None
    rows.reject(
        cases["reported_at"].isna() & ~rows.rejected,
        reported.column or "reported_at",
        cases["reported_at"],
        "missing_value",
    )
    cases["_row"] = rows.rows
    kept = cases[~rows.rejected]
    if mapping.group_by:
        keyed = kept.copy()
        keys = []
        for i, col in enumerate(mapping.group_by):
            keys.append(f"_key{i}")
            keyed[keys[-1]] = _texts(rows.frame, col)[~rows.rejected]
        rules = {f.target: f.group for f in mapping.fields}
        rules["_row"] = "min"
        kept = _group(keyed, keys, rules)
    else:
        kept = kept.reset_index(drop=True)
    if mapping.field("status") is None:
        kept["status"] = derived_status(kept)
    kept["street_code"] = _street_codes(kept, street, streets)

    problems = rows.problems
    bad = pd.Series(False, index=kept.index)
    for col, length in MAX_LENGTH.items():
        too_long = kept[col].map(lambda v, n=length: isinstance(v, str) and len(v) > n)
        for i in too_long[too_long & ~bad].index:
            problems.append(
                Problem(
                    raw.name, int(kept.loc[i, "_row"]), col, str(kept.at[i, col])[:80], "too_long"
                )
            )
        bad |= too_long
    dup = kept["id"].duplicated(keep="first") & ~bad
    for i in dup[dup].index:
        problems.append(
            Problem(
                raw.name, int(kept.loc[i, "_row"]), id_label, str(kept.at[i, "id"]), "duplicate_id"
            )
        )
    kept = kept[~(bad | dup)].reset_index(drop=True)
    return Transformed(cases=kept, rows_read=len(rows.frame), problems=problems)


def street_label_points(cases: pd.DataFrame, cfg: SiteConfig) -> list[dict[str, Any]]:
    """Per street of ``cases``, a label point: the median latitude and
    longitude (degrees, the site's coordinate system, 6 decimals) of its
    cases inside ``site.bounds`` (points out of area do not pull it into the
    sea). For streets the mapping and the site's outline files give no
    point: the overview draws a street without an outline at its label
    point. Rows ``{"code", "lat", "lon"}``, in code order; streets without a
    located case are left out."""
    b = cfg.bounds
    lat = pd.to_numeric(cases["lat"], errors="coerce")
    lon = pd.to_numeric(cases["lon"], errors="coerce")
    inside = lat.between(b.min_lat, b.max_lat) & lon.between(b.min_lon, b.max_lon)
    located = pd.DataFrame({"code": cases["street_code"], "lat": lat, "lon": lon})[inside]
    located = located.loc[located["code"].notna() & (located["code"] != "")]
    medians = located.groupby("code", sort=True)[["lat", "lon"]].median()
    return [
        {"code": str(code), "lat": round(float(lat_), 6), "lon": round(float(lon_), 6)}
        for code, lat_, lon_ in zip(
            medians.index, medians["lat"].to_numpy(), medians["lon"].to_numpy(), strict=True
        )
    ]


def records(cases: pd.DataFrame, columns: list[str] | None = None) -> list[dict[str, Any]]:
    """The cases' ``columns`` (default: the contract's) as dicts for
    executemany: NULL for NaN/NaT, datetimes as ``datetime``. Column by
    column: ``DataFrame.to_dict`` boxed every value and was most of the
    time of a 200,000-row import."""
    names = columns or INCIDENT_COLUMNS
    lists = []
    for name in names:
        s = cases[name]
        if pd.api.types.is_datetime64_any_dtype(s):
            # numpy gives datetime.datetime objects, and None for NaT.
            lists.append(s.to_numpy(dtype="datetime64[us]").astype(object).tolist())
        else:
            lists.append(s.astype(object).where(s.notna(), None).tolist())
    return [dict(zip(names, row, strict=True)) for row in zip(*lists, strict=True)]


def _street_codes(cases: pd.DataFrame, rule: StreetRule | None, idx: StreetIndex) -> pd.Series:
    if rule is None:
        return pd.Series([None] * len(cases), index=cases.index, dtype=object)
    if rule.by == "point":
        return street_by_point(idx, cases["lon"], cases["lat"])
    values = cases["_street_value"].fillna("").astype(str)
    if rule.by == "code":
        codes = dict(rule.codes)
        out = values.map(lambda v: codes.get(v, v) if codes else v)
    else:
        out = values.map(lambda v: idx.by_name.get(name_key(v)))
    return out.where(out.notna() & (out != ""), None).astype(object)
