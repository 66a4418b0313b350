"""The string catalogue (``assets/i18n/*.toml``): Chinese first, English second.

One file per area (``core.toml`` for the shell, one per page); keys are
dotted and must be unique across files. This package reads the files and
formats a string in a given language; it imports nothing of the project and
no Streamlit, so the weekly pack (``reports``) and the alert service
(``alerts``) use it as the pages do. Which language a browser session reads
is the UI's business (:mod:`ui.i18n`, which re-exports these names).
"""

from __future__ import annotations

import logging
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"
CATALOGUE_DIR = Path(__file__).resolve().parent.parent / "assets" / "i18n"
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


def translate(key: str, lang: str, **kwargs: Any) -> str:
    entry = catalogue().get(key)
    if entry is None:
        _log.warning("missing i18n key %s", key)
        return key
    text = entry.get(lang) or entry[DEFAULT_LANG]
    return text.format(**kwargs) if kwargs else text
