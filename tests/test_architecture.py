"""The floors (README "Project layout") hold: the import contract in
pyproject.toml passes, it fails when a floor is broken, and no module grows
past the size a reader can hold."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
#: The top-level packages (pyproject's [tool.setuptools] packages, without subpackages).
PACKAGES: list[str] = [p for p in PYPROJECT["tool"]["setuptools"]["packages"] if "." not in p]
LINT_IMPORTS = [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()"]

#: Longest module outside tests/, and the operational store's whole size.
MAX_MODULE_LINES = 800
MAX_FLOOR_ONE_LINES = 3000


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    # --no-cache: the copy below must not read the checkout's cached graph.
    return subprocess.run(
        [*LINT_IMPORTS, "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
    )


def test_every_package_is_in_the_contract():
    """A new package outside the floors would be checked by nothing."""
    assert sorted(PYPROJECT["tool"]["importlinter"]["root_packages"]) == sorted(PACKAGES)
    on_disk = sorted(p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name != "tests")
    assert on_disk == sorted(PACKAGES)


def test_the_import_contract_is_kept():
    result = _lint_imports(ROOT)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "0 broken" in output, output


@pytest.fixture(scope="module")
def copy_of_the_code(tmp_path_factory):
    dest = tmp_path_factory.mktemp("floors")
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, dest / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


@pytest.mark.parametrize(
    ("module", "line", "named"),
    [
        # A metric reaching up into the UI.
        ("metrics/overview.py", "from ui import palette", "metrics.overview -> ui.palette"),
        # The operational store importing a metric: a circle through floor 1.
        ("data_access/area.py", "from metrics import throughput", "data_access.area -> metrics"),
        # A metric writing to the app-state database.
        ("metrics/weekly.py", "import appstate", "metrics.weekly -> appstate"),
        # Streamlit below the UI.
        ("reports/weekly.py", "import streamlit", "reports.weekly -> streamlit"),
        # Two services of one floor coupled.
        ("alerts/message.py", "from reports import weekly", "alerts.message -> reports.weekly"),
    ],
)
def test_a_broken_floor_fails_with_the_import_named(copy_of_the_code, module, line, named):
    path = copy_of_the_code / module
    before = path.read_text(encoding="utf-8")
    try:
        path.write_text(before + f"\n{line}  # noqa\n", encoding="utf-8")
        result = _lint_imports(copy_of_the_code)
    finally:
        path.write_text(before, encoding="utf-8")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert named in output, output


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_no_module_is_longer_than_a_reader_holds():
    code = [
        *(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")),
        *(ROOT / "pages").glob("*.py"),
        ROOT / "Home.py",
    ]
    long = {str(p.relative_to(ROOT)): _lines(p) for p in code if _lines(p) > MAX_MODULE_LINES}
    assert not long, long


def test_the_operational_store_stays_small():
    total = sum(_lines(p) for p in (ROOT / "data_access").rglob("*.py"))
    assert total <= MAX_FLOOR_ONE_LINES, total


@pytest.mark.parametrize(
    ("old", "new"),
    [("data_access.demo", "demo"), ("data_access.rollups", "jobs.refresh_rollups")],
)
def test_the_old_command_lines_still_run(old, new):
    """Moved commands keep their old names for one release (README "Project
    layout"): the alias runs the new module, which names itself."""
    result = subprocess.run(
        [sys.executable, "-m", old, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"python -m {new}" in result.stdout, result.stdout
