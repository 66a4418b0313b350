"""Lint, format and type checks are part of the test command (config in pyproject.toml)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

MYPY_CACHE = Path(
    os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "ops-dashboards", "mypy"
)
CHECKS = {
    "ruff-check": [sys.executable, "-m", "ruff", "check", "."],
    "ruff-format": [sys.executable, "-m", "ruff", "format", "--check", "."],
    # Its cache outside the checkout, kept between runs (CI runs on a fresh
    # clone: a cold mypy was 68 s of the suite; a file whose content is the
    # same is not checked again, one that changed is).
    "mypy": [sys.executable, "-m", "mypy", "--cache-dir", str(MYPY_CACHE)],
}


@pytest.mark.parametrize("name", list(CHECKS))
def test_static_check_passes(name: str) -> None:
    result = subprocess.run(
        CHECKS[name], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, f"`{' '.join(CHECKS[name][2:])}` failed:\n{output}"


def test_every_table_shows_a_dash_for_a_missing_value() -> None:
    """Streamlit writes "None" in an empty cell (English, on a Chinese
    page, and read as a value): every st.dataframe sets its placeholder."""
    import ast

    bare = []
    for path in sorted([ROOT / "Home.py", *ROOT.glob("pages/*.py"), *ROOT.glob("ui/**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "dataframe"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "st"
                and not any(k.arg == "placeholder" for k in node.keywords)
            ):
                bare.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not bare, bare
