"""Validation of the imported cases with the data-quality page's own rules.

The conditions are :mod:`metrics.quality`'s (``row_checks``,
``unknown_street``, ``future_time``), evaluated row by row on the cases in
an in-memory SQLite database, so a row the importer flags is exactly a row
the 数据质量 page counts. Rows breaking a rule the mapping lists in
``[validate] reject`` are not loaded; the others are loaded and reported
(the dashboards leave them out of the metrics they would corrupt, as for
any source). Parse errors (bad timestamps, unmapped values, duplicate ids
in one file) are found by :mod:`importer.transform` and always reject.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Column, Integer, MetaData, Table, case, create_engine, insert, select
from sqlalchemy.pool import StaticPool

from data_access.config import SiteConfig
from data_access.schema import incident, street
from importer.mapping import ImportMapping
from importer.transform import INCIDENT_COLUMNS, REPORT_COLUMNS, Problem, as_text, records
from metrics import quality

#: The quality rules checked on every imported case, in report order.
RULES = ("unknown_street", "missing_coordinates", "out_of_area", "out_of_order", "future_time")


def _labels(mapping: ImportMapping) -> dict[str, str]:
    """Source column(s) behind each contract column, for the report."""
    labels = {f.target: f.column or f.template or f.target for f in mapping.fields}
    c = mapping.coordinates
    if c is not None:
        labels["lat"] = labels["lon"] = c.column or f"{c.lat},{c.lon}"
    if mapping.street is not None:
        labels["street_code"] = mapping.street.column or "street_code"
    return labels


def _value(row: Any, rule: str) -> str:
    if rule == "unknown_street":
        return as_text(row["_street_value"]) or as_text(row["street_code"])
    if rule in ("missing_coordinates", "out_of_area"):
        return f"{as_text(row['lat'])},{as_text(row['lon'])}".strip(",")
    if rule == "out_of_order":
        return "; ".join(
            f"{c}={row[c]}" for c in INCIDENT_COLUMNS if c.endswith("_at") and pd.notna(row[c])
        )
    return as_text(row["reported_at"])


def _column(labels: dict[str, str], rule: str) -> str:
    key = {
        "unknown_street": "street_code",
        "missing_coordinates": "lat",
        "out_of_area": "lat",
        "out_of_order": "reported_at",
        "future_time": "reported_at",
    }[rule]
    return labels.get(key, key)


def quality_flags(
    cases: pd.DataFrame, cfg: SiteConfig, street_codes: Iterable[str], now: datetime
) -> pd.DataFrame:
    """One boolean column per rule in :data:`RULES`, one row per case (same index)."""
    engine = create_engine("sqlite://", poolclass=StaticPool)
    md = MetaData()
    cand = Table(
        "import_case",
        md,
        Column("_i", Integer, primary_key=True),
        *(Column(c.name, c.type) for c in incident.c),
    )
    known = street.to_metadata(md)
    checks = {
        "unknown_street": quality.unknown_street(cand),
        **quality.row_checks(cand, cfg),
        "future_time": quality.future_time(cand, now),
    }
    try:
        with engine.begin() as conn:
            md.create_all(conn)
            codes = [{"code": c, "district_code": "", "name_zh": ""} for c in set(street_codes)]
            if codes:
                conn.execute(insert(known), codes)
            rows = records(cases.assign(_i=range(len(cases))), ["_i", *INCIDENT_COLUMNS])
            if rows:
                conn.execute(insert(cand), rows)
            q = select(
                cand.c._i, *(case((cond, 1), else_=0).label(name) for name, cond in checks.items())
            ).order_by(cand.c._i)
            found = pd.DataFrame(conn.execute(q).all(), columns=["_i", *checks])
    finally:
        engine.dispose()
    flags = found[list(RULES)].astype(bool)
    flags.index = cases.index[found["_i"].to_numpy()] if len(found) else cases.index[:0]
    return flags


def validate(
    cases: pd.DataFrame,
    mapping: ImportMapping,
    cfg: SiteConfig,
    street_codes: Iterable[str],
    now: datetime,
    file_name: str,
) -> tuple[pd.DataFrame, list[Problem]]:
    """``(cases to load, problems)``: every case breaking a quality rule is
    reported; those breaking a rule in the mapping's ``reject`` are left out."""
    if cases.empty:
        return cases, []
    flags = quality_flags(cases, cfg, street_codes, now)
    labels = _labels(mapping)
    problems = []
    rejected = pd.Series(False, index=cases.index)
    for rule in RULES:
        hit = flags[rule]
        if rule == "missing_coordinates" and mapping.coordinates is None:
            continue  # the export has no coordinates at all: not a row's fault
        if rule == "unknown_street" and mapping.street is None:
            continue
        action = "rejected" if rule in mapping.reject else "loaded"
        for i in hit[hit].index:
            row = cases.loc[i]
            problems.append(
                Problem(
                    file_name,
                    int(row["_row"]),
                    _column(labels, rule),
                    _value(row, rule),
                    rule,
                    action,
                )
            )
        if action == "rejected":
            rejected |= hit
    return cases[~rejected], problems


def write_report(path: Path, problems: list[Problem]) -> Path:
    """The bad-row report: one CSV row per problem (:data:`REPORT_COLUMNS`),
    UTF-8 with a BOM so that Excel opens Chinese text correctly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(REPORT_COLUMNS)
        for p in sorted(problems, key=lambda p: (p.file, p.row, p.rule)):
            w.writerow([p.file, p.row, p.column, p.value, p.rule, p.action])
    return path


def report_frame(problems: list[Problem]) -> pd.DataFrame:
    """The problems as a frame with :data:`REPORT_COLUMNS`, by file and row."""
    frame = pd.DataFrame(
        [(p.file, p.row, p.column, p.value, p.rule, p.action) for p in problems],
        columns=REPORT_COLUMNS,
    )
    return frame.sort_values(["file", "row", "rule"], kind="stable").reset_index(drop=True)
