"""Reading an export: CSV in UTF-8 (with or without BOM) or GB18030/GBK, or Excel.

Every cell comes back as it is in the file (CSV: text; Excel: text,
numbers, dates), under the mapping's spelling of its header: headers are
matched by name, ignoring case, surrounding and repeated whitespace and a
byte-order mark. A required column that is missing stops the file with a
message naming it.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from importer.mapping import ImportMapping

EXCEL_SUFFIXES = (".xlsx", ".xlsm")
#: Encodings tried, in order, when the mapping says ``auto``. GB18030 is a
#: superset of GBK and GB2312; UTF-8 is tried first since GB18030 decodes
#: almost any byte string.
AUTO_ENCODINGS = ("utf-8", "gb18030")
_DELIMITERS = (",", "\t", ";", "|")


class ReadError(ValueError):
    """A file that cannot be read as the mapping expects; the message names the file."""


@dataclass(frozen=True)
class RawExport:
    """One export as read: ``frame`` (one row per data row, columns under
    the mapping's names, cells as in the file, ``""`` for empty CSV cells),
    ``rows`` (the spreadsheet row number of each data row: the header is row
    1), ``encoding`` (``excel`` for workbooks), ``sha256`` of the file's bytes."""

    name: str
    frame: pd.DataFrame
    rows: list[int]
    encoding: str
    sha256: str


def header_key(name: object) -> str:
    """A header as compared: no BOM, trimmed, inner whitespace collapsed, case-folded."""
    return re.sub(r"\s+", " ", str(name).replace("\ufeff", "")).strip().casefold()


def decode(data: bytes, name: str, encoding: str = "auto") -> tuple[str, str]:
    """The file's text and the encoding it was read with (``utf-8-sig`` when it had a BOM)."""
    if encoding != "auto":
        try:
            return data.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as exc:
            raise ReadError(f"{name}: not readable as {encoding} ({exc})") from exc
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    for candidate in AUTO_ENCODINGS:
        try:
            return data.decode(candidate), candidate
        except UnicodeDecodeError:
            continue
    raise ReadError(f"{name}: neither UTF-8 nor GB18030/GBK text; set source.encoding")


def _csv_frame(text: str, name: str) -> tuple[pd.DataFrame, list[int]]:
    first = text.split("\n", 1)[0]
    delimiter = max(_DELIMITERS, key=first.count)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=True,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ReadError(f"{name}: not a readable CSV file ({exc})") from exc
    return frame, list(range(2, len(frame) + 2))


def _excel_frame(data: bytes, name: str, sheet: str | None) -> tuple[pd.DataFrame, list[int]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on a bad file
        raise ReadError(f"{name}: not a readable Excel workbook ({exc})") from exc
    try:
        if sheet and sheet not in book.sheetnames:
            raise ReadError(f"{name}: no sheet {sheet!r} (sheets: {', '.join(book.sheetnames)})")
        ws = book[sheet] if sheet else book.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise ReadError(f"{name}: the sheet is empty")
        columns = ["" if h is None else str(h) for h in header]
        records, numbers = [], []
        for number, row in enumerate(rows, start=2):
            if row is None or all(v is None or v == "" for v in row):
                continue
            cells = ["" if v is None else v for v in row[: len(columns)]]
            records.append(cells + [""] * (len(columns) - len(cells)))
            numbers.append(number)
    finally:
        book.close()
    return pd.DataFrame(records, columns=columns, dtype=object), numbers


def match_headers(frame: pd.DataFrame, mapping: ImportMapping, name: str) -> pd.DataFrame:
    """The frame with the mapping's columns renamed to the mapping's spelling.

    Raises :class:`ReadError` naming every required column the file lacks."""
    by_key: dict[str, str] = {}
    for col in frame.columns:
        by_key.setdefault(header_key(col), col)
    renames, missing = {}, []
    for wanted in mapping.required_columns():
        found = by_key.get(header_key(wanted))
        if found is None:
            missing.append(wanted)
        else:
            renames[found] = wanted
    if missing:
        raise ReadError(
            f"{name}: missing required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)} (mapping {mapping.name}; "
            f"the file has {', '.join(repr(str(c)) for c in frame.columns[:40])})"
        )
    for wanted in mapping.optional_columns():
        found = by_key.get(header_key(wanted))
        if found is not None:
            renames[found] = wanted
    out = frame.rename(columns=renames)
    for wanted in mapping.optional_columns():
        if wanted not in out.columns:
            out[wanted] = ""
    return out


def read_export(data: bytes, name: str, mapping: ImportMapping) -> RawExport:
    """Read one export's bytes (``name``: its file name, for messages and the suffix)."""
    digest = hashlib.sha256(data).hexdigest()
    if Path(name).suffix.lower() in EXCEL_SUFFIXES:
        frame, rows = _excel_frame(data, name, mapping.sheet)
        encoding = "excel"
    else:
        text, encoding = decode(data, name, mapping.encoding)
        frame, rows = _csv_frame(text, name)
    frame = match_headers(frame, mapping, name)
    return RawExport(name=name, frame=frame, rows=rows, encoding=encoding, sha256=digest)


def read_file(path: str | Path, mapping: ImportMapping) -> RawExport:
    """Read an export from disk (see :func:`read_export`)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ReadError(f"{p}: cannot read ({exc.strerror or exc})") from exc
    return read_export(data, p.name, mapping)
