"""The weekly pack's Excel workbook.

First the sheets for people, in the reader's language (zh or en): the key
points, this week against the others, the street league, new hot spots,
red items still open and the figures week by week. Their headings are
catalogue strings (``export.*``), every code stands beside its name in a
column of its own, values are rounded (shares to 0.1 %, z to 2 decimals,
counts whole), formatted (``0.0%``, ``#,##0``), the columns sized to their
content and the header frozen.

Then the machine-readable sheets, unchanged across releases: ``summary``,
one sheet per table of :data:`metrics.weekly_model.TABLE_COLUMNS` with those
English column names and full precision, and ``names`` (code -> display
name). Scripts read those (grey tabs).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from metrics import exports, weekly_summary
from metrics.exports import Kind, Sheet
from metrics.weekly_model import records
from reports.labels import local_now, mark_text, metric_label, mover_text, tr_for

#: The sheets for people, in order (catalogue keys ``export.sheet.<key>``).
PEOPLE_SHEETS = ("points", "comparison", "streets", "hotspots", "red", "weeks")


def reason_words(rec: Any, names: dict[str, str], tr: Any) -> str:
    """The ``reasons`` codes of a ``red_open`` row in words."""
    words = []
    days = rec.overdue_days
    for code in str(rec.reasons or "").split(","):
        if code == "overdue_days" and not exports.is_missing(days):
            key = "overdue_lt1" if days < 1 else "overdue_one" if days == 1 else "overdue"
            words.append(tr(f"warnings.reason.{key}", days=int(days)))
        elif code in ("escalated", "never_verified"):
            words.append(tr(f"warnings.reason.{code}"))
        elif code == "verified_too_long_ago" and not exports.is_missing(rec.age_days):
            words.append(tr("warnings.reason.stale", days=int(rec.age_days)))
        elif code == "repeats":
            words.append(tr("export.reason_repeats"))
        elif code == "given":
            words.append(tr("warnings.reason.given", domain=names.get(rec.domain, rec.domain)))
        elif code:
            words.append(code)
    return tr("warnings.reason.sep").join(words)


def _kinds(kind: str) -> tuple[Kind, Kind, Kind]:
    """(value, change, mean) kinds of a comparison row of ``kind``."""
    return ("share", "pp", "share") if kind == "share" else ("int", "signed", "mean")


def people_sheets(
    tables: dict[str, pd.DataFrame],
    sentences: Sequence[weekly_summary.Sentence],
    names: dict[str, str],
    lang: str,
    heading: Sequence[str],
) -> list[Sheet]:
    """The sheets for people (see the module), each under ``heading`` lines."""
    tr = tr_for(lang)
    c = lambda key: tr(f"export.col.{key}")  # noqa: E731
    sheets: list[Sheet] = []

    def add(
        key: str, rows: list[dict[str, Any]], kinds: dict[str, Any], freeze: int, *notes: str
    ) -> None:
        title = [f"{tr(f'export.sheet.{key}')} · {heading[0]}", *heading[1:], *notes]
        frame = pd.DataFrame(rows, columns=list(kinds))
        sheets.append(Sheet(tr(f"export.sheet.{key}"), frame, kinds, title, freeze))

    add(
        "points",
        [{c("no"): i, c("point"): s.text} for i, s in enumerate(sentences, 1)],
        {c("no"): "int", c("point"): "text"},
        0,
        tr("export.raw_note", sheets=", ".join(["summary", *tables, "names"])),
    )

    cmp_rows, value_k, change_k, mean_k = [], [], [], []
    for rec in records(tables["comparison"]):
        v, ch, mean = _kinds(rec.kind)
        value_k.append(v)
        change_k.append(ch)
        mean_k.append(mean)
        pp = 100.0 if rec.kind == "share" else 1.0
        cmp_rows.append(
            {
                c("section"): tr(f"weekly.section.{rec.section}"),
                c("metric"): metric_label(rec.section, rec.metric, rec.code, names, tr),
                c("metric_code"): rec.metric,
                c("code"): rec.code if isinstance(rec.code, str) else "",
                c("this_week"): rec.this_week,
                c("last_week"): rec.last_week,
                c("change"): None if exports.is_missing(rec.change) else rec.change * pp,
                c("z"): rec.z,
                c("mark"): mark_text(rec.z, rec.significant, tr),
                c("last_year"): rec.last_year,
                c("change_last_year"): None
                if exports.is_missing(rec.change_last_year)
                else rec.change_last_year * pp,
                c("z_last_year"): rec.z_last_year,
                c("mark_last_year"): mark_text(rec.z_last_year, rec.significant_last_year, tr),
                c("mean_4"): rec.mean_4_weeks_before,
            }
        )
    add(
        "comparison",
        cmp_rows,
        {
            c("section"): "text",
            c("metric"): "text",
            c("metric_code"): "code",
            c("code"): "code",
            c("this_week"): value_k,
            c("last_week"): value_k,
            c("change"): change_k,
            c("z"): "z",
            c("mark"): "text",
            c("last_year"): value_k,
            c("change_last_year"): change_k,
            c("z_last_year"): "z",
            c("mark_last_year"): "text",
            c("mean_4"): mean_k,
        },
        2,
    )

    league = [
        {
            c("rank"): rec.rank,
            c("street"): names.get(rec.street_code, rec.street_code),
            c("street_code"): rec.street_code,
            c("cases"): rec.cases,
            c("cases_last"): rec.cases_last_week,
            c("change"): rec.change,
            c("z"): rec.z,
            c("mark"): mark_text(rec.z, rec.significant, tr),
            c("closure_rate"): rec.closure_rate,
            c("backlog"): rec.backlog_at_end,
            c("judged"): rec.judged,
            c("ontime"): rec.ontime_share,
            c("judged_last"): rec.judged_last_week,
            c("ontime_last"): rec.ontime_share_last_week,
            c("ontime_change"): None
            if exports.is_missing(rec.ontime_change)
            else rec.ontime_change * 100,
            c("ontime_z"): rec.ontime_z,
            c("red"): rec.red_at_end,
            c("mover"): mover_text(rec.mover, tr),
        }
        for rec in records(tables["streets"])
    ]
    kinds: dict[str, Any] = {c("rank"): "int", c("street"): "text", c("street_code"): "code"}
    kinds |= {c(k): "int" for k in ("cases", "cases_last")} | {c("change"): "signed"}
    kinds |= {c("z"): "z", c("mark"): "text", c("closure_rate"): "share", c("backlog"): "int"}
    kinds |= {c("judged"): "int", c("ontime"): "share", c("judged_last"): "int"}
    kinds |= {c("ontime_last"): "share", c("ontime_change"): "pp", c("ontime_z"): "z"}
    kinds |= {c("red"): "int", c("mover"): "text"}
    add("streets", league, kinds, 2)

    hot = [
        {
            c("category"): names.get(rec.category, rec.category),
            c("category_code"): rec.category,
            c("street"): names.get(rec.street_code, rec.street_code),
            c("street_code"): rec.street_code,
            c("lat"): rec.lat,
            c("lon"): rec.lon,
            c("cases"): rec.cases,
            c("first_at"): rec.first_at,
            c("last_at"): rec.last_at,
        }
        for rec in records(tables["hotspots_new"])
    ]
    kinds = {c("category"): "text", c("category_code"): "code", c("street"): "text"}
    kinds |= {c("street_code"): "code", c("lat"): "coord", c("lon"): "coord", c("cases"): "int"}
    kinds |= {c("first_at"): "datetime", c("last_at"): "datetime"}
    add("hotspots", hot, kinds, 1)

    red = [
        {
            c("domain"): names.get(rec.domain, rec.domain),
            c("domain_code"): rec.domain,
            c("id"): rec.id,
            c("street"): names.get(rec.street_code, rec.street_code),
            c("street_code"): rec.street_code,
            c("grid"): rec.grid_name if isinstance(rec.grid_name, str) else "",
            c("grid_code"): rec.grid_code,
            c("since"): rec.since,
            c("age_days"): rec.age_days,
            c("overdue_days"): rec.overdue_days,
            c("reason"): reason_words(rec, names, tr),
            c("reason_codes"): rec.reasons,
        }
        for rec in records(tables["red_open"])
    ]
    kinds = {c("domain"): "text", c("domain_code"): "code", c("id"): "code", c("street"): "text"}
    kinds |= {c("street_code"): "code", c("grid"): "text", c("grid_code"): "code"}
    kinds |= {c("since"): "datetime", c("age_days"): "int", c("overdue_days"): "int"}
    kinds |= {c("reason"): "text", c("reason_codes"): "code"}
    add("red", red, kinds, 3)

    sheets.append(_week_by_week(tables, names, tr, heading))
    return sheets


def _week_by_week(
    tables: dict[str, pd.DataFrame], names: dict[str, str], tr: Any, heading: Sequence[str]
) -> Sheet:
    """``weeks`` as a wide table: a row per figure, a column per week read
    (oldest first, each week once, its role in the review named)."""
    read = tables["weeks_read"]
    roles: dict[str, str] = {}  # a week's first role: "last" before "w-1"
    for rec in records(read):
        roles.setdefault(str(rec.week), tr("export.period." + str(rec.period).replace("-", "_")))
    weeks = sorted(roles)
    c = lambda key: tr(f"export.col.{key}")  # noqa: E731
    head = {w: tr("export.week_head", week=w, role=roles[w]) for w in weeks}
    long = tables["weeks"]
    rows, row_kinds = [], []
    for _, group in long.groupby(["section", "metric", "code"], sort=False, dropna=False):
        first = group.iloc[0]
        code = first["code"] if isinstance(first["code"], str) else ""
        row: dict[str, Any] = {
            c("section"): tr(f"weekly.section.{first['section']}"),
            c("metric"): metric_label(first["section"], first["metric"], code, names, tr),
            c("metric_code"): first["metric"],
            c("code"): code,
        }
        values = dict(zip(group["week"].astype(str), group["value"], strict=True))
        row |= {head[w]: values.get(w) for w in weeks}
        rows.append(row)
        row_kinds.append("share" if first["kind"] == "share" else "int")
    kinds: dict[str, Any] = {c("section"): "text", c("metric"): "text"}
    kinds |= {c("metric_code"): "code", c("code"): "code"}
    kinds |= {head[w]: row_kinds for w in weeks}
    name = tr("export.sheet.weeks")
    title = [f"{name} · {heading[0]}", *heading[1:]]
    return Sheet(name, pd.DataFrame(rows, columns=list(kinds)), kinds, title, 2)


def raw_sheets(
    tables: dict[str, pd.DataFrame],
    sentences: Sequence[weekly_summary.Sentence],
    names: dict[str, str],
) -> list[Sheet]:
    """The machine-readable sheets (see the module)."""
    sheets = [exports.raw_sheet("summary", pd.DataFrame({"sentence": [s.text for s in sentences]}))]
    sheets += [exports.raw_sheet(name, frame) for name, frame in tables.items()]
    names_frame = pd.DataFrame(sorted(names.items()), columns=["code", "name"])
    return [*sheets, exports.raw_sheet("names", names_frame)]


def excel_bytes(
    tables: dict[str, pd.DataFrame],
    sentences: Sequence[weekly_summary.Sentence],
    names: dict[str, str],
    lang: str = "zh",
    area_name: str = "",
    now: datetime | None = None,
    created: datetime | None = None,
) -> bytes:
    """The workbook (see the module): the sheets for people in ``lang``,
    headed by ``area_name``, the week, its dates, ``now`` (the time the
    data were read as of) and ``created`` (default: the machine's clock),
    then the machine-readable sheets."""
    heading = heading_lines(tables, lang, area_name, now, created or local_now(None))
    people = people_sheets(tables, sentences, names, lang, heading)
    return exports.workbook_bytes([*people, *raw_sheets(tables, sentences, names)])


def heading_lines(
    tables: dict[str, pd.DataFrame],
    lang: str,
    area_name: str,
    now: datetime | None,
    created: datetime,
) -> list[str]:
    """What every sheet for people says it is: area and week; the week's
    dates and when the pack was made."""
    tr = tr_for(lang)
    this = tables["weeks_read"].set_index("period").loc["this"]
    week_label = str(this["week"])
    first = f"{area_name} · {week_label}" if area_name else week_label
    when = tr(
        "export.generated",
        created=created.strftime("%Y-%m-%d %H:%M"),
        now=(now or created).strftime("%Y-%m-%d %H:%M"),
    )
    return [first, tr("export.week_span", monday=this["monday"], sunday=this["sunday"]) + when]
