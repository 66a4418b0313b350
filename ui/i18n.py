"""The string catalogue (``assets/i18n/*.toml``): Chinese first, English second.

One file per area (``core.toml`` for the shell, one per page); keys are
dotted and must be unique across files.

The language is chosen by the ``lang`` URL parameter (``zh`` or ``en``) and
kept in session state, so a shared link opens in the sender's language.
"""

from __future__ import annotations

import logging
import tomllib
from functools import lru_cache
from typing import Any

import streamlit as st

from data_access.config import PROJECT_ROOT

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"
CATALOGUE_DIR = PROJECT_ROOT / "assets" / "i18n"
_log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    """Flattened catalogue: ``{"section.key": {"zh": ..., "en": ...}}``.

    Raises ``ValueError`` naming the files when two define the same key.
    """
    flat: dict[str, dict[str, str]] = {}
    origin: dict[str, str] = {}

    def walk(prefix: str, node: dict[str, Any], source: str) -> None:
        for key, value in node.items():
            name = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict) and "zh" in value and isinstance(value["zh"], str):
                if name in flat:
                    raise ValueError(f"i18n key {name} defined in {origin[name]} and {source}")
                flat[name] = value
                origin[name] = source
            elif isinstance(value, dict):
                walk(name, value, source)

    for path in sorted(CATALOGUE_DIR.glob("*.toml")):
        with path.open("rb") as fh:
            walk("", tomllib.load(fh), path.name)
    return flat


def current_lang() -> str:
    lang = st.session_state.get("lang", DEFAULT_LANG)
    return lang if lang in LANGS else DEFAULT_LANG


def translate(key: str, lang: str, **kwargs: Any) -> str:
    entry = catalogue().get(key)
    if entry is None:
        _log.warning("missing i18n key %s", key)
        return key
    text = entry.get(lang) or entry[DEFAULT_LANG]
    return text.format(**kwargs) if kwargs else text


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
