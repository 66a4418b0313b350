"""The README stays true: every page, setting and environment variable is in it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from ui.i18n import translate

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_two_commands():
    assert "pip install -e . && streamlit run Home.py" in README
    assert 'pip install -e ".[test]" && pytest -n 2' in README
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'pip install -e ".[test]" && pytest -n 2' in ci


def test_every_page_is_documented():
    from ui.menu import NAVIGATION  # the pages Home.py's navigation lists

    pages = [(stem, url_path) for _section, stem, _icon, url_path in NAVIGATION]
    assert len(pages) == len(list((ROOT / "pages").glob("*.py")))
    for stem, url_path in pages:
        assert translate(f"nav.{stem}", "zh") in README, stem
        assert translate(f"nav.{stem}", "en") in README, stem
        if stem != "overview":  # the default page lives at /
            assert f"`/{url_path}`" in README, url_path


def _keys(node: dict, prefix: str = "") -> list[str]:
    out = []
    for key, value in node.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and prefix.count(".") < 1 and key not in ("bounds",):
            out += _keys(value, name)
        else:
            out.append(name)
    return out


def test_every_site_setting_is_documented():
    with (ROOT / "config" / "site.toml").open("rb") as fh:
        data = tomllib.load(fh)
    for section in ("categories", "sources", "targets"):
        data.pop(section)
    for key in _keys(data):
        assert f"`{key}`" in README or f"`{key}`," in README or key in README, key
    assert "targets.default" in README and "targets.overrides" in README


#: Every package of the project (pyproject's [tool.setuptools] packages).
PACKAGES = [
    p
    for p in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    if "." not in p
]


def test_every_environment_variable_is_documented():
    names = set()
    for path in [
        *(path for pkg in PACKAGES for path in ROOT.glob(f"{pkg}/**/*.py")),
        ROOT / "Home.py",
        *ROOT.glob("pages/*.py"),
    ]:
        names |= set(re.findall(r"OPS_[A-Z_]+", path.read_text(encoding="utf-8")))
    assert names, "no OPS_ variables found: the scan is broken"
    for name in sorted(names):
        assert f"`{name}`" in README, name


def test_screenshot_exists():
    assert (ROOT / "docs" / "screenshot.png").stat().st_size > 20_000
