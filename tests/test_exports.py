"""Exports and the weekly pack are for people: localised headings with the
codes in columns of their own, rounded and formatted values, sized
columns, frozen headers; the PDF embeds its CJK font, paginates its tables
with the header repeated, never breaks a word, says when it lists part of
a list, and carries its real creation date."""

from __future__ import annotations

import io
import re
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from data_access.config import load_site_config
from data_access.filters import AreaFilter
from i18n import translate
from metrics import exports, weekly, weekly_summary
from metrics import throughput as tp
from metrics.warning_rules import load_warning_rules
from reports import fonts, pdf_tables, workbook
from reports import weekly as pack
from tests.conftest import FIXTURE_END, ROOT

NOW = FIXTURE_END
CFG = load_site_config()
WEEK = "2026-W46"
GONGSHU = AreaFilter(start=NOW.date() - timedelta(days=13), end=NOW.date(), district="330105")
MADE = datetime(2026, 11, 21, 9, 30).astimezone()


@pytest.fixture(scope="module")
def review(sqlite_demo):
    """The reviewed week for Gongshu, its display names (zh, en) and the
    street throughput table, from the SQLite fixture."""
    from data_access import geography

    rules = load_warning_rules()
    with sqlite_demo.engine.connect() as conn:
        tables = weekly.review_tables(conn, GONGSHU, NOW, CFG, WEEK, rules)
        districts, streets = geography.districts(conn), geography.streets(conn)
        throughput = tp.case_throughput(conn, GONGSHU, NOW, CFG)
    names = {
        lang: pack.display_names(districts, streets, CFG, rules, lang) for lang in ("zh", "en")
    }
    return tables, names, throughput


def _sentences(tables, names, lang):
    return weekly_summary.summary(tables, pack.tr_for(lang), names[lang])


def _header(ws) -> tuple[int, list[str]]:
    """The header row of a sheet for people (the row its panes freeze below)."""
    row = int(re.sub(r"[A-Z]+", "", ws.freeze_panes)) - 1
    return row, [c.value for c in ws[row]]


# --- the throughput export --------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_throughput_export_speaks_the_users_language(review, lang):
    _, names, table = review
    street_names = {c: names[lang][c] for c in table["street_code"]}
    sheets = tp.export_sheets(
        table, street_names, lang, area="拱墅区", period=(GONGSHU.start, GONGSHU.end), as_of=NOW
    )
    xlsx = load_workbook(io.BytesIO(tp.excel_bytes(sheets)))
    assert xlsx.sheetnames == ["streets", translate("export.about.sheet", lang), "raw"]
    ws = xlsx["streets"]
    assert ws.freeze_panes == "C2" and ws.auto_filter.ref.startswith("A1:")
    head = [c.value for c in ws[1]]
    milestone = translate("milestone.arrived", lang)
    share = translate("export.tp.on_time_share", lang, milestone=milestone)
    p90 = translate("export.tp.p90_min", lang, milestone=milestone)
    assert head[:3] == [
        translate("export.tp.name_street", lang),
        translate("export.tp.code_street", lang),
        translate("export.tp.cases", lang),
    ]
    assert share in head and p90 in head and len(set(head)) == len(head)
    assert not [h for h in head if re.fullmatch(r"[a-z_0-9]+", h)], "an identifier as a heading"
    col = {h: i for i, h in enumerate(head)}
    for r, rec in enumerate(table.itertuples(), start=2):
        row = ws[r]
        assert row[0].value == street_names[rec.street_code]  # the name, then the code
        assert row[1].value == rec.street_code and row[1].number_format == "@"
        assert row[col[head[2]]].value == rec.cases and row[2].number_format == "#,##0"
        cell = row[col[share]]
        if pd.isna(rec.arrived_on_time_share):
            assert cell.value is None
        else:
            assert cell.value == round(rec.arrived_on_time_share, 3)
            assert cell.number_format == "0.0%"
        cell = row[col[p90]]
        if not pd.isna(rec.arrived_p90_min):
            assert cell.value == round(rec.arrived_p90_min, 1) and cell.number_format == "#,##0.0"
    assert any(round(v, 1) != v for v in table["arrived_p90_min"].dropna()), "nothing to round"
    for j, h in enumerate(head):  # every column at least as wide as its heading (within bounds)
        width = ws.column_dimensions[ws.cell(row=1, column=j + 1).column_letter].width
        assert width >= min(exports.MAX_WIDTH, exports.text_width(h)), h

    # The raw sheet keeps the stable English names and full precision.
    raw = pd.read_excel(io.BytesIO(tp.excel_bytes(sheets)), sheet_name="raw", dtype={0: str})
    assert list(raw.columns) == list(tp.export_frame(table, street_names).columns)
    pd.testing.assert_series_equal(
        raw["arrived_p90_min"], table["arrived_p90_min"], check_names=False, rtol=1e-12
    )

    # The CSV: UTF-8 with BOM, the sheet's headings, shares as percents Excel reads.
    csv = tp.export_csv(sheets)
    assert csv.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(io.BytesIO(csv), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(back.columns) == head and len(back) == len(table)
    first = table.iloc[0]
    assert back[share].iloc[0] == exports.shown(first["arrived_on_time_share"], "share")
    assert re.fullmatch(r"\d+\.\d%", back[share].iloc[0])

    about = list(xlsx[translate("export.about.sheet", lang)].iter_rows(values_only=True))
    period = translate("export.about.period_text", lang, start=GONGSHU.start, end=GONGSHU.end)
    assert (translate("export.about.period", lang), period) in about
    assert any(translate("export.about.raw", lang) == r[0] for r in about)


# --- the weekly workbook ----------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_weekly_workbook_is_for_people_then_for_scripts(review, lang):
    tables, names, _ = review
    data = pack.excel_bytes(
        tables, _sentences(tables, names, lang), names[lang], lang, "拱墅区", NOW, MADE
    )
    wb = load_workbook(io.BytesIO(data))
    people = [translate(f"export.sheet.{k}", lang) for k in workbook.PEOPLE_SHEETS]
    raw = ["summary", *weekly.TABLE_COLUMNS, "names"]
    assert wb.sheetnames == people + raw
    assert wb.active.title == people[0]
    for name in people:
        ws = wb[name]
        assert ws.freeze_panes and ws.auto_filter.ref, name
        assert WEEK in ws["A1"].value and MADE.strftime("%Y-%m-%d %H:%M") in ws["A2"].value
        row, head = _header(ws)
        assert not [h for h in head if re.fullmatch(r"[a-z_0-9]+", str(h))], (name, head)
        for j, h in enumerate(head):
            width = ws.column_dimensions[ws.cell(row=row, column=j + 1).column_letter].width
            assert width >= min(exports.MAX_WIDTH, exports.text_width(str(h))), (name, h)
    for name in raw:
        assert wb[name].sheet_properties.tabColor.rgb.endswith(exports.RAW_TAB)

    c = lambda key: translate(f"export.col.{key}", lang)  # noqa: E731
    ws = wb[translate("export.sheet.comparison", lang)]
    row, head = _header(ws)
    col = {h: i for i, h in enumerate(head)}
    cmp_ = tables["comparison"]
    assert ws.max_row - row == len(cmp_)
    for r, rec in enumerate(cmp_.itertuples(), start=row + 1):
        cells = ws[r]
        assert cells[col[c("metric_code")]].value == rec.metric
        assert (cells[col[c("code")]].value or "") == rec.code
        z = cells[col[c("z")]]
        if not pd.isna(rec.z):
            assert z.value == round(rec.z, 2) and z.number_format == "+0.00;-0.00;0.00"
        this = cells[col[c("this_week")]]
        if pd.isna(rec.this_week):
            assert this.value is None
        elif rec.kind == "share":
            assert this.value == round(rec.this_week, 3) and this.number_format == "0.0%"
        else:
            assert this.value == int(rec.this_week) and this.number_format == "#,##0"
            assert isinstance(this.value, int)
    assert any(round(z, 2) != z for z in cmp_["z"].dropna()), "no z to round"

    ws = wb[translate("export.sheet.streets", lang)]
    row, head = _header(ws)
    col = {h: i for i, h in enumerate(head)}
    assert head[: col[c("street_code")] + 1][-2:] == [c("street"), c("street_code")]
    league = tables["streets"]
    for r, rec in enumerate(league.itertuples(), start=row + 1):
        cells = ws[r]
        assert cells[col[c("street")]].value == names[lang][rec.street_code]
        assert cells[col[c("street_code")]].value == rec.street_code
        if not pd.isna(rec.ontime_share):
            assert cells[col[c("ontime")]].value == round(rec.ontime_share, 3)

    ws = wb[translate("export.sheet.red", lang)]
    row, head = _header(ws)
    assert ws.max_row - row == len(tables["red_open"])
    col = {h: i for i, h in enumerate(head)}
    for r, rec in enumerate(tables["red_open"].head(20).itertuples(), start=row + 1):
        cells = ws[r]
        assert cells[col[c("domain")]].value == names[lang].get(rec.domain, rec.domain)
        assert cells[col[c("domain_code")]].value == rec.domain
        assert cells[col[c("reason")]].value and cells[col[c("reason_codes")]].value == rec.reasons

    # The machine-readable sheets keep full precision.
    z = pd.read_excel(io.BytesIO(data), sheet_name="comparison")["z"]
    pd.testing.assert_series_equal(z, cmp_["z"].astype(float), check_names=False, rtol=1e-12)


# --- the PDF -------------------------------------------------------------------------------


def _run(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def pdfs(review, tmp_path_factory):
    """The pack's PDF in both languages, made now, and its pages' text (the
    English one with blank charts: its tables are what is read)."""
    tables, names, _ = review
    out = {}
    folder = tmp_path_factory.mktemp("pdf")
    for lang in ("zh", "en"):
        path = folder / f"{lang}.pdf"
        sentences = _sentences(tables, names, lang)
        with pytest.MonkeyPatch.context() as mp:
            if lang == "en":
                for chart in ("chart_trend", "chart_categories", "chart_streets"):
                    mp.setattr(pack, chart, lambda *_: _blank_png())
            data = pack.pdf_bytes(
                tables,
                sentences,
                names[lang],
                lang,
                WEEK,
                names[lang]["330105"],
                NOW,
                "sqlite:////srv/ops/secret-path/ops.sqlite",
                tz=CFG.timezone,
            )
        path.write_bytes(data)
        out[lang] = (path, _run("pdftotext", "-layout", str(path), "-").split("\f"))
    return out


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_pdf_embeds_its_cjk_font_and_reads_back(pdfs, review, lang):
    path, pages = pdfs[lang]
    names = review[1]
    rows = _run("pdffonts", str(path)).splitlines()[2:]
    assert rows, "no font in the PDF"
    for row in rows:
        name, emb = row.split()[0], row.split()[-5]
        assert emb == "yes", f"{name} is not embedded:\n" + "\n".join(rows)
    assert any(re.fullmatch(r"[A-Z]{6}\+" + fonts.PDF_FONT, r.split()[0]) for r in rows), rows
    text = "\f".join(pages)
    assert translate("weekly.pdf_title", lang) in pages[0]
    area = names[lang]["330105"]
    assert translate("weekly.heading", lang, area=area, week=WEEK) in pages[0]
    assert "secret-path" not in text and "sqlite://" not in text  # the source's name, not its path
    assert "SQLite · ops" in text


def test_pdf_creation_date_is_the_real_clock(pdfs):
    path, pages = pdfs["zh"]
    info = dict(line.split(":", 1) for line in _run("pdfinfo", "-isodates", str(path)).splitlines())
    created = datetime.fromisoformat(info["CreationDate"].strip().replace("Z", "+00:00"))
    assert abs(datetime.now().astimezone() - created) < timedelta(minutes=5)
    assert created.year != 2000
    printed = created.astimezone(pack.local_now(CFG.timezone).tzinfo).strftime("%Y-%m-%d %H:%M")
    assert f"生成于 {printed}" in pages[0]
    assert NOW.strftime("%Y-%m-%d %H:%M") in pages[0]  # and the time the data were read as of


def test_pdf_figures_have_thousands_separators(pdfs, review):
    tables, _, _ = review
    text = "\f".join(pdfs["zh"][1])
    cmp_ = tables["comparison"]
    big = cmp_[(cmp_["kind"] != "share") & (cmp_["this_week"] >= 1000)]
    assert len(big), "the fixture has no figure over 1,000"
    for value in big["this_week"]:
        assert f"{int(value):,d}" in text


def test_pdf_headers_and_cells_never_break_a_word(pdfs):
    """Every heading word of the English tables stands whole in the text
    ("Rank" printed as "Ran / k", "Significance" as "Significanc / e")."""
    text = "\f".join(pdfs["en"][1])
    words = set()
    for key in ("rank", "cases_last", "mark", "closure_rate", "backlog", "judged", "red", "mover"):
        words |= set(re.findall(r"[A-Za-z]{3,}", translate(f"weekly.col.{key}", "en")))
    words |= {"significant", "improved", "slipped", "Petitions"}
    for word in sorted(words):
        assert re.search(rf"\b{word}\b", text), word


def test_line_breaking_keeps_words_numbers_and_punctuation():
    def measure(s: str) -> float:
        return float(exports.text_width(s))  # two units a Chinese character

    lines = pdf_tables.break_lines("▲ significant rise (+12,345)", 14, measure)
    assert lines == ["▲ significant", "rise (+12,345)"]
    assert pdf_tables.break_lines("12,345 cases", 8, measure) == ["12,345", "cases"]
    lines = pdf_tables.break_lines("本周受理事件，上周（共计）件数", 8, measure)
    assert all(line[0] not in pdf_tables.NO_START for line in lines), lines
    assert all(line[-1] not in pdf_tables.NO_END for line in lines), lines
    assert "".join(lines) == "本周受理事件，上周（共计）件数"
    rows = [["Significance", "Rank"], ["not significant (+0.5)", "12"]]
    widths = pdf_tables.fit_widths(rows, 30, measure)  # too narrow for every cell on a line
    assert widths[0] >= measure("Significance") + 2 * pdf_tables.PAD
    assert widths[1] >= measure("Rank") + 2 * pdf_tables.PAD  # the short column whole
    assert sum(widths) == pytest.approx(30)
    wide = pdf_tables.fit_widths(rows, 400, measure)
    assert wide[0] >= measure("not significant (+0.5)") + 2 * pdf_tables.PAD


def _blank_png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 10), "white").save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("shown", [pack.PDF_RED_ROWS, 10_000])
def test_a_long_red_list_paginates_or_says_first_n_of_m(review, monkeypatch, tmp_path, shown):
    """The red list runs over pages with its header repeated and never
    leaves a page with fewer than three of its rows; a list cut to the
    first N says "first N of M"."""
    tables, names, _ = review
    # The fixture's red items four times over, each copy with ids of its own.
    red = tables["red_open"]
    assert len(red) >= 10
    red = pd.concat([red.assign(id=red["id"] + f"-{k}") for k in range(4)], ignore_index=True)
    assert len(red) > pack.PDF_RED_ROWS
    tables = {**tables, "red_open": red}
    monkeypatch.setattr(pack, "PDF_RED_ROWS", shown)
    for chart in ("chart_trend", "chart_categories", "chart_streets"):  # not what is tested here
        monkeypatch.setattr(pack, chart, lambda *_: _blank_png())
    sentences = _sentences(tables, names, "zh")
    path = tmp_path / "red.pdf"
    path.write_bytes(pack.pdf_bytes(tables, sentences, names["zh"], "zh", WEEK, "拱墅区", NOW))
    pages = _run("pdftotext", "-layout", str(path), "-").split("\f")
    ids = set(red["id"])
    per_page = [[w for w in page.split() if w in ids] for page in pages]
    listed = sum(len(p) for p in per_page)
    assert listed == min(shown, len(red))
    head = translate("weekly.col.overdue_days", "zh")
    with_rows = [i for i, p in enumerate(per_page) if p]
    assert len(with_rows) >= (2 if shown > pack.PDF_RED_ROWS else 1)
    for i in with_rows:
        assert head in pages[i], f"page {i + 1} has red rows but no header"
        assert len(per_page[i]) >= pdf_tables.KEEP_ROWS, f"page {i + 1}: {per_page[i]}"
    cut = "此处列出前" in "".join(pages)
    assert cut == (shown < len(red))


# --- the font --------------------------------------------------------------------------------


def test_charts_draw_chinese_with_the_shipped_face(review):
    import warnings

    tables, names, _ = review
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = pack.chart_streets(tables, names["zh"], pack.tr_for("zh"))
    assert png.startswith(b"\x89PNG")
    assert not [str(w.message) for w in caught if "missing from" in str(w.message)]
    assert pack._matplotlib().rcParams["font.family"][0] == fonts.chart_font()
    assert fonts.chart_font() == "WenQuanYi Micro Hei"


def test_the_shipped_font_draws_every_name_and_string():
    """Every character of the catalogue, the site configurations, the street
    list and the demo's names is in the font (else: rerun
    tools/make_cjk_font.py); TrueType outlines (reportlab embeds those), a
    few MB at most, its source and licence recorded."""
    from fontTools.ttLib import TTFont

    text = ""
    for pattern in ("assets/i18n/*.toml", "config/**/*.toml", "assets/geo/streets.csv"):
        for path in sorted(ROOT.glob(pattern)):
            text += path.read_text(encoding="utf-8")
    missing = fonts.missing(text)
    assert not missing, (
        f"not in {fonts.FONT_PATH.name}: {sorted(missing)}; run tools/make_cjk_font.py"
    )
    with TTFont(str(fonts.FONT_PATH), lazy=True) as font:
        assert "glyf" in font and "CFF " not in font
        assert font["OS/2"].fsType & 0x2 == 0  # embedding not restricted
    assert fonts.FONT_PATH.stat().st_size < 3_000_000
    sources = (ROOT / "assets" / "fonts" / "SOURCES.md").read_text(encoding="utf-8")
    assert "fonts-wqy-microhei" in sources and "Apache" in sources
    assert (ROOT / "assets" / "fonts" / "LICENSE-Apache-2.0.txt").exists()
    assert Path(ROOT / "tools" / "make_cjk_font.py").exists()
