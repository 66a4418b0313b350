"""The weekly review pack: a PDF to hand out and an Excel workbook, from
:func:`metrics.weekly.review_tables`.

The same functions serve the page's download buttons and the scheduled
command (``python -m reports weekly``), so both produce the same files.

PDF: reportlab (pure Python, no browser), A4. Text and charts are set in
the WenQuanYi Micro Hei subset shipped in ``assets/fonts``
(:mod:`reports.fonts`), embedded in the file (subset to the characters
used), so every reader shows it and the text stays extractable
(pdftotext, search, copy); the host's fonts play no part. Tables take
their column widths from their content, run over pages with the header
repeated (:mod:`reports.pdf_tables`) and say when they list only part
("first N of M"). Charts are PNG images drawn by matplotlib. The file's
creation date and the printed "made" time are the real clock's. Nothing is
fetched from the network.

Excel: :mod:`reports.workbook` (sheets for people in the reader's
language, then the machine-readable sheets with stable English names).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection

from data_access import geography
from data_access.config import SiteConfig
from data_access.filters import AreaFilter
from metrics import weekly, weekly_compare, weekly_summary
from metrics.warning_rules import WarningRules
from metrics.weekly_lists import RED_OPEN_LIMIT
from metrics.weekly_model import records
from reports import fonts
from reports.labels import (
    area_label,
    display_names,
    figure_text,
    local_now,
    mark_text,
    metric_label,
    mover_text,
    source_text,
    tr_for,
    value_text,
)
from reports.pdf_tables import data_table
from reports.workbook import excel_bytes, reason_words

__all__ = [
    "Pack",
    "area_label",
    "build_pack",
    "display_names",
    "excel_bytes",
    "mark_text",
    "metric_label",
    "pdf_bytes",
    "render_pack",
    "review",
    "tr_for",
    "value_text",
]

#: The league table in the PDF lists every street up to this many; beyond,
#: the top and bottom halves of it and every mover, saying so (the
#: workbook has them all).
PDF_STREET_ROWS = 30
#: The red list in the PDF lists this many, most overdue first, saying so
#: when there are more (the workbook has them all).
PDF_RED_ROWS = 40
#: Space a section needs at the foot of a page, else it starts on the next
#: (heading, note, header row and a few rows; points).
SECTION_MIN_HEIGHT = 120


@dataclass(frozen=True)
class Pack:
    week: str
    tables: dict[str, pd.DataFrame]
    sentences: list[weekly_summary.Sentence]
    names: dict[str, str]
    pdf: bytes
    xlsx: bytes
    seconds: float


def review(
    conn: Connection,
    f: AreaFilter,
    now: datetime,
    cfg: SiteConfig,
    week_label: str,
    rules: WarningRules | None,
    lang: str,
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """The tables and the display names of one review."""
    tables = weekly.review_tables(conn, f, now, cfg, week_label, rules)
    names = display_names(geography.districts(conn), geography.streets(conn), cfg, rules, lang)
    return tables, names


def render_pack(
    tables: dict[str, pd.DataFrame],
    names: dict[str, str],
    lang: str,
    week_label: str,
    area_name: str,
    now: datetime,
    db_label: str = "",
    created: datetime | None = None,
) -> tuple[bytes, bytes]:
    """``(pdf, xlsx)`` of computed review tables, both made at ``created``
    (default: the machine's clock)."""
    created = created or local_now(None)
    sentences = weekly_summary.summary(tables, tr_for(lang), names)
    xlsx = excel_bytes(tables, sentences, names, lang, area_name, now, created)
    pdf = pdf_bytes(
        tables, sentences, names, lang, week_label, area_name, now, db_label, created=created
    )
    return pdf, xlsx


def build_pack(
    conn: Connection,
    f: AreaFilter,
    now: datetime,
    cfg: SiteConfig,
    week_label: str,
    rules: WarningRules | None,
    lang: str = "zh",
    db_label: str = "",
) -> Pack:
    """Compute the review and render both files (the command), made at the
    site's wall clock."""
    import time

    t0 = time.perf_counter()
    tables, names = review(conn, f, now, cfg, week_label, rules, lang)
    area_name = area_label(f, names, cfg, lang)
    created = local_now(cfg.timezone)
    pdf, xlsx = render_pack(tables, names, lang, week_label, area_name, now, db_label, created)
    sentences = weekly_summary.summary(tables, tr_for(lang), names)
    return Pack(week_label, tables, sentences, names, pdf, xlsx, time.perf_counter() - t0)


# ---------------------------------------------------------------------------
# Charts (matplotlib, PNG)


def _matplotlib() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    if not getattr(_matplotlib, "_fonts", False):
        plt.rcParams["font.family"] = [fonts.chart_font(), "DejaVu Sans"]
        plt.rcParams["axes.unicode_minus"] = False
        _matplotlib._fonts = True  # type: ignore[attr-defined]
    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150, bbox_inches="tight")
    _matplotlib().close(fig)
    return buf.getvalue()


def trend_values(tables: dict[str, pd.DataFrame]) -> tuple[list[str], list[float]]:
    """The weeks and bar heights :func:`chart_trend` draws:
    :func:`metrics.weekly.case_trend`, each week once (no bar for a week
    without data)."""
    trend = weekly.case_trend(tables)
    return trend["week"].tolist(), [0.0 if math.isnan(v) else v for v in trend["cases"]]


def chart_trend(tables: dict[str, pd.DataFrame], tr: Any) -> bytes:
    """Cases per week for the five weeks read (bars from 0, labelled as on
    the page, "—" without data)."""
    plt = _matplotlib()
    weeks, heights = trend_values(tables)
    labels = [weekly_summary.format_figure(v, "int") for v in weekly.case_trend(tables)["cases"]]
    fig, ax = plt.subplots(figsize=(7.0, 2.6))
    colours = ["#90A4AE"] * (len(weeks) - 1) + ["#1565C0"]
    ax.bar(range(len(weeks)), heights, color=colours)
    ax.set_xticks(range(len(weeks)), weeks)
    for i, (height, label) in enumerate(zip(heights, labels, strict=True)):
        ax.text(i, height, label, ha="center", va="bottom")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(_grouped_ticks())
    ax.set_title(tr("weekly.trend_title") + " · " + tr("weekly.metric.cases"))
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def _grouped_ticks() -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: f"{v:,.0f}")


def chart_categories(tables: dict[str, pd.DataFrame], names: dict[str, str], tr: Any) -> bytes:
    """Cases per category, this week against last week (horizontal bars from 0)."""
    plt = _matplotlib()
    cmp_ = tables["comparison"]
    rows = cmp_[cmp_["metric"] == "category"].sort_values("this_week")
    labels = [names.get(c, c) for c in rows["code"]]
    fig, ax = plt.subplots(figsize=(7.0, 0.32 * len(rows) + 1.0))
    y = range(len(rows))
    ax.barh(
        [i + 0.2 for i in y],
        rows["last_week"].fillna(0),
        height=0.4,
        color="#B0BEC5",
        label=tr("weekly.col.last_week"),
    )
    ax.barh(
        [i - 0.2 for i in y],
        rows["this_week"].fillna(0),
        height=0.4,
        color="#1565C0",
        label=tr("weekly.col.this_week"),
    )
    ax.set_yticks(list(y), labels)
    ax.set_xlim(left=0)
    ax.xaxis.set_major_formatter(_grouped_ticks())
    ax.legend(loc="lower right", frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def league_rows(streets: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The streets the PDF lists and how many it keeps from each end of the
    ranking: every street when there are at most :data:`PDF_STREET_ROWS`,
    else the top and bottom halves of that many ranked streets and every
    mover, in league order."""
    if len(streets) <= PDF_STREET_ROWS:
        return streets, 0
    ranked = streets.dropna(subset=["rank"])
    half = PDF_STREET_ROWS // 2
    keep = pd.concat([ranked.head(half), ranked.tail(half), streets[streets["mover"] != ""]])
    keep = keep[~keep.index.duplicated()]
    return streets.loc[streets.index.isin(keep.index)], half


def chart_streets(tables: dict[str, pd.DataFrame], names: dict[str, str], tr: Any) -> bytes:
    """On-time share of the headline milestone per listed ranked street
    (this week bar, last week dot; axis 0-100 %)."""
    plt = _matplotlib()
    shown, _ = league_rows(tables["streets"])
    st = shown.dropna(subset=["rank"]).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7.0, 0.22 * len(st) + 1.2))
    y = list(range(len(st)))
    ax.barh(y, st["ontime_share"] * 100, color="#1565C0", height=0.6, label=tr("weekly.col.ontime"))
    ax.plot(
        st["ontime_share_last_week"] * 100,
        y,
        "o",
        color="#F9A825",
        markersize=4,
        label=tr("weekly.col.ontime_last"),
    )
    ax.set_yticks(y, [names.get(c, c) for c in st["street_code"]], fontsize=7)
    ax.set_xlim(0, 100)
    ax.set_xlabel("%")
    milestone = names.get(weekly_compare.HEADLINE_MILESTONE, "")
    ax.set_title(tr("export.pdf.chart_streets", milestone=milestone), fontsize=9, pad=18)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False, fontsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


# ---------------------------------------------------------------------------
# PDF


@dataclass(frozen=True)
class _Styles:
    font: str
    base: Any
    h1: Any
    h2: Any
    small: Any
    width: float


def _styles() -> _Styles:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm

    font = fonts.pdf_font()
    base = ParagraphStyle("base", fontName=font, fontSize=9.5, leading=14, wordWrap="CJK")
    return _Styles(
        font=font,
        base=base,
        h1=ParagraphStyle("h1", parent=base, fontSize=16, leading=22, spaceAfter=4),
        h2=ParagraphStyle("h2", parent=base, fontSize=12, leading=17, spaceBefore=8, spaceAfter=4),
        small=ParagraphStyle("small", parent=base, fontSize=7.5, leading=10, textColor="#555555"),
        width=A4[0] - 30 * mm,
    )


def _section(title: str, s: _Styles, *notes: str) -> list[Any]:
    """A section's heading (and notes), starting a new page when too little
    of this one is left for the heading and the start of its table."""
    from reportlab.platypus import CondPageBreak, Paragraph

    story: list[Any] = [CondPageBreak(SECTION_MIN_HEIGHT), Paragraph(_esc(title), s.h2)]
    return story + [Paragraph(_esc(n), s.small) for n in notes if n]


def _table(rows: list[list[str]], s: _Styles, right: list[int]) -> Any:
    """A table of the pack, ``right``: the columns of figures."""
    return data_table(rows, s.width, s.font, 7.5, right=right, escape=_esc)


def _image(png: bytes, width: float) -> Any:
    from reportlab.platypus import Image

    img = Image(io.BytesIO(png))
    ratio = img.imageHeight / img.imageWidth
    img.drawWidth, img.drawHeight = width, width * ratio
    return img


def pdf_bytes(
    tables: dict[str, pd.DataFrame],
    sentences: list[weekly_summary.Sentence],
    names: dict[str, str],
    lang: str,
    week_label: str,
    area_name: str,
    now: datetime,
    db_label: str = "",
    created: datetime | None = None,
    tz: str | None = None,
) -> bytes:
    """The PDF pack (A4): title, summary, comparison table, charts, league
    table with movers, new hot spots, red items still open. ``now``: the
    time the data were read as of; ``created``: when the file is made
    (default: the clock in ``tz``, else the machine's), its creation date
    and the printed "made" time; ``db_label``: the database (a URL is
    printed as its kind and name only, :func:`reports.labels.source_text`)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer

    tr = tr_for(lang)
    s = _styles()
    created = created or local_now(tz)
    read = tables["weeks_read"].set_index("period")
    this = read.loc["this"]
    story: list[Any] = [
        Paragraph(_esc(tr("weekly.pdf_title")), s.h1),
        Paragraph(_esc(tr("weekly.heading", area=area_name, week=week_label)), s.base),
        Paragraph(
            _esc(f"{this['monday']} — {this['sunday']} · ")
            + _esc(tr("weekly.as_of", last_year=str(read.loc["last_year", "week"]))),
            s.small,
        ),
        Paragraph(
            _esc(
                tr(
                    "export.pdf.generated",
                    created=created.strftime("%Y-%m-%d %H:%M"),
                    now=now.strftime("%Y-%m-%d %H:%M"),
                    source=source_text(db_label, tr) or "—",
                )
            ),
            s.small,
        ),
        Paragraph(_esc(tr("weekly.summary_title")), s.h2),
    ]
    # Numbered, not bulleted: "see point 3" works in a meeting.
    story += [Paragraph(f"{i}. " + _esc(x.text), s.base) for i, x in enumerate(sentences, 1)]

    story += _section(tr("weekly.comparison_title"), s, tr("weekly.sig_legend"))
    story.append(_table(_comparison_rows(tables, names, tr), s, [1, 2, 3, 5, 6, 7]))
    story.append(Spacer(1, 4 * mm))
    story.append(KeepTogether([_image(chart_trend(tables, tr), s.width * 0.9)]))
    story.append(KeepTogether([_image(chart_categories(tables, names, tr), s.width * 0.9)]))

    streets = tables["streets"]
    shown, half = league_rows(streets)
    cut = ""
    if half:
        cut = tr(
            "export.pdf.streets_cut",
            total=len(streets),
            top=half,
            bottom=half,
            shown=len(shown),
            sheet=tr("export.sheet.streets"),
        )
    milestone = names.get(weekly_compare.HEADLINE_MILESTONE, "")
    story += _section(
        tr("weekly.streets_title", milestone=milestone),
        s,
        tr("weekly.movers_note", n=weekly_compare.MOVER_MIN_JUDGED),
        cut,
    )
    story.append(_table(_league_rows(shown, names, tr), s, [0, 2, 3, 5, 6, 7, 8, 9, 10]))
    if not streets.dropna(subset=["rank"]).empty:
        story.append(Spacer(1, 3 * mm))
        story.append(KeepTogether([_image(chart_streets(tables, names, tr), s.width * 0.9)]))

    hot = tables["hotspots_new"]
    story += _section(tr("weekly.hotspots_title"), s)
    if hot.empty:
        story.append(Paragraph(_esc(tr("weekly.hotspots_none")), s.base))
    else:
        story.append(_table(_hotspot_rows(hot, names, tr), s, [2]))

    red = tables["red_open"]
    note = ""
    if len(red) > PDF_RED_ROWS:
        key = "red_first_capped" if len(red) >= RED_OPEN_LIMIT else "red_first"
        note = tr(f"export.pdf.{key}", n=len(red), shown=PDF_RED_ROWS, sheet=tr("export.sheet.red"))
    story += _section(tr("weekly.red_title"), s, note)
    if red.empty:
        story.append(Paragraph(_esc(tr("weekly.red_none")), s.base))
    else:
        story.append(_table(_red_rows(red.head(PDF_RED_ROWS), names, tr), s, [5, 6]))

    def page(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(s.font, 7.5)
        canvas.drawRightString(
            A4[0] - 15 * mm, 8 * mm, f"{week_label} · " + tr("weekly.pdf_page", page=doc.page)
        )
        canvas.restoreState()

    def first_page(canvas: Any, doc: Any) -> None:
        canvas.setDateFormatter(lambda *_: _pdf_date(created))
        page(canvas, doc)

    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=14 * mm,
        bottomMargin=14 * mm,
        title=f"{tr('weekly.pdf_title')} {week_label}",
        subject=tr("weekly.heading", area=area_name, week=week_label),
        author="district-situational-awareness",
        creator="district-situational-awareness (reports.weekly)",
        lang="zh-CN" if lang == "zh" else "en",
        initialFontName=s.font,
        initialFontSize=9.5,
    )
    doc.build(story, onFirstPage=first_page, onLaterPages=page)
    return buf.getvalue()


#: The PDF tables' columns (``weekly.col.<name>`` or a full catalogue key).
COMPARISON_HEAD = (
    "metric",
    "this_week",
    "last_week",
    "change",
    "mark",
    "last_year",
    "change_last_year",
    "mean_4",
)
LEAGUE_HEAD = (
    "rank",
    "street",
    "cases",
    "cases_last",
    "mark",
    "closure_rate",
    "backlog",
    "judged",
    "ontime",
    "ontime_last",
    "red",
    "mover",
)
RED_HEAD = (
    "domain",
    "id",
    "street",
    "grid",
    "since",
    "age_days",
    "overdue_days",
    "export.col.reason",
)


def _head(tr: Any, *columns: str) -> list[str]:
    """A table's header: ``weekly.col.<column>`` (or a full catalogue key)."""
    return [tr(c if "." in c else f"weekly.col.{c}") for c in columns]


def _comparison_rows(
    tables: dict[str, pd.DataFrame], names: dict[str, str], tr: Any
) -> list[list[str]]:
    rows = [_head(tr, *COMPARISON_HEAD)]
    for rec in records(tables["comparison"]):
        rows.append(
            [
                metric_label(rec.section, rec.metric, rec.code, names, tr),
                value_text(rec.this_week, rec.kind, grouped=True),
                value_text(rec.last_week, rec.kind, grouped=True),
                value_text(rec.change, rec.kind, change=True, grouped=True),
                mark_text(rec.z, rec.significant, tr),
                value_text(rec.last_year, rec.kind, grouped=True),
                value_text(rec.change_last_year, rec.kind, change=True, grouped=True),
                value_text(rec.mean_4_weeks_before, rec.kind, grouped=True),
            ]
        )
    return rows


def _league_rows(shown: pd.DataFrame, names: dict[str, str], tr: Any) -> list[list[str]]:
    rows = [_head(tr, *LEAGUE_HEAD)]
    for rec in records(shown):
        rows.append(
            [
                "—" if pd.isna(rec.rank) else str(int(rec.rank)),
                names.get(rec.street_code, rec.street_code),
                figure_text(rec.cases, "int", grouped=True),
                figure_text(rec.cases_last_week, "int", grouped=True),
                mark_text(rec.z, rec.significant, tr),
                weekly_summary.format_figure(rec.closure_rate, "pct"),
                figure_text(rec.backlog_at_end, "int", grouped=True),
                figure_text(rec.judged, "int", grouped=True),
                weekly_summary.format_figure(rec.ontime_share, "pct"),
                weekly_summary.format_figure(rec.ontime_share_last_week, "pct"),
                figure_text(rec.red_at_end, "int", grouped=True),
                mover_text(rec.mover, tr),
            ]
        )
    return rows


def _hotspot_rows(hot: pd.DataFrame, names: dict[str, str], tr: Any) -> list[list[str]]:
    rows = [_head(tr, "category", "street", "cases", "first_at", "last_at")]
    for rec in records(hot):
        rows.append(
            [
                names.get(rec.category, rec.category),
                names.get(rec.street_code, rec.street_code),
                figure_text(rec.cases, "int", grouped=True),
                _ts(rec.first_at),
                _ts(rec.last_at),
            ]
        )
    return rows


def _red_rows(red: pd.DataFrame, names: dict[str, str], tr: Any) -> list[list[str]]:
    rows = [_head(tr, *RED_HEAD)]
    for rec in records(red):
        rows.append(
            [
                names.get(rec.domain, rec.domain),
                str(rec.id),
                names.get(rec.street_code, rec.street_code),
                str(rec.grid_name) if isinstance(rec.grid_name, str) else str(rec.grid_code),
                _ts(rec.since),
                figure_text(_num(rec.age_days), "int", grouped=True),
                figure_text(_num(rec.overdue_days), "int", grouped=True),
                reason_words(rec, names, tr),
            ]
        )
    return rows


def _pdf_date(when: datetime) -> str:
    """A PDF date string (``D:YYYYMMDDHHmmSS+hh'mm'``) of an aware datetime."""
    offset = when.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    hh, mm_ = divmod(abs(minutes), 60)
    return when.strftime("D:%Y%m%d%H%M%S") + f"{sign}{hh:02d}'{mm_:02d}'"


def _esc(text: Any) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _num(value: Any) -> float:
    return math.nan if value is None or pd.isna(value) else float(value)


def _ts(value: Any) -> str:
    if value is None or pd.isna(value):
        return "—"
    return pd.Timestamp(value).strftime("%Y-%m-%d")
