"""A newcomer's first start: the embedded demo database is built once, with
one progress box, and no later run or session shows that box again; while
it builds, the menu and the progress steps are in the user's language."""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Iterator
from typing import Any

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from ui.i18n import translate

BUILDING = "首次启动"


def boxes(at: AppTest) -> list[str]:
    """Labels of the st.status boxes on the page."""
    return [str(e.label) for e in at.get("status")]


@contextlib.contextmanager
def first_start(monkeypatch, tmp_path, build: Callable[..., Any]) -> Iterator[None]:
    """No database configured and no demo yet (in ``tmp_path``), no secrets,
    empty caches; ``build`` stands in for :func:`demo.build.build_demo`."""
    import streamlit as st
    from streamlit import config as st_config
    from streamlit.runtime.secrets import secrets_singleton

    from demo import build as demo

    monkeypatch.setattr(demo, "build_demo", build)
    for name in ("OPS_DB_URL", "OPS_APPSTATE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPS_DEMO_PATH", str(tmp_path / "demo.sqlite"))
    monkeypatch.setenv("OPS_APPSTATE_PATH", str(tmp_path / "appstate.sqlite"))
    monkeypatch.chdir(ROOT)
    secrets = tmp_path / "secrets.toml"
    secrets.write_text("# none\n")
    saved = st_config.get_option("secrets.files")
    st_config.set_option("secrets.files", [str(secrets)])
    secrets_singleton._reset()
    st.cache_data.clear()
    st.cache_resource.clear()
    try:
        yield
    finally:
        st_config.set_option("secrets.files", saved)
        secrets_singleton._reset()
        st.cache_data.clear()
        st.cache_resource.clear()


def test_the_demo_is_built_once_and_its_progress_box_never_replayed(monkeypatch, tmp_path):
    from demo import build as demo

    small = functools.partial(demo.build_demo, days=3, scale=0.05)  # seconds, not a minute
    calls: list[str] = []

    def counted(url, **kwargs):
        calls.append(url)
        return small(url, **kwargs)

    with first_start(monkeypatch, tmp_path, counted):
        first = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=120).run()
        assert not first.exception, first.exception
        built = boxes(first)
        assert len(built) == 1 and BUILDING not in built[0], built  # one box, completed
        assert len(calls) == 1
        first.run()  # a rerun: the cached queries hit, nothing is built or replayed
        assert boxes(first) == [] and not first.exception
        later = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=120).run()
        assert not later.exception and boxes(later) == []  # another session
        assert len(calls) == 1 and later.title


def test_the_first_start_names_its_pages_and_steps_in_chinese(monkeypatch, tmp_path):
    """While the demo builds, the sidebar lists the pages by their Chinese
    titles (the menu is sent before the build begins; the pages folder's
    file names, Home, alerts, audit, command-screen ..., are never the
    menu), and every step the build reports has Chinese words."""
    import streamlit as st

    from demo import build as demo
    from ui.first_start import step_text
    from ui.menu import NAVIGATION

    events: list[Any] = []
    real_navigation = st.navigation
    small = functools.partial(demo.build_demo, days=2, scale=0.03)

    def navigation(pages: Any, **kwargs: Any) -> Any:
        events.append([p.title for ps in pages.values() for p in ps])
        return real_navigation(pages, **kwargs)

    def build(url: str, **kwargs: Any) -> Any:
        steps: list[str] = []
        shown = kwargs.pop("progress")

        def progress(label: str, fraction: float) -> None:
            steps.append(label)
            shown(label, fraction)

        events.append(("build", steps))
        return small(url, progress=progress, **kwargs)

    monkeypatch.setattr(st, "navigation", navigation)
    with first_start(monkeypatch, tmp_path, build):
        at = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=120).run()
        assert not at.exception, at.exception
    built = [i for i, e in enumerate(events) if isinstance(e, tuple)]
    assert len(built) == 1, events
    menus = events[: built[0]]
    titles = [translate(f"nav.{stem}", "zh") for _, stem, _, _ in NAVIGATION]
    assert menus and menus[-1] == titles, menus  # before the build, in Chinese
    steps = events[built[0]][1]
    assert len(set(steps)) >= 6, steps
    for step in set(steps):
        words = step_text(step)
        assert re.search("[\u3400-\u9fff]", words) and not re.search("[A-Za-z]", words), (
            step,
            words,
        )
