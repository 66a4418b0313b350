"""The string catalogue: every key the code uses exists, in Chinese and English."""

from __future__ import annotations

import re
import string
from pathlib import Path

from data_access.schema import MILESTONES
from metrics.quality import CHECKS
from ui.i18n import catalogue

ROOT = Path(__file__).resolve().parent.parent
LITERAL_KEY = re.compile(r"""\b(?:t|translate)\(\s*["']([a-z_]+(?:\.[a-z_0-9]+)+)["']""")


def used_keys() -> set[str]:
    keys = set()
    for path in [ROOT / "Home.py", *ROOT.glob("pages/*.py"), *ROOT.glob("ui/*.py")]:
        keys |= set(LITERAL_KEY.findall(path.read_text(encoding="utf-8")))
    return keys


def test_every_literal_key_exists():
    missing = sorted(used_keys() - set(catalogue()))
    assert not missing, missing


def test_every_entry_has_both_languages_with_the_same_placeholders():
    fmt = string.Formatter()
    for key, entry in catalogue().items():
        assert entry.get("zh") and entry.get("en"), key
        zh = {f for _, f, _, _ in fmt.parse(entry["zh"]) if f}
        en = {f for _, f, _, _ in fmt.parse(entry["en"]) if f}
        assert zh == en, f"{key}: {zh} != {en}"


def test_dynamic_keys_exist():
    cat = catalogue()
    for table, check in CHECKS:
        assert f"quality.check.{table}.{check}" in cat
        assert f"quality.effect.{table}.{check}" in cat
    for m in MILESTONES:
        assert f"milestone.{m}" in cat
    for level in ("red", "yellow", "green"):
        assert f"level.{level}" in cat
    for page in (ROOT / "pages").glob("*.py"):
        assert f"nav.{page.stem.replace('-', '_')}" in cat, page.stem
