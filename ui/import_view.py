"""The 导入数据 page's words: the mappings by their titles, the upload
box in the reader's language, and the batch history and bad-row tables
with labelled columns and their codes in words.

Streamlit's file uploader draws its own English ("Upload", "200MB per
file"); :func:`uploader_words` puts the page's words in their place (CSS
``content``, the original text hidden, so it is neither seen nor read out)
and states the real limit, the server's ``server.maxUploadSize`` unless the
uploader sets its own.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from importer.mapping import MappingError, load_mapping
from ui.i18n import catalogue, t, translate

#: The batch history's columns as the page shows them (``sha256`` is left out).
HISTORY_COLUMNS = (
    "id",
    "file_name",
    "mapping",
    "status",
    "rows_read",
    "cases",
    "inserted",
    "updated",
    "bad_rows",
    "rejected_rows",
    "started_at",
    "finished_at",
    "message",
)
REPORT_COLUMNS = ("file", "row", "column", "value", "rule", "action")


@st.cache_data(show_spinner=False)
def mapping_titles(names: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    """``name -> (zh title, en title)`` of each shipped mapping (its
    ``description_zh`` / ``description``; the name when it has none or
    does not load: the page says why once it is picked)."""
    out = {}
    for name in names:
        try:
            m = load_mapping(name)
        except MappingError:
            out[name] = (name, name)
            continue
        en = m.description or name
        out[name] = (m.description_zh or en, en)
    return out


def mapping_title(titles: dict[str, tuple[str, str]], name: str, lang: str) -> str:
    zh, en = titles.get(name, (name, name))
    return en if lang == "en" else zh


def upload_limit_mb(own: int | None = None) -> int:
    """The most an upload may weigh, in MB: the uploader's own, else the server's."""
    return int(own if own is not None else st.get_option("server.maxUploadSize"))


def uploader_words(key: str, types: list[str], limit_mb: int) -> None:
    """The page's words in the keyed file uploader: its button and its
    line of limits (size and types) in the reader's language."""
    kinds = t("app.list_sep").join(x.upper() for x in types)
    button = json.dumps(t("import.upload_button"), ensure_ascii=False)
    limits = json.dumps(t("import.upload_limits", mb=limit_mb, types=kinds), ensure_ascii=False)
    box = f'.st-key-{key} [data-testid="stFileUploaderDropzone"]'
    st.html(
        "<style>"
        f'{box} button [data-testid="stMarkdownContainer"] > p, '
        f'{box} [data-testid="stFileUploaderDropzoneInstructions"] > div > span '
        "{ display: none; }"
        f'{box} button [data-testid="stMarkdownContainer"]::after {{ content: {button}; }}'
        f'{box} [data-testid="stFileUploaderDropzoneInstructions"] > div::after '
        f"{{ content: {limits}; }}"
        "</style>"
    )


def _words(template: str, values: pd.Series, lang: str) -> list[str]:
    """Each code in words (the key ``template`` names, e.g.
    ``import.rule.{}``), or as it is when the catalogue has none."""
    known = catalogue()
    return [
        translate(template.format(v), lang) if template.format(v) in known else str(v)
        for v in values
    ]


def _with_words(
    frame: pd.DataFrame, coded: dict[str, str], lang: str
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``frame`` with each coded column's words beside it (``<column>_words``,
    shown in its place) and the codes kept, hidden (what the download and
    the batch ledger hold), and the column labels."""
    out = frame.copy()
    config: dict[str, Any] = {}
    for column in frame.columns:
        if column in coded:
            out[f"{column}_words"] = _words(coded[column], out[column], lang)
            config[column] = None
            config[f"{column}_words"] = t(f"import.col.{column}")
        else:
            config[column] = t(f"import.col.{column}")
    order = [f"{c}_words" if c in coded else c for c in frame.columns]
    return out[[*order, *coded]], config


def history_table(
    history: pd.DataFrame, titles: dict[str, tuple[str, str]], lang: str
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The batch history for display, and its column configuration:
    statuses in words, each mapping by its title."""
    out = history[[c for c in HISTORY_COLUMNS if c in history]].copy()
    out, config = _with_words(out, {"status": "import.status_{}"}, lang)
    out["mapping"] = [mapping_title(titles, str(m), lang) for m in out["mapping"]]
    return out, config


def report_table(report: pd.DataFrame, lang: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The bad-row report for display (the download keeps its codes), and
    its column configuration: the rule and the action in words."""
    coded = {"rule": "import.rule.{}", "action": "import.action.{}"}
    return _with_words(report[list(REPORT_COLUMNS)], coded, lang)
