"""The Streamlit UI helpers (floor 5) shared by ``Home.py`` and ``pages/``.

Loading a metric with its error guard and shared cache (:mod:`ui.data`),
the page shell and navigation (:mod:`ui.shell`), filters, sign-in and
scopes (:mod:`ui.auth`), the session's language over the catalogue
(:mod:`ui.i18n`), the palette, maps and charts, and the command screen's
tiles and views (:mod:`ui.screen`). The only floor that imports Streamlit;
it may import every floor below it, and nothing imports it but the pages.
"""
