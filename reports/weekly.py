"""The weekly review pack: a PDF to hand out and an Excel workbook, from
:func:`metrics.weekly.review_tables`.

The same function serves the page's download buttons and the scheduled
command (``python -m reports weekly``), so both produce the same files.

PDF: reportlab (pure Python, no browser). Text is set in reportlab's
built-in CID font ``STSong-Light`` (Adobe-GB1): nothing to download or
embed, the text stays extractable (pdftotext, search, copy), and readers
draw it with their own Song/Sim typeface (every Chinese Windows, macOS and
Linux with Noto CJK has one). Charts are PNG images drawn by matplotlib with
the system's Noto Sans CJK (``fonts-noto-cjk``); without it the chart labels
fall back to DejaVu. Nothing is fetched from the network.

Excel: one sheet per table of ``metrics.weekly_model.TABLE_COLUMNS`` with those
stable English column names, plus ``summary`` (one sentence per row) and
``names`` (code -> display name).
"""

from __future__ import annotations

import glob
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection

from data_access import geography
from data_access.config import SiteConfig
from data_access.filters import AreaFilter
from data_access.schema import MILESTONES
from metrics import weekly, weekly_compare, weekly_summary
from metrics.warning_rules import WarningRules
from metrics.weekly_model import records

#: Most rows of the league table and the red list printed in the PDF (the
#: workbook has them all).
PDF_STREET_ROWS = 30
PDF_RED_ROWS = 25
CJK_FONT = "STSong-Light"


def _translate() -> Callable[..., str]:
    from i18n import translate

    return translate


def tr_for(lang: str) -> Callable[..., str]:
    """``tr(key, **fmt)`` in ``lang``."""
    translate = _translate()

    def tr(key: str, **kwargs: Any) -> str:
        return translate(key, lang, **kwargs)

    return tr


def display_names(
    districts: pd.DataFrame,
    streets: pd.DataFrame,
    cfg: SiteConfig,
    rules: WarningRules | None,
    lang: str,
) -> dict[str, str]:
    """Code -> display name for districts and streets (frames of
    :mod:`data_access.geography`), categories, sources, milestones and
    warning domains, in ``lang``."""
    tr = tr_for(lang)
    names: dict[str, str] = {}
    for frame in (districts, streets):
        for rec in records(frame):
            en = rec.name_en if isinstance(rec.name_en, str) and rec.name_en else rec.name_zh
            names[str(rec.code)] = en if lang == "en" else rec.name_zh
    for code, zh, en in (*cfg.categories, *cfg.sources):
        names[code] = en if lang == "en" else zh
    for m in MILESTONES:
        names[m] = tr(f"milestone.{m}")
    names["petition"] = tr("warnings.domain_petition")
    names["housing"] = tr("warnings.domain_housing")
    if rules is not None:
        for d in rules.warning_domains:
            names[d.code] = d.name_en if lang == "en" else d.name_zh
    return names


def metric_label(section: str, metric: str, code: str, names: dict[str, str], tr: Any) -> str:
    """The label of a comparison row (e.g. "类别：违停", "到场按时率", "信访件 · 红")."""
    del section
    name = names.get(code, code)
    if metric in ("category", "source", "ontime_share", "red", "yellow", "green"):
        return str(tr(f"weekly.metric.{metric}", name=name))
    return str(tr(f"weekly.metric.{metric}"))


def value_text(value: Any, kind: str, change: bool = False) -> str:
    """A comparison cell as printed: counts as integers, shares as percents,
    share changes in signed percentage points."""
    if kind == "share":
        return weekly_summary.format_figure(value, "pp" if change else "pct")
    return weekly_summary.format_figure(value, "signed" if change else "int")


def mark_text(z: Any, is_significant: bool, tr: Any) -> str:
    """Icon + label of a significance mark (never colour alone)."""
    if z is None or (isinstance(z, float) and math.isnan(z)):
        return ""
    z_text = weekly_summary.format_figure(z, "z")
    if not is_significant:
        return f"{tr('weekly.sig_none')} ({z_text})"
    icon, key = ("▲", "weekly.sig_up") if z > 0 else ("▼", "weekly.sig_down")
    return f"{icon} {tr(key)} ({z_text})"


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
) -> tuple[bytes, bytes]:
    """``(pdf, xlsx)`` of computed review tables (the page calls this on click)."""
    sentences = weekly_summary.summary(tables, tr_for(lang), names)
    xlsx = excel_bytes(tables, sentences, names)
    pdf = pdf_bytes(tables, sentences, names, lang, week_label, area_name, now, db_label)
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
    """Compute the review and render both files (the command)."""
    import time

    t0 = time.perf_counter()
    tables, names = review(conn, f, now, cfg, week_label, rules, lang)
    area_name = area_label(f, names, cfg, lang)
    pdf, xlsx = render_pack(tables, names, lang, week_label, area_name, now, db_label)
    sentences = weekly_summary.summary(tables, tr_for(lang), names)
    return Pack(week_label, tables, sentences, names, pdf, xlsx, time.perf_counter() - t0)


def area_label(f: AreaFilter, names: dict[str, str], cfg: SiteConfig, lang: str) -> str:
    if f.streets:
        return ", ".join(names.get(s, s) for s in f.streets)
    if f.district:
        return names.get(f.district, f.district)
    return cfg.name_en if lang == "en" else cfg.name_zh


# ---------------------------------------------------------------------------
# Excel


def excel_bytes(
    tables: dict[str, pd.DataFrame], sentences: list[weekly_summary.Sentence], names: dict[str, str]
) -> bytes:
    """The workbook: ``summary``, then one sheet per review table (stable
    English column names, see ``weekly_model.TABLE_COLUMNS``), then ``names``."""
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xl:
        pd.DataFrame({"sentence": [s.text for s in sentences]}).to_excel(
            xl, sheet_name="summary", index=False
        )
        for name, frame in tables.items():
            out = frame.copy()
            for col in out.columns:
                if isinstance(out[col].dtype, pd.Int64Dtype):
                    out[col] = out[col].astype(object).where(out[col].notna(), None)
            out.to_excel(xl, sheet_name=name[:31], index=False)
        pd.DataFrame(sorted(names.items()), columns=["code", "name"]).to_excel(
            xl, sheet_name="names", index=False
        )
    return buf.getvalue()


# ---------------------------------------------------------------------------
# Charts (matplotlib, PNG)


def _matplotlib() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    if not getattr(_matplotlib, "_fonts", False):
        for pattern in (
            "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
            "/usr/share/fonts/**/NotoSansCJK*Regular*",
            "/usr/share/fonts/**/NotoSansSC*",
        ):
            for path in glob.glob(pattern, recursive=True):
                try:
                    font_manager.fontManager.addfont(path)
                except Exception:  # an unreadable font file: skip it
                    continue
        known = {f.name for f in font_manager.fontManager.ttflist}
        wanted = ["Noto Sans CJK SC", "Noto Sans SC", "DejaVu Sans"]
        plt.rcParams["font.family"] = [f for f in wanted if f in known] or ["sans-serif"]
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
    """Cases per week for the five weeks read (bars, labelled "—" without data)."""
    plt = _matplotlib()
    weeks, heights = trend_values(tables)
    labels = [weekly_summary.format_figure(v, "int") for v in weekly.case_trend(tables)["cases"]]
    fig, ax = plt.subplots(figsize=(7.0, 2.6))
    colours = ["#90A4AE"] * (len(weeks) - 1) + ["#1565C0"]
    ax.bar(range(len(weeks)), heights, color=colours)
    ax.set_xticks(range(len(weeks)), weeks)
    for i, (height, label) in enumerate(zip(heights, labels, strict=True)):
        ax.text(i, height, label, ha="center", va="bottom")
    ax.set_title(tr("weekly.trend_title") + " · " + tr("weekly.metric.cases"))
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def chart_categories(tables: dict[str, pd.DataFrame], names: dict[str, str], tr: Any) -> bytes:
    """Cases per category, this week against last week (horizontal bars)."""
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
    ax.legend(loc="lower right", frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def chart_streets(tables: dict[str, pd.DataFrame], names: dict[str, str], tr: Any) -> bytes:
    """On-time share of the headline milestone per ranked street (this week
    bar, last week dot)."""
    plt = _matplotlib()
    st = tables["streets"].dropna(subset=["rank"]).head(PDF_STREET_ROWS).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7.0, 0.22 * len(st) + 1.0))
    y = list(range(len(st)))
    ax.barh(y, st["ontime_share"] * 100, color="#1565C0", height=0.6)
    ax.plot(
        st["ontime_share_last_week"] * 100,
        y,
        "o",
        color="#F9A825",
        markersize=4,
        label=tr("weekly.col.ontime_last"),
    )
    ax.set_yticks(y, [names.get(c, c) for c in st["street_code"]], fontsize=7)
    ax.set_xlim(min(50.0, float((st["ontime_share"].min() or 0.5) * 100) - 5), 100)
    ax.set_xlabel("%")
    ax.legend(loc="lower right", frameon=False, fontsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


# ---------------------------------------------------------------------------
# PDF


def pdf_bytes(
    tables: dict[str, pd.DataFrame],
    sentences: list[weekly_summary.Sentence],
    names: dict[str, str],
    lang: str,
    week_label: str,
    area_name: str,
    now: datetime,
    db_label: str = "",
) -> bytes:
    """The PDF pack (A4): title, summary, comparison table, charts, league
    table with movers, new hot spots, red items still open."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import (
        Image,
        KeepTogether,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    tr = tr_for(lang)
    base = ParagraphStyle("base", fontName=CJK_FONT, fontSize=9.5, leading=14, wordWrap="CJK")
    h1 = ParagraphStyle("h1", parent=base, fontSize=16, leading=22, spaceAfter=4)
    h2 = ParagraphStyle("h2", parent=base, fontSize=12, leading=17, spaceBefore=8, spaceAfter=4)
    small = ParagraphStyle("small", parent=base, fontSize=7.5, leading=10, textColor="#555555")
    cell = ParagraphStyle("cell", parent=base, fontSize=7.5, leading=9.5)

    def table(rows: list[list[str]], widths: list[float] | None = None) -> Table:
        data = [[Paragraph(_esc(c), cell) for c in r] for r in rows]
        t = Table(data, colWidths=widths, repeatRows=1)
        t.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E3EAF2")),
                    ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#B0BEC5")),
                    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                    ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
                ]
            )
        )
        return t

    def image(png: bytes, width: float) -> Image:
        img = Image(io.BytesIO(png))
        ratio = img.imageHeight / img.imageWidth
        img.drawWidth, img.drawHeight = width, width * ratio
        return img

    read = tables["weeks_read"].set_index("period")
    this = read.loc["this"]
    story: list[Any] = [
        Paragraph(_esc(tr("weekly.pdf_title")), h1),
        Paragraph(_esc(tr("weekly.heading", area=area_name, week=week_label)), base),
        Paragraph(
            _esc(f"{this['monday']} — {this['sunday']} · ")
            + _esc(tr("weekly.as_of", last_year=str(read.loc["last_year", "week"]))),
            small,
        ),
        Paragraph(
            _esc(tr("weekly.pdf_generated", ts=now.strftime("%Y-%m-%d %H:%M"), db=db_label)), small
        ),
        Paragraph(_esc(tr("weekly.summary_title")), h2),
    ]
    # Numbered, not bulleted: "see point 3" works in a meeting, and the CID
    # font has no bullet glyph.
    story += [Paragraph(f"{i}. " + _esc(s.text), base) for i, s in enumerate(sentences, 1)]

    story.append(Paragraph(_esc(tr("weekly.comparison_title")), h2))
    story.append(Paragraph(_esc(tr("weekly.sig_legend")), small))
    head = [
        tr("weekly.col.metric"),
        tr("weekly.col.this_week"),
        tr("weekly.col.last_week"),
        tr("weekly.col.change"),
        tr("weekly.col.mark"),
        tr("weekly.col.last_year"),
        tr("weekly.col.change_last_year"),
        tr("weekly.col.mean_4"),
    ]
    rows = [head]
    for rec in records(tables["comparison"]):
        rows.append(
            [
                metric_label(rec.section, rec.metric, rec.code, names, tr),
                value_text(rec.this_week, rec.kind),
                value_text(rec.last_week, rec.kind),
                value_text(rec.change, rec.kind, change=True),
                mark_text(rec.z, rec.significant, tr),
                value_text(rec.last_year, rec.kind),
                value_text(rec.change_last_year, rec.kind, change=True),
                value_text(rec.mean_4_weeks_before, rec.kind),
            ]
        )
    w = A4[0] - 30 * mm
    story.append(table(rows, [w * x for x in (0.28, 0.1, 0.1, 0.09, 0.17, 0.09, 0.08, 0.09)]))
    story.append(Spacer(1, 4 * mm))
    story.append(KeepTogether([image(chart_trend(tables, tr), w * 0.9)]))
    story.append(KeepTogether([image(chart_categories(tables, names, tr), w * 0.9)]))

    story.append(
        Paragraph(
            _esc(
                tr(
                    "weekly.streets_title",
                    milestone=names.get(weekly_compare.HEADLINE_MILESTONE, ""),
                )
            ),
            h2,
        )
    )
    story.append(
        Paragraph(_esc(tr("weekly.movers_note", n=weekly_compare.MOVER_MIN_JUDGED)), small)
    )
    streets = tables["streets"]
    head = [
        tr("weekly.col.rank"),
        tr("weekly.col.street"),
        tr("weekly.col.cases"),
        tr("weekly.col.cases_last"),
        tr("weekly.col.mark"),
        tr("weekly.col.closure_rate"),
        tr("weekly.col.backlog"),
        tr("weekly.col.judged"),
        tr("weekly.col.ontime"),
        tr("weekly.col.ontime_last"),
        tr("weekly.col.red"),
        tr("weekly.col.mover"),
    ]
    rows = [head]
    shown = pd.concat(
        [streets.head(PDF_STREET_ROWS), streets[streets["mover"] != ""]]
    ).drop_duplicates("street_code")
    for rec in records(shown):
        rows.append(
            [
                "—" if pd.isna(rec.rank) else str(int(rec.rank)),
                names.get(rec.street_code, rec.street_code),
                weekly_summary.format_figure(rec.cases, "int"),
                weekly_summary.format_figure(rec.cases_last_week, "int"),
                mark_text(rec.z, rec.significant, tr),
                weekly_summary.format_figure(rec.closure_rate, "pct"),
                weekly_summary.format_figure(rec.backlog_at_end, "int"),
                weekly_summary.format_figure(rec.judged, "int"),
                weekly_summary.format_figure(rec.ontime_share, "pct"),
                weekly_summary.format_figure(rec.ontime_share_last_week, "pct"),
                weekly_summary.format_figure(rec.red_at_end, "int"),
                (("▲ " if rec.mover == "improved" else "▼ ") + tr(f"weekly.mover_{rec.mover}"))
                if rec.mover
                else "",
            ]
        )
    story.append(
        table(
            rows,
            [
                w * x
                for x in (0.05, 0.14, 0.07, 0.07, 0.15, 0.08, 0.07, 0.07, 0.08, 0.08, 0.06, 0.08)
            ],
        )
    )
    if not streets.dropna(subset=["rank"]).empty:
        story.append(Spacer(1, 3 * mm))
        story.append(image(chart_streets(tables, names, tr), w * 0.9))

    story.append(Paragraph(_esc(tr("weekly.hotspots_title")), h2))
    hot = tables["hotspots_new"]
    if hot.empty:
        story.append(Paragraph(_esc(tr("weekly.hotspots_none")), base))
    else:
        rows = [
            [
                tr("weekly.col.category"),
                tr("weekly.col.street"),
                tr("weekly.col.cases"),
                tr("weekly.col.first_at"),
                tr("weekly.col.last_at"),
            ]
        ]
        for rec in records(hot):
            rows.append(
                [
                    names.get(rec.category, rec.category),
                    names.get(rec.street_code, rec.street_code),
                    weekly_summary.format_figure(rec.cases, "int"),
                    _ts(rec.first_at),
                    _ts(rec.last_at),
                ]
            )
        story.append(table(rows))

    story.append(Paragraph(_esc(tr("weekly.red_title")), h2))
    red = tables["red_open"]
    if red.empty:
        story.append(Paragraph(_esc(tr("weekly.red_none")), base))
    else:
        if len(red) > PDF_RED_ROWS:
            story.append(
                Paragraph(_esc(tr("weekly.red_more", n=len(red), shown=PDF_RED_ROWS)), small)
            )
        rows = [
            [
                tr("weekly.col.domain"),
                tr("weekly.col.id"),
                tr("weekly.col.street"),
                tr("weekly.col.grid"),
                tr("weekly.col.since"),
                tr("weekly.col.age_days"),
                tr("weekly.col.overdue_days"),
            ]
        ]
        for rec in records(red.head(PDF_RED_ROWS)):
            rows.append(
                [
                    names.get(rec.domain, rec.domain),
                    str(rec.id),
                    names.get(rec.street_code, rec.street_code),
                    str(rec.grid_name) if isinstance(rec.grid_name, str) else str(rec.grid_code),
                    _ts(rec.since),
                    weekly_summary.format_figure(_num(rec.age_days), "int"),
                    weekly_summary.format_figure(_num(rec.overdue_days), "int"),
                ]
            )
        story.append(table(rows))

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(CJK_FONT, 7.5)
        canvas.drawRightString(
            A4[0] - 15 * mm, 8 * mm, f"{week_label} - " + tr("weekly.pdf_page", page=doc.page)
        )
        canvas.restoreState()

    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=14 * mm,
        bottomMargin=14 * mm,
        title=f"{tr('weekly.pdf_title')} {week_label}",
        author="district-situational-awareness",
        invariant=1,
    )
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()


def _esc(text: Any) -> str:
    # STSong-Light (Adobe-GB1) has no U+00B7 middle dot: print a hyphen.
    text = str(text).replace("\u00b7", "-")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _num(value: Any) -> float:
    return math.nan if value is None or pd.isna(value) else float(value)


def _ts(value: Any) -> str:
    if value is None or pd.isna(value):
        return "—"
    return pd.Timestamp(value).strftime("%Y-%m-%d")
