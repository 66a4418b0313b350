"""The first start's words: the demo build's progress steps in the user's
language.

:func:`demo.build.build_demo` reports its steps in English, keyed by what
it is doing (``"incidents"``, ``"loading crowd_reading"`` ...); the floors
below the UI carry no translations, so the progress bar of
:func:`ui.data.ensure_demo_database` says them through :func:`step_text`.
"""

from __future__ import annotations

import re

from ui.i18n import catalogue, t

#: The prefix of the build's loading steps (``"loading <table>"``).
LOADING = "loading "


def _key(label: str) -> str:
    """``"petitions, housing records, warnings"`` -> ``petitions_housing_records_warnings``."""
    return "_".join(re.findall(r"[a-z0-9]+", label.lower()))


def step_text(label: str) -> str:
    """A build step in words: ``app.demo_step.<step>``; a table's loading
    step (``app.demo_step.loading_table``) names its table
    (``app.demo_table.<table>``); an unknown step as it is."""
    known = catalogue()
    if label.startswith(LOADING):
        table = label[len(LOADING) :].strip()
        name = t(f"app.demo_table.{table}") if f"app.demo_table.{table}" in known else table
        return t("app.demo_step.loading_table", table=name)
    key = f"app.demo_step.{_key(label)}"
    return t(key) if key in known else label
