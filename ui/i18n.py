"""The session's language and its strings, over the catalogue (:mod:`i18n`).

The language is chosen by the ``lang`` URL parameter (``zh`` or ``en``) and
kept in session state, so a shared link opens in the sender's language.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from i18n import CATALOGUE_DIR, DEFAULT_LANG, LANGS, catalogue, translate

__all__ = [
    "CATALOGUE_DIR",
    "DEFAULT_LANG",
    "LANGS",
    "catalogue",
    "current_lang",
    "name_of",
    "t",
    "translate",
]


def current_lang() -> str:
    lang = st.session_state.get("lang", DEFAULT_LANG)
    return lang if lang in LANGS else DEFAULT_LANG


def t(key: str, **kwargs: Any) -> str:
    """The string for ``key`` in the current language, formatted with ``kwargs``."""
    return translate(key, current_lang(), **kwargs)


def name_of(row: Any) -> str:
    """``name_zh`` or ``name_en`` of a mapping/row, by the current language."""
    if current_lang() == "en":
        value = row.get("name_en") if hasattr(row, "get") else None
        if isinstance(value, str) and value:
            return value
    return str(row.get("name_zh") if hasattr(row, "get") else row)
