"""A newcomer's first start: the embedded demo database is built once, with
one progress box, and no later run or session shows that box again."""

from __future__ import annotations

import functools

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

BUILDING = "首次启动"


def boxes(at: AppTest) -> list[str]:
    """Labels of the st.status boxes on the page."""
    return [str(e.label) for e in at.get("status")]


def test_the_demo_is_built_once_and_its_progress_box_never_replayed(monkeypatch, tmp_path):
    import streamlit as st
    from streamlit import config as st_config
    from streamlit.runtime.secrets import secrets_singleton

    from demo import build as demo

    small = functools.partial(demo.build_demo, days=3, scale=0.05)  # seconds, not a minute
    calls: list[str] = []

    def counted(url, **kwargs):
        calls.append(url)
        return small(url, **kwargs)

    monkeypatch.setattr(demo, "build_demo", counted)
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
    finally:
        st_config.set_option("secrets.files", saved)
        secrets_singleton._reset()
        st.cache_data.clear()
        st.cache_resource.clear()
